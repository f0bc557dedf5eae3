"""Read-side helpers for the client portal's pages. Selectors never write (caches aside).

The dashboard is assembled by :func:`household_dashboard` from small pieces that each page or
fragment can use alone: holdings, allocation against target and drift, the current
recommendation, the efficient frontier of the market inputs it was computed from (cached per
day), the goal projection, realised gains, proposals and recent activity. Every function takes a
household the caller already obtained through :mod:`advisor.selectors` (visibility is checked
there, never here).
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
from django.core.cache import cache
from django.db.models import Count, Max, Prefetch

from advisor.models import Client, ESGPreference, OnboardingDraft, RiskProfile
from advisor.services.performance import Performance, household_performance, policy_split
from portfolios.clock import firm_today
from portfolios.core.errors import DomainError
from portfolios.core.money import ZERO
from portfolios.core.projection import GoalProjection, project_goal
from portfolios.models import (
    Asset,
    AssetClass,
    FirmSettings,
    Household,
    PriceBar,
    ProposalStatus,
    ProposalTrade,
    RebalanceProposal,
    Recommendation,
    SecurityType,
    Transaction,
    TransactionKind,
)
from portfolios.selectors import AccountView, LotView, PositionView, household_holdings
from portfolios.tax_reports import TaxReport, tax_report

logger = logging.getLogger(__name__)

CASH_KEY = "_cash"
CASH_LABEL = "Uninvested cash"
#: Simulated paths of the dashboard's goal projection (standard error under 1.2 points).
PROJECTION_PATHS = 2000
#: Points on the efficient frontier (each one an efficient_return solve).
FRONTIER_POINTS = 9
CACHE_SECONDS = 60 * 60 * 24
PERFORMANCE_CACHE_SECONDS = 60 * 60
ACTIVITY_LIMIT = 10


# --------------------------------------------------------------------------------------------
# Who and what
# --------------------------------------------------------------------------------------------


def primary_client(*, household: Household) -> Client | None:
    """The member whose profile drives the household's recommendation (first onboarded)."""
    members = list(
        Client.objects.filter(household=household)
        .select_related("risk_profile", "esg_preference", "advisor")
        .order_by("created_at", "id")
    )
    with_profile = [c for c in members if client_profile(c) is not None]
    chosen = with_profile or members
    return chosen[0] if chosen else None


def client_profile(client: Client | None) -> RiskProfile | None:
    if client is None:
        return None
    try:
        return client.risk_profile
    except RiskProfile.DoesNotExist:
        return None


def client_esg(client: Client | None) -> ESGPreference | None:
    if client is None:
        return None
    try:
        return client.esg_preference
    except ESGPreference.DoesNotExist:
        return None


def needs_onboarding(client: Client) -> bool:
    """A client whose household has no risk profile yet still has the wizard ahead of them."""
    return (
        client.onboarded_at is None
        and not RiskProfile.objects.filter(client__household_id=client.household_id).exists()
    )


def onboarding_in_progress(client: Client) -> bool:
    """A client who started the wizard (signed up in the portal) and has not finished it."""
    return (
        client.user_id is not None
        and OnboardingDraft.objects.filter(user_id=client.user_id).exists()
        and needs_onboarding(client)
    )


def current_recommendation(*, household_id: int) -> Recommendation | None:
    return Recommendation.objects.filter(household_id=household_id, is_current=True).first()


def latest_price_date() -> date | None:
    """The latest day with a stored close (the market's "today" for the pages)."""
    return PriceBar.objects.order_by("-date").values_list("date", flat=True).first()


# --------------------------------------------------------------------------------------------
# Allocation and drift
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AllocationRow:
    symbol: str
    name: str
    asset_class: str
    asset_class_label: str
    value: Decimal
    weight: float
    target: float

    @property
    def difference(self) -> float:
        return self.weight - self.target

    @property
    def weight_pct(self) -> float:
        return self.weight * 100

    @property
    def target_pct(self) -> float:
        return self.target * 100

    @property
    def difference_pct(self) -> float:
        return self.difference * 100


