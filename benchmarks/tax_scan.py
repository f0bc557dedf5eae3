"""Speed of the daily tax-loss harvesting scan and the tax-cost computation on PostgreSQL.

Run from the repository root with the production settings' environment (``make benchmarks``
exports it): ``.venv/bin/python benchmarks/tax_scan.py``.

It creates its own database, ``<DATABASE_URL's name>_bench`` (dropped and recreated, migrated;
dropped again at the end), loads a book of 10,000 accounts (7,500 households: each a taxable
account, a third of them also an IRA) holding 20 of 200 assets in 3 lots each, 600,000 open lots
with costs scattered around today's prices (log-normal, sigma 0.15, so about half are at a loss)
and trade dates up to four years back, plus prices, replacement groups of 4 similar funds, 20
pairs of substantially identical funds and a few harvest blocks, with COPY and ``bulk_create``
(not timed). Then it times, wall-clock, the daily job as the product runs it:

1. :func:`portfolios.harvest_scan.harvest_scan` over every taxable account (one streaming query
   for the lots of their households, the vectorised screen, the exact scan for the accounts with
   candidates);
2. the tax cost of selling down each taxable account's overweight assets, a fixed third of its
   holdings (each 20 % above target), with the tax-minimising lots
   (:func:`portfolios.core.tax.tax_cost_of_sale`, then the widened band from
   :func:`portfolios.core.tax.rebalance_band`; one more streaming query for the lots);

once in one process, and once split by household over two processes (as two Celery workers
would share it), checking that both give the same results. Against it, a plain read of the
same lots, ``list(TaxLot.objects.values_list(...))``, timed before and after (the faster counts).

The last line is ``RESULT scan_s=<seconds> ratio_vs_read=<scan / plain read>``, with the faster
of the two ways of running the job. Targets: under 30 s on 2 cores, within 10 times the plain
read.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import sys
import time
from collections.abc import Iterator
from decimal import ROUND_DOWN, Decimal
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

from portfolios.core import tax  # noqa: E402
from portfolios.core.money import QUANTITY_QUANT  # noqa: E402
from portfolios.harvest_scan import harvest_scan  # noqa: E402
from portfolios.ledger import account_tax_type  # noqa: E402
from portfolios.models import (  # noqa: E402
    Account,
    AccountType,
    Asset,
    AssetClass,
    HarvestBlock,
    Household,
    PriceBar,
    TaxLot,
)
from portfolios.selectors import latest_prices  # noqa: E402

SEED = 20240603
AS_OF = dt.date(2024, 6, 3)
HOUSEHOLDS = 7_500
IRAS = 2_500  # households 0..2499 also have an IRA: 10,000 accounts in all
HOLDINGS = 20
LOTS = 3
SYMBOLS = 200
BLOCKS = 300
BASE_THRESHOLD = 0.05
WORKERS = 2  # the target machine's cores
OVERWEIGHT = Decimal("0.2")  # an overweight asset is 20 % above its target
READ_COLUMNS = (
    "id",
    "account_id",
    "asset_id",
    "quantity",
    "cost_basis",
    "acquired_on",
    "holding_period_start",
    "acquisition_id",
    "wash_sale_adjustment",
    "replacement_for_id",
)


def load_book() -> int:
    """Assets, prices, households, accounts, lots and blocks; returns the number of lots."""
    rng = np.random.default_rng(SEED)
    symbols = [f"S{i:03d}" for i in range(SYMBOLS)]
    closes = np.round(rng.uniform(20, 400, SYMBOLS), 2)
    assets = Asset.objects.bulk_create(
        Asset(
            symbol=symbol,
            name=f"Fund {symbol}",
            asset_class=AssetClass.US_EQUITY,
            replacement_group=f"g{i // 4}",  # 50 groups of 4 similar funds
            identity_group=f"id{i // 2}" if i < 40 else "",  # 20 pairs substantially identical
        )
        for i, symbol in enumerate(symbols)
    )
    PriceBar.objects.bulk_create(
        PriceBar(asset=asset, date=day, open=px, high=px, low=px, close=px)
        for asset, close in zip(assets, closes, strict=True)
        for day, px in (
            (AS_OF - dt.timedelta(days=1), Decimal(f"{close * 1.01:.2f}")),
            (AS_OF, Decimal(f"{close:.2f}")),
        )
    )
    households = Household.objects.bulk_create(
        Household(name=f"Bench household {h:05d}") for h in range(HOUSEHOLDS)
    )
    accounts = Account.objects.bulk_create(
        [Account(household=h, name="Taxable", account_type=AccountType.TAXABLE) for h in households]
        + [
            Account(household=h, name="IRA", account_type=AccountType.IRA)
            for h in households[:IRAS]
        ]
    )
    n_accounts = len(accounts)
    held = np.argsort(rng.random((n_accounts, SYMBOLS)), axis=1)[:, :HOLDINGS]
    asset_index = np.repeat(held, LOTS, axis=1).ravel()
    account_index = np.repeat(np.arange(n_accounts), HOLDINGS * LOTS)
    n = len(asset_index)
    quantity = np.round(rng.uniform(1, 200, n), 3)
    basis = np.round(quantity * closes[asset_index] * rng.lognormal(0.0, 0.15, n), 2)
    acquired = np.datetime64(AS_OF) - rng.integers(1, 1500, n).astype("timedelta64[D]")
    columns = (
        "account_id, asset_id, quantity, original_quantity, cost_basis, acquired_on, "
        "holding_period_start, wash_sale_adjustment, acquisition_id, created_at"
    )
    now = timezone.now()
    account_ids = [a.pk for a in accounts]
    asset_ids = [a.pk for a in assets]
    with connection.cursor() as cursor:
        sql = f"COPY {TaxLot._meta.db_table} ({columns}) FROM STDIN"
        with cursor.cursor.copy(sql) as copy:
            for i in range(n):
                day = acquired[i].item()
                copy.write_row(
                    (
                        account_ids[account_index[i]],
                        asset_ids[asset_index[i]],
                        f"{quantity[i]:.3f}",
                        f"{quantity[i]:.3f}",
                        f"{basis[i]:.2f}",
                        day,
                        day,
                        "0.00",
                        f"b{i}",
                        now,
                    )
                )
    blocked = rng.choice(HOUSEHOLDS, BLOCKS, replace=False)
    HarvestBlock.objects.bulk_create(
        HarvestBlock(
            household=households[h],
            symbol=symbols[s],
            identity_key=f"symbol:{symbols[s]}",
            sold_on=AS_OF - dt.timedelta(days=20),
            blocked_until=AS_OF + dt.timedelta(days=10),
        )
        for h, s in zip(blocked, rng.integers(0, SYMBOLS, BLOCKS), strict=True)
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return n


def account_lots(account_ids: list[int] | None) -> Iterator[tuple[int, list[tuple[Any, ...]]]]:
    """Each taxable account's open lots, from one streaming query."""
    lots = TaxLot.objects.filter(quantity__gt=0, account__account_type=AccountType.TAXABLE)
    if account_ids is not None:
        lots = lots.filter(account_id__in=account_ids)
    rows = (
        lots.order_by("account_id", "asset_id", "acquired_on", "id")
        .values_list(*READ_COLUMNS)
        .iterator(chunk_size=20_000)
    )
    current: list[tuple[Any, ...]] = []
    for row in rows:
        if current and row[1] != current[0][1]:
            yield current[0][1], current
            current = []
        current.append(row)
    if current:
        yield current[0][1], current


