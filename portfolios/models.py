"""The ledger and the universe: assets, prices, households, accounts, positions, lots, transactions.

Models hold data and the invariants the database can enforce (positive quantities, uniqueness,
non-negative cash). Business rules live in ``portfolios.services`` and ``portfolios.core``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from portfolios.prepared import PreparedSaves, prepared_read


def CashField(**options: Any) -> models.DecimalField:
    """Money: 2 decimal places."""
    return models.DecimalField(max_digits=16, decimal_places=2, **options)


def QuantityField(**options: Any) -> models.DecimalField:
    """Share quantities: 9 decimal places, Alpaca's precision."""
    return models.DecimalField(max_digits=24, decimal_places=9, **options)


def PriceField(**options: Any) -> models.DecimalField:
    """Prices per share: 6 decimal places."""
    return models.DecimalField(max_digits=18, decimal_places=6, **options)


def RateField(**options: Any) -> models.DecimalField:
    """Rates and weights in [0, 1]: 4 decimal places."""
    return models.DecimalField(max_digits=6, decimal_places=4, **options)


class AssetClass(models.TextChoices):
    US_EQUITY = "us_equity", "US equity"
    INTL_EQUITY = "intl_equity", "International equity"
    EM_EQUITY = "em_equity", "Emerging-market equity"
    BOND = "bond", "Bonds"
    TIPS = "tips", "Inflation-protected bonds"
    REAL_ESTATE = "real_estate", "Real estate"
    COMMODITY = "commodity", "Commodities"
    CASH = "cash", "Cash equivalents"


#: Which sleeve of the equity / bond / cash split each asset class belongs to.
SLEEVE_OF_CLASS: dict[str, str] = {
    AssetClass.US_EQUITY: "equity",
    AssetClass.INTL_EQUITY: "equity",
    AssetClass.EM_EQUITY: "equity",
    AssetClass.REAL_ESTATE: "equity",
    AssetClass.COMMODITY: "equity",
    AssetClass.BOND: "bond",
    AssetClass.TIPS: "bond",
    AssetClass.CASH: "cash",
}


class ExclusionTag(models.TextChoices):
    TOBACCO = "tobacco", "Tobacco"
    WEAPONS = "weapons", "Weapons"
    FOSSIL_FUELS = "fossil_fuels", "Fossil fuels"
    GAMBLING = "gambling", "Gambling"
    ALCOHOL = "alcohol", "Alcohol"
    ADULT = "adult", "Adult entertainment"
    NUCLEAR = "nuclear", "Nuclear power"


class SecurityType(models.TextChoices):
    ETF = "etf", "Exchange-traded fund"
    STOCK = "stock", "Stock"


class Asset(models.Model):
    """A tradable instrument of the firm's universe."""

    symbol = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=200)
    security_type = models.CharField(
        max_length=8, choices=SecurityType.choices, default=SecurityType.ETF
    )
    asset_class = models.CharField(max_length=16, choices=AssetClass.choices, db_index=True)
    sector = models.CharField(max_length=64, blank=True, db_index=True)
    esg_score = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="0 (worst) to 100 (best); empty means not rated"
    )
    exclusion_tags = models.JSONField(
        default=list, blank=True, help_text="Categories for ESG exclusions"
    )
    identity_group = models.CharField(
        max_length=64,
        blank=True,
        db_index=True,
        help_text="Assets in the same identity group are substantially identical for wash sales.",
    )
    replacement_group = models.CharField(
        max_length=64,
        blank=True,
        db_index=True,
        help_text="Similar (not identical) assets that loss harvesting may buy instead.",
    )
    fractionable = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)
    is_demo = models.BooleanField(default=False, help_text="Simulated demo instrument")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["symbol"]
        constraints = [
            models.CheckConstraint(
                condition=Q(esg_score__isnull=True) | Q(esg_score__lte=100),
                name="asset_esg_score_at_most_100",
            ),
            models.CheckConstraint(condition=~Q(symbol=""), name="asset_symbol_not_empty"),
        ]

    def __str__(self) -> str:
        return self.symbol

    @property
    def sleeve(self) -> str:
        return SLEEVE_OF_CLASS[self.asset_class]