@dataclass(frozen=True)
class ClassRow:
    asset_class: str
    label: str
    weight: float
    target: float

    @property
    def weight_pct(self) -> float:
        return self.weight * 100

    @property
    def target_pct(self) -> float:
        return self.target * 100


@dataclass(frozen=True)
class Allocation:
    """Current weights against the recommendation's targets, over the household's total value.

    Uninvested cash is a row of its own with a target of zero, so cash waiting to be invested
    shows as drift. ``drift`` is ``sum(|w - target|) / 2``: the share of the portfolio that would
    have to change hands to be back on target.
    """

    rows: tuple[AllocationRow, ...]
    by_class: tuple[ClassRow, ...]
    total_value: Decimal
    has_target: bool

    @property
    def drift(self) -> float:
        return sum(abs(r.difference) for r in self.rows) / 2.0

    @property
    def drift_pct(self) -> float:
        return self.drift * 100


_CLASS_LABELS = dict(AssetClass.choices)
_CLASS_ORDER = {value: i for i, value in enumerate(AssetClass.values)}


def household_allocation(
    *, accounts: list[AccountView], recommendation: Recommendation | None
) -> Allocation:
    """Weights by fund and by asset class, now and in the target."""
    values: dict[str, Decimal] = defaultdict(lambda: ZERO)
    meta: dict[str, tuple[str, str]] = {}
    cash_total = ZERO
    for account in accounts:
        cash_total += account.cash
        for p in account.positions:
            values[p.symbol] += p.market_value
            meta[p.symbol] = (p.name, p.asset_class)
    total = sum(values.values(), ZERO) + cash_total
    targets = {
        str(s): float(w) for s, w in (recommendation.weights if recommendation else {}).items()
    }
    missing = [s for s in targets if s not in meta]
    if missing:
        for asset in Asset.objects.filter(symbol__in=missing).only("symbol", "name", "asset_class"):
            meta[asset.symbol] = (asset.name, asset.asset_class)
    rows = []
    for symbol in sorted(set(values) | set(targets)):
        name, asset_class = meta.get(symbol, (symbol, AssetClass.US_EQUITY))
        value = values.get(symbol, ZERO)
        rows.append(
            AllocationRow(
                symbol=symbol,
                name=name,
                asset_class=asset_class,
                asset_class_label=_CLASS_LABELS.get(asset_class, asset_class),
                value=value,
                weight=float(value / total) if total else 0.0,
                target=targets.get(symbol, 0.0),
            )
        )
    if cash_total or not rows:
        rows.append(
            AllocationRow(
                symbol=CASH_KEY,
                name=CASH_LABEL,
                asset_class=CASH_KEY,
                asset_class_label=CASH_LABEL,
                value=cash_total,
                weight=float(cash_total / total) if total else 0.0,
                target=0.0,
            )
        )
    rows.sort(key=lambda r: (_CLASS_ORDER.get(r.asset_class, 99), -r.weight, r.symbol))
    classes: dict[str, list[float]] = {}
    for row in rows:
        sums = classes.setdefault(row.asset_class, [0.0, 0.0])
        sums[0] += row.weight
        sums[1] += row.target
    by_class = tuple(
        ClassRow(c, _CLASS_LABELS.get(c, CASH_LABEL), w, t) for c, (w, t) in classes.items()
    )
    return Allocation(tuple(rows), by_class, total, bool(targets))


# --------------------------------------------------------------------------------------------
# Efficient frontier
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrontierPoint:
    volatility: float
    expected_return: float


@dataclass(frozen=True)
class Frontier:
    """The long-only frontier under the firm's caps, from the recommendation's market inputs."""

    as_of: date
    points: tuple[FrontierPoint, ...]
    assets: tuple[tuple[str, float, float], ...]  # (symbol, volatility, expected return)


def _max_return_under_caps(mu: np.ndarray, caps: np.ndarray) -> float:
    """The highest expected return of a fully invested long-only portfolio under the caps."""
    remaining, best = 1.0, 0.0
    for i in np.argsort(-mu):
        take = min(float(caps[i]), remaining)
        best += take * float(mu[i])
        remaining -= take
        if remaining <= 1e-12:
            break
    return best