def tax_costs(account_ids: list[int] | None = None) -> tuple[int, Decimal, float]:
    """Tax of selling down each taxable account's overweight assets (every third holding, 20 %
    over target) with the tax-minimising lots: (sales, total tax, widest band).

    IRAs are left out: a sale there costs no tax, so their band is the base threshold.
    """
    symbol_of = dict(Asset.objects.values_list("pk", "symbol"))
    prices = {last.symbol: last.close for last in latest_prices(on=AS_OF).values()}
    rates = {
        pk: tax.TaxRates(short_term=st, long_term=lt)
        for pk, st, lt in Household.objects.values_list("pk", "short_term_rate", "long_term_rate")
    }
    accounts = {
        pk: (household, account_tax_type(kind))
        for pk, household, kind in Account.objects.values_list("pk", "household_id", "account_type")
    }
    sales = 0
    total = Decimal(0)
    widest = 0.0
    for account_id, rows in account_lots(account_ids):
        household, account_type = accounts[account_id]
        holdings: dict[int, list[tuple[Any, ...]]] = {}
        for row in rows:
            holdings.setdefault(row[2], []).append(row)
        for index, (asset_id, held) in enumerate(holdings.items()):
            if index % 3:
                continue  # at target
            symbol = symbol_of[asset_id]
            lots = [
                tax.TaxLot(
                    lot_id=str(pk),
                    account_id=str(account_id),
                    symbol=symbol,
                    quantity=qty,
                    cost_basis=basis,
                    acquired_on=acquired,
                    tacked_acquired_on=start if start != acquired else None,
                    acquisition_id=acquisition,
                    wash_sale_adjustment=adjustment,
                    replacement_for=str(replaced) if replaced else None,
                )
                for pk, _, _, qty, basis, acquired, start, acquisition, adjustment, replaced in held
            ]
            quantity = sum((lot.quantity for lot in lots), Decimal(0))
            excess = (quantity * OVERWEIGHT / (1 + OVERWEIGHT)).quantize(
                QUANTITY_QUANT, rounding=ROUND_DOWN
            )
            cost = tax.tax_cost_of_sale(
                lots,
                quantity=excess,
                price=prices[symbol],
                sale_date=AS_OF,
                rates=rates[household],
                account_type=account_type,
            )
            band = tax.rebalance_band(
                base_threshold=BASE_THRESHOLD,
                tax_impact_factor=cost.impact_factor,
                account_type=account_type,
            )
            sales += 1
            total += cost.tax
            widest = max(widest, band)
    return sales, total, widest