class PriceBar(models.Model):
    """One daily OHLCV bar. Today's bar is updated in place while the market is open."""

    class Source(models.TextChoices):
        DEMO = "demo", "Demo market (simulated)"
        IMPORT = "import", "Imported file"
        ALPACA = "alpaca", "Alpaca"

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="bars")
    date = models.DateField()
    open = PriceField()
    high = PriceField()
    low = PriceField()
    close = PriceField()
    volume = models.BigIntegerField(default=0)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.IMPORT)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["asset_id", "date"]
        constraints = [
            models.UniqueConstraint(fields=["asset", "date"], name="pricebar_unique_asset_date"),
            models.CheckConstraint(condition=Q(close__gt=0), name="pricebar_close_positive"),
            models.CheckConstraint(condition=Q(low__gt=0), name="pricebar_low_positive"),
            models.CheckConstraint(
                condition=Q(low__lte=models.F("high")), name="pricebar_low_le_high"
            ),
            models.CheckConstraint(condition=Q(volume__gte=0), name="pricebar_volume_nonnegative"),
        ]
        indexes = [
            models.Index(fields=["date"], name="pricebar_date_idx"),
            # covers the price-history reads (asset, day range, close) without the table
            models.Index(fields=["asset", "date", "close"], name="pricebar_asset_day_close_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.asset_id} {self.date} {self.close}"


class FilingStatus(models.TextChoices):
    SINGLE = "single", "Single"
    MARRIED_JOINT = "married_joint", "Married filing jointly"
    MARRIED_SEPARATE = "married_separate", "Married filing separately"
    HEAD_OF_HOUSEHOLD = "head_of_household", "Head of household"


class Household(models.Model):
    """The tax unit: wash sales and the capital-loss limit apply across all of its accounts."""

    name = models.CharField(max_length=200, unique=True)
    filing_status = models.CharField(
        max_length=20, choices=FilingStatus.choices, default=FilingStatus.SINGLE
    )
    short_term_rate = RateField(
        default=Decimal("0.3200"), help_text="Marginal rate on short-term gains"
    )
    long_term_rate = RateField(
        default=Decimal("0.1500"), help_text="Marginal rate on long-term gains"
    )
    loss_carryforward_short = CashField(
        default=Decimal("0.00"),
        help_text="Short-term capital loss carried into the platform",
    )
    loss_carryforward_long = CashField(
        default=Decimal("0.00"),
        help_text="Long-term capital loss carried into the platform",
    )
    is_demo = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(short_term_rate__gte=0, short_term_rate__lte=1),
                name="household_st_rate_range",
            ),
            models.CheckConstraint(
                condition=Q(long_term_rate__gte=0, long_term_rate__lte=1),
                name="household_lt_rate_range",
            ),
            models.CheckConstraint(
                condition=Q(loss_carryforward_short__gte=0, loss_carryforward_long__gte=0),
                name="household_carryforward_nonnegative",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class AccountType(models.TextChoices):
    TAXABLE = "taxable", "Taxable"
    IRA = "ira", "Traditional IRA"
    ROTH = "roth", "Roth IRA"


class LotMethod(models.TextChoices):
    FIFO = "fifo", "First in, first out"
    HIFO = "hifo", "Highest cost first"
    SPECIFIC = "specific", "Specific identification"
    TAX_MIN = "tax_min", "Tax-minimising"


class Account(models.Model):
    """A brokerage account of a household; cash is held per account, never negative (no margin)."""

    household = models.ForeignKey(Household, on_delete=models.PROTECT, related_name="accounts")
    name = models.CharField(max_length=120)
    account_type = models.CharField(
        max_length=8, choices=AccountType.choices, default=AccountType.TAXABLE
    )
    lot_method = models.CharField(max_length=8, choices=LotMethod.choices, default=LotMethod.FIFO)
    cash = CashField(default=Decimal("0.00"))
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["household_id", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["household", "name"], name="account_unique_name_per_household"
            ),
            models.CheckConstraint(condition=Q(cash__gte=0), name="account_cash_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.household} / {self.name}"

    @property
    def is_taxable(self) -> bool:
        return self.account_type == AccountType.TAXABLE


class Position(PreparedSaves):
    """Shares of one asset held in one account; always equal to the sum of its open lots."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="positions")
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="positions")
    quantity = QuantityField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account_id", "asset_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "asset"], name="position_unique_account_asset"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=0), name="position_quantity_nonnegative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.asset_id} {self.quantity}"


class TransactionKind(models.TextChoices):
    BUY = "buy", "Buy"
    SELL = "sell", "Sell"
    DIVIDEND = "dividend", "Dividend"
    DEPOSIT = "deposit", "Deposit"
    WITHDRAWAL = "withdrawal", "Withdrawal"
    FEE = "fee", "Fee"
    TRANSFER_IN = "transfer_in", "Holding transferred in"


class Transaction(PreparedSaves):
    """A ledger entry. ``amount`` is the signed cash effect on the account (fees included).

    ``external_id`` is the idempotency key of the event that created it (a broker fill, an imported
    row); the unique constraint makes replaying that event a no-op.
    """

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="transactions")
    kind = models.CharField(max_length=12, choices=TransactionKind.choices)
    asset = models.ForeignKey(
        Asset, on_delete=models.PROTECT, related_name="transactions", null=True, blank=True
    )
    trade_date = models.DateField()
    executed_at = models.DateTimeField(null=True, blank=True)
    quantity = QuantityField(null=True, blank=True)
    price = PriceField(null=True, blank=True)
    fees = CashField(default=Decimal("0.00"))
    amount = CashField()
    external_id = models.CharField(max_length=128, null=True, blank=True, unique=True)
    description = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["account_id", "trade_date", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind__in=["buy", "sell", "transfer_in"])
                | Q(quantity__gt=0, price__gt=0, asset__isnull=False),
                name="transaction_trade_has_asset_quantity_price",
            ),
            models.CheckConstraint(
                condition=~Q(kind="dividend") | Q(asset__isnull=False, amount__gt=0),
                name="transaction_dividend_positive_with_asset",
            ),
            models.CheckConstraint(
                condition=~Q(kind="deposit") | Q(amount__gt=0), name="transaction_deposit_positive"
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["withdrawal", "fee"]) | Q(amount__lt=0),
                name="transaction_outflow_negative",
            ),
            models.CheckConstraint(condition=Q(fees__gte=0), name="transaction_fees_nonnegative"),
        ]
        indexes = [
            models.Index(
                fields=["account", "asset", "trade_date"], name="txn_account_asset_date_idx"
            ),
            models.Index(fields=["trade_date"], name="txn_trade_date_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.asset_id or ''} {self.quantity or ''} on {self.trade_date}"


class TaxLot(PreparedSaves):
    """Shares bought together, with their cost basis and holding period.

    ``cost_basis`` is the total basis of the *open* quantity (wash-sale adjustments included), so
    splitting a lot never loses a cent; ``holding_period_start`` is the acquisition date moved
    earlier by any holding period tacked on from a washed lot. ``acquisition_id`` names the
    purchase the shares came from (shares of one purchase never wash each other), and
    ``replacement_for`` the loss these shares already washed (a share replaces one loss only).
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="lots")
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="lots")
    quantity = QuantityField(help_text="Open quantity; 0 once closed")
    original_quantity = QuantityField()
    cost_basis = CashField(help_text="Basis of the open quantity")
    acquired_on = models.DateField()
    holding_period_start = models.DateField()
    wash_sale_adjustment = CashField(
        default=Decimal("0.00"), help_text="Disallowed loss added to this lot's basis"
    )
    acquisition_id = models.CharField(max_length=64)
    replacement_for = models.ForeignKey(
        "RealizedLot",
        on_delete=models.PROTECT,
        related_name="replacement_lots",
        null=True,
        blank=True,
    )
    opened_by = models.ForeignKey(
        Transaction, on_delete=models.PROTECT, related_name="opened_lots", null=True, blank=True
    )
    basis_reported = models.BooleanField(
        default=True,
        help_text="A covered security: Form 1099-B reports its basis to the IRS (Form 8949 box "
        "A or D, else B or E). Set from the acquisition date when the lot is opened.",
    )
    closed_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["account_id", "asset_id", "acquired_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=0), name="taxlot_quantity_nonnegative"
            ),
            models.CheckConstraint(
                condition=Q(original_quantity__gt=0), name="taxlot_original_positive"
            ),
            models.CheckConstraint(
                condition=Q(quantity__lte=models.F("original_quantity")),
                name="taxlot_quantity_le_original",
            ),
            models.CheckConstraint(condition=Q(cost_basis__gte=0), name="taxlot_basis_nonnegative"),
            models.CheckConstraint(
                condition=Q(holding_period_start__lte=models.F("acquired_on")),
                name="taxlot_holding_start_not_after_acquired",
            ),
        ]
        indexes = [
            models.Index(
                fields=["account", "asset", "acquired_on"],
                name="taxlot_open_idx",
                condition=Q(quantity__gt=0),
            ),
        ]

    def __str__(self) -> str:
        return f"lot {self.pk}: {self.quantity} {self.asset_id} from {self.acquired_on}"

    @property
    def cost_per_share(self) -> Decimal:
        if not self.quantity:
            return Decimal("0")
        return self.cost_basis / self.quantity