def frontier_compute(*, as_of: date, firm: FirmSettings | None = None) -> Frontier:
    """Solve the frontier: the minimum-variance point, then efficient_return up to the top."""
    from advisor.services.recommendations import market_inputs
    from portfolios.core.errors import InfeasibleProblem, SolverFailure
    from portfolios.core.optimize import Constraints, efficient_return, min_variance

    firm = firm or FirmSettings.current()
    inputs = market_inputs(as_of=as_of, firm=firm)
    caps = np.array(
        [
            float(
                firm.max_stock_weight
                if a.security_type == SecurityType.STOCK
                else firm.max_fund_weight
            )
            for a in inputs.assets
        ]
    )
    if caps.sum() < 1.0:  # the caps alone could not be fully invested: frontier without them
        caps = np.ones_like(caps)
    constraints = Constraints(max_weight=caps)
    mu, cov = inputs.mu, inputs.cov
    low = min_variance(cov, mu=mu, constraints=constraints, psd="repair")
    points = [FrontierPoint(float(low.volatility), float(low.expected_return or 0.0))]
    top = _max_return_under_caps(mu.to_numpy(), caps)
    for target in np.linspace(points[0].expected_return, top, FRONTIER_POINTS)[1:]:
        try:
            result = efficient_return(
                mu, cov, target_return=float(target) - 1e-7, constraints=constraints, psd="repair"
            )
        except (InfeasibleProblem, SolverFailure):
            continue
        points.append(FrontierPoint(float(result.volatility), float(result.expected_return or 0)))
    vols = np.sqrt(np.diag(cov.to_numpy()))
    assets = tuple(
        (str(s), float(v), float(m)) for s, v, m in zip(cov.index, vols, mu.to_numpy(), strict=True)
    )
    return Frontier(as_of, tuple(points), assets)


def efficient_frontier(*, as_of: date, firm: FirmSettings | None = None) -> Frontier | None:
    """The frontier for ``as_of``, computed once a day (per firm settings) and then cached."""
    firm = firm or FirmSettings.current()
    key = f"portal:frontier:v1:{as_of.isoformat()}:{firm.updated_at.timestamp():.0f}"
    cached = cache.get(key)
    if cached is not None:
        return cached if isinstance(cached, Frontier) else None
    try:
        frontier: Frontier | None = frontier_compute(as_of=as_of, firm=firm)
    except DomainError as exc:
        logger.warning("no efficient frontier for %s: %s", as_of, exc.message)
        frontier = None
    cache.set(key, frontier if frontier is not None else "none", CACHE_SECONDS)
    return frontier


def recommendation_as_of(recommendation: Recommendation) -> date:
    raw = (recommendation.diagnostics or {}).get("as_of")
    if raw:
        return date.fromisoformat(str(raw))
    return firm_today(recommendation.created_at)


# --------------------------------------------------------------------------------------------
# Goal projection
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GoalOutlook:
    projection: GoalProjection
    goal: Decimal
    horizon_years: int
    monthly_contribution: Decimal
    initial_wealth: Decimal
    expected_return: float
    volatility: float
    start_year: int


def goal_outlook(
    *,
    profile: RiskProfile | None,
    recommendation: Recommendation | None,
    total_value: Decimal,
    today: date,
) -> GoalOutlook | None:
    """The fan chart's bands and the probability of reaching the goal on the recommendation."""
    if profile is None or recommendation is None or not profile.goal_amount:
        return None
    wealth = total_value.quantize(Decimal("1"))
    contribution = profile.monthly_contribution
    if wealth <= 0 and contribution <= 0:
        return None
    inputs = (
        float(wealth),
        float(profile.goal_amount),
        profile.horizon_years,
        round(recommendation.expected_return, 6),
        round(recommendation.volatility, 6),
        float(contribution),
    )
    key = "portal:goal:v1:" + hashlib.sha256(repr(inputs).encode()).hexdigest()[:32]
    projection = cache.get(key)
    if projection is None:
        projection = project_goal(
            initial_wealth=inputs[0],
            goal=inputs[1],
            horizon_years=inputs[2],
            expected_return=inputs[3],
            volatility=inputs[4],
            contribution=inputs[5],
            n_paths=PROJECTION_PATHS,
            seed=0,
        )
        cache.set(key, projection, CACHE_SECONDS)
    return GoalOutlook(
        projection=projection,
        goal=profile.goal_amount,
        horizon_years=profile.horizon_years,
        monthly_contribution=contribution,
        initial_wealth=wealth,
        expected_return=recommendation.expected_return,
        volatility=recommendation.volatility,
        start_year=today.year,
    )