def plain_read() -> tuple[float, int]:
    start = time.perf_counter()
    rows = list(TaxLot.objects.values_list(*READ_COLUMNS))
    return time.perf_counter() - start, len(rows)


def scan_job(account_ids: list[int] | None) -> dict[str, Any]:
    """The daily job for some taxable accounts (all when None): harvest scan, then tax costs."""
    start = time.perf_counter()
    results = harvest_scan(as_of=AS_OF, account_ids=account_ids)
    scanned = time.perf_counter()
    sales, total_tax, widest = tax_costs(account_ids)
    finished = time.perf_counter()
    return {
        "harvest_s": scanned - start,
        "cost_s": finished - scanned,
        "accounts": len(results),
        "candidates": sum(r.screened_lots for r in results),
        "candidate_accounts": sum(1 for r in results if r.screened_lots),
        "proposals": sum(len(r.scan.proposals) for r in results),
        "harvested_lots": sum(len(p.lots) for r in results for p in r.scan.proposals),
        "skips": sum(len(r.scan.skipped) for r in results),
        "sales": sales,
        "tax": total_tax,
        "widest": widest,
    }


def _worker_job(account_ids: list[int]) -> dict[str, Any]:
    try:
        return scan_job(account_ids)
    finally:
        connections.close_all()


def sharded_scan(workers: int) -> tuple[float, list[dict[str, Any]]]:
    """The job split by household over ``workers`` processes, as Celery workers would run it."""
    taxable = list(
        Account.objects.filter(account_type=AccountType.TAXABLE)
        .order_by("household_id", "pk")
        .values_list("pk", flat=True)
    )
    size = -(-len(taxable) // workers)
    shards = [taxable[i : i + size] for i in range(0, len(taxable), size)]
    connections.close_all()  # each process opens its own connection
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        parts = pool.map(_worker_job, shards)
    return time.perf_counter() - start, parts


def main() -> None:
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        sys.exit("tax_scan.py needs PostgreSQL: set DATABASE_URL (make benchmarks does)")
    database.setdefault("TEST", {})["NAME"] = f"{database['NAME']}_bench"
    started = time.perf_counter()
    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        lots = load_book()
        print(
            f"database {connection.settings_dict['NAME']}: {lots} lots in "
            f"{Account.objects.count()} accounts loaded and migrated in "
            f"{time.perf_counter() - started:.1f} s (not timed)"
        )
        read_before, read_rows = plain_read()
        single = scan_job(None)
        parallel_s, parts = sharded_scan(WORKERS)
        read_after, _ = plain_read()
    finally:
        connections.close_all()
        teardown_databases(old_config, verbosity=0)
    single_s = single["harvest_s"] + single["cost_s"]
    read_s = min(read_before, read_after)
    print(
        f"harvest scan: {single['harvest_s']:.2f} s for {single['accounts']} taxable accounts; "
        f"{single['candidates']} candidate lots in {single['candidate_accounts']} accounts passed "
        f"the screen; {single['proposals']} proposals selling {single['harvested_lots']} lots; "
        f"{single['skips']} skipped assets"
    )
    print(
        f"tax cost: {single['cost_s']:.2f} s for {single['sales']} overweight assets; estimated "
        f"tax {single['tax']}; widest band {single['widest']:.4f} (base {BASE_THRESHOLD})"
    )
    print(f"one process: {single_s:.2f} s")
    same = all(
        sum(part[key] for part in parts) == single[key]
        for key in ("accounts", "candidates", "proposals", "harvested_lots", "sales", "tax")
    )
    print(
        f"{WORKERS} processes, households split between them: {parallel_s:.2f} s wall-clock "
        f"(slowest harvest {max(p['harvest_s'] for p in parts):.2f} s, tax cost "
        f"{max(p['cost_s'] for p in parts):.2f} s); same results as one process: {same}"
    )
    print(f"plain read of {read_rows} lots: {read_before:.2f} s before, {read_after:.2f} s after")
    scan_s = min(single_s, parallel_s)
    print(f"scan_s below is the faster of the two ways of using the {WORKERS} cores")
    print(f"RESULT scan_s={scan_s:.2f} ratio_vs_read={scan_s / read_s:.2f}")


if __name__ == "__main__":
    main()