class Term(models.TextChoices):
    SHORT = "short", "Short-term"
    LONG = "long", "Long-term"


class RealizedLot(PreparedSaves):
    """One closed lot (or part of one): a row of IRS Form 8949.

    Columns: (a) description, (b) ``acquired_on``, (c) ``sold_on``, (d) ``proceeds``,
    (e) ``cost_basis``, (f) ``adjustment_code``, (g) ``adjustment_amount``, (h) ``gain``; the
    box (A, B, D or E) follows from ``term`` and ``basis_reported``.
    Sales in IRAs are kept (``reportable`` false) but never reported.
    """

    Term = Term

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="realized_lots")
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="realized_lots")
    lot = models.ForeignKey(TaxLot, on_delete=models.PROTECT, related_name="realizations")
    sale = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="realizations")
    acquisition_id = models.CharField(max_length=64)
    quantity = QuantityField()
    acquired_on = models.DateField(help_text="Trade date of the purchase (column b)")
    holding_period_start = models.DateField(help_text="Tacked start used for the term")
    sold_on = models.DateField()
    proceeds = CashField()
    cost_basis = CashField()
    adjustment_code = models.CharField(max_length=4, blank=True)
    adjustment_amount = CashField(
        default=Decimal("0.00"), help_text="Disallowed wash-sale loss (column g)"
    )
    washed_quantity = QuantityField(default=Decimal("0"))
    gain = CashField(help_text="Proceeds - basis + adjustment (column h)")
    term = models.CharField(max_length=5, choices=Term.choices)
    reportable = models.BooleanField(default=True)
    basis_reported = models.BooleanField(
        default=True, help_text="The sold lot's basis was reported to the IRS (box A or D)"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sold_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="realizedlot_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(adjustment_amount__gte=0), name="realizedlot_adjustment_nonneg"
            ),
            models.CheckConstraint(
                condition=Q(washed_quantity__gte=0, washed_quantity__lte=models.F("quantity")),
                name="realizedlot_washed_range",
            ),
        ]
        indexes = [models.Index(fields=["account", "sold_on"], name="realizedlot_account_sold_idx")]

    def __str__(self) -> str:
        return f"{self.quantity} {self.asset_id} sold {self.sold_on}: {self.gain}"

    @property
    def description(self) -> str:
        text = f"{self.quantity:f}".rstrip("0").rstrip(".")
        return f"{text} sh {self.asset.symbol}"


