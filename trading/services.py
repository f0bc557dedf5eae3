"""Execution: approved proposals become orders, orders pass pre-trade checks and reach a broker,
fills land in the ledger. Every step is safe to run twice.

* Orders exist once: each proposal trade has a deterministic client order id under a unique
  constraint (``ProposalTrade.client_order_id``; slices add a sequence number), so retries, a
  crashed worker or a double click find the order instead of creating another.
* The order intent is recorded and committed (status ``submitting``) *before* the broker is
  called; a crash or timeout after that is resolved by looking the order up at the broker by its
  client order id, never by sending a second one.
* No order reaches a broker without passing the pre-trade checks at the limits in force at that
  moment: the checks run inside the transaction that marks the order ``submitting``, and store
  their results with the limits' version.
* Fills are applied through the ledger (``portfolios.ledger.trade_apply``) keyed by the broker's
  execution id: replaying a fill changes nothing.
* Sells go first: a proposal's buys are held until its sells have finished (they fund the buys,
  and brokers reject an order facing an open opposite-side order as a potential wash trade).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, Exists, F, Q, QuerySet, Sum
from django.utils import timezone

from portfolios.clock import firm_today
from portfolios.core.errors import Conflict, InvalidInput, NotFound
from portfolios.core.money import ZERO, cash
from portfolios.core.money import quantity as to_quantity
from portfolios.ledger import LedgerSession, PendingOrder, pending_wash_sales_release
from portfolios.live import domain_event_send, household_group, publish_on_commit
from portfolios.models import (
    Account,
    Asset,
    Household,
    Position,
    PriceBar,
    ProposalStatus,
    ProposalTrade,
    RebalanceProposal,
)
from portfolios.prepared import PreparedRead, insert_rows, prepared_read
from portfolios.selectors import LastPrice, latest_prices
from portfolios.services import audit_record
from trading.brokers.base import (
    Broker,
    BrokerError,
    BrokerFill,
    BrokerOrderStatus,
    BrokerRejected,
    BrokerTimeout,
)
from trading.core.checks import (
    AccountState,
    MarketContext,
    RiskLimits,
    run_pre_trade_checks,
)
from trading.core.costs import ShortfallReport, implementation_shortfall
from trading.core.execution import ExecutionAlgo as CoreAlgo
from trading.core.execution import plan_execution
from trading.core.orders import Fill as CoreFill
from trading.core.orders import OrderIntent, OrderSide, OrderType
from trading.core.sessions import TradingSession, market_date
from trading.models import (
    LIVE_ORDER_STATUSES,
    BrokerSyncState,
    ExecutionAlgo,
    ExecutionPolicy,
    Fill,
    Order,
    OrderStatus,
    PreTradeCheck,
    RiskLimit,
    RiskLimitChange,
)

logger = logging.getLogger(__name__)

TERMINAL = (
    OrderStatus.FILLED,
    OrderStatus.CANCELED,
    OrderStatus.REJECTED,
    OrderStatus.FAILED,
    OrderStatus.BLOCKED,
)


# --- Broker selection -------------------------------------------------------------------------


def broker_for(name: str | None = None) -> Broker:
    """The configured broker (settings.BROKER): the simulated exchange or Alpaca."""
    from django.conf import settings

    name = name or settings.BROKER
    if name == "alpaca":
        from trading.brokers.alpaca import alpaca_broker_from_settings

        return alpaca_broker_from_settings()
    from trading.brokers.simulated import SimulatedBroker

    return SimulatedBroker(latency_ms=settings.SIMULATED_BROKER_LATENCY_MS)


# --- Risk limits ----------------------------------------------------------------------------------


@prepared_read
def _first_limit() -> QuerySet[RiskLimit]:
    return RiskLimit.objects.order_by("pk")[:1]


def risk_limit_current() -> RiskLimit:
    found = _first_limit()
    return found[0] if found else RiskLimit.objects.create()


LIMIT_FIELDS = (
    "max_position_weight",
    "max_order_notional",
    "max_adv_fraction",
    "restricted_symbols",
    "price_collar_pct",
    "daily_loss_limit",
    "allow_outside_hours",
    "reject_market_orders_outside_hours",
)


def risk_limit_update(
    *, limit_id: int, changes: dict[str, object], actor_id: int | None, reason: str = ""
) -> RiskLimit:
    """Change the limits: bump the version and record who changed what, from what, to what."""
    unknown = sorted(set(changes) - set(LIMIT_FIELDS))
    if unknown:
        raise InvalidInput(f"not a risk limit: {', '.join(unknown)}", field=unknown[0])
    with transaction.atomic():
        limit = RiskLimit.objects.select_for_update().get(pk=limit_id)
        diff = {}
        for name, value in changes.items():
            old = getattr(limit, name)
            if name == "restricted_symbols":
                value = sorted({str(s).strip().upper() for s in value if str(s).strip()})  # type: ignore[attr-defined]
            if old != value:
                diff[name] = [str(old), str(value)]
                setattr(limit, name, value)
        if not diff:
            return limit
        limit.version += 1
        limit.updated_by_id = actor_id
        limit.full_clean()
        limit.save()
        RiskLimitChange.objects.create(
            limit=limit, version=limit.version, changed_by_id=actor_id, changes=diff, reason=reason
        )
        audit_record(
            actor_id=actor_id, action="risk_limit.changed", obj=limit, reason=reason, data=diff
        )
    return limit


def core_limits(limit: RiskLimit, *, excluded: Iterable[str] = ()) -> RiskLimits:
    return RiskLimits(
        max_position_weight=limit.max_position_weight,
        max_order_notional=limit.max_order_notional,
        max_adv_fraction=limit.max_adv_fraction,
        restricted_symbols=frozenset(limit.restricted_symbols or []),
        excluded_symbols=frozenset(excluded),
        price_collar_pct=limit.price_collar_pct,
        daily_loss_limit=limit.daily_loss_limit,
        allow_outside_hours=limit.allow_outside_hours,
        reject_market_orders_outside_hours=limit.reject_market_orders_outside_hours,
    )


def market_context(now: datetime, *, non_fractionable: Iterable[str] = ()) -> MarketContext:
    """Regular US sessions on weekdays (the exchange calendar's holidays are not modelled here)."""
    from trading.core.sessions import NEW_YORK

    day = now.astimezone(NEW_YORK).date()
    session = TradingSession(day=day) if day.weekday() < 5 else None
    following = day + timedelta(days=1)
    while following.weekday() >= 5:
        following += timedelta(days=1)
    return MarketContext(
        session=session,
        next_session=TradingSession(day=following),
        non_fractionable=frozenset(non_fractionable),
    )


@prepared_read
def _recent_bars(asset_ids: list[int], after: date, newest: date) -> QuerySet[PriceBar, Any]:
    return (
        PriceBar.objects.filter(asset_id__in=asset_ids, date__gt=after, date__lte=newest)
        .order_by("-date")
        .values_list("asset_id", "close", "volume")
    )


@prepared_read
def _account_holdings(account_id: int) -> QuerySet[Position, Any]:
    return Position.objects.filter(account_id=account_id, quantity__gt=0).values_list(
        "asset__symbol", "asset_id", "quantity"
    )


@prepared_read
def _account_live_orders(account_id: int) -> QuerySet[Order, Any]:
    return Order.objects.filter(
        account_id=account_id, status__in=LIVE_ORDER_STATUSES, parent__isnull=False
    ).values_list(
        "pk", "side", "asset__symbol", "asset_id", "quantity", "filled_quantity", "limit_price"
    )


def _recent_market(
    assets: dict[str, int],
) -> tuple[dict[str, Decimal], dict[str, Decimal], dict[str, Decimal]]:
    """Last close, previous close and 20-bar average volume per symbol, in two queries."""
    last = latest_prices(asset_ids=assets.values())
    prices = {p.symbol: p.close for p in last.values()}
    symbol_of = {pk: symbol for symbol, pk in assets.items()}
    newest = max((p.date for p in last.values()), default=None)
    closes: dict[str, list[Decimal]] = {}
    volumes: dict[str, list[int]] = {}
    if newest is not None:
        for asset_id, close, volume in _recent_bars(
            list(assets.values()), newest - timedelta(days=40), newest
        ):
            symbol = symbol_of[asset_id]
            closes.setdefault(symbol, []).append(close)
            volumes.setdefault(symbol, []).append(volume)
    previous = {s: c[1] for s, c in closes.items() if len(c) > 1}
    adv = {s: Decimal(sum(v[:20]) // len(v[:20])) for s, v in volumes.items() if v}
    return prices, previous, adv


@dataclass
class _LiveOrder:
    side: str
    symbol: str
    remaining: Decimal
    limit_price: Decimal | None


class _AccountBook:
    """An account's holdings, cash, market and live orders, read once for a round of checks.

    Each order is checked against the account without its own reservation; after a check the
    order's new size, price or status is noted here, so the next order of the same round sees
    exactly what a fresh read would show.
    """

    def __init__(self, account: Account, *, assets: Mapping[str, int]) -> None:
        """``assets``: the asset id of each symbol to be checked; those the account holds or
        has on order are added."""
        self.account = account
        known = dict(assets)
        self.holdings: dict[str, Decimal] = {}
        for symbol, asset_id, qty in _account_holdings(account.pk):
            self.holdings[symbol] = qty
            known[symbol] = asset_id
        self.live: dict[int, _LiveOrder] = {}
        for pk, side, symbol, asset_id, qty, filled, limit_price in _account_live_orders(
            account.pk
        ):
            self.live[pk] = _LiveOrder(side, symbol, qty - filled, limit_price)
            known[symbol] = asset_id
        self.prices, self.previous, self.adv = _recent_market(dict(sorted(known.items())))

    def note(self, order: Order) -> None:
        """The order as it now stands (resized, priced, blocked) reserves what it reserves."""
        if order.status in LIVE_ORDER_STATUSES:
            self.live[order.pk] = _LiveOrder(
                order.side,
                order.asset.symbol,
                order.quantity - order.filled_quantity,
                order.limit_price,
            )
        else:
            self.live.pop(order.pk, None)

    def state(self, *, exclude_order: int | None = None) -> AccountState:
        positions = dict(self.holdings)
        prices = self.prices
        # Cash and shares already promised to other live orders are not available to this one.
        reserved_cash = ZERO
        for pk, order in self.live.items():
            if pk == exclude_order:
                continue
            if order.side == "buy":
                reserved_cash += order.remaining * (
                    order.limit_price or prices.get(order.symbol, ZERO)
                )
            else:
                positions[order.symbol] = positions.get(order.symbol, ZERO) - order.remaining
        value = sum((q * prices.get(s, ZERO) for s, q in positions.items()), ZERO)
        pnl = sum(
            (
                q * (prices[s] - self.previous[s])
                for s, q in positions.items()
                if s in prices and s in self.previous
            ),
            ZERO,
        )
        cash_held = self.account.cash
        return AccountState(
            account_key=str(self.account.pk),
            cash=max(cash_held - reserved_cash, ZERO),
            total_value=value + cash_held,
            positions={s: max(q, ZERO) for s, q in positions.items()},
            prices={s: p for s, p in prices.items() if p > 0},
            pnl_today=pnl,
            average_daily_volume=self.adv,
        )


def account_state(
    account: Account, *, symbols: Iterable[str], exclude_order: int | None = None
) -> AccountState:
    """The account as the checks see it: cash and shares not already promised to live orders."""
    assets = dict(Asset.objects.filter(symbol__in=set(symbols)).values_list("symbol", "pk"))
    return _AccountBook(account, assets=assets).state(exclude_order=exclude_order)


# --- From an approved proposal to orders ------------------------------------------------------------


def _excluded_symbols(proposal_ids: Iterable[int]) -> dict[int, list[str]]:
    """The symbols each proposal's recommendation excluded (none without a recommendation), in
    one query."""
    return {
        pk: list((diagnostics or {}).get("excluded", []))
        for pk, diagnostics in _proposal_diagnostics(list(proposal_ids))
    }


@prepared_read
def _proposal_diagnostics(proposal_ids: list[int]) -> QuerySet[RebalanceProposal, Any]:
    return RebalanceProposal.objects.filter(pk__in=proposal_ids).values_list(
        "pk", "recommendation__diagnostics"
    )


@dataclass(frozen=True)
class ExecutionReport:
    proposal_id: int
    status: str
    orders: int
    submitted: int
    blocked: int


def proposal_orders_create(*, proposal_id: int, now: datetime) -> list[Order]:
    """Create the parent orders and their slices of an approved proposal, once.

    Marks the proposal ``executing``; calling it again returns the existing orders.
    """
    _proposal_orders_record(proposal_id=proposal_id, now=now)
    return list(Order.objects.filter(proposal_id=proposal_id, parent__isnull=True))


def _one(rows: list[Any], model: Any, pk: int) -> Any:
    """The single row of a read by primary key, or the model's ``DoesNotExist``."""
    if not rows:
        raise model.DoesNotExist(f"{model.__name__} matching query does not exist (pk={pk}).")
    return rows[0]


@prepared_read
def _proposal_locked(proposal_id: int) -> QuerySet[RebalanceProposal]:
    return RebalanceProposal.objects.select_for_update().filter(pk=proposal_id)


@prepared_read
def _proposal_trades(proposal_id: int) -> QuerySet[ProposalTrade]:
    return ProposalTrade.objects.filter(proposal_id=proposal_id).order_by("sequence")


@prepared_read
def _parent_refs(proposal_id: int) -> QuerySet[Order, Any]:
    return Order.objects.filter(proposal_id=proposal_id, parent__isnull=True).values_list(
        "client_order_id", flat=True
    )


def _proposal_orders_record(*, proposal_id: int, now: datetime) -> None:
    """:func:`proposal_orders_create` without reading the orders back (the execution loop reads
    what it needs itself)."""
    with transaction.atomic():
        proposal = _one(_proposal_locked(proposal_id), RebalanceProposal, proposal_id)
        if proposal.status == ProposalStatus.APPROVED:
            proposal.status = ProposalStatus.EXECUTING
            proposal.save(update_fields=["status", "updated_at"])
            audit_record(
                actor_id=None,
                action="proposal.executing",
                obj=proposal,
                from_state="approved",
                to_state="executing",
            )
        elif proposal.status in (
            ProposalStatus.DONE,
            ProposalStatus.PARTIALLY_DONE,
            ProposalStatus.FAILED,
        ):
            return
        elif proposal.status != ProposalStatus.EXECUTING:
            raise Conflict(f"proposal {proposal_id} is {proposal.status}, not approved")
        trades = _proposal_trades(proposal.pk)
        existing = set(_parent_refs(proposal.pk))
        missing = [t for t in trades if t.client_order_id not in existing]
        if missing:
            # the unique client order ids keep this idempotent; the proposal's row lock serialises it
            Order.objects.bulk_create(
                [
                    Order(
                        proposal=proposal,
                        proposal_trade=trade,
                        account_id=proposal.account_id,
                        asset_id=trade.asset_id,
                        side=trade.side,
                        quantity=trade.quantity,
                        arrival_price=trade.estimated_price,
                        algo=ExecutionAlgo.MARKET,
                        status=OrderStatus.PENDING,
                        client_order_id=trade.client_order_id,
                    )
                    for trade in missing
                ],
                ignore_conflicts=True,
            )
            new_parents = {
                o.client_order_id: o
                for o in _orders_with_refs([t.client_order_id for t in missing])
            }
            _plan_children(
                [(new_parents[t.client_order_id], t) for t in missing],
                has_sells=any(t.side == "sell" for t in trades),
                now=now,
            )


@prepared_read
def _orders_with_refs(client_order_ids: list[str]) -> QuerySet[Order]:
    return Order.objects.filter(client_order_id__in=client_order_ids).select_related("asset")


def _plan_children(
    pairs: Sequence[tuple[Order, ProposalTrade]], *, has_sells: bool, now: datetime
) -> None:
    """Slice parent orders by the firm's execution policy: one market order each, or for a
    large one TWAP, VWAP or an iceberg over the policy's window. Sells go first: a proposal's
    buys wait (held) until its sells have finished."""
    policy = ExecutionPolicy.current()
    assets = {parent.asset.symbol: parent.asset_id for parent, _ in pairs}
    last, _previous, volumes = _recent_market(assets)
    children: list[Order] = []
    for parent, trade in pairs:
        symbol = parent.asset.symbol
        adv = volumes.get(symbol, ZERO)
        large = adv > 0 and parent.quantity > adv * policy.large_order_adv_fraction
        intent = OrderIntent(
            client_order_id=parent.client_order_id,
            account_key=str(parent.account_id),
            symbol=symbol,
            side=OrderSide(parent.side),
            quantity=parent.quantity,
        )
        algo = CoreAlgo(policy.large_order_algo) if large else CoreAlgo.MARKET
        step = Decimal("0.000000001") if parent.asset.fractionable else Decimal(1)
        options: dict[str, object] = {}
        if algo is CoreAlgo.TWAP:
            options["n_slices"] = policy.slices
        elif algo is CoreAlgo.VWAP:
            # the stylised U-shaped intraday profile, one interval per slice over the window
            from trading.core.execution import us_equity_volume_profile

            options["volume_profile"] = us_equity_volume_profile(policy.slices)
        elif algo is CoreAlgo.ICEBERG:
            reference = last.get(symbol) or parent.arrival_price or Decimal("1")
            allowance = (
                policy.buy_limit_allowance if parent.side == "buy" else -policy.buy_limit_allowance
            )
            options["limit_price"] = (reference * (1 + allowance)).quantize(Decimal("0.01"))
            display = (parent.quantity * policy.iceberg_display_fraction).quantize(
                step, rounding=ROUND_CEILING
            )
            options["display_quantity"] = max(display, step)
        plan = plan_execution(
            intent,
            algo=algo,
            start=now,
            end=now + timedelta(minutes=policy.window_minutes),
            fractionable=parent.asset.fractionable,
            **options,  # type: ignore[arg-type]
        )
        parent.algo = ExecutionAlgo(algo.value)
        parent.status = OrderStatus.ACCEPTED
        parent.updated_at = now
        held = trade.side == "buy" and has_sells
        children.extend(
            Order(
                proposal_id=parent.proposal_id,
                proposal_trade=trade,
                parent=parent,
                account_id=parent.account_id,
                asset_id=parent.asset_id,
                side=parent.side,
                order_type=child.order_type.value,
                quantity=child.quantity,
                limit_price=child.limit_price,
                client_order_id=child.client_order_id,
                algo=parent.algo,
                sequence=child.sequence,
                scheduled_at=child.scheduled_at,
                status=OrderStatus.HELD if held else OrderStatus.PENDING,
                arrival_price=parent.arrival_price,
            )
            for child in plan.children
        )
    Order.objects.bulk_create(children, ignore_conflicts=True)
    # every parent is now accepted: one plain update per algorithm (not a CASE per parent)
    by_algo: dict[str, list[int]] = {}
    for parent, _ in pairs:
        by_algo.setdefault(parent.algo, []).append(parent.pk)
    for chosen, pks in by_algo.items():
        Order.objects.filter(pk__in=pks).update(
            algo=chosen, status=OrderStatus.ACCEPTED, updated_at=now
        )


# --- Submission -------------------------------------------------------------------------------------


def _release_held_buys(proposal_id: int) -> None:
    """Buys wait for the proposal's sells; release them once every sell has finished (one
    conditional update)."""
    sells_open = Order.objects.filter(
        proposal_id=proposal_id, parent__isnull=False, side="sell", status__in=LIVE_ORDER_STATUSES
    )
    Order.objects.filter(
        ~Exists(sells_open),
        proposal_id=proposal_id,
        parent__isnull=False,
        side="buy",
        status=OrderStatus.HELD,
        not_before__isnull=True,
    ).update(status=OrderStatus.PENDING)


def _due(order: Order, now: datetime) -> bool:
    """Whether a child order may be checked and sent now."""
    if order.status not in (OrderStatus.PENDING, OrderStatus.HELD):
        return False
    if order.status == OrderStatus.HELD and (order.not_before is None or order.not_before > now):
        return False
    return not (order.scheduled_at and order.scheduled_at > now)


@dataclass
class _CheckRound:
    """What one round of pre-trade checks reads once: the limits in force, the execution policy,
    each account's book and each proposal's exclusions."""

    limit: RiskLimit
    policy: ExecutionPolicy
    books: dict[int, _AccountBook] = dataclasses.field(default_factory=dict)
    excluded: dict[int, list[str]] = dataclasses.field(default_factory=dict)
    checks: list[PreTradeCheck] = dataclasses.field(default_factory=list)

    @classmethod
    def start(cls, *, proposal_ids: Iterable[int] = ()) -> _CheckRound:
        """A round for orders of these proposals (their exclusions read together)."""
        wanted = set(proposal_ids)
        return cls(
            limit=risk_limit_current(),
            policy=ExecutionPolicy.current(),
            excluded=_excluded_symbols(wanted) if wanted else {},
        )

    def book(self, order: Order, assets: Mapping[str, int]) -> _AccountBook:
        if order.account_id not in self.books:
            self.books[order.account_id] = _AccountBook(order.account, assets=assets)
        return self.books[order.account_id]

    def excluded_for(self, order: Order) -> list[str]:
        if order.proposal_id is None:
            return []
        if order.proposal_id not in self.excluded:
            self.excluded.update(_excluded_symbols([order.proposal_id]))
        return self.excluded.get(order.proposal_id, [])


def order_submit(*, order_id: int, now: datetime, broker: Broker | None = None) -> Order:
    """Check one child order at the limits in force now and, if it passes, send it to the broker.

    Safe to call twice: an order already past ``pending`` is left alone, except one stuck in
    ``submitting`` (a crash or timeout after the intent was recorded), which is looked up at the
    broker by its client order id and only re-sent if the broker never received it.
    """
    broker = broker or broker_for()
    to_send, orders = _orders_check(order_ids=[order_id], now=now)
    if not orders:
        raise NotFound(f"no order {order_id}")
    for order in to_send:
        return _send(order, now=now, broker=broker)
    return orders[0]


@prepared_read
def _orders_locked(order_ids: list[int]) -> QuerySet[Order]:
    """The orders with their assets and accounts, locked in id order (as everywhere)."""
    return (
        Order.objects.select_for_update(of=("self",))
        .select_related("asset", "account")
        .filter(pk__in=order_ids)
        .order_by("pk")
    )


def _orders_check(*, order_ids: Sequence[int], now: datetime) -> tuple[list[Order], list[Order]]:
    """Lock the orders, run the pre-trade checks of those that are due, in the given order, and
    mark the ones that pass ``submitting``, in one transaction.

    Returns the orders to send (those marked now and those stuck in ``submitting``) and every
    order as it stands. Each account and the limits are read once; each check still sees the
    account as the orders before it in the round left it.
    """
    position = {pk: i for i, pk in enumerate(order_ids)}
    with transaction.atomic():
        orders = sorted(_orders_locked(list(order_ids)), key=lambda o: position[o.pk])
        assets: dict[int, dict[str, int]] = {}  # each account's assets in this round
        for order in orders:
            assets.setdefault(order.account_id, {})[order.asset.symbol] = order.asset_id
        to_send: list[Order] = []
        checked: list[Order] = []
        round_: _CheckRound | None = None
        for order in orders:
            if order.status == OrderStatus.SUBMITTING:
                to_send.append(order)  # resolved at the broker, after the commit
                continue
            if not _due(order, now):
                continue
            if round_ is None:
                round_ = _CheckRound.start(
                    proposal_ids={o.proposal_id for o in orders if o.proposal_id is not None}
                )
            book = round_.book(order, assets[order.account_id])
            _check_and_mark_submitting(order, now=now, round_=round_, book=book)
            book.note(order)
            if order.status == OrderStatus.SUBMITTING:
                to_send.append(order)
            if order.status != OrderStatus.BLOCKED:
                checked.append(order)
        if round_ is not None:
            insert_rows(round_.checks, return_keys=False)
            for order in checked:  # (a CASE-per-field bulk update costs more for a few orders)
                order.save(
                    update_fields=[
                        "quantity",
                        "status",
                        "attempts",
                        "arrival_price",
                        "broker",
                        "order_type",
                        "limit_price",
                        "submitted_at",
                        "not_before",
                        "updated_at",
                    ]
                )
    return to_send, orders


def _check_and_mark_submitting(
    order: Order, *, now: datetime, round_: _CheckRound, book: _AccountBook
) -> None:
    """Run the checks of one due order; the caller saves the order and the check rows, except
    for a blocked order, which is closed (and saved) here."""
    limit = round_.limit
    symbol = order.asset.symbol
    as_sent = (order.order_type, order.limit_price)
    state = book.state(exclude_order=order.pk)
    last = state.prices.get(symbol)
    if order.side == "buy" and order.order_type == OrderType.MARKET and last is not None:
        # A protected market order: a marketable limit a little above the last price, so the cash
        # check is exact and a fill can never cost more than the cash that was checked.
        order.order_type = OrderType.LIMIT.value
        allowance = round_.policy.buy_limit_allowance
        order.limit_price = (last * (1 + allowance)).quantize(
            Decimal("0.01"), rounding=ROUND_CEILING
        )
    intent = _intent(order)
    non_fractionable = [] if order.asset.fractionable else [symbol]
    decision = run_pre_trade_checks(
        intent,
        account=state,
        limits=core_limits(limit, excluded=round_.excluded_for(order)),
        market=market_context(now, non_fractionable=non_fractionable),
        now=now,
    )
    round_.checks.extend(
        PreTradeCheck(
            order=order,
            check_name=r.check.value,
            outcome=r.outcome.value,
            message=r.message[:500],
            limit_value="" if r.limit_value is None else str(r.limit_value),
            observed_value="" if r.observed_value is None else str(r.observed_value),
            round=r.round,
            limits_version=limit.version,
            checked_at=now,
        )
        for r in decision.results
    )
    if decision.order is None:
        order.order_type, order.limit_price = as_sent  # never sent: stored as it was
        order.status = OrderStatus.BLOCKED
        order.last_error = decision.results[-1].message if decision.results else "blocked"
        order.completed_at = now
        order.save(update_fields=["status", "last_error", "completed_at", "updated_at"])
        _publish_order(order, "order.blocked")
        _after_terminal(order, now=now)
        return
    final = decision.order
    if final.not_before is not None and final.not_before > now:
        # priced again when it is released, not at today's last price
        order.order_type, order.limit_price = as_sent
        order.status = OrderStatus.HELD
        order.not_before = final.not_before
        return
    order.quantity = final.quantity
    order.status = OrderStatus.SUBMITTING
    order.attempts += 1
    order.arrival_price = state.prices.get(symbol, order.arrival_price)
    order.broker = ""
    order.submitted_at = now  # when it was sent: stuck "submitting" orders are found by it


def _intent(order: Order) -> OrderIntent:
    return OrderIntent(
        client_order_id=order.client_order_id,
        account_key=str(order.account_id),
        symbol=order.asset.symbol,
        side=OrderSide(order.side),
        quantity=order.quantity,
        order_type=OrderType(order.order_type),
        limit_price=order.limit_price,
    )


def _send(order: Order, *, now: datetime, broker: Broker) -> Order:
    """Call the broker for an order recorded as ``submitting`` (after the commit)."""
    try:
        known = (
            broker.get_order(order.client_order_id) if order.attempts > 1 or order.broker else None
        )
        result = known or broker.submit_order(_intent(order), now=now)
    except BrokerTimeout as exc:
        Order.objects.filter(pk=order.pk).update(
            last_error=f"broker timed out: {exc}", broker=broker.name
        )
        raise
    except BrokerRejected as exc:
        status = OrderStatus.HELD if exc.code == "wash_trade" else OrderStatus.REJECTED
        # the broker call ran outside any transaction; the rejection and what it settles (the
        # parent, the proposal, under their row locks) are one
        with transaction.atomic():
            Order.objects.filter(pk=order.pk, status=OrderStatus.SUBMITTING).update(
                status=status,
                last_error=f"{exc.code}: {exc}",
                broker=broker.name,
                completed_at=None if status == OrderStatus.HELD else now,
                not_before=now + timedelta(seconds=30) if status == OrderStatus.HELD else None,
            )
            order.refresh_from_db()
            if status == OrderStatus.REJECTED:
                _after_terminal(order, now=now)
            _publish_order(order, "order.rejected")
        return order
    except BrokerError as exc:
        Order.objects.filter(pk=order.pk).update(last_error=str(exc), broker=broker.name)
        raise
    status = {
        BrokerOrderStatus.FILLED: OrderStatus.ACCEPTED,  # the fills themselves move it to filled
        BrokerOrderStatus.PARTIALLY_FILLED: OrderStatus.ACCEPTED,
        BrokerOrderStatus.REJECTED: OrderStatus.REJECTED,
        BrokerOrderStatus.CANCELED: OrderStatus.ACCEPTED,
        BrokerOrderStatus.EXPIRED: OrderStatus.ACCEPTED,
    }.get(result.status, OrderStatus.ACCEPTED)
    updated = Order.objects.filter(pk=order.pk, status=OrderStatus.SUBMITTING).update(
        status=status,
        broker=broker.name,
        broker_order_id=result.broker_order_id,
        submitted_at=now,
        last_error="",
    )
    if updated:  # keep the loaded relations: no refetch
        order.status, order.broker, order.broker_order_id = (
            status,
            broker.name,
            result.broker_order_id,
        )
        order.submitted_at, order.last_error = now, ""
    else:
        order.refresh_from_db()
    _publish_order(order, "order.accepted")
    return order


def _iceberg_waiting(orders: Sequence[Order]) -> set[int]:
    """Iceberg tranches wait until the tranche before them has finished."""
    waiting: set[int] = set()
    for order in orders:
        if (
            order.algo != ExecutionAlgo.ICEBERG
            or order.sequence <= 1
            or order.status != OrderStatus.PENDING
        ):
            continue
        previous = (
            Order.objects.filter(parent_id=order.parent_id, sequence=order.sequence - 1)
            .values_list("status", flat=True)
            .first()
        )
        if previous is not None and previous not in TERMINAL:
            waiting.add(order.pk)
    return waiting


@functools.cache
def _due_orders(limit: int) -> PreparedRead:
    """The first ``limit`` child orders due at ``now``: pending and scheduled by then, held
    until then, or stuck in ``submitting`` since ``stale``."""

    def build(now: datetime, stale: datetime) -> QuerySet[Order]:
        return (
            Order.objects.filter(parent__isnull=False)
            .filter(
                Q(status=OrderStatus.PENDING, scheduled_at__lte=now)
                | Q(status=OrderStatus.PENDING, scheduled_at__isnull=True)
                | Q(status=OrderStatus.HELD, not_before__lte=now)
                | Q(status=OrderStatus.SUBMITTING, submitted_at__lte=stale)
            )
            .order_by("proposal_id", "side", "sequence", "pk")
            .only("algo", "sequence", "status", "parent_id")[:limit]
        )

    return PreparedRead(build, name=f"due orders (first {limit})")


def orders_release_due(*, now: datetime, broker: Broker | None = None, limit: int = 200) -> int:
    """Submit every child order that is due (and resolve any stuck in ``submitting``)."""
    broker = broker or broker_for()
    due_orders = _due_orders(limit)(now, now - timedelta(seconds=30))
    waiting = _iceberg_waiting(due_orders)
    release = [o.pk for o in due_orders if o.pk not in waiting]
    if not release:
        return 0
    to_send, _orders = _orders_check(order_ids=release, now=now)
    unsent = 0
    for order in to_send:
        try:
            _send(order, now=now, broker=broker)
        except BrokerError:
            unsent += 1
            logger.warning("broker unavailable for order %s; it stays queued", order.pk)
    return len(release) - unsent


# --- Fills ------------------------------------------------------------------------------------------


@prepared_read
def _pending_buys(household_ids: list[int], exclude: str | None) -> QuerySet[Order, Any]:
    rows = Order.objects.filter(
        account__household_id__in=household_ids,
        side="buy",
        parent__isnull=False,
        status__in=LIVE_ORDER_STATUSES,
    )
    if exclude is not None:
        rows = rows.exclude(client_order_id=exclude)
    return rows.values_list(
        "parent__client_order_id",
        "account_id",
        "asset__symbol",
        "quantity",
        "filled_quantity",
        "scheduled_at",
        "created_at",
    )


def pending_buy_orders(
    household_ids: Collection[int], *, exclude: str | None = None
) -> list[PendingOrder]:
    """The households' live buy slices not filled yet (they wash a loss like a purchase), each
    under its parent's reference: the acquisition id its fills and pending wash sales carry.
    ``exclude``: a slice left out (the one being booked)."""
    columns = _pending_buys(list(household_ids), exclude)
    return [
        PendingOrder(
            order_ref=parent_ref,
            account_id=account_id,
            symbol=symbol,
            quantity=quantity - filled,
            expected_on=market_date(scheduled_at or created_at),
        )
        for parent_ref, account_id, symbol, quantity, filled, scheduled_at, created_at in columns
        if quantity > filled
    ]


def fill_apply(*, fill: BrokerFill, settle: bool = True) -> Fill | None:
    """Book one broker fill: the ledger, the order's totals, the events. Idempotent.

    When the fill completes its order, the parent and the proposal are brought up to date
    (``settle``); a batch of fills goes through :func:`fills_apply`.
    """
    booked = fills_apply(fills=[fill], settle=settle, isolate=False)
    return booked.rows[0]


@dataclass
class FillsBooked:
    """What :func:`fills_apply` did: a row (or None) per fill, in order, the fills the ledger
    refused, each with its reason, and the orders the batch completed."""

    rows: list[Fill | None]
    refused: list[tuple[BrokerFill, InvalidInput]]
    finished: list[int]


@prepared_read
def _orders_to_book(client_order_ids: list[str]) -> QuerySet[Order]:
    return (
        Order.objects.select_for_update(of=("self",))
        .select_related("account", "asset")
        # of the parent and the proposal trade, a booking needs one column each
        .annotate(
            parent_ref=F("parent__client_order_id"), trade_purpose=F("proposal_trade__purpose")
        )
        .filter(client_order_id__in=client_order_ids)
        .order_by("pk")
    )


@prepared_read
def _fills_booked(execution_ids: list[str]) -> QuerySet[Fill]:
    return Fill.objects.filter(execution_id__in=execution_ids)


@prepared_read
def _booked_execution_ids(execution_ids: list[str]) -> QuerySet[Fill, Any]:
    return Fill.objects.filter(execution_id__in=execution_ids).values_list(
        "execution_id", flat=True
    )


def fills_apply(
    *, fills: Sequence[BrokerFill], settle: bool = True, isolate: bool = True
) -> FillsBooked:
    """Book broker fills in one transaction: the orders locked and the ledger's reference data
    read once, each fill then booked in turn (the ledger, the order's totals, the events).

    Replayed fills change nothing. With ``isolate`` each fill has a savepoint and a fill the
    ledger refuses (``InvalidInput``) is reported in ``refused`` without stopping the others;
    without it the error propagates and nothing is booked. Orders completed by the batch are
    listed in ``finished`` and, with ``settle``, their parents and proposals brought up to date.
    """
    if not fills:
        return FillsBooked(rows=[], refused=[], finished=[])
    rows: list[Fill | None] = []
    refused: list[tuple[BrokerFill, InvalidInput]] = []
    finished: list[int] = []
    with transaction.atomic():
        orders = {
            o.client_order_id: o
            for o in _orders_to_book(list(dict.fromkeys(f.client_order_id for f in fills)))
        }
        existing = {f.execution_id: f for f in _fills_booked([f.execution_id for f in fills])}
        session = LedgerSession(assets=[o.asset for o in orders.values()])
        session.lock(o.account_id for o in orders.values())
        for fill in fills:
            order = orders.get(fill.client_order_id)
            if order is None:
                logger.warning(
                    "fill %s for unknown order %s", fill.execution_id, fill.client_order_id
                )
                rows.append(None)
                continue
            if fill.execution_id in existing:
                rows.append(existing[fill.execution_id])
                continue
            acquisition = order.parent_ref or order.client_order_id
            harvest = order.trade_purpose == ProposalTrade.Purpose.HARVEST_SELL
            if not isolate:
                row = _fill_book(order, fill, session, acquisition=acquisition, harvest=harvest)
            else:
                try:
                    with transaction.atomic():  # a savepoint: a refused fill leaves the others
                        row = _fill_book(
                            order, fill, session, acquisition=acquisition, harvest=harvest
                        )
                except InvalidInput as exc:
                    # the ledger refuses before the session's cash or the order change in memory
                    refused.append((fill, exc))
                    rows.append(None)
                    continue
            rows.append(row)
            if row is not None:
                existing[fill.execution_id] = row
                if order.status == OrderStatus.FILLED:
                    finished.append(order.pk)
        session.close()
        if settle and finished:
            orders_settle(order_ids=finished, now=max(f.executed_at for f in fills))
    return FillsBooked(rows=rows, refused=refused, finished=finished)


def _fill_book(
    order: Order, fill: BrokerFill, session: LedgerSession, *, acquisition: str, harvest: bool
) -> Fill | None:
    """Book one new fill of a locked order through the ledger session. ``acquisition`` is the
    parent's client order id (the order's own without a parent); ``harvest``, whether the order
    carries a harvest sale."""
    qty = min(to_quantity(fill.quantity), order.quantity - order.filled_quantity)
    if qty <= 0:
        logger.warning(
            "fill %s exceeds order %s; ignored", fill.execution_id, order.client_order_id
        )
        return None
    result = session.trade(
        account_id=order.account_id,
        symbol=order.asset.symbol,
        side=order.side,
        quantity=qty,
        price=fill.price,
        fees=cash(fill.fee),
        trade_date=market_date(fill.executed_at),
        executed_at=fill.executed_at,
        external_id=f"fill:{fill.execution_id}",
        acquisition_id=acquisition if order.side == "buy" else None,
        # pending buys can wash the loss of a sale; a purchase needs none
        pending_orders=pending_buy_orders(
            [order.account.household_id], exclude=order.client_order_id
        )
        if order.side == "sell"
        else (),
        description=f"{order.side.title()} {qty.normalize()} {order.asset.symbol} ({order.client_order_id})",
    )
    row = Fill.objects.create(
        order=order,
        execution_id=fill.execution_id,
        quantity=qty,
        price=fill.price,
        fee=cash(fill.fee),
        executed_at=fill.executed_at,
        transaction=result.transaction,
    )
    if order.side == "sell" and harvest:
        _harvest_block(
            order.account.household_id,
            order.asset.symbol,
            market_date(fill.executed_at),
            groups=session.identity_groups(),
        )
    value = (order.average_fill_price or ZERO) * order.filled_quantity + qty * fill.price
    order.filled_quantity += qty
    order.average_fill_price = (value / order.filled_quantity).quantize(Decimal("0.000001"))
    order.fees += cash(fill.fee)
    order.status = (
        OrderStatus.FILLED
        if order.filled_quantity >= order.quantity
        else OrderStatus.PARTIALLY_FILLED
    )
    if order.status == OrderStatus.FILLED:
        order.completed_at = fill.executed_at
    order.save(
        update_fields=[
            "filled_quantity",
            "average_fill_price",
            "fees",
            "status",
            "completed_at",
            "updated_at",
        ]
    )
    _publish_order(
        order,
        "order.filled" if order.status == OrderStatus.FILLED else "order.partially_filled",
        fill={"quantity": str(qty), "price": str(fill.price)},
    )
    if order.status == OrderStatus.FILLED and order.parent_id is None:
        _order_filled_event(order)
    return row


@prepared_read
def _parents_and_proposals(order_ids: list[int]) -> QuerySet[Order, Any]:
    return Order.objects.filter(pk__in=order_ids).values_list("parent_id", "proposal_id")


def orders_settle(*, order_ids: Sequence[int], now: datetime) -> None:
    """Bring the parents and proposals of finished orders up to date, once each."""
    orders = _parents_and_proposals(list(order_ids))
    with transaction.atomic():
        _parents_update(sorted({parent for parent, _ in orders if parent}), now=now)
        for proposal_id in sorted({proposal for _, proposal in orders if proposal}):
            _release_held_buys(proposal_id)
            proposal_progress(proposal_id=proposal_id, now=now)


def _harvest_block(
    household_id: int, symbol: str, sold_on: date, *, groups: Mapping[str, str]
) -> None:
    """After a harvest sale, the asset (and its identity group) is blocked for 30 days for every
    purchase path of the household: rebalancing, deposits, dividend reinvestment.

    Runs while the ledger session holds the household's lock, so a plain check finds a block
    another booking made."""
    from portfolios.core.tax.wash_sales import identity_key
    from portfolios.models import HarvestBlock

    key = identity_key(symbol, groups)
    if not HarvestBlock.objects.filter(
        household_id=household_id, identity_key=key, sold_on=sold_on
    ).exists():
        HarvestBlock.objects.create(
            household_id=household_id,
            identity_key=key,
            sold_on=sold_on,
            symbol=symbol,
            blocked_until=sold_on + timedelta(days=30),
        )


@prepared_read
def _order_locked(order_id: int) -> QuerySet[Order]:
    return Order.objects.select_for_update().filter(pk=order_id)


def order_close_unfilled(*, order_id: int, status: str, reason: str, now: datetime) -> None:
    """An order that will not fill further (cancelled or expired at the broker)."""
    with transaction.atomic():
        order = _one(_order_locked(order_id), Order, order_id)
        if order.status in TERMINAL:
            return
        order.status = OrderStatus.FILLED if order.filled_quantity >= order.quantity else status
        order.last_error = reason
        order.completed_at = now
        order.save(update_fields=["status", "last_error", "completed_at", "updated_at"])
        _after_terminal(order, now=now)


def _after_terminal(order: Order, *, now: datetime) -> None:
    """Release pending wash sales of an unfilled buy, update the parent and the proposal."""
    if order.side == "buy" and order.filled_quantity < order.quantity and order.parent_id:
        parent_ref = order.parent.client_order_id if order.parent else order.client_order_id
        if not Order.objects.filter(
            parent_id=order.parent_id, status__in=LIVE_ORDER_STATUSES
        ).exists():
            pending_wash_sales_release(order_ref=parent_ref)
    if order.parent_id:
        _parent_update(order.parent_id, now=now)
    if order.proposal_id:
        _release_held_buys(order.proposal_id)
        proposal_progress(proposal_id=order.proposal_id, now=now)


def _parent_update(parent_id: int, *, now: datetime) -> None:
    _parents_update([parent_id], now=now)


@prepared_read
def _slices_of(parent_ids: list[int]) -> QuerySet[Order]:
    return (
        Order.objects.filter(parent_id__in=parent_ids)
        .order_by("sequence", "pk")
        .only(
            "parent_id",
            "client_order_id",
            "status",
            "quantity",
            "filled_quantity",
            "average_fill_price",
            "fees",
            "last_error",
        )
    )


@prepared_read
def _fills_of(order_ids: list[int]) -> QuerySet[Fill]:
    return Fill.objects.filter(order_id__in=order_ids)


def _parents_update(parent_ids: Sequence[int], *, now: datetime) -> None:
    """Sum the slices into their parents (locked, in id order) and close the parents whose
    slices are all final, with their implementation shortfall; the slices, their fills and the
    last prices are read once for all the parents."""
    if not parent_ids:
        return
    parents = _orders_locked(list(parent_ids))
    children: dict[int, list[Order]] = {}
    slices: dict[int, Order] = {}
    for child in _slices_of(list(parent_ids)):
        children.setdefault(child.parent_id or 0, []).append(child)
        slices[child.pk] = child
    fills: dict[int, list[Fill]] = {}
    for fill in _fills_of(list(slices)):
        fill.order = slices[fill.order_id]  # the slice just read: no join, no second copy
        fills.setdefault(fill.order.parent_id or 0, []).append(fill)
    last = latest_prices(asset_ids={p.asset_id for p in parents})
    for parent in parents:
        _parent_settle(
            parent,
            children.get(parent.pk, []),
            fills=fills.get(parent.pk, []),
            last=last.get(parent.asset_id),
            now=now,
        )


def _parent_settle(
    parent: Order,
    children: list[Order],
    *,
    fills: list[Fill],
    last: LastPrice | None,
    now: datetime,
) -> None:
    was = parent.status
    filled = sum((c.filled_quantity for c in children), ZERO)
    value = sum(((c.average_fill_price or ZERO) * c.filled_quantity for c in children), ZERO)
    parent.filled_quantity = min(filled, parent.quantity)
    parent.average_fill_price = (value / filled).quantize(Decimal("0.000001")) if filled else None
    parent.fees = sum((c.fees for c in children), ZERO)
    if all(c.status in TERMINAL for c in children):
        # Every slice is final: a shortfall (slices resized by the checks, cancelled or rejected)
        # closes the parent with its remainder cancelled.
        parent.status = (
            OrderStatus.FILLED
            if filled >= parent.quantity
            else OrderStatus.CANCELED
            if filled > 0
            else OrderStatus.BLOCKED
            if all(c.status == OrderStatus.BLOCKED for c in children)
            else OrderStatus.REJECTED
        )
        if parent.status != OrderStatus.FILLED:
            reasons = sorted(
                {c.last_error for c in children if c.last_error}
                | {
                    f"slice resized to {c.quantity.normalize()} by the pre-trade checks"
                    for c in children
                    if c.status == OrderStatus.FILLED
                    and c.quantity < parent.quantity / max(len(children), 1)
                }
            )
            parent.last_error = (
                f"filled {filled.normalize()} of {parent.quantity.normalize()}: "
                + "; ".join(reasons)
            )
        parent.completed_at = now
        if filled > 0:
            parent.cost_analysis = _as_strings(_shortfall(parent, fills=fills, last=last))
    parent.save(
        update_fields=[
            "filled_quantity",
            "average_fill_price",
            "fees",
            "status",
            "last_error",
            "completed_at",
            "cost_analysis",
            "updated_at",
        ]
    )
    if parent.status == OrderStatus.FILLED and was != OrderStatus.FILLED:
        _order_filled_event(parent)


def _order_filled_event(order: Order) -> None:
    """Integrations hear of an order filled completely (a parent once, not each slice)."""
    domain_event_send(
        event="order.filled",
        payload={
            "order": order.client_order_id,
            "proposal": order.proposal_id,
            "account": order.account_id,
            "symbol": order.asset.symbol,
            "side": order.side,
            "quantity": str(order.quantity),
            "average_price": str(order.average_fill_price),
            "fees": str(order.fees),
            "completed_at": order.completed_at,
        },
        household_id=order.account.household_id,
    )


def _as_strings(report: object) -> dict[str, str]:
    return {k: str(v) for k, v in dataclasses.asdict(report).items()}  # type: ignore[call-overload]


def _shortfall(parent: Order, *, fills: Sequence[Fill], last: LastPrice | None) -> ShortfallReport:
    core_fills = [
        CoreFill(
            execution_id=f.execution_id,
            client_order_id=f.order.client_order_id,
            symbol=parent.asset.symbol,
            side=OrderSide(parent.side),
            quantity=f.quantity,
            price=f.price,
            fee=f.fee,
            executed_at=f.executed_at,
        )
        for f in fills
    ]
    return implementation_shortfall(
        side=OrderSide(parent.side),
        ordered_quantity=parent.quantity,
        arrival_price=parent.arrival_price or (last.close if last else Decimal("1")),
        fills=core_fills,
        final_price=last.close if last else None,
    )


def _pay_withdrawal(proposal: RebalanceProposal, *, now: datetime) -> None:
    """The sells of a withdrawal proposal have filled: pay the client (what the cash allows)."""
    from portfolios.services import cash_withdraw

    account = Account.objects.get(pk=proposal.account_id)
    amount = min(proposal.withdrawal_amount, account.cash)
    if amount > 0:
        cash_withdraw(
            account=account,
            amount=amount,
            on=firm_today(now),
            external_id=f"withdrawal:proposal:{proposal.pk}",
            description=f"Withdrawal (proposal {proposal.pk})",
        )


def _summarise_shortfall(parents: Sequence[Order]) -> dict[str, str]:
    """The proposal's implementation shortfall: the sum of its orders' (stored when each finished)."""
    keys = ("execution_cost", "fees", "opportunity_cost", "total_cost", "arrival_notional")
    analysed = [p.cost_analysis for p in parents if p.cost_analysis]
    if not analysed:
        return {}
    totals = {key: sum((Decimal(a.get(key, "0")) for a in analysed), ZERO) for key in keys}
    notional = totals["arrival_notional"]
    bps = (totals["total_cost"] / notional * 10_000).quantize(Decimal("0.01")) if notional else ZERO
    return {
        "orders": str(len(analysed)),
        **{k: str(v) for k, v in totals.items()},
        "total_bps": str(bps),
    }


@prepared_read
def _proposal_progress_row(proposal_id: int) -> QuerySet[RebalanceProposal]:
    return (
        RebalanceProposal.objects.select_for_update()
        .only("status", "account_id", "withdrawal_amount")
        .filter(pk=proposal_id)
    )


@prepared_read
def _proposal_parents(proposal_id: int) -> QuerySet[Order]:
    return Order.objects.filter(proposal_id=proposal_id, parent__isnull=True).only(
        "status", "filled_quantity", "fees", "cost_analysis", "client_order_id"
    )


@prepared_read
def _proposal_status(proposal_id: int) -> QuerySet[RebalanceProposal, Any]:
    return RebalanceProposal.objects.filter(pk=proposal_id).values_list("status", flat=True)


def proposal_progress(*, proposal_id: int, now: datetime) -> str:
    """Close an executing proposal once every order is final: done, partially done or failed."""
    # the columns read and written here (the lock is the row's)
    proposal = _one(_proposal_progress_row(proposal_id), RebalanceProposal, proposal_id)
    if proposal.status != ProposalStatus.EXECUTING:
        return proposal.status
    parents = _proposal_parents(proposal_id)
    if any(p.status not in TERMINAL for p in parents):
        return proposal.status
    filled = [p for p in parents if p.filled_quantity > 0]
    complete = all(p.status == OrderStatus.FILLED for p in parents)
    new_status = (
        ProposalStatus.DONE
        if complete
        else ProposalStatus.PARTIALLY_DONE
        if filled
        else ProposalStatus.FAILED
    )
    summary = _summarise_shortfall(parents)
    if proposal.withdrawal_amount > 0 and filled:
        _pay_withdrawal(proposal, now=now)
    proposal.status = new_status
    proposal.execution_summary = {
        "orders": len(parents),
        "filled": sum(1 for p in parents if p.status == OrderStatus.FILLED),
        "blocked": [p.client_order_id for p in parents if p.status == OrderStatus.BLOCKED],
        "fees": str(sum((p.fees for p in parents), ZERO)),
        "shortfall": summary,
        "finished_at": now.isoformat(),
    }
    proposal.save(update_fields=["status", "execution_summary", "updated_at"])
    audit_record(
        actor_id=None,
        action="proposal.finished",
        obj=proposal,
        from_state="executing",
        to_state=new_status,
    )
    household_id = Account.objects.values_list("household_id", flat=True).get(
        pk=proposal.account_id
    )
    publish_on_commit(
        groups=[household_group(household_id)],
        event="proposal.finished",
        payload={"proposal": proposal.pk, "status": new_status},
    )
    return new_status


@functools.lru_cache(maxsize=4096)
def _advisors_cached(household_id: int, minute: int) -> tuple[int, ...]:
    household = Household(pk=household_id)
    return tuple(
        sorted(
            set(
                household.clients.exclude(advisor__isnull=True).values_list("advisor_id", flat=True)
            )
        )  # type: ignore[attr-defined]
    )


def _advisors_of(household_id: int) -> tuple[int, ...]:
    """The advisors who follow a household's orders live (looked up at most once a minute)."""
    return _advisors_cached(household_id, int(time.monotonic() // 60))


def _publish_order(order: Order, event: str, **extra: object) -> None:
    from portfolios.live import advisor_group

    household_id = order.account.household_id
    groups = [
        household_group(household_id),
        *(advisor_group(a) for a in _advisors_of(household_id)),
    ]
    publish_on_commit(
        groups=groups,
        event=event,
        payload={
            "order": order.client_order_id,
            "proposal": order.proposal_id,
            "symbol": order.asset.symbol,
            "side": order.side,
            "quantity": str(order.quantity),
            "filled": str(order.filled_quantity),
            "status": order.status,
            **extra,
        },
    )


@prepared_read
def _sync_state(broker: str) -> QuerySet[BrokerSyncState]:
    return BrokerSyncState.objects.filter(broker=broker)


@prepared_read
def _open_at_broker() -> QuerySet[Order]:
    """Slices the broker accepted that have not finished."""
    return Order.objects.filter(
        status__in=[OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED], parent__isnull=False
    )


@prepared_read
def _sent_and_open() -> QuerySet[Order]:
    """Orders that went to a broker and have not finished (parents are never sent)."""
    return Order.objects.filter(
        status__in=[OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED],
        submitted_at__isnull=False,
    )


def fills_sync(*, now: datetime, broker: Broker | None = None) -> int:
    """Read new fills from the broker and book them; also close orders the broker finished."""
    broker = broker or broker_for()
    found = _sync_state(broker.name)
    state = found[0] if found else BrokerSyncState.objects.get_or_create(broker=broker.name)[0]
    since = state.last_fill_at - timedelta(minutes=5) if state.last_fill_at else None
    fills = list(broker.fills_since(since, now=now))
    already = set(_booked_execution_ids([f.execution_id for f in fills]))
    latest = state.last_fill_at
    for fill in fills:
        latest = max(latest, fill.executed_at) if latest else fill.executed_at
    new = [f for f in fills if f.execution_id not in already]
    result = fills_apply(fills=new, settle=False)
    booked = sum(1 for row in result.rows if row is not None)
    for fill, exc in result.refused:
        # A fill the ledger cannot book is a break to resolve by hand; it must not stop the rest.
        logger.error(
            "fill %s of %s could not be booked: %s",
            fill.execution_id,
            fill.client_order_id,
            exc.message,
        )
        Order.objects.filter(client_order_id=fill.client_order_id).update(
            last_error=f"unbooked fill: {exc.message}"
        )
        audit_record(
            actor_id=None,
            action="fill.unbooked",
            obj="fill",
            reason=exc.message,
            data={"execution_id": fill.execution_id, "order": fill.client_order_id},
        )
    if result.finished:
        orders_settle(order_ids=result.finished, now=now)
    if latest != state.last_fill_at:
        BrokerSyncState.objects.filter(pk=state.pk).update(last_fill_at=latest)
    for order in _open_at_broker():
        at_broker = broker.get_order(order.client_order_id)
        closed = at_broker is not None and at_broker.status in (
            BrokerOrderStatus.CANCELED,
            BrokerOrderStatus.EXPIRED,
            BrokerOrderStatus.REJECTED,
        )
        # Closed at the broker with no fill we have not booked yet: close it here too.
        if closed and at_broker is not None and at_broker.filled_quantity <= order.filled_quantity:
            order_close_unfilled(
                order_id=order.pk,
                status=OrderStatus.CANCELED,
                reason=f"{at_broker.status} at the broker",
                now=now,
            )
    return booked


def orders_expire(*, now: datetime, broker: Broker | None = None) -> int:
    """Day orders that a past session left open are over: cancel them at the broker (the
    simulated exchange keeps them otherwise) and close them here, freeing the account."""
    from trading.core.sessions import NEW_YORK

    broker = broker or broker_for()
    today = now.astimezone(NEW_YORK).date()
    expired = 0
    # orders that went to a broker (parents only group their slices and are never sent)
    for order in _sent_and_open():
        if order.submitted_at is None or order.submitted_at.astimezone(NEW_YORK).date() >= today:
            continue
        with contextlib.suppress(BrokerError, Conflict, NotFound):  # already final at the broker
            broker.cancel_order(order.client_order_id)
        order_close_unfilled(
            order_id=order.pk, status=OrderStatus.CANCELED, reason="day order expired", now=now
        )
        expired += 1
    return expired


@prepared_read
def _open_parent_ids() -> QuerySet[Order, Any]:
    return Order.objects.filter(parent__isnull=True, status__in=LIVE_ORDER_STATUSES).values_list(
        "pk", flat=True
    )


def orders_settle_missed(*, now: datetime, limit: int = 500) -> int:
    """Settle finished orders whose settlement never ran.

    A worker killed after booking a fill but before settling it leaves the parent open and the
    proposal's held buys held, and no later fill would settle them. Such orders are found by
    their parent: still open although none of its slices is.
    """
    # from the open parents (few, by the status index), not from every finished slice ever sent
    parents = _open_parent_ids()
    if not parents:
        return 0
    missed = list(
        Order.objects.filter(parent_id__in=parents, status__in=TERMINAL)
        .exclude(parent__children__status__in=LIVE_ORDER_STATUSES)
        .values_list("pk", flat=True)[:limit]
    )
    if missed:
        logger.warning("settling %d finished orders whose settlement was missed", len(missed))
        orders_settle(order_ids=missed, now=now)
    return len(missed)


def trading_tick(
    *, now: datetime | None = None, broker: Broker | None = None, sweep: bool = True
) -> dict[str, int]:
    """One round of the execution loop: settle what a crash left unsettled, release due orders,
    book fills, then expire the day orders of past sessions.

    ``sweep=False`` leaves out the first and last steps (the sweeps), for a round that follows
    another at the same ``now`` in one process: that round's sweeps found everything they can.
    """
    now = now or timezone.now()
    broker = broker or broker_for()
    if sweep:
        orders_settle_missed(now=now)
    sent = orders_release_due(now=now, broker=broker)
    booked = fills_sync(now=now, broker=broker)
    expired = orders_expire(now=now, broker=broker) if sweep else 0
    return {"sent": sent, "booked": booked, "expired": expired}


def proposal_execute(
    *, proposal_id: int, now: datetime | None = None, broker: Broker | None = None
) -> ExecutionReport:
    """Create the proposal's orders (once) and run the execution loop until nothing is due now."""
    now = now or timezone.now()
    broker = broker or broker_for()
    _proposal_orders_record(proposal_id=proposal_id, now=now)
    for round_ in range(4):  # sells, then the buys they release, then any follow-up
        # the sweeps of the first round leave nothing for the next ones at the same moment
        result = trading_tick(now=now, broker=broker, sweep=round_ == 0)
        if not result["sent"] and not result["booked"]:
            break
        status = _one(_proposal_status(proposal_id), RebalanceProposal, proposal_id)
        if status != ProposalStatus.EXECUTING:
            break  # every order is final: no need for another round
    status = _one(_proposal_status(proposal_id), RebalanceProposal, proposal_id)
    counts = Order.objects.filter(proposal_id=proposal_id, parent__isnull=False).aggregate(
        orders=Count("pk"),
        submitted=Count("pk", filter=~Q(status__in=[OrderStatus.PENDING, OrderStatus.HELD])),
        blocked=Count("pk", filter=Q(status=OrderStatus.BLOCKED)),
    )
    return ExecutionReport(
        proposal_id=proposal_id,
        status=status,
        orders=counts["orders"],
        submitted=counts["submitted"],
        blocked=counts["blocked"],
    )


def reconcile(*, now: datetime, broker: Broker | None = None) -> dict[str, object]:
    """Compare our orders and positions with the broker's and repair what can be repaired.

    Orders stuck in ``submitting`` are resolved by client order id; missed fills are booked;
    orders the broker closed are closed here. Position differences that no fill explains are
    reported (and audited) for a person to resolve: they are never papered over.
    """
    broker = broker or broker_for()
    resolved = 0
    for order in Order.objects.filter(
        status=OrderStatus.SUBMITTING, parent__isnull=False
    ).select_related("asset", "account", "proposal"):
        try:
            _send(order, now=now, broker=broker)
            resolved += 1
        except BrokerError:
            continue
    booked = fills_sync(now=now, broker=broker)
    ours: dict[str, Decimal] = {}
    for symbol, qty in Position.objects.filter(quantity__gt=0).values_list(
        "asset__symbol", "quantity"
    ):
        ours[symbol] = ours.get(symbol, ZERO) + qty
    theirs = broker.positions()
    drift = {
        s: str(theirs.get(s, ZERO) - ours.get(s, ZERO))
        for s in set(ours) | set(theirs)
        if theirs.get(s, ZERO) != ours.get(s, ZERO)
    }
    if drift:
        audit_record(
            actor_id=None,
            action="reconcile.position_drift",
            obj="broker",
            data={"broker": broker.name, "drift": drift},
        )
    return {"resolved": resolved, "booked": booked, "position_drift": drift}


def household_open_orders(household_id: int) -> int:
    return Order.objects.filter(
        account__household_id=household_id, status__in=LIVE_ORDER_STATUSES
    ).count()


def proposal_filled_value(proposal_id: int) -> Decimal:
    total = Fill.objects.filter(order__proposal_id=proposal_id).aggregate(
        v=Sum(F("quantity") * F("price"))
    )["v"]
    return cash(total or ZERO)