# --------------------------------------------------------------------------------------------
# Performance (cached until the ledger or the latest prices change)
# --------------------------------------------------------------------------------------------


def performance_fingerprint(*, household_id: int, firm: FirmSettings | None = None) -> str:
    """Changes whenever a transaction is added or the latest day's closes move."""
    ledger = Transaction.objects.filter(account__household_id=household_id).aggregate(
        n=Count("id"), last=Max("id")
    )
    last_day = latest_price_date()
    touched = (
        PriceBar.objects.filter(date=last_day).aggregate(at=Max("updated_at"))["at"]
        if last_day is not None
        else None
    )
    firm = firm or FirmSettings.current()
    stamp = touched.timestamp() if isinstance(touched, datetime) else 0
    split = policy_split(household_id=household_id)  # the policy benchmark follows it
    return (
        f"{ledger['n']}:{ledger['last']}:{last_day}:{stamp:.6f}:"
        f"{firm.benchmark_symbol}:{firm.updated_at.timestamp():.0f}:"
        f"{'/'.join(f'{weight:.4f}' for weight in split) if split else '-'}"
    )


def household_performance_cached(
    *, household_id: int, firm: FirmSettings | None = None
) -> Performance:
    fingerprint = performance_fingerprint(household_id=household_id, firm=firm)
    key = f"portal:performance:v3:{household_id}:{fingerprint}"
    cached = cache.get(key)
    if isinstance(cached, Performance):
        return cached
    performance = household_performance(household_id=household_id)
    cache.set(key, performance, PERFORMANCE_CACHE_SECONDS)
    return performance


# --------------------------------------------------------------------------------------------
# Realised gains, proposals, activity
# --------------------------------------------------------------------------------------------


def realised_gains(*, household_id: int, year: int) -> TaxReport:
    """The year's Form 8949 rows and Schedule D netting (the same report the CSV downloads)."""
    return tax_report(household_id=household_id, year=year)


def household_proposals(*, household_id: int, limit: int = 10) -> list[RebalanceProposal]:
    """The household's rebalance proposals that have gone to the advisor, newest first."""
    return list(
        RebalanceProposal.objects.filter(account__household_id=household_id)
        .exclude(status=ProposalStatus.DRAFT)
        .select_related("account", "decided_by")
        .prefetch_related(
            Prefetch("trades", queryset=ProposalTrade.objects.select_related("asset"))
        )
        .order_by("-created_at", "-id")[:limit]
    )


@dataclass(frozen=True)
class Activity:
    at: datetime
    on: date
    kind: str
    text: str
    account: str
    amount: Decimal | None = None


_TXN_VERBS = {
    TransactionKind.BUY: "Bought",
    TransactionKind.SELL: "Sold",
    TransactionKind.TRANSFER_IN: "Transferred in",
}


