"""Orders, fills, the firm's risk limits, and the record of every pre-trade check."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from portfolios.models import (
    Account,
    Asset,
    CashField,
    PriceField,
    ProposalTrade,
    QuantityField,
    RateField,
    RebalanceProposal,
    TradeSide,
    Transaction,
)
from portfolios.prepared import PreparedSaves, prepared_read


class RiskLimit(models.Model):
    """The firm's pre-trade limits. Exactly one row is in force; every change is recorded.

    Edited in the admin; each save goes through ``trading.services.risk_limit_update`` which bumps
    ``version`` and writes a :class:`RiskLimitChange`.
    """

    name = models.CharField(max_length=100, default="Firm limits", unique=True)
    max_position_weight = RateField(default=Decimal("0.3500"), help_text="Of the account's value")
    max_order_notional = CashField(default=Decimal("250000.00"))
    max_adv_fraction = RateField(default=Decimal("0.0500"), help_text="Of the average daily volume")
    restricted_symbols = models.JSONField(default=list, blank=True)
    price_collar_pct = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("5.00"),
        help_text="Percent from the last price",
    )
    daily_loss_limit = CashField(default=Decimal("50000.00"), help_text="Per account, today's P&L")
    allow_outside_hours = models.BooleanField(
        default=False, help_text="Let orders through outside the regular US session"
    )
    reject_market_orders_outside_hours = models.BooleanField(default=False)
    version = models.PositiveIntegerField(default=1)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(max_position_weight__gt=0, max_position_weight__lte=1),
                name="risklimit_position_weight_range",
            ),
            models.CheckConstraint(
                condition=Q(max_adv_fraction__gt=0, max_adv_fraction__lte=1),
                name="risklimit_adv_range",
            ),
            models.CheckConstraint(
                condition=Q(max_order_notional__gt=0), name="risklimit_notional_positive"
            ),
            models.CheckConstraint(
                condition=Q(price_collar_pct__gt=0), name="risklimit_collar_positive"
            ),
            models.CheckConstraint(
                condition=Q(daily_loss_limit__gt=0), name="risklimit_loss_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (v{self.version})"


class RiskLimitChange(models.Model):
    """One edit of the limits: who, when, which fields from what to what, and why."""

    limit = models.ForeignKey(RiskLimit, on_delete=models.CASCADE, related_name="changes")
    version = models.PositiveIntegerField()
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)
    changes = models.JSONField(help_text="{field: [old, new]}")
    reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["limit", "version"], name="risklimitchange_unique_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.limit.name} v{self.version}"


class ExecutionPolicy(models.Model):
    """How the firm executes: which algorithm slices large orders, over what window (one row,
    edited in the admin). Small orders go out whole as market orders; buys always as protected
    marketable limits."""

    class LargeOrderAlgo(models.TextChoices):
        TWAP = "twap", "TWAP: equal slices over the window"
        VWAP = "vwap", "VWAP: slices follow the intraday volume profile"
        ICEBERG = "iceberg", "Iceberg: a limit order showing a part at a time"

    large_order_algo = models.CharField(
        max_length=8, choices=LargeOrderAlgo.choices, default=LargeOrderAlgo.VWAP
    )
    large_order_adv_fraction = RateField(
        default=Decimal("0.0100"),
        help_text="Orders above this share of the daily volume are sliced",
    )
    window_minutes = models.PositiveSmallIntegerField(default=30)
    slices = models.PositiveSmallIntegerField(default=6)
    iceberg_display_fraction = RateField(
        default=Decimal("0.2000"), help_text="Shown part of an iceberg"
    )
    buy_limit_allowance = RateField(
        default=Decimal("0.0050"), help_text="Buys go out as limits this far above the last price"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "execution policy"
        constraints = [
            models.CheckConstraint(
                condition=Q(slices__gte=1), name="executionpolicy_slices_positive"
            ),
            models.CheckConstraint(
                condition=Q(window_minutes__gte=1), name="executionpolicy_window_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"Large orders: {self.get_large_order_algo_display()}"

    @classmethod
    def current(cls) -> ExecutionPolicy:
        found = _policy_row(1)
        return found[0] if found else cls.objects.get_or_create(pk=1)[0]


@prepared_read
def _policy_row(pk: int) -> models.QuerySet[ExecutionPolicy]:
    return ExecutionPolicy.objects.filter(pk=pk)


class OrderStatus(models.TextChoices):
    PENDING = "pending", "Recorded, not yet checked"
    HELD = "held", "Deferred (waiting for the market to open)"
    BLOCKED = "blocked", "Blocked by a pre-trade check"
    SUBMITTING = "submitting", "Being sent to the broker"
    ACCEPTED = "accepted", "Accepted by the broker"
    PARTIALLY_FILLED = "partially_filled", "Partially filled"
    FILLED = "filled", "Filled"
    CANCELED = "canceled", "Cancelled"
    REJECTED = "rejected", "Rejected by the broker"
    FAILED = "failed", "Failed"


#: Orders that may still trade.
LIVE_ORDER_STATUSES = (
    OrderStatus.PENDING,
    OrderStatus.HELD,
    OrderStatus.SUBMITTING,
    OrderStatus.ACCEPTED,
    OrderStatus.PARTIALLY_FILLED,
)


class ExecutionAlgo(models.TextChoices):
    MARKET = "market", "Market"
    LIMIT = "limit", "Limit"
    TWAP = "twap", "TWAP"
    VWAP = "vwap", "VWAP"
    ICEBERG = "iceberg", "Iceberg"


class Order(PreparedSaves):
    """An order for one asset in one account.

    A *parent* order carries an approved proposal trade and its execution plan; its *children*
    (the slices) are what reach the broker. ``client_order_id`` is deterministic and unique: the
    same trade can never become two orders, whatever retries or double clicks happen.
    """

    proposal = models.ForeignKey(
        RebalanceProposal, on_delete=models.PROTECT, related_name="orders", null=True, blank=True
    )
    proposal_trade = models.ForeignKey(
        ProposalTrade, on_delete=models.PROTECT, related_name="orders", null=True, blank=True
    )
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, related_name="children", null=True, blank=True
    )
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="orders")
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="orders")
    side = models.CharField(max_length=4, choices=TradeSide.choices)
    order_type = models.CharField(max_length=8, default="market")
    quantity = QuantityField()
    limit_price = PriceField(null=True, blank=True)
    client_order_id = models.CharField(max_length=48, unique=True)
    algo = models.CharField(
        max_length=8, choices=ExecutionAlgo.choices, default=ExecutionAlgo.MARKET
    )
    sequence = models.PositiveSmallIntegerField(
        default=0, help_text="Slice number within the parent"
    )
    scheduled_at = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=OrderStatus.choices, default=OrderStatus.PENDING
    )
    broker = models.CharField(max_length=16, blank=True)
    broker_order_id = models.CharField(max_length=64, blank=True)
    filled_quantity = QuantityField(default=Decimal("0"))
    average_fill_price = PriceField(null=True, blank=True)
    fees = CashField(default=Decimal("0.00"))
    arrival_price = PriceField(null=True, blank=True, help_text="Price when the order was released")
    cost_analysis = models.JSONField(default=dict, blank=True, help_text="Implementation shortfall")
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_quantity_positive"),
            models.CheckConstraint(
                condition=Q(filled_quantity__gte=0), name="order_filled_nonnegative"
            ),
            models.CheckConstraint(
                condition=Q(filled_quantity__lte=models.F("quantity")),
                name="order_filled_le_quantity",
            ),
            models.CheckConstraint(
                condition=Q(limit_price__isnull=True) | Q(limit_price__gt=0),
                name="order_limit_positive",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "scheduled_at"], name="order_status_sched_idx"),
            models.Index(fields=["proposal", "status"], name="order_proposal_status_idx"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.client_order_id}: {self.side} {self.quantity} {self.asset_id} ({self.status})"
        )

    @property
    def is_parent(self) -> bool:
        return self.parent_id is None and self.proposal_trade_id is not None

    @property
    def remaining_quantity(self) -> Decimal:
        return self.quantity - self.filled_quantity


class Fill(PreparedSaves):
    """One execution at the broker; ``execution_id`` makes applying it to the ledger idempotent."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fills")
    execution_id = models.CharField(max_length=128, unique=True)
    quantity = QuantityField()
    price = PriceField()
    fee = CashField(default=Decimal("0.00"))
    executed_at = models.DateTimeField()
    transaction = models.OneToOneField(
        Transaction, on_delete=models.PROTECT, related_name="fill", null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["executed_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="fill_quantity_positive"),
            models.CheckConstraint(condition=Q(price__gt=0), name="fill_price_positive"),
            models.CheckConstraint(condition=Q(fee__gte=0), name="fill_fee_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.execution_id}: {self.quantity} @ {self.price}"


class PreTradeCheck(PreparedSaves):
    """The outcome of one check on one order, at the limits version in force."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="checks")
    check_name = models.CharField(max_length=32)
    outcome = models.CharField(max_length=10)
    message = models.CharField(max_length=500)
    limit_value = models.CharField(max_length=64, blank=True)
    observed_value = models.CharField(max_length=64, blank=True)
    round = models.PositiveSmallIntegerField(default=1)
    limits_version = models.PositiveIntegerField()
    checked_at = models.DateTimeField()

    class Meta:
        ordering = ["order_id", "checked_at", "id"]
        indexes = [models.Index(fields=["order", "outcome"], name="pretradecheck_order_idx")]

    def __str__(self) -> str:
        return f"{self.order_id} {self.check_name}: {self.outcome}"


class BrokerSyncState(PreparedSaves):
    """How far fills have been read from a broker (the time cursor of ``fills_sync``)."""

    broker = models.CharField(max_length=16, unique=True)
    last_fill_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.broker}: {self.last_fill_at}"


class SimulatedExchangeOrder(PreparedSaves):
    """The built-in simulated exchange's own book of orders (it is a separate venue: it never
    reads the platform's Order table, only what was sent to it)."""

    client_order_id = models.CharField(max_length=48, unique=True)
    exchange_order_id = models.CharField(max_length=48)
    symbol = models.CharField(max_length=16)
    side = models.CharField(max_length=4)
    order_type = models.CharField(max_length=8)
    quantity = QuantityField()
    limit_price = PriceField(null=True, blank=True)
    status = models.CharField(max_length=16)
    reason = models.CharField(max_length=255, blank=True)
    filled_quantity = QuantityField(default=Decimal("0"))
    average_fill_price = PriceField(null=True, blank=True)
    submitted_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.client_order_id} {self.status}"


class SimulatedExchangeFill(PreparedSaves):
    order = models.ForeignKey(
        SimulatedExchangeOrder, on_delete=models.CASCADE, related_name="fills"
    )
    execution_id = models.CharField(max_length=64, unique=True)
    quantity = QuantityField()
    price = PriceField()
    fee = CashField(default=Decimal("0.00"))
    executed_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["executed_at", "id"]

    def __str__(self) -> str:
        return f"{self.execution_id}: {self.quantity} @ {self.price}"
