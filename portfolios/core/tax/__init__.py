"""The tax engine's pure core: lots, holding periods, wash sales, harvesting, reports and bands.

Frozen dataclasses in, frozen dataclasses out; money is ``Decimal`` (cash 2 places, quantities 9),
floats appear only in the vectorised harvest screen. No Django, no clock: dates are arguments.

* :mod:`.holding` short/long term (Publication 550 calendar rule) and wash-sale tacking;
* :mod:`.lots` tax lots, lot selection (FIFO, HIFO, specific, tax-minimising), exact splitting;
* :mod:`.wash_sales` wash sales across a household's accounts (IRC 1091);
* :mod:`.ledger` the replay of a household's trades into lots, Form 8949 rows and wash sales;
* :mod:`.basis_reporting` covered securities and the Form 8949 box of a sale;
* :mod:`.report` Form 8949, Schedule D netting, the $3,000 limit and loss carryovers;
* :mod:`.harvest` loss harvesting with replacements and 30-day blocks;
* :mod:`.bands` tax-aware rebalancing bands.
"""

from portfolios.core.tax.accounts import AccountType, TaxRates
from portfolios.core.tax.bands import (
    AssetBand,
    SaleTaxCost,
    rebalance_band,
    rebalance_bands,
    tax_cost_of_sale,
    tax_impact_factor,
)
from portfolios.core.tax.basis_reporting import (
    FUND_COVERED_FROM,
    SCHEDULE_D_LINE,
    STOCK_COVERED_FROM,
    Form8949Box,
    basis_reported_by_date,
    form_8949_box,
)
from portfolios.core.tax.harvest import (
    HarvestLot,
    HarvestPolicy,
    HarvestProposal,
    HarvestScan,
    HarvestSkip,
    ReplacementCandidate,
    ReplacementMenu,
    WashSaleBlock,
    is_blocked,
    scan_harvest,
    screen_harvest_lots,
    wash_sale_block,
)
from portfolios.core.tax.holding import (
    WASH_SALE_WINDOW_DAYS,
    Term,
    first_long_term_date,
    first_long_term_dates,
    holding_term,
    is_long_term,
    long_term_mask,
    tacked_acquisition_date,
)
from portfolios.core.tax.ledger import (
    AccountSpec,
    Buy,
    HouseholdLedger,
    Sell,
    Transaction,
    replay_household,
)
from portfolios.core.tax.lots import (
    LotClosing,
    LotMethod,
    RealisedLot,
    TaxLot,
    allocate_cash,
    close_lots,
    open_lot,
    order_lots,
)
from portfolios.core.tax.report import (
    CAPITAL_LOSS_LIMIT,
    CapitalGainsSummary,
    CapitalLossCarryover,
    FilingStatus,
    Form8949,
    Form8949Section,
    Form8949Totals,
    capital_loss_carryover,
    form_8949,
    summarise_year,
)
from portfolios.core.tax.wash_sales import (
    PendingPurchase,
    PendingSettlement,
    WashSale,
    WashSaleOutcome,
    find_wash_sales,
    identity_key,
    release_pending_wash_sales,
    settle_pending_wash_sales,
)

__all__ = [
    "CAPITAL_LOSS_LIMIT",
    "FUND_COVERED_FROM",
    "SCHEDULE_D_LINE",
    "STOCK_COVERED_FROM",
    "WASH_SALE_WINDOW_DAYS",
    "AccountSpec",
    "AccountType",
    "AssetBand",
    "Buy",
    "CapitalGainsSummary",
    "CapitalLossCarryover",
    "FilingStatus",
    "Form8949",
    "Form8949Box",
    "Form8949Section",
    "Form8949Totals",
    "HarvestLot",
    "HarvestPolicy",
    "HarvestProposal",
    "HarvestScan",
    "HarvestSkip",
    "HouseholdLedger",
    "LotClosing",
    "LotMethod",
    "PendingPurchase",
    "PendingSettlement",
    "RealisedLot",
    "ReplacementCandidate",
    "ReplacementMenu",
    "SaleTaxCost",
    "Sell",
    "TaxLot",
    "TaxRates",
    "Term",
    "Transaction",
    "WashSale",
    "WashSaleBlock",
    "WashSaleOutcome",
    "allocate_cash",
    "basis_reported_by_date",
    "capital_loss_carryover",
    "close_lots",
    "find_wash_sales",
    "first_long_term_date",
    "first_long_term_dates",
    "form_8949",
    "form_8949_box",
    "holding_term",
    "identity_key",
    "is_blocked",
    "is_long_term",
    "long_term_mask",
    "open_lot",
    "order_lots",
    "rebalance_band",
    "rebalance_bands",
    "release_pending_wash_sales",
    "replay_household",
    "scan_harvest",
    "screen_harvest_lots",
    "settle_pending_wash_sales",
    "summarise_year",
    "tacked_acquisition_date",
    "tax_cost_of_sale",
    "tax_impact_factor",
    "wash_sale_block",
]