def recent_activity(*, household_id: int, limit: int = ACTIVITY_LIMIT) -> list[Activity]:
    """The latest ledger entries and orders of the household, newest first by the date shown
    (a transaction's trade date: a lot transferred in today may have been bought years ago), then
    by when it was recorded."""
    from trading.core.sessions import market_date
    from trading.models import Order

    items: list[Activity] = []
    txns = (
        Transaction.objects.filter(account__household_id=household_id)
        .select_related("asset", "account")
        .order_by("-trade_date", "-created_at", "-id")[:limit]
    )
    for t in txns:
        symbol = t.asset.symbol if t.asset is not None else ""
        verb = _TXN_VERBS.get(TransactionKind(t.kind))
        if t.kind == TransactionKind.TRANSFER_IN and t.quantity is not None:
            text = f"{verb} {quantity_text(t.quantity)} {symbol}"
        elif verb and t.quantity is not None:
            text = f"{verb} {quantity_text(t.quantity)} {symbol} at ${t.price:,.2f}"
        else:
            text = f"{t.get_kind_display()}{' ' + symbol if symbol else ''}"
        items.append(
            Activity(
                at=t.executed_at or t.created_at,
                on=t.trade_date,
                kind=t.kind,
                text=text,
                account=t.account.name,
                amount=t.amount if t.amount else None,
            )
        )
    orders = (
        Order.objects.filter(account__household_id=household_id, parent__isnull=True)
        .select_related("asset", "account")
        .order_by("-updated_at", "-id")[:limit]
    )
    for o in orders:
        filled = (
            f", {quantity_text(o.filled_quantity)} filled at ${o.average_fill_price:,.2f}"
            if o.filled_quantity and o.average_fill_price
            else ""
        )
        items.append(
            Activity(
                at=o.updated_at,
                on=market_date(o.updated_at),
                kind=f"order.{o.status}",
                text=f"Order to {o.side} {quantity_text(o.quantity)} {o.asset.symbol}: "
                f"{o.get_status_display().lower()}{filled}",
                account=o.account.name,
            )
        )
    items.sort(key=lambda a: (a.on, a.at), reverse=True)
    return items[:limit]


# --------------------------------------------------------------------------------------------
# The whole dashboard
# --------------------------------------------------------------------------------------------


@dataclass
class Dashboard:
    household: Household
    client: Client | None
    profile: RiskProfile | None
    esg: ESGPreference | None
    accounts: list[AccountView]
    rows: list[AccountRows]
    total_value: Decimal
    cash_total: Decimal
    unrealized_gain: Decimal
    allocation: Allocation
    recommendation: Recommendation | None
    frontier: Frontier | None
    outlook: GoalOutlook | None
    performance: Performance
    realised: TaxReport
    proposals: list[RebalanceProposal]
    activity: list[Activity]
    prices_as_of: date | None
    firm: FirmSettings

    @property
    def onboarded(self) -> bool:
        return self.profile is not None

    @property
    def n_positions(self) -> int:
        return sum(len(a.positions) for a in self.accounts)


def quantity_text(value: Decimal) -> str:
    """A share quantity as people write it: 150, 80.5, 0.123456789 (no trailing zeros)."""
    text = f"{value:,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def long_term_cutoff(today: date) -> date:
    """Lots whose holding period started before this day are long-term if sold today."""
    try:
        return today.replace(year=today.year - 1)
    except ValueError:  # February 29th
        return today.replace(year=today.year - 1, day=28)


class _Delegate:
    """A row for the page: the selector's object plus display fields, read through."""

    _wrapped: Any

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)


def amount_text(value: Decimal) -> str:
    """Cents with thousands separators: 1,234.50."""
    return f"{value:,.2f}"


def plain_decimal(value: Decimal) -> str:
    """A decimal for a data- attribute that the page's script reads: 1234.500000, never 1E-9.

    Written here rather than by the template, whose localisation of each number costs more
    than the rest of a row (a dashboard has hundreds of these attributes).
    """
    return format(value, "f")


def money_text(value: Decimal, *, signed: bool = False) -> str:
    """Dollars as a statement writes them: $1,234.50, -$12.00 (a true minus), +$3.10 if signed."""
    if value < 0:
        return f"\u2212${-value:,.2f}"
    return f"{'+' if signed and value > 0 else ''}${value:,.2f}"


