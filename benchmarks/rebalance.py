"""Speed of the daily rebalancing run and of one approved proposal's execution, on PostgreSQL.

Run from the repository root with the production settings' environment (``make benchmarks``
exports it): ``.venv/bin/python benchmarks/rebalance.py``.

It creates its own database (``<DATABASE_URL's name>_rebal``, migrated, dropped at the end) and
loads, untimed: 40 ETFs in 20 slots of two similar funds (equity, bonds, cash), 300 days of
seeded prices, and 10,000 households with one taxable account each and a current recommendation
of 10 funds. As in a book that is rebalanced daily, most accounts hold their 10 target funds
within their bands; 15% are far off target (new or neglected accounts holding 8 random funds).
One account in twenty has a new deposit to invest. Each holding is two lots; most carry gains,
about one lot in a hundred and fifty sits at a loss. Then it times:

1. the daily run, :func:`advisor.services.proposals.proposals_run` (the market read once, every
   account's books in bulk, drift with tax-aware bands, proposals priced with estimated tax,
   costs and risk, stored), over the accounts split in two halves run by two processes, as two
   Celery workers share the daily chord;
2. a 20-trade proposal from the advisor's approval to done on the simulated exchange
   (the approval, then :func:`trading.services.proposal_execute`: orders once, pre-trade checks,
   the exchange, fills through the ledger and the tax engine).

Last line: ``RESULT accounts_per_s=<n> execute_20_s=<seconds>``. Targets: at least 200 accounts
per second on 2 cores; under one second for the 20-trade execution.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "advisor.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402
from django.utils import timezone  # noqa: E402

from portfolios.models import (  # noqa: E402
    Account,
    AccountType,
    Asset,
    AssetClass,
    FirmSettings,
    Household,
    LotMethod,
    Position,
    PriceBar,
    ProposalTrade,
    RebalanceProposal,
    Recommendation,
    TaxLot,
)

SEED = 20250630
AS_OF = dt.date(2025, 6, 30)
NOW = dt.datetime(2025, 7, 1, 15, 0, tzinfo=dt.UTC)
HOUSEHOLDS = int(os.environ.get("BENCH_HOUSEHOLDS", "10000"))
HOLDINGS = 8
LOTS = 2
DAYS = 300
WORKERS = 2
DRIFTED_SHARE = 0.15


def load_book() -> None:
    rng = np.random.default_rng(SEED)
    specs = []
    for slot in range(20):
        cls = (
            AssetClass.US_EQUITY if slot < 12 else AssetClass.BOND if slot < 19 else AssetClass.CASH
        )
        for member in range(2):
            specs.append((f"F{slot:02d}{'AB'[member]}", cls, f"slot{slot:02d}"))
    assets = Asset.objects.bulk_create(
        Asset(symbol=s, name=f"Fund {s}", asset_class=c, replacement_group=g, esg_score=60)
        for s, c, g in specs
    )
    vols = np.array(
        [
            0.18
            if a.asset_class == AssetClass.US_EQUITY
            else 0.05
            if a.asset_class == AssetClass.BOND
            else 0.005
            for a in assets
        ]
    )
    daily = rng.standard_normal((DAYS, len(assets))) * vols / np.sqrt(252)
    prices = 50 * np.exp(np.cumsum(daily, axis=0))
    dates = [AS_OF - dt.timedelta(days=DAYS - 1 - d) for d in range(DAYS)]
    PriceBar.objects.bulk_create(
        (
            PriceBar(asset=asset, date=day, open=px, high=px, low=px, close=px, volume=5_000_000)
            for j, asset in enumerate(assets)
            for day, px in ((dates[d], Decimal(f"{prices[d, j]:.4f}")) for d in range(DAYS))
        ),
        batch_size=5000,
    )
    last = prices[-1]
    households = Household.objects.bulk_create(
        Household(name=f"Bench {h:05d}") for h in range(HOUSEHOLDS)
    )
    accounts = Account.objects.bulk_create(
        Account(
            household=h,
            name="Taxable",
            account_type=AccountType.TAXABLE,
            lot_method=LotMethod.TAX_MIN,
        )
        for h in households
    )
    primaries = [j for j in range(len(assets)) if j % 2 == 0]
    target_idx = primaries[:10]
    weights = np.full(10, 0.1)
    Recommendation.objects.bulk_create(
        Recommendation(
            household=h,
            risk_score=6,
            method="bench",
            weights={assets[j].symbol: 0.1 for j in target_idx},
            expected_return=0.06,
            volatility=0.1,
            esg_score=60.0,
            diagnostics={"excluded": []},
        )
        for h in households
    )
    del weights
    positions, lots = [], []
    now = timezone.now()
    for account in accounts:
        value = rng.uniform(20_000, 500_000)
        # cash at the firm's buffer; one account in twenty has a new deposit waiting
        deposit = value * 0.05 if rng.random() < 0.05 else 0.0
        Account.objects.filter(pk=account.pk).update(cash=Decimal(f"{value * 0.004 + deposit:.2f}"))
        if rng.random() < DRIFTED_SHARE:  # a new or neglected account, far from its target
            held = rng.choice(len(assets), HOLDINGS, replace=False)
            skew = rng.dirichlet(np.ones(HOLDINGS) * rng.uniform(0.5, 5))
        else:  # an account rebalanced recently: close to its target, within its bands
            held = np.array(target_idx)
            skew = 0.1 * (1 + rng.uniform(-0.12, 0.12, len(held)))
        for k, j in enumerate(held):
            qty = Decimal(f"{value * skew[k] / last[j]:.3f}")
            if qty <= 0:
                continue
            positions.append(Position(account=account, asset=assets[j], quantity=qty))
            half = (qty / 2).quantize(Decimal("0.001"))
            for part, q in enumerate((half, qty - half)):
                if q <= 0:
                    continue
                # most lots carry gains after years in the market; some sit at a loss
                cost = Decimal(f"{float(q) * last[j] * rng.lognormal(-0.2, 0.08):.2f}")
                day = AS_OF - dt.timedelta(days=int(rng.integers(40, 900)))
                lots.append(
                    TaxLot(
                        account=account,
                        asset=assets[j],
                        quantity=q,
                        original_quantity=q,
                        cost_basis=cost,
                        acquired_on=day,
                        holding_period_start=day,
                        acquisition_id=f"b{account.pk}-{j}-{part}",
                        created_at=now,
                    )
                )
    Position.objects.bulk_create(positions, batch_size=5000)
    TaxLot.objects.bulk_create(lots, batch_size=5000)
    firm = FirmSettings.current()
    firm.auto_approve_cash_flow_max = Decimal("0")
    firm.save()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def _run(account_ids: list[int]) -> dict[str, Any]:
    connections.close_all()
    from advisor.services.proposals import proposals_run

    started = time.perf_counter()
    report = proposals_run(as_of=AS_OF, now=NOW, account_ids=account_ids, harvest=True)
    return {
        "seconds": time.perf_counter() - started,
        "accounts": report.accounts,
        "proposals": report.proposals,
        "harvests": report.harvests,
        "errors": len(report.errors),
    }


def daily_run() -> tuple[float, list[dict[str, Any]]]:
    ids = list(Account.objects.order_by("pk").values_list("pk", flat=True))
    halves = [ids[i::WORKERS] for i in range(WORKERS)]
    connections.close_all()
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(WORKERS) as pool:
        parts = pool.map(_run, halves)
    return time.perf_counter() - started, parts


def execute_twenty() -> tuple[float, int, str]:
    """A fresh 20-trade proposal, approved, executed end to end on the simulated exchange."""
    from advisor.services.proposals import proposal_approve
    from trading.services import proposal_execute, risk_limit_current, risk_limit_update

    risk_limit_update(
        limit_id=risk_limit_current().pk, changes={"allow_outside_hours": True}, actor_id=None
    )
    household = Household.objects.create(name="Bench execution")
    account = Account.objects.create(
        household=household, name="Taxable", cash=Decimal("2000000.00")
    )
    assets = list(Asset.objects.order_by("symbol")[:40])
    sells, buys = assets[:10], assets[10:20]
    for asset in sells:
        Position.objects.create(account=account, asset=asset, quantity=Decimal("500"))
        TaxLot.objects.create(
            account=account,
            asset=asset,
            quantity=Decimal("500"),
            original_quantity=Decimal("500"),
            cost_basis=Decimal("20000.00"),
            acquired_on=dt.date(2024, 1, 2),
            holding_period_start=dt.date(2024, 1, 2),
            acquisition_id=f"x{asset.pk}",
        )
    proposal = RebalanceProposal.objects.create(
        account=account,
        status="pending",
        reason="drift",
        total_value=Decimal("2500000"),
        drift_before=0.3,
        drift_after=0.0,
        target_weights={},
        weights_before={},
        weights_after={},
        prices={},
        priced_at=NOW,
    )
    from portfolios.selectors import latest_prices

    prices = {p.asset_id: p.close for p in latest_prices(asset_ids=[a.pk for a in assets]).values()}
    ProposalTrade.objects.bulk_create(
        [
            ProposalTrade(
                proposal=proposal,
                sequence=i + 1,
                asset=a,
                side="sell",
                quantity=Decimal("200"),
                estimated_price=prices[a.pk],
                notional=Decimal("200") * prices[a.pk],
            )
            for i, a in enumerate(sells)
        ]
        + [
            ProposalTrade(
                proposal=proposal,
                sequence=11 + i,
                asset=a,
                side="buy",
                quantity=Decimal("300"),
                estimated_price=prices[a.pk],
                notional=Decimal("300") * prices[a.pk],
            )
            for i, a in enumerate(buys)
        ]
    )
    from advisor.models import User

    advisor = User.objects.create(username="bench-advisor", role="staff", is_staff=True)
    # Timed from the advisor's approval: with an eager Celery (no broker configured) the approval
    # runs the execution task as its transaction commits; with a broker, this process executes it.
    started = time.perf_counter()
    proposal_approve(proposal_id=proposal.pk, actor=advisor, now=NOW)
    proposal.refresh_from_db()
    if proposal.status == "approved":
        proposal_execute(proposal_id=proposal.pk, now=NOW)
    elapsed = time.perf_counter() - started
    proposal.refresh_from_db()
    return elapsed, proposal.orders.filter(parent__isnull=True).count(), proposal.status


def main() -> None:
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        sys.exit("rebalance.py needs PostgreSQL: set DATABASE_URL (make benchmarks does)")
    database.setdefault("TEST", {})["NAME"] = f"{database['NAME']}_rebal"
    started = time.perf_counter()
    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        load_book()
        lots = TaxLot.objects.count()
        print(
            f"loaded {HOUSEHOLDS} accounts with {lots} lots in {time.perf_counter() - started:.1f} s (not timed)"
        )
        run_s, parts = daily_run()
        accounts = sum(p["accounts"] for p in parts)
        proposals = sum(p["proposals"] for p in parts)
        harvests = sum(p["harvests"] for p in parts)
        errors = sum(p["errors"] for p in parts)
        print(
            f"daily run: {accounts} accounts in {run_s:.2f} s over {WORKERS} processes "
            f"(slowest {max(p['seconds'] for p in parts):.2f} s); {proposals} proposals, of which "
            f"{harvests} harvests; {errors} accounts with errors"
        )
        execute_s, orders, status = execute_twenty()
        print(
            f"20-trade proposal approved and executed on the simulated exchange in {execute_s:.3f} s: {orders} orders, {status}"
        )
    finally:
        connections.close_all()
        teardown_databases(old_config, verbosity=0)
    print(f"RESULT accounts_per_s={accounts / run_s:.0f} execute_20_s={execute_s:.3f}")


if __name__ == "__main__":
    main()
