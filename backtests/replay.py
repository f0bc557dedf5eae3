"""Replay one strategy through the live services, on a simulated clock, in a database of its own.

The replay writes a whole small world into the current database: the market's assets and (day by
day) its bars, the firm's settings and limits for the strategy, a household with one client,
risk profile, ESG preference and one taxable account funded on day one, and a system user
``backtest`` (staff) that approves proposals in place of an advisor. It refuses to run in a
database that already holds households: :func:`backtests.isolation.run_isolated` gives every
replay a fresh one.

The clock (:mod:`backtests.core.schedule`): on each trading day on which a service runs, the bars
up to that day are written first (so every service that reads "the latest price" sees exactly the
simulated day; quiet days' bars go in with the next day that needs them), the trades
approved the day before execute at 15:50 New York through ``trading.services.proposal_execute``
and the simulated exchange, and the day's decisions run at 16:30 through the live services:

* target refresh: ``recommendations_refresh`` (after the signal pipeline's detect and views
  stages when the strategy uses views), or the strategy's own weights stored as the household's
  current recommendation;
* drift check: ``proposals_run`` (harvest first when due, then drift and cash);
* harvest-only days: ``portfolios.harvest_scan.harvest_scan`` and ``proposal_build`` with the best
  harvest, as ``proposals_run`` does;
* approval: ``proposal_approve`` by the ``backtest`` user (the audit trail says so), with
  execution left to the clock.

Nothing reads a bar dated after the simulated day because none is in the database yet.

Two shortcuts keep 20 years affordable without changing a decision: a harvest scan is skipped on
a day when no open lot is below its cost by the firm's minimum loss (the scan's own screen would
pass nothing), and the daily values are computed at the end from the ledger's transactions
(:mod:`backtests.core.valuation`) instead of a valuation row a day; the last day's is checked
against the live ``account_valuations_record``. Single stocks are recommended (the firm
setting) only when the market has no equity funds, as in the shared stock data.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from django.db import transaction

from backtests.core.config import BacktestJob, StrategyConfig, TargetKind
from backtests.core.schedule import (
    DECISION_TIME,
    EXECUTION_TIME,
    SESSION_CLOSE,
    SIGNALS_TIME,
    DayPlan,
    market_moment,
    plan_days,
)
from backtests.market import MarketData
from portfolios.core.errors import Conflict, DomainError, InvalidInput
from portfolios.core.money import PRICE_QUANT, ROUNDING, ZERO
from portfolios.prepared import prepared_read

logger = logging.getLogger(__name__)

SYSTEM_USERNAME = "backtest"
APPROVAL_COMMENT = "approved by the backtest (simulated advisor on the simulated clock)"
MIN_HISTORY_DAYS = 250
#: Asset classes the equal-weight and inverse-volatility targets leave out.
_CASH_CLASSES = {"cash"}


def answers_for_score(score: int) -> dict[str, str]:
    """Questionnaire answers (without contradictions, 30-year horizon) that score ``score``."""
    return dict(_answers_for_score(score))


@lru_cache(maxsize=10)
def _answers_for_score(score: int) -> dict[str, str]:
    from advisor.core.questionnaire import CAPACITY, QUESTIONS, assess

    capacity = {
        q.key: max(q.choices, key=lambda c: c.points).value for q in QUESTIONS if q.side == CAPACITY
    }
    willingness = [q for q in QUESTIONS if q.side != CAPACITY]
    for combination in itertools.product(*(q.choices for q in willingness)):
        answers = {
            **capacity,
            **{q.key: c.value for q, c in zip(willingness, combination, strict=True)},
        }
        result = assess(answers, horizon_years=30)
        if result.score == score and not result.contradictions:
            return answers
    raise InvalidInput(f"no questionnaire answers give a risk score of {score}", field="risk_score")


def _rate(value: float) -> Decimal:
    return Decimal(str(round(float(value), 4)))


class _BarFeed:
    """The market's bars, written into the database a few days at a time as the clock advances.

    The rows are prepared once (prices rounded to the ledger's 6 places, volumes as in
    :meth:`MarketData.volume_frame`) and inserted with one ``executemany`` per chunk: the price
    importer's ORM upsert costs about 20 ms for a day's 20 bars, which over 20 years would cost
    more than the whole replay. The closes were validated by the importer's parser when the
    market was read.
    """

    def __init__(self, market: MarketData, asset_ids: Mapping[str, int]) -> None:
        self.symbols = list(market.closes.columns)
        self.symbol_of = {pk: symbol for symbol, pk in asset_ids.items()}
        self.index = market.closes.index
        self.days = [d.date() for d in self.index]
        closes = market.closes.to_numpy()
        volumes = market.volume_frame().to_numpy()
        self.rounded = np.full(closes.shape, np.nan)
        self.rows: list[list[tuple[Any, ...]]] = []
        for i, day in enumerate(self.days):
            stamp = market_moment(day, SESSION_CLOSE).strftime("%Y-%m-%d %H:%M:%S")
            row = []
            for j, symbol in enumerate(self.symbols):
                close = closes[i, j]
                if not np.isfinite(close):
                    continue
                px = max(
                    Decimal(repr(float(close))).quantize(PRICE_QUANT, rounding=ROUNDING),
                    PRICE_QUANT,
                )
                self.rounded[i, j] = float(px)
                text = str(px)
                volume = volumes[i, j]
                row.append(
                    (
                        asset_ids[symbol],
                        day.isoformat(),
                        text,
                        text,
                        text,
                        text,
                        int(volume) if volume > 0 else 0,
                        "import",
                        stamp,
                    )
                )
            self.rows.append(row)
        self.filled = pd.DataFrame(self.rounded).ffill().to_numpy()
        self.position = 0  # the days before this index are in the database

    def load_through(self, day: date) -> int:
        """Insert the bars of the days not loaded yet, up to ``day``; returns how many."""
        from django.db import connection

        from portfolios.models import PriceBar

        chunk: list[tuple[Any, ...]] = []
        while self.position < len(self.days) and self.days[self.position] <= day:
            chunk.extend(self.rows[self.position])
            self.position += 1
        if not chunk:
            return 0
        meta = PriceBar._meta
        names = ("asset", "date", "open", "high", "low", "close", "volume", "source", "updated_at")
        column_of = {f.name: str(f.column) for f in meta.concrete_fields}
        columns = ", ".join(connection.ops.quote_name(column_of[n]) for n in names)
        marks = ", ".join(["%s"] * len(names))
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({columns}) "  # noqa: S608 - model metadata, not input
                f"VALUES ({marks})",
                chunk,
            )
        return len(chunk)

    def rounded_closes(self) -> pd.DataFrame:
        """The closes as the database holds them (6 decimal places), as floats."""
        return pd.DataFrame(self.rounded, index=self.index, columns=self.symbols)

    def closes_on(self, day: date) -> dict[str, float]:
        """The latest rounded close of each symbol on or before ``day``."""
        position = int(self.index.searchsorted(pd.Timestamp(day), side="right")) - 1
        if position < 0:
            return {}
        row = self.filled[position]
        return {s: float(v) for s, v in zip(self.symbols, row, strict=True) if np.isfinite(v)}


@dataclass
class _Timings:
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, name: str, started: float) -> None:
        self.seconds[name] += time.perf_counter() - started
        self.calls[name] += 1


class Replay:
    """One backtest job replayed through the live services (see the module docstring)."""

    def __init__(
        self,
        *,
        market: MarketData,
        job: BacktestJob,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.job = job
        self.strategy: StrategyConfig = job.strategy
        self.market = market
        self.progress = progress
        self.days = market.trading_days(job.start, job.end)
        if len(self.days) < 2:
            raise InvalidInput(
                f"fewer than two trading days between {job.start} and {job.end}", field="start"
            )
        self.plans = plan_days(self.days, self.strategy)
        self.timings = _Timings()
        self.notes: list[str] = list(market.notes)
        self._approved: list[int] = []
        self._executing: set[int] = set()
        self._drift_due = False

    # --- setup ---------------------------------------------------------------------------------

    def _setup(self) -> None:
        from advisor.models import Role
        from advisor.services.clients import (
            client_create,
            esg_preference_save,
            risk_profile_save,
            user_create,
        )
        from portfolios.models import (
            SLEEVE_OF_CLASS,
            Account,
            AccountType,
            Asset,
            FilingStatus,
            FirmSettings,
            Household,
        )
        from portfolios.services import cash_deposit
        from trading.brokers.simulated import SimulatedBroker
        from trading.services import risk_limit_current, risk_limit_update

        if Household.objects.exists():
            raise Conflict(
                "a backtest runs in a database of its own; this one already holds households "
                "(use backtests.isolation.run_isolated)"
            )
        started = time.perf_counter()
        Asset.objects.bulk_create(
            [
                Asset(
                    symbol=spec.symbol,
                    name=spec.name or spec.symbol,
                    security_type=spec.security_type,
                    asset_class=spec.asset_class,
                    sector=spec.sector,
                    esg_score=spec.esg_score,
                    exclusion_tags=list(spec.exclusion_tags),
                    identity_group=spec.identity_group,
                    replacement_group=spec.replacement_group,
                    fractionable=spec.fractionable,
                )
                for spec in self.market.assets.values()
            ]
        )
        asset_ids = dict(Asset.objects.values_list("symbol", "pk"))
        self.feed = _BarFeed(self.market, asset_ids)
        self.feed.load_through(self.days[0] - timedelta(days=1))
        self.loaded_through = self.days[0] - timedelta(days=1)

        s = self.strategy
        firm = FirmSettings.current()
        # Single stocks are recommended only where the market has no equity funds to hold
        # (the shared stock data); the demo universe's funds stay the recommendation's core.
        equity_funds = [
            a
            for a in self.market.assets.values()
            if a.security_type == "etf" and SLEEVE_OF_CLASS.get(a.asset_class) == "equity"
        ]
        firm.recommend_single_stocks = len(equity_funds) < 2
        firm.max_stock_weight = _rate(s.max_asset_weight)
        firm.max_fund_weight = _rate(max(s.max_asset_weight, float(firm.max_fund_weight)))
        firm.min_position_weight = _rate(s.min_position_weight)
        firm.estimation_years = s.estimation_years
        firm.drift_threshold = _rate(s.drift_threshold)
        firm.band_absolute = _rate(s.band_absolute)
        firm.band_relative = _rate(s.band_relative)
        firm.cash_buffer = _rate(s.cash_buffer)
        firm.harvest_min_loss_pct = _rate(s.harvest_min_loss_pct)
        firm.harvest_min_benefit = Decimal(str(round(s.harvest_min_benefit, 2)))
        firm.view_max_tilt = _rate(s.view_max_tilt)
        firm.commission_per_trade = self.job.account.commission_per_trade
        firm.auto_approve_harvests = False
        firm.auto_approve_cash_flow_max = ZERO
        firm.full_clean()
        firm.save()

        self.system = user_create(
            username=SYSTEM_USERNAME,
            password=None,
            role=Role.STAFF,
            first_name="Backtest",
            last_name="(simulated advisor)",
        )
        value = self.job.account.account_value
        risk_limit_update(
            limit_id=risk_limit_current().pk,
            changes={
                "max_position_weight": Decimal("1.0000"),
                "max_order_notional": value * 2,
                "daily_loss_limit": value,
            },
            actor_id=self.system.pk,
            reason="backtest limits: positions and order sizes follow the strategy; the price "
            "collar, cash and session checks stay as the firm has them",
        )
        short_rate, long_rate = self.job.account.tax_rates
        self.household = Household.objects.create(
            name="Backtest household",
            filing_status=FilingStatus.SINGLE,
            short_term_rate=short_rate,
            long_term_rate=long_rate,
        )
        client = client_create(household=self.household, first_name="Backtest", last_name="Client")
        risk_profile_save(client=client, answers=answers_for_score(s.risk_score), horizon_years=30)
        esg_preference_save(client=client, min_esg_score=0, excluded_categories=[])
        self.account = Account.objects.create(
            household=self.household,
            name="Taxable",
            account_type=AccountType.TAXABLE,
            lot_method=self.job.account.lot_method.value,
        )
        self._load_through(self.days[0])
        cash_deposit(account=self.account, amount=value, on=self.days[0])
        self.broker = SimulatedBroker()
        self.timings.add("setup", started)

    # --- the clock -----------------------------------------------------------------------------

    def _load_through(self, day: date) -> None:
        if day <= self.loaded_through:
            return
        started = time.perf_counter()
        self.feed.load_through(day)
        self.loaded_through = day
        self.timings.add("prices", started)

    def _execute(self, day: date) -> None:
        from portfolios.models import ProposalStatus, RebalanceProposal
        from trading.services import proposal_execute, trading_tick

        now = market_moment(day, EXECUTION_TIME)
        started = time.perf_counter()
        for proposal_id in self._approved:
            proposal_execute(proposal_id=proposal_id, now=now, broker=self.broker)
            self._executing.add(proposal_id)
        self._approved = []
        if self._executing:
            statuses = dict(
                RebalanceProposal.objects.filter(pk__in=self._executing).values_list("pk", "status")
            )
            if any(s == ProposalStatus.EXECUTING for s in statuses.values()):
                trading_tick(now=now, broker=self.broker)
                statuses = dict(
                    RebalanceProposal.objects.filter(pk__in=self._executing).values_list(
                        "pk", "status"
                    )
                )
            self._executing = {pk for pk, s in statuses.items() if s == ProposalStatus.EXECUTING}
        self.timings.add("execution", started)

    def _decide(self, plan: DayPlan) -> None:
        if plan.refresh:
            self._refresh(plan.day)
        if plan.drift:
            self._drift_due = True
        if not (self._drift_due or plan.harvest):
            return
        if self._executing or self._approved:
            return  # an open proposal blocks new ones; the drift check stays due
        from advisor.services.proposals import proposal_build, proposals_run

        now = market_moment(plan.day, DECISION_TIME)
        harvest = plan.harvest and self._harvest_possible(plan.day)
        if not (self._drift_due or harvest):
            return
        started = time.perf_counter()
        if self._drift_due:
            report = proposals_run(
                as_of=plan.day,
                now=now,
                account_ids=[self.account.pk],
                harvest=harvest,
            )
            if report.errors:
                self.notes.append(f"{plan.day}: {report.errors[self.account.pk]}")
            if not report.harvests:
                self._drift_due = False
            self.timings.add("proposals_run", started)
        else:
            from portfolios.harvest_scan import harvest_scan

            results = harvest_scan(as_of=plan.day, account_ids=[self.account.pk])
            found = [p for r in results for p in r.scan.proposals]
            self.timings.add("harvest_scan", started)
            if found:
                started = time.perf_counter()
                best = max(found, key=lambda p: p.net_benefit)
                proposal_build(account_id=self.account.pk, as_of=plan.day, now=now, harvest=best)
                self.timings.add("proposal_build", started)
        self._approve(plan.day)

    def _harvest_possible(self, day: date) -> bool:
        """Whether any open lot is far enough below its cost for the harvest scan to look at it.

        The scan's own screen passes a lot only when ``basis - value + 0.05 >= min_loss_pct *
        value``; when no lot passes it, the scan cannot propose anything, so the replay skips the
        call (counted as ``harvest_prescreen``). Every scan that could matter runs.
        """

        started = time.perf_counter()
        closes = self.feed.closes_on(day)
        fraction = self.strategy.harvest_min_loss_pct
        possible = False
        for asset_id, qty, basis in _open_lot_values(self.account.pk):
            price = closes.get(self.feed.symbol_of.get(asset_id, ""))
            if price is None:
                possible = True  # the scan reports it as unpriced
                break
            value = float(qty) * price
            if float(basis) - value + 0.05 >= fraction * value:
                possible = True
                break
        self.timings.add("harvest_prescreen", started)
        if not possible:
            self.timings.calls["harvest_scans_skipped"] += 1
        return possible

    def _approve(self, day: date) -> None:
        from advisor.services.proposals import proposal_approve

        pending = _pending_proposals(self.account.pk)
        started = time.perf_counter()
        for proposal_id in pending:
            try:
                proposal_approve(
                    proposal_id=proposal_id,
                    actor=self.system,
                    comment=APPROVAL_COMMENT,
                    now=market_moment(day, DECISION_TIME),
                    execute=False,
                )
            except Conflict as exc:
                self.notes.append(f"{day}: proposal {proposal_id} not approved: {exc.message}")
                continue
            self._approved.append(proposal_id)
        self.timings.add("approval", started)

    # --- targets -------------------------------------------------------------------------------

    def _refresh(self, day: date) -> None:
        if self.strategy.target is TargetKind.RECOMMENDATION:
            if self.strategy.views:
                self._signals(day)
            from advisor.services.recommendations import recommendations_refresh

            started = time.perf_counter()
            try:
                report = recommendations_refresh(as_of=day, household_ids=[self.household.pk])
            except DomainError as exc:
                self.notes.append(f"{day}: no recommendation: {exc.message}")
            else:
                if report.failed:
                    self.notes.append(
                        f"{day}: no recommendation: {report.failed[self.household.pk]}"
                    )
            self.timings.add("recommendation", started)
            return
        started = time.perf_counter()
        try:
            weights = self._strategy_weights(day)
        except DomainError as exc:
            self.notes.append(f"{day}: no target: {exc.message}")
        else:
            self._store_target(day, weights)
        self.timings.add("target", started)

    def _signals(self, day: date) -> None:
        from signals.pipeline import stage_detect, stage_views

        started = time.perf_counter()
        moment = market_moment(day, SIGNALS_TIME)
        run = f"backtest-{day.isoformat()}"
        stage_detect(run=run, now=moment)
        stage_views(run=run, now=moment)
        self.timings.add("signals", started)

    def _slots(self, day: date) -> tuple[list[Any], pd.DataFrame]:
        """The recommendation universe (one asset per replacement group) with a year of history,
        and its closes over the trailing year."""
        from advisor.services.recommendations import recommendation_universe
        from portfolios.models import FirmSettings
        from portfolios.selectors import price_frame

        universe = recommendation_universe(firm=FirmSettings.current(), as_of=day)
        closes = price_frame(
            asset_ids=[a.pk for a in universe], start=day - timedelta(days=400), end=day
        )
        kept = [
            a
            for a in universe
            if a.symbol in closes.columns and closes[a.symbol].notna().sum() >= MIN_HISTORY_DAYS
        ]
        if not kept:
            raise InvalidInput(f"no asset has {MIN_HISTORY_DAYS} days of prices by {day}")
        return kept, closes[[a.symbol for a in kept]]

    def _strategy_weights(self, day: date) -> dict[str, float]:
        from portfolios.core.optimize import inverse_volatility
        from portfolios.models import SLEEVE_OF_CLASS

        assets, closes = self._slots(day)
        risky = [a for a in assets if a.asset_class not in _CASH_CLASSES]
        target = self.strategy.target
        if target is TargetKind.EQUAL_WEIGHT:
            if not risky:
                raise InvalidInput("no equity, bond or real assets to weight equally")
            return {a.symbol: 1.0 / len(risky) for a in risky}
        if target is TargetKind.INVERSE_VOLATILITY:
            if not risky:
                raise InvalidInput("no equity, bond or real assets to weight")
            returns = closes[[a.symbol for a in risky]].pct_change(fill_method=None).iloc[1:]
            cov = returns.cov() * 252
            result = inverse_volatility(cov, psd="repair")
            inverse = pd.Series(result.weights, index=cov.index)
            return {str(s): float(w) for s, w in inverse.items() if w > 0}
        by_sleeve: dict[str, list[str]] = defaultdict(list)
        for asset in assets:
            by_sleeve[SLEEVE_OF_CLASS[asset.asset_class]].append(asset.symbol)
        wanted = dict(self.strategy.sleeve_weights)
        for sleeve in ("equity", "bond"):
            if wanted.get(sleeve, 0.0) > 0 and not by_sleeve.get(sleeve):
                wanted["cash"] = wanted.get("cash", 0.0) + wanted.pop(sleeve)
        weights: dict[str, float] = {}
        for sleeve, share in wanted.items():
            members = by_sleeve.get(sleeve, [])
            if share <= 0:
                continue
            if not members:
                raise InvalidInput(f"the market has no {sleeve} asset for its {share:.0%}")
            for symbol in members:
                weights[symbol] = share / len(members)
        return weights

    def _store_target(self, day: date, weights: Mapping[str, float]) -> None:
        """The strategy's weights as the household's current recommendation (what the live
        rebalancer reads)."""
        from portfolios.models import Recommendation

        total = sum(weights.values())
        clean = {s: round(w / total, 6) for s, w in sorted(weights.items()) if w > 0}
        with transaction.atomic():
            Recommendation.objects.filter(household=self.household, is_current=True).update(
                is_current=False
            )
            Recommendation.objects.create(
                household=self.household,
                risk_score=self.strategy.risk_score,
                method=f"backtest:{self.strategy.target.value}",
                weights=clean,
                expected_return=0.0,
                volatility=0.0,
                diagnostics={"as_of": day.isoformat(), "strategy": self.strategy.name},
                explanation=[f"Backtest target ({self.strategy.target.value}) as of {day}."],
                is_current=True,
            )

    # --- run -----------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Replay every trading day and return the raw record (see :func:`collect`)."""
        total_started = time.perf_counter()
        self._setup()
        for index, plan in enumerate(self.plans):
            # A day's bars are written before anything reads the database that day; days on
            # which no service runs are written together with the next day that needs them.
            if self._approved or self._executing:
                self._load_through(plan.day)
                self._execute(plan.day)
            if plan.decides or self._drift_due:
                self._load_through(plan.day)
                self._decide(plan)
            if self.progress is not None and (index % 20 == 0 or index == len(self.plans) - 1):
                self.progress(index + 1, len(self.plans))
        self._load_through(self.days[-1])
        if self._executing:
            self.notes.append(
                f"proposal(s) {sorted(self._executing)} still executing at the end (resting orders)"
            )
        from portfolios.models import Recommendation

        if not Recommendation.objects.filter(household=self.household).exists():
            raise InvalidInput(
                "the strategy never had a target: " + "; ".join(self.notes[-3:] or ["no reason"]),
                field="strategy",
            )
        started = time.perf_counter()
        record = collect(replay=self)
        self.timings.add("collect", started)
        record["timings"] = {
            "total_s": round(time.perf_counter() - total_started, 3),
            "seconds": {k: round(v, 3) for k, v in sorted(self.timings.seconds.items())},
            "calls": dict(sorted(self.timings.calls.items())),
        }
        return record