class WashSale(PreparedSaves):
    """Part of a realised loss disallowed because substantially identical shares were acquired.

    ``replacement_lot`` holds the shares once bought; while the purchase is a pending order,
    ``pending`` is set and ``replacement_order`` names the order's client order id. ``permanent``
    marks a replacement in an IRA: the loss is lost for good.
    """

    realized_lot = models.ForeignKey(
        RealizedLot, on_delete=models.CASCADE, related_name="wash_sales"
    )
    replacement_lot = models.ForeignKey(
        TaxLot, on_delete=models.PROTECT, related_name="wash_sales_replaced", null=True, blank=True
    )
    replacement_account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    replacement_symbol = models.CharField(max_length=16)
    replacement_order = models.CharField(max_length=48, blank=True)
    replacement_acquired_on = models.DateField()
    quantity = QuantityField()
    disallowed_loss = CashField()
    permanent = models.BooleanField(default=False)
    pending = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="washsale_quantity_positive"),
            models.CheckConstraint(
                condition=Q(disallowed_loss__gte=0), name="washsale_loss_nonnegative"
            ),
        ]
        indexes = [
            models.Index(
                fields=["replacement_order"], name="washsale_pending_idx", condition=Q(pending=True)
            )
        ]

    def __str__(self) -> str:
        return (
            f"wash of {self.realized_lot_id}: {self.disallowed_loss} via {self.replacement_symbol}"
        )


