"""The broker port: what the platform needs from any broker, in its own types.

Adapters (``trading.brokers.simulated``, ``trading.brokers.alpaca``) are the only modules that know
a vendor's API; they convert its floats and strings into ``Decimal`` and these dataclasses.

Exactly-once rests on the client order id: the platform derives it deterministically from the
approved trade, records the order intent and commits *before* calling ``submit_order``, and every
adapter treats a repeated ``submit_order`` with the same client order id as a lookup of the
existing order, never as a second order. A ``BrokerTimeout`` means "we do not know whether the
broker accepted it": the caller looks the order up by its client order id before trying again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from trading.core.orders import OrderIntent, OrderSide


class BrokerOrderStatus(StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in {self.FILLED, self.CANCELED, self.REJECTED, self.EXPIRED}


@dataclass(frozen=True)
class BrokerOrder:
    client_order_id: str
    broker_order_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    filled_quantity: Decimal
    average_fill_price: Decimal | None
    status: BrokerOrderStatus
    submitted_at: datetime | None
    reject_reason: str = ""


@dataclass(frozen=True)
class BrokerFill:
    """One execution. ``execution_id`` is unique per broker and makes fills idempotent."""

    execution_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    price: Decimal
    fee: Decimal
    executed_at: datetime


@dataclass(frozen=True)
class BrokerAccount:
    cash: Decimal
    buying_power: Decimal
    equity: Decimal


class BrokerError(Exception):
    """A transient failure (network, 5xx, rate limit): safe to retry with backoff."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BrokerTimeout(BrokerError):
    """The call timed out: the broker may or may not have accepted the order."""


class BrokerRejected(Exception):
    """The broker refused the order for good; ``code`` says why.

    Codes: ``insufficient_buying_power``, ``insufficient_quantity`` (selling more than is held),
    ``invalid_quantity``, ``invalid_price`` (for example a sub-penny limit), ``wash_trade`` (an
    open order on the opposite side of the same symbol), ``not_tradable``, ``forbidden``,
    ``unknown``.
    """

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


@runtime_checkable
class Broker(Protocol):
    """The broker port."""

    name: str

    def submit_order(self, intent: OrderIntent, *, now: datetime) -> BrokerOrder:
        """Send an order; with a client order id the broker already has, return that order."""
        ...

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        """The broker's view of one order, or None when it never received it."""
        ...

    def cancel_order(self, client_order_id: str) -> None: ...

    def open_orders(self) -> Sequence[BrokerOrder]: ...

    def fills_since(self, since: datetime | None, *, now: datetime) -> Sequence[BrokerFill]:
        """Executions after ``since`` (all when None), oldest first; may advance a simulation."""
        ...

    def positions(self) -> dict[str, Decimal]:
        """Quantity per symbol held at the broker (the omnibus account)."""
        ...

    def account(self) -> BrokerAccount: ...
