"""The built-in simulated exchange as a broker: the embedded default and the test venue.

Each submission builds the asset's book from the market the platform knows (the latest close as
the reference price, the 20-day average volume for depth, the 60-day volatility for the impact
shape) and matches against it with :class:`trading.core.matching.SimulatedExchange`: latency,
partial fills walking the book, fees, square-root impact and rejects. The venue keeps its own
orders and fills in the database (``SimulatedExchangeOrder``/``SimulatedExchangeFill``), so it
behaves the same from every web process and Celery worker, and a second submission of a client
order id returns the order it already holds.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from portfolios.core.errors import InvalidInput, NotFound
from portfolios.core.money import ZERO
from portfolios.models import Asset, Position, PriceBar
from portfolios.prepared import prepared_read
from trading.brokers.base import (
    BrokerAccount,
    BrokerFill,
    BrokerOrder,
    BrokerOrderStatus,
    BrokerRejected,
)
from trading.core.costs import FeeSchedule
from trading.core.matching import (
    ExchangeConfig,
    ExchangeOrderStatus,
    ListedAsset,
    SimulatedExchange,
)
from trading.core.orders import OrderIntent, OrderSide, OrderType
from trading.core.sessions import market_date
from trading.models import SimulatedExchangeFill, SimulatedExchangeOrder

DEFAULT_CONFIG = ExchangeConfig(
    levels=10,
    level_depth_fraction=0.0005,
    ack_latency=timedelta(milliseconds=20),
    fill_latency=timedelta(milliseconds=80),
    fees=FeeSchedule(per_share=Decimal("0"), bps=Decimal("0"), minimum=Decimal("0")),
    id_prefix="SIM",
)

_STATUS = {
    ExchangeOrderStatus.NEW: BrokerOrderStatus.NEW,
    ExchangeOrderStatus.ACCEPTED: BrokerOrderStatus.ACCEPTED,
    ExchangeOrderStatus.PARTIALLY_FILLED: BrokerOrderStatus.PARTIALLY_FILLED,
    ExchangeOrderStatus.FILLED: BrokerOrderStatus.FILLED,
    ExchangeOrderStatus.CANCELED: BrokerOrderStatus.CANCELED,
    ExchangeOrderStatus.REJECTED: BrokerOrderStatus.REJECTED,
    ExchangeOrderStatus.EXPIRED: BrokerOrderStatus.EXPIRED,
}


@prepared_read
def _listed_bars(symbol: str, on: date | None) -> QuerySet[PriceBar, Any]:
    """The last 61 bars of the symbol up to ``on``, newest first."""
    history = PriceBar.objects.filter(asset__symbol=symbol)
    if on is not None:
        history = history.filter(date__lte=on)
    return history.order_by("-date").values_list("close", "volume", "asset__fractionable")[:61]


@prepared_read
def _exchange_order_locked(client_order_id: str) -> QuerySet[SimulatedExchangeOrder]:
    return (
        SimulatedExchangeOrder.objects.select_for_update()
        .filter(client_order_id=client_order_id)
        .order_by("pk")[:1]
    )


@prepared_read
def _resting_limit_orders() -> QuerySet[SimulatedExchangeOrder]:
    return SimulatedExchangeOrder.objects.filter(
        order_type=OrderType.LIMIT.value,
        status__in=[BrokerOrderStatus.ACCEPTED, BrokerOrderStatus.PARTIALLY_FILLED],
    )


@prepared_read
def _exchange_fills(since: datetime | None) -> QuerySet[SimulatedExchangeFill]:
    fills = SimulatedExchangeFill.objects.select_related("order").order_by("executed_at", "id")
    if since is not None:
        fills = fills.filter(executed_at__gt=since)
    return fills


def listed_asset(
    symbol: str, *, on: date | None = None, spread_bps: Decimal = Decimal(5)
) -> ListedAsset:
    """The asset as the exchange sees it on ``on``, from the platform's daily bars up to that day
    (a backtest's simulated clock never lets the venue see a later price)."""
    bars = _listed_bars(symbol, on)
    if not bars:
        if not Asset.objects.filter(symbol=symbol).exists():
            raise NotFound(f"the simulated exchange does not list {symbol}")
        raise NotFound(f"no price for {symbol}")
    closes = [float(c) for c, _, _ in bars]
    returns = [math.log(a / b) for a, b in itertools.pairwise(closes) if a > 0 and b > 0]
    volatility = (
        math.sqrt(
            sum((r - sum(returns) / len(returns)) ** 2 for r in returns) / max(len(returns) - 1, 1)
        )
        if len(returns) > 2
        else 0.01
    )
    recent = [volume for _, volume, _ in bars[:20]]
    adv = sum(recent) / len(recent)
    return ListedAsset(
        symbol=symbol,
        reference_price=bars[0][0],
        average_daily_volume=Decimal(max(int(adv), 1000)),
        daily_volatility=max(volatility, 0.001),
        spread_bps=spread_bps,
        fractionable=bars[0][2],
    )


def _seed(client_order_id: str) -> int:
    return int.from_bytes(hashlib.sha256(client_order_id.encode()).digest()[:4], "big")


def _to_broker_order(row: SimulatedExchangeOrder) -> BrokerOrder:
    return BrokerOrder(
        client_order_id=row.client_order_id,
        broker_order_id=row.exchange_order_id,
        symbol=row.symbol,
        side=OrderSide(row.side),
        quantity=row.quantity,
        filled_quantity=row.filled_quantity,
        average_fill_price=row.average_fill_price,
        status=BrokerOrderStatus(row.status),
        submitted_at=row.submitted_at,
        reject_reason=row.reason,
    )


class SimulatedBroker:
    """The broker port over the simulated exchange (see the module docstring)."""

    name = "simulated"

    def __init__(
        self,
        *,
        config: ExchangeConfig = DEFAULT_CONFIG,
        reject_probability: float = 0.0,
        latency_ms: int = 0,
    ) -> None:
        self.config = replace(config, reject_probability=reject_probability)
        self.latency_ms = latency_ms

    def _exchange(self, asset: ListedAsset, client_order_id: str) -> SimulatedExchange:
        config = replace(
            self.config, seed=_seed(client_order_id), id_prefix=f"SIM-{client_order_id}"
        )
        return SimulatedExchange([asset], config=config)

    def submit_order(self, intent: OrderIntent, *, now: datetime) -> BrokerOrder:
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)  # the round trip to the venue, in wall-clock time
        with transaction.atomic():
            found = _exchange_order_locked(intent.client_order_id)
            if found:
                return _to_broker_order(found[0])
            try:
                asset = listed_asset(intent.symbol, on=market_date(now))
            except NotFound as exc:
                raise BrokerRejected(exc.message, code="not_tradable") from exc
            exchange = self._exchange(asset, intent.client_order_id)
            try:
                exchange.submit(
                    client_order_id=intent.client_order_id,
                    symbol=intent.symbol,
                    side=intent.side,
                    quantity=intent.quantity,
                    now=now,
                    order_type=intent.order_type,
                    limit_price=intent.limit_price,
                )
            except InvalidInput as exc:
                raise BrokerRejected(exc.message, code="invalid_quantity") from exc
            exchange.advance(now + self.config.ack_latency + self.config.fill_latency)
            order = exchange.get_order(intent.client_order_id)
            if order.order_type is OrderType.MARKET and order.status in (
                ExchangeOrderStatus.ACCEPTED,
                ExchangeOrderStatus.PARTIALLY_FILLED,
            ):
                # A market order deeper than the book: the rest is cancelled, as on a real venue.
                exchange.cancel(intent.client_order_id, now=now + self.config.fill_latency)
                order = exchange.get_order(intent.client_order_id)
            row = SimulatedExchangeOrder.objects.create(
                client_order_id=intent.client_order_id,
                exchange_order_id=order.exchange_order_id,
                symbol=intent.symbol,
                side=intent.side.value,
                order_type=intent.order_type.value,
                quantity=intent.quantity,
                limit_price=intent.limit_price,
                status=_STATUS[order.status].value,
                reason=order.reason or "",
                filled_quantity=order.filled_quantity,
                average_fill_price=order.average_fill_price,
                submitted_at=now,
            )
            SimulatedExchangeFill.objects.bulk_create(
                [
                    SimulatedExchangeFill(
                        order=row,
                        execution_id=fill.execution_id,
                        quantity=fill.quantity,
                        price=fill.price,
                        fee=fill.fee,
                        executed_at=fill.executed_at,
                    )
                    for fill in order.fills
                ]
            )
        if row.status == BrokerOrderStatus.REJECTED:
            raise BrokerRejected(row.reason or "rejected by the simulated exchange", code="unknown")
        return _to_broker_order(row)

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        row = SimulatedExchangeOrder.objects.filter(client_order_id=client_order_id).first()
        return _to_broker_order(row) if row else None

    def cancel_order(self, client_order_id: str) -> None:
        updated = SimulatedExchangeOrder.objects.filter(
            client_order_id=client_order_id,
            status__in=[
                BrokerOrderStatus.NEW,
                BrokerOrderStatus.ACCEPTED,
                BrokerOrderStatus.PARTIALLY_FILLED,
            ],
        ).update(status=BrokerOrderStatus.CANCELED)
        if (
            not updated
            and not SimulatedExchangeOrder.objects.filter(client_order_id=client_order_id).exists()
        ):
            raise NotFound(f"no order {client_order_id} at the simulated exchange")

    def open_orders(self) -> Sequence[BrokerOrder]:
        rows = SimulatedExchangeOrder.objects.filter(
            status__in=[
                BrokerOrderStatus.NEW,
                BrokerOrderStatus.ACCEPTED,
                BrokerOrderStatus.PARTIALLY_FILLED,
            ]
        )
        return [_to_broker_order(r) for r in rows]

    def _match_resting(self, now: datetime) -> None:
        """Resting limit orders trade when today's market has moved through their price."""
        for row in _resting_limit_orders():
            asset = listed_asset(row.symbol, on=market_date(now))
            crosses = (
                row.side == OrderSide.BUY and asset.reference_price <= (row.limit_price or ZERO)
            ) or (row.side == OrderSide.SELL and asset.reference_price >= (row.limit_price or ZERO))
            if not crosses:
                continue
            remaining = row.quantity - row.filled_quantity
            exchange = self._exchange(asset, f"{row.client_order_id}~{row.filled_quantity}")
            exchange.submit(
                client_order_id=row.client_order_id,
                symbol=row.symbol,
                side=OrderSide(row.side),
                quantity=remaining,
                now=now,
                order_type=OrderType.LIMIT,
                limit_price=row.limit_price,
            )
            exchange.advance(now + self.config.ack_latency + self.config.fill_latency)
            matched = exchange.get_order(row.client_order_id)
            with transaction.atomic():
                locked = SimulatedExchangeOrder.objects.select_for_update().get(pk=row.pk)
                if locked.filled_quantity != row.filled_quantity:
                    continue
                for fill in matched.fills:
                    SimulatedExchangeFill.objects.create(
                        order=locked,
                        execution_id=f"{fill.execution_id}@{locked.filled_quantity}",
                        quantity=fill.quantity,
                        price=fill.price,
                        fee=fill.fee,
                        executed_at=fill.executed_at,
                    )
                value_before = (locked.average_fill_price or ZERO) * locked.filled_quantity
                locked.filled_quantity += matched.filled_quantity
                if locked.filled_quantity > 0:
                    value = (
                        value_before
                        + (matched.average_fill_price or ZERO) * matched.filled_quantity
                    )
                    locked.average_fill_price = (value / locked.filled_quantity).quantize(
                        Decimal("0.000001")
                    )
                locked.status = (
                    BrokerOrderStatus.FILLED
                    if locked.filled_quantity >= locked.quantity
                    else BrokerOrderStatus.PARTIALLY_FILLED
                    if locked.filled_quantity > 0
                    else locked.status
                )
                locked.save(
                    update_fields=["filled_quantity", "average_fill_price", "status", "updated_at"]
                )

    def fills_since(self, since: datetime | None, *, now: datetime) -> Sequence[BrokerFill]:
        self._match_resting(now)
        fills = _exchange_fills(since)
        return [
            BrokerFill(
                execution_id=f.execution_id,
                client_order_id=f.order.client_order_id,
                symbol=f.order.symbol,
                side=OrderSide(f.order.side),
                quantity=f.quantity,
                price=f.price,
                fee=f.fee,
                executed_at=f.executed_at,
            )
            for f in fills
        ]

    def positions(self) -> dict[str, Decimal]:
        """The venue holds the omnibus account: the platform's positions in simulated assets."""
        totals: dict[str, Decimal] = {}
        for symbol, qty in Position.objects.filter(quantity__gt=0).values_list(
            "asset__symbol", "quantity"
        ):
            totals[symbol] = totals.get(symbol, ZERO) + qty
        return totals

    def account(self) -> BrokerAccount:
        from portfolios.models import Account

        cash = sum(Account.objects.values_list("cash", flat=True), ZERO)
        return BrokerAccount(cash=cash, buying_power=cash, equity=cash)