class HarvestBlock(PreparedSaves):
    """After a harvest, the sold asset (and its identity group) may not be bought by any account
    of the household until ``blocked_until`` (inclusive), whatever the purchase path."""

    household = models.ForeignKey(
        Household, on_delete=models.CASCADE, related_name="harvest_blocks"
    )
    symbol = models.CharField(max_length=16)
    identity_key = models.CharField(max_length=80, help_text="symbol:<S> or group:<identity group>")
    blocked_until = models.DateField()
    sold_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-blocked_until"]
        indexes = [
            models.Index(fields=["household", "blocked_until"], name="harvestblock_active_idx")
        ]

    def __str__(self) -> str:
        return f"{self.symbol} blocked until {self.blocked_until}"


class AccountValuation(models.Model):
    """An account's value at a day's close; the history behind performance charts.

    ``net_flow`` is the day's deposits minus withdrawals, so returns can be time-weighted.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="valuations")
    date = models.DateField()
    market_value = CashField()
    cash = CashField()
    net_flow = CashField(default=Decimal("0.00"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account_id", "date"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "date"], name="valuation_unique_account_date"
            ),
            models.CheckConstraint(
                condition=Q(market_value__gte=0), name="valuation_value_nonnegative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.date} {self.market_value}"

    @property
    def total(self) -> Decimal:
        return self.market_value + self.cash


class AuditEvent(PreparedSaves):
    """An append-only record of a sensitive action: who, when, what, from which state to which."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    from_state = models.CharField(max_length=32, blank=True)
    to_state = models.CharField(max_length=32, blank=True)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.object_type}#{self.object_id}"