@prepared_read
def _open_lot_values(account_id: int) -> Any:
    from portfolios.models import TaxLot

    return TaxLot.objects.filter(account_id=account_id, quantity__gt=0).values_list(
        "asset_id", "quantity", "cost_basis"
    )


@prepared_read
def _pending_proposals(account_id: int) -> Any:
    from portfolios.models import ProposalStatus, RebalanceProposal

    return RebalanceProposal.objects.filter(
        account_id=account_id, status=ProposalStatus.PENDING
    ).values_list("pk", flat=True)


def _iso(day: date) -> str:
    return day.isoformat()


def collect(*, replay: Replay) -> dict[str, Any]:
    """What the replay did, read back from the ledger, the proposals and the tax books.

    Returns a JSON-ready dict: the trading days, ledger entries, fills with their day's close,
    targets, proposals with their trades, harvests, wash-sale blocks and wash sales, realised
    gains by year and term, each year's Schedule D netting, the unrealised gains at the end,
    the valuation check and the audit trail's approvals.
    """
    from advisor.models import User
    from portfolios.core.tax.holding import is_long_term
    from portfolios.models import (
        AccountValuation,
        AuditEvent,
        HarvestBlock,
        RealizedLot,
        RebalanceProposal,
        Recommendation,
        TaxLot,
        Transaction,
        TransactionKind,
        WashSale,
    )
    from portfolios.services import account_valuations_record
    from portfolios.tax_reports import tax_report
    from trading.models import Fill

    account, household = replay.account, replay.household
    days = replay.days
    last = days[-1]
    closes = replay.feed.rounded_closes()

    entries = []
    for kind, symbol, trade_date, qty, amount in (
        Transaction.objects.filter(account=account)
        .order_by("trade_date", "id")
        .values_list("kind", "asset__symbol", "trade_date", "quantity", "amount")
    ):
        shares = 0.0
        if kind in (TransactionKind.BUY, TransactionKind.TRANSFER_IN):
            shares = float(qty)
        elif kind == TransactionKind.SELL:
            shares = -float(qty)
        entries.append([_iso(trade_date), symbol, shares, float(amount)])

    values = closes.to_numpy()
    on_day = [d.date() for d in closes.index]
    symbols = list(closes.columns)
    rows, cols = np.nonzero(np.isfinite(values))
    close_on = {(on_day[i], symbols[j]): values[i, j] for i, j in zip(rows, cols, strict=True)}
    fills = []
    for executed_at, symbol, side, qty, px, fee, purpose, proposal_id in (
        Fill.objects.filter(order__account=account)
        .order_by("executed_at", "id")
        .values_list(
            "executed_at",
            "order__asset__symbol",
            "order__side",
            "quantity",
            "price",
            "fee",
            "order__proposal_trade__purpose",
            "order__proposal_id",
        )
    ):
        day = market_day(executed_at)
        fills.append(
            {
                "day": _iso(day),
                "symbol": symbol,
                "side": side,
                "quantity": float(qty),
                "price": float(px),
                "fee": float(fee),
                "close": close_on.get((day, symbol), float(px)),
                "purpose": purpose or "",
                "proposal": proposal_id,
            }
        )

    targets = [
        {"day": r.diagnostics.get("as_of"), "method": r.method, "weights": r.weights}
        for r in Recommendation.objects.filter(household=household).order_by("created_at", "id")
    ]

    proposals: list[dict[str, Any]] = []
    for row in (
        RebalanceProposal.objects.filter(account=account)
        .prefetch_related("trades__asset")
        .order_by("priced_at", "id")
    ):
        proposals.append(
            {
                "id": row.pk,
                "day": _iso(market_day(row.priced_at)),
                "reason": row.reason,
                "status": row.status,
                "drift_before": row.drift_before,
                "estimated_tax": float(row.estimated_tax),
                "estimated_costs": float(row.estimated_costs),
                "trades": [
                    [t.asset.symbol, t.side, str(t.quantity), t.purpose]
                    for t in row.trades.all().order_by("sequence")
                ],
            }
        )

    harvests = []
    for p in proposals:
        if p["reason"] != "harvest":
            continue
        sold = next((t[0] for t in p["trades"] if t[1] == "sell"), None)
        bought = next((t[0] for t in p["trades"] if t[1] == "buy"), None)
        harvests.append({"day": p["day"], "sold": sold, "bought": bought, "proposal": p["id"]})
    loss_by_sale: dict[int, float] = defaultdict(float)
    for proposal_id, gain in RealizedLot.objects.filter(
        account=account, sale__fill__order__proposal_trade__purpose="harvest_sell"
    ).values_list("sale__fill__order__proposal_id", "gain"):
        loss_by_sale[proposal_id] += float(gain)
    for h in harvests:
        h["realised"] = round(loss_by_sale.get(h["proposal"], 0.0), 2)

    blocks = [
        {"symbol": b.symbol, "sold_on": _iso(b.sold_on), "blocked_until": _iso(b.blocked_until)}
        for b in HarvestBlock.objects.filter(household=household).order_by("sold_on", "id")
    ]
    washes = [
        {
            "day": _iso(w.replacement_acquired_on),
            "symbol": w.replacement_symbol,
            "sold": w.realized_lot.asset.symbol,
            "disallowed": float(w.disallowed_loss),
        }
        for w in WashSale.objects.filter(replacement_account__household=household).select_related(
            "realized_lot__asset"
        )
    ]

    realised: dict[str, dict[str, float]] = defaultdict(lambda: {"short": 0.0, "long": 0.0})
    for sold_on, term, gain in RealizedLot.objects.filter(
        account__household=household, reportable=True
    ).values_list("sold_on", "term", "gain"):
        realised[str(sold_on.year)][term] += float(gain)

    short_rate, long_rate = (float(r) for r in replay.job.account.tax_rates)
    taxes = {}
    for year in range(days[0].year, last.year + 1):
        report = tax_report(household_id=household.pk, year=year)
        s = report.summary
        taxes[str(year)] = {
            "short_term_gain": float(s.short_term_gain),
            "long_term_gain": float(s.long_term_gain),
            "net_short_term": float(s.net_short_term),
            "net_long_term": float(s.net_long_term),
            "deductible_loss": float(s.deductible_loss),
            "short_term_carryforward": float(s.short_term_carryforward),
            "long_term_carryforward": float(s.long_term_carryforward),
            "loss_limit": float(report.loss_limit),
        }

    last_close = {s: v for (d, s), v in close_on.items() if d == last}
    unrealised = {"short": 0.0, "long": 0.0}
    for symbol, qty, basis, start in TaxLot.objects.filter(
        account=account, quantity__gt=0
    ).values_list("asset__symbol", "quantity", "cost_basis", "holding_period_start"):
        price = last_close.get(symbol)
        if price is None:
            price = float(closes[symbol].dropna().iloc[-1])
        term = "long" if is_long_term(start, last) else "short"
        unrealised[term] += float(qty) * price - float(basis)

    account_valuations_record(on=last, account_ids=[account.pk])
    valuation = AccountValuation.objects.get(account=account, date=last)

    approvals = list(
        AuditEvent.objects.filter(action="proposal.approved").values_list("actor_id", "reason")
    )
    system_name = User.objects.get(pk=replay.system.pk).username
    symbols_used = sorted(
        {str(e[1]) for e in entries if e[1]} | {str(s) for t in targets for s in t["weights"]}
    )
    window = closes.loc[
        (closes.index >= pd.Timestamp(days[0])) & (closes.index <= pd.Timestamp(last)),
        [s for s in symbols_used if s in closes.columns],
    ]
    return {
        "job": replay.job.as_dict(),
        "market": replay.market.name,
        "days": [_iso(d) for d in days],
        "closes": {
            "symbols": list(window.columns),
            "rows": [[None if not np.isfinite(v) else v for v in row] for row in window.to_numpy()],
        },
        "entries": entries,
        "fills": fills,
        "targets": targets,
        "proposals": proposals,
        "harvests": harvests,
        "blocks": blocks,
        "wash_sales": washes,
        "realised": {y: dict(v) for y, v in sorted(realised.items())},
        "taxes": taxes,
        "tax_rates": [short_rate, long_rate],
        "unrealised": unrealised,
        "ledger_check": {
            "day": _iso(last),
            "value": float(valuation.market_value + valuation.cash),
            "cash": float(valuation.cash),
        },
        "approvals": {
            "count": len(approvals),
            "by_backtest": sum(1 for actor, _ in approvals if actor == replay.system.pk),
            "actor": system_name,
        },
        "notes": replay.notes,
    }


def market_day(moment: Any) -> date:
    """The New York trading day of an aware moment."""
    from backtests.core.schedule import NEW_YORK

    return moment.astimezone(NEW_YORK).date()


def replay(
    *, market: MarketData, job: BacktestJob, progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Replay ``job`` on ``market`` in the current database (which must be fresh); markets
    without a bond or cash asset get the synthetic cash asset first."""
    market = market.with_cash_asset(job.account.cash_rate)
    return Replay(market=market, job=job, progress=progress).run()