class LotRow(_Delegate):
    def __init__(self, lot: LotView, *, cutoff: date) -> None:
        self._wrapped = lot
        self.quantity_text = quantity_text(lot.quantity)
        self.quantity_attr = plain_decimal(lot.quantity)
        self.basis_attr = plain_decimal(lot.cost_basis)
        self.is_long_term = lot.holding_period_start < cutoff
        self.basis_text = amount_text(lot.cost_basis)
        self.value_text = amount_text(lot.market_value)
        self.gain_text = money_text(lot.unrealized_gain, signed=True)


class PositionRow(_Delegate):
    def __init__(self, position: PositionView, *, cutoff: date) -> None:
        self._wrapped = position
        self.quantity_text = quantity_text(position.quantity)
        self.quantity_attr = plain_decimal(position.quantity)
        self.price_attr = plain_decimal(position.price)
        self.basis_attr = plain_decimal(position.cost_basis)
        self.price_text = amount_text(position.price)
        self.value_text = amount_text(position.market_value)
        self.basis_text = amount_text(position.cost_basis)
        self.gain_text = money_text(position.unrealized_gain, signed=True)
        self.lots = [LotRow(lot, cutoff=cutoff) for lot in position.lots]


class AccountRows(_Delegate):
    def __init__(self, account: AccountView, *, cutoff: date) -> None:
        self._wrapped = account
        self.total_text = money_text(account.total_value)
        self.cash_text = money_text(account.cash)
        self.cash_attr = plain_decimal(account.cash)
        self.positions = [PositionRow(p, cutoff=cutoff) for p in account.positions]


def account_rows(accounts: list[AccountView], *, today: date) -> list[AccountRows]:
    """The holdings as the positions table shows them (quantities as text, lot terms)."""
    cutoff = long_term_cutoff(today)
    return [AccountRows(a, cutoff=cutoff) for a in accounts]


@dataclass(frozen=True)
class LiveSummary:
    """What the live fragment refreshes: value, positions and recent activity."""

    household: Household
    accounts: list[AccountView]
    rows: list[AccountRows]
    total_value: Decimal
    cash_total: Decimal
    unrealized_gain: Decimal
    activity: list[Activity]
    prices_as_of: date | None


def household_live_summary(*, household: Household, today: date) -> LiveSummary:
    accounts = household_holdings(household_id=household.pk)
    total = sum((a.total_value for a in accounts), ZERO)
    return LiveSummary(
        household=household,
        accounts=accounts,
        rows=account_rows(accounts, today=today),
        total_value=total,
        cash_total=sum((a.cash for a in accounts), ZERO),
        unrealized_gain=sum((a.unrealized_gain for a in accounts), ZERO),
        activity=recent_activity(household_id=household.pk),
        prices_as_of=_prices_as_of(accounts),
    )


def _prices_as_of(accounts: list[AccountView]) -> date | None:
    days = [p.price_date for a in accounts for p in a.positions if p.price_date]
    return max(days) if days else latest_price_date()


def household_dashboard(*, household: Household, today: date) -> Dashboard:
    """Everything the client dashboard shows, for a household the caller may see."""
    firm = FirmSettings.current()
    live = household_live_summary(household=household, today=today)
    client = primary_client(household=household)
    profile = client_profile(client)
    recommendation = current_recommendation(household_id=household.pk)
    frontier = (
        efficient_frontier(as_of=recommendation_as_of(recommendation), firm=firm)
        if recommendation
        else None
    )
    return Dashboard(
        household=household,
        client=client,
        profile=profile,
        esg=client_esg(client),
        accounts=live.accounts,
        rows=live.rows,
        total_value=live.total_value,
        cash_total=live.cash_total,
        unrealized_gain=live.unrealized_gain,
        allocation=household_allocation(accounts=live.accounts, recommendation=recommendation),
        recommendation=recommendation,
        frontier=frontier,
        outlook=goal_outlook(
            profile=profile,
            recommendation=recommendation,
            total_value=live.total_value,
            today=today,
        ),
        performance=household_performance_cached(household_id=household.pk, firm=firm),
        realised=realised_gains(household_id=household.pk, year=today.year),
        proposals=household_proposals(household_id=household.pk),
        activity=live.activity,
        prices_as_of=live.prices_as_of,
        firm=firm,
    )