class FirmSettings(models.Model):
    """The firm's portfolio policy and approval thresholds (one row, edited in the admin)."""

    max_fund_weight = RateField(
        default=Decimal("0.3000"), help_text="Cap per fund in a recommendation"
    )
    max_stock_weight = RateField(default=Decimal("0.0500"), help_text="Cap per single stock")
    recommend_single_stocks = models.BooleanField(default=False)
    sleeve_tolerance = RateField(
        default=Decimal("0.0500"), help_text="Allowed distance from the equity/bond split"
    )
    min_position_weight = RateField(
        default=Decimal("0.0200"), help_text="Smaller target weights are dropped"
    )
    risk_free_rate = RateField(
        default=Decimal("0.0300"), help_text="Added to equilibrium excess returns"
    )
    estimation_years = models.PositiveSmallIntegerField(default=5)
    drift_threshold = RateField(
        default=Decimal("0.0500"), help_text="Total drift that triggers a rebalance"
    )
    band_absolute = RateField(
        default=Decimal("0.0300"), help_text="Per-asset band, absolute weight"
    )
    band_relative = RateField(
        default=Decimal("0.2500"), help_text="Per-asset band, relative to target"
    )
    min_trade_notional = CashField(default=Decimal("50.00"))
    cash_buffer = RateField(default=Decimal("0.0050"), help_text="Cash kept back from buys")
    proposal_price_tolerance = RateField(
        default=Decimal("0.0200"), help_text="Price move that expires a proposal before approval"
    )
    harvest_min_benefit = CashField(default=Decimal("100.00"))
    harvest_min_loss_pct = RateField(
        default=Decimal("0.0500"), help_text="Loss as a share of the lot's value"
    )
    commission_per_trade = CashField(default=Decimal("0.00"))
    view_max_tilt = RateField(
        default=Decimal("0.0200"), help_text="Cap on a signal view's return tilt"
    )
    auto_approve_cash_flow_max = CashField(
        default=Decimal("0.00"),
        help_text="Cash-flow proposals up to this amount are approved automatically (0: never)",
    )
    auto_approve_harvests = models.BooleanField(default=False)
    benchmark_symbol = models.CharField(
        max_length=16,
        blank=True,
        help_text=(
            "Performance benchmark fund for every household; empty: each household's policy "
            "benchmark (its risk profile's equity, bond and cash split in the most traded fund "
            "of each, rebalanced daily)"
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "firm settings"
        verbose_name_plural = "firm settings"

    def __str__(self) -> str:
        return "Firm settings"

    @classmethod
    def current(cls) -> FirmSettings:
        found = _firm_settings_row(1)
        return found[0] if found else cls.objects.get_or_create(pk=1)[0]


@prepared_read
def _firm_settings_row(pk: int) -> models.QuerySet[FirmSettings]:
    return FirmSettings.objects.filter(pk=pk)


class Recommendation(models.Model):
    """A household's recommended target portfolio with the reasons for it.

    One is current per household; recomputing stores a new one and retires the old.
    """

    household = models.ForeignKey(
        Household, on_delete=models.CASCADE, related_name="recommendations"
    )
    risk_score = models.PositiveSmallIntegerField()
    method = models.CharField(max_length=32)
    weights = models.JSONField(help_text="Target weight per symbol; cash included as its fund")
    expected_return = models.FloatField()
    volatility = models.FloatField()
    esg_score = models.FloatField(null=True, blank=True)
    diagnostics = models.JSONField(default=dict, blank=True)
    explanation = models.JSONField(default=list, blank=True)
    views = models.JSONField(
        default=list, blank=True, help_text="Signal views that tilted the target"
    )
    fallback = models.CharField(
        max_length=200, blank=True, help_text="Set when a fallback was used"
    )
    is_current = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["household"],
                condition=Q(is_current=True),
                name="one_current_recommendation",
            ),
            models.CheckConstraint(
                condition=Q(volatility__gte=0), name="recommendation_vol_nonnegative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.household} {self.method} {self.created_at:%Y-%m-%d}"


class ProposalStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PENDING = "pending", "Pending approval"
    APPROVED = "approved", "Approved"
    EXECUTING = "executing", "Executing"
    DONE = "done", "Done"
    PARTIALLY_DONE = "partially_done", "Partially done"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"
    SUPERSEDED = "superseded", "Superseded"
    EXPIRED = "expired", "Expired (re-price)"


#: A proposal in one of these states blocks another for the same account.
OPEN_PROPOSAL_STATUSES = (
    ProposalStatus.DRAFT,
    ProposalStatus.PENDING,
    ProposalStatus.APPROVED,
    ProposalStatus.EXECUTING,
)


class ProposalReason(models.TextChoices):
    DRIFT = "drift", "Drift from target"
    CASH_FLOW = "cash_flow", "Cash flow"
    HARVEST = "harvest", "Tax-loss harvest"
    PROFILE_CHANGE = "profile_change", "Profile change"


class RebalanceProposal(PreparedSaves):
    """Trades that would bring an account back to its target, for an advisor to approve."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="proposals")
    recommendation = models.ForeignKey(
        Recommendation, on_delete=models.PROTECT, related_name="proposals", null=True, blank=True
    )
    status = models.CharField(
        max_length=16, choices=ProposalStatus.choices, default=ProposalStatus.PENDING
    )
    reason = models.CharField(max_length=16, choices=ProposalReason.choices)
    total_value = CashField()
    drift_before = models.FloatField()
    drift_after = models.FloatField()
    target_weights = models.JSONField()
    weights_before = models.JSONField()
    weights_after = models.JSONField()
    prices = models.JSONField(help_text="Price per symbol the proposal was priced at")
    priced_at = models.DateTimeField()
    realized_gain_short = CashField(default=Decimal("0.00"))
    realized_gain_long = CashField(default=Decimal("0.00"))
    estimated_tax = CashField(default=Decimal("0.00"))
    estimated_tax_saving = CashField(
        default=Decimal("0.00"),
        help_text="A tax-loss harvest's estimated tax benefit, net of its trading costs",
    )
    estimated_costs = CashField(default=Decimal("0.00"))
    risk_before = models.JSONField(default=dict)
    risk_after = models.JSONField(default=dict)
    explanation = models.JSONField(default=list, blank=True)
    advisor_comment = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    auto_approved = models.BooleanField(default=False)
    execution_summary = models.JSONField(
        default=dict, blank=True, help_text="Fills, costs and shortfall"
    )
    withdrawal_amount = CashField(
        default=Decimal("0.00"), help_text="Cash to pay out once the sells have filled"
    )
    superseded_by = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="supersedes"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(status__in=[s.value for s in OPEN_PROPOSAL_STATUSES]),
                name="one_open_proposal_per_account",
            ),
            models.CheckConstraint(
                condition=Q(total_value__gte=0), name="proposal_value_nonnegative"
            ),
            models.CheckConstraint(
                condition=Q(estimated_costs__gte=0), name="proposal_costs_nonnegative"
            ),
            models.CheckConstraint(
                condition=Q(withdrawal_amount__gte=0), name="proposal_withdrawal_nonnegative"
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="proposal_status_idx")]

    @property
    def drift_before_pct(self) -> float:
        """Drift before the trades in percent, for pages (the field is a fraction)."""
        return self.drift_before * 100

    @property
    def drift_after_pct(self) -> float:
        """Drift after the trades in percent, for pages (the field is a fraction)."""
        return self.drift_after * 100

    def __str__(self) -> str:
        return f"proposal {self.pk} ({self.get_reason_display()}) for {self.account}: {self.status}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_PROPOSAL_STATUSES


class TradeSide(models.TextChoices):
    BUY = "buy", "Buy"
    SELL = "sell", "Sell"


class ProposalTrade(PreparedSaves):
    """One trade of a proposal; sells come before buys (lower sequence)."""

    class Purpose(models.TextChoices):
        REBALANCE = "rebalance", "Rebalance"
        CASH_FLOW = "cash_flow", "Cash flow"
        HARVEST_SELL = "harvest_sell", "Harvest a loss"
        HARVEST_REPLACE = "harvest_replace", "Replacement for a harvest"

    proposal = models.ForeignKey(RebalanceProposal, on_delete=models.CASCADE, related_name="trades")
    sequence = models.PositiveSmallIntegerField()
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+")
    side = models.CharField(max_length=4, choices=TradeSide.choices)
    quantity = QuantityField()
    estimated_price = PriceField()
    notional = CashField()
    estimated_cost = CashField(default=Decimal("0.00"))
    estimated_gain = CashField(default=Decimal("0.00"), help_text="Realised gain of a sell (est.)")
    lots = models.JSONField(
        default=list, blank=True, help_text="Lots a sell closes: [{lot, quantity}]"
    )
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.REBALANCE)

    class Meta:
        ordering = ["proposal_id", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["proposal", "sequence"], name="proposaltrade_unique_sequence"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="proposaltrade_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(estimated_price__gt=0), name="proposaltrade_price_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} {self.asset_id}"

    @property
    def client_order_id(self) -> str:
        """The deterministic id the broker sees: one order per approved trade, whatever retries."""
        return f"rp{self.proposal_id}-{self.sequence:03d}"
