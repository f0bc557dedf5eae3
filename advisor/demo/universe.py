"""The demo market's instruments and the demo households that hold them.

Every symbol and name here is invented: names end in "(demo)" and the issuers ("Alderbrook",
"Quillon") do not exist, so a demo quote can never be mistaken for a real one. The universe has
broad, international and emerging equity funds, bond funds of every usual kind, REIT, commodity
and cash funds, ESG-screened funds and fifteen single stocks. Every asset except cash has a
replacement group with at least one member that is not substantially identical to it (a
different identity group), so that loss harvesting always has somewhere to go.

An asset's ``annual_vol`` is the total volatility its factor loadings and idiosyncratic part
add up to in the factor model of :mod:`advisor.demo.factors`; the simulator reproduces it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from advisor.demo.factors import systematic_variance
from portfolios.core.errors import InvalidInput
from portfolios.core.money import cash, price, quantity

if TYPE_CHECKING:
    from advisor.demo.market import MarketHistory

ASSET_CLASSES: tuple[str, ...] = (
    "us_equity",
    "intl_equity",
    "em_equity",
    "bond",
    "tips",
    "real_estate",
    "commodity",
    "cash",
)
EXCLUSION_TAGS: tuple[str, ...] = (
    "tobacco",
    "weapons",
    "fossil_fuels",
    "gambling",
    "alcohol",
    "adult",
    "nuclear",
)
SECURITY_TYPES: tuple[str, ...] = ("etf", "stock")
ACCOUNT_TYPES: tuple[str, ...] = ("taxable", "traditional_ira", "roth_ira")
FILING_STATUSES: tuple[str, ...] = ("single", "married_filing_jointly")
RISK_TOLERANCES: tuple[str, ...] = (
    "conservative",
    "moderately_conservative",
    "moderate",
    "moderately_aggressive",
    "aggressive",
)
DEMO_LABEL = "(demo)"

_SYMBOL = re.compile(r"[A-Z]{2,5}")
_MIN_IDIO_SHARE = 1e-4
"""Idiosyncratic variance must be at least this share of the total (identity groups need some)."""


@dataclass(frozen=True)
class DemoAsset:
    """One instrument of the demo market and the parameters of its simulated returns.

    ``sector_loadings`` are (factor, loading) pairs on the sector, region and bond-market factors
    of :data:`advisor.demo.factors.SECTOR_FACTOR_VOLS`; ``rate_duration`` is the sensitivity to
    yield changes in years (a bond fund's duration; small for equities, negative for banks).
    ``identity_group`` joins funds that are substantially identical (the same index from two
    issuers); ``replacement_group`` joins funds a harvest may swap between. ``expected_return``
    is the annual arithmetic drift of the (total-return style) price.
    """

    symbol: str
    name: str
    asset_class: str
    security_type: str
    sector: str
    esg_score: int
    exclusion_tags: tuple[str, ...]
    identity_group: str
    replacement_group: str
    annual_vol: float
    beta: float
    sector_loadings: tuple[tuple[str, float], ...]
    rate_duration: float
    expected_return: float
    base_price: float
    avg_daily_volume: int
    fractionable: bool

    def __post_init__(self) -> None:
        where = f"demo asset {self.symbol!r}"
        if not _SYMBOL.fullmatch(self.symbol):
            raise InvalidInput(f"{where}: symbol must be 2-5 uppercase letters", field="symbol")
        if not self.name.endswith(DEMO_LABEL):
            raise InvalidInput(f"{where}: name must end in {DEMO_LABEL!r}", field="name")
        if self.asset_class not in ASSET_CLASSES:
            raise InvalidInput(f"{where}: unknown asset class {self.asset_class!r}")
        if self.security_type not in SECURITY_TYPES:
            raise InvalidInput(f"{where}: unknown security type {self.security_type!r}")
        if not 0 <= self.esg_score <= 100:
            raise InvalidInput(f"{where}: ESG score {self.esg_score} is outside 0-100")
        unknown = set(self.exclusion_tags) - set(EXCLUSION_TAGS)
        if unknown:
            raise InvalidInput(f"{where}: unknown exclusion tags {sorted(unknown)}")
        if not (self.base_price >= 1.0 and math.isfinite(self.base_price)):
            raise InvalidInput(f"{where}: base price must be at least 1, got {self.base_price}")
        if self.avg_daily_volume <= 0:
            raise InvalidInput(f"{where}: average daily volume must be positive")
        if not (math.isfinite(self.annual_vol) and self.annual_vol > 0):
            raise InvalidInput(f"{where}: annual volatility must be positive")
        systematic = self.systematic_variance
        if self.annual_vol**2 - systematic < _MIN_IDIO_SHARE * self.annual_vol**2:
            raise InvalidInput(
                f"{where}: annual volatility {self.annual_vol:.4f} is below what its factor "
                f"loadings explain ({math.sqrt(systematic):.4f})"
            )

    @property
    def systematic_variance(self) -> float:
        """Annual variance explained by the market, sector and rates factors."""
        return systematic_variance(
            beta=self.beta,
            sector_loadings=self.sector_loadings,
            rate_duration=self.rate_duration,
        )

    @property
    def idio_vol(self) -> float:
        """Annual idiosyncratic volatility, events included."""
        return math.sqrt(self.annual_vol**2 - self.systematic_variance)

    @property
    def identity_key(self) -> str:
        """The key under which substantially identical assets compare equal."""
        return self.identity_group or self.symbol

    @property
    def is_stock(self) -> bool:
        return self.security_type == "stock"

    @property
    def short_name(self) -> str:
        """The name as news would write it: no demo label, no corporate suffix."""
        name = self.name.removesuffix(DEMO_LABEL).strip()
        for suffix in (" Inc.", " Corp.", " Co.", " Group", " Bancorp"):
            name = name.removesuffix(suffix)
        return name


def _asset(
    symbol: str,
    name: str,
    asset_class: str,
    sector: str,
    esg_score: int,
    *,
    replacement: str,
    idio: float,
    expected_return: float,
    price: float,
    volume: int,
    beta: float = 0.0,
    sectors: tuple[tuple[str, float], ...] = (),
    duration: float = 0.0,
    identity: str = "",
    tags: tuple[str, ...] = (),
    stock: bool = False,
    fractionable: bool = True,
) -> DemoAsset:
    """Build an asset whose annual volatility is what its loadings and ``idio`` add up to."""
    systematic = systematic_variance(beta=beta, sector_loadings=sectors, rate_duration=duration)
    return DemoAsset(
        symbol=symbol,
        name=f"{name} {DEMO_LABEL}",
        asset_class=asset_class,
        security_type="stock" if stock else "etf",
        sector=sector,
        esg_score=esg_score,
        exclusion_tags=tags,
        identity_group=identity,
        replacement_group=replacement,
        annual_vol=round(math.sqrt(systematic + idio**2), 6),
        beta=beta,
        sector_loadings=sectors,
        rate_duration=duration,
        expected_return=expected_return,
        base_price=price,
        avg_daily_volume=volume,
        fractionable=fractionable,
    )


DEMO_UNIVERSE: tuple[DemoAsset, ...] = (
    # US equity index funds: ZLCA and QFHN track the same 500-stock index (one identity group);
    # the total-market fund is a legitimate replacement for both.
    _asset("ZLCA", "Alderbrook 500 Index ETF", "us_equity", "diversified", 61,
           identity="us_large_cap_500", replacement="us_large_blend", beta=1.0, duration=0.5,
           idio=0.018, expected_return=0.075, price=452.30, volume=38_000_000),
    _asset("QFHN", "Quillon 500 Index Fund", "us_equity", "diversified", 61,
           identity="us_large_cap_500", replacement="us_large_blend", beta=1.0, duration=0.5,
           idio=0.018, expected_return=0.075, price=83.15, volume=9_500_000),
    _asset("ZTMK", "Alderbrook Total Market Index ETF", "us_equity", "diversified", 58,
           identity="us_total_market", replacement="us_large_blend", beta=1.03, duration=0.6,
           sectors=(("industrials", 0.05),), idio=0.02, expected_return=0.077, price=221.40,
           volume=6_200_000),
    # ESG-screened US equity
    _asset("QESG", "Quillon US ESG Leaders ETF", "us_equity", "diversified", 93,
           replacement="us_esg", beta=0.99, sectors=(("technology", 0.15), ("energy", -0.08)),
           duration=0.8, idio=0.025, expected_return=0.074, price=61.80, volume=2_400_000),
    _asset("ZESG", "Alderbrook ESG Screened US Equity ETF", "us_equity", "diversified", 86,
           replacement="us_esg", beta=0.97, sectors=(("technology", 0.10), ("health_care", 0.08)),
           duration=0.7, idio=0.027, expected_return=0.073, price=38.25, volume=1_300_000),
    # International developed and emerging
    _asset("ZINT", "Alderbrook Developed Markets ex-US ETF", "intl_equity", "international", 64,
           replacement="intl_developed", beta=0.85, sectors=(("intl_developed", 1.0),),
           duration=0.3, idio=0.02, expected_return=0.055, price=71.60, volume=11_000_000),
    _asset("QDEV", "Quillon International Developed Index Fund", "intl_equity", "international",
           63, replacement="intl_developed", beta=0.86, sectors=(("intl_developed", 0.97),),
           duration=0.3, idio=0.022, expected_return=0.055, price=48.90, volume=4_800_000),
    _asset("ZEMK", "Alderbrook Emerging Markets ETF", "em_equity", "emerging_markets", 47,
           replacement="emerging_markets", beta=0.85, sectors=(("emerging_markets", 1.0),),
           idio=0.03, expected_return=0.06, price=42.75, volume=14_000_000),
    _asset("QEMG", "Quillon Emerging Markets Index Fund", "em_equity", "emerging_markets", 44,
           replacement="emerging_markets", beta=0.87, sectors=(("emerging_markets", 1.03),),
           idio=0.032, expected_return=0.06, price=27.40, volume=6_500_000),
    # Bonds: aggregate, treasuries short / intermediate / long, corporate, municipal
    _asset("ZAGB", "Alderbrook Aggregate Bond ETF", "bond", "aggregate", 68,
           replacement="us_aggregate_bond", beta=0.02, sectors=(("credit", 0.35),), duration=6.1,
           idio=0.004, expected_return=0.035, price=98.40, volume=7_500_000),
    _asset("QAGB", "Quillon Core Bond Index Fund", "bond", "aggregate", 67,
           replacement="us_aggregate_bond", beta=0.02, sectors=(("credit", 0.32),), duration=6.3,
           idio=0.0045, expected_return=0.035, price=46.10, volume=3_100_000),
    _asset("ZSTT", "Alderbrook Short-Term Treasury ETF", "bond", "government", 72,
           replacement="short_treasury", duration=1.9, idio=0.003, expected_return=0.03,
           price=58.70, volume=4_000_000),
    _asset("QSTB", "Quillon 1-3 Year Treasury Fund", "bond", "government", 72,
           replacement="short_treasury", duration=1.8, idio=0.0032, expected_return=0.03,
           price=82.05, volume=2_000_000),
    _asset("ZITT", "Alderbrook Intermediate Treasury ETF", "bond", "government", 72,
           replacement="intermediate_treasury", duration=5.2, idio=0.004, expected_return=0.032,
           price=60.15, volume=3_500_000),
    _asset("QITB", "Quillon 3-7 Year Treasury Fund", "bond", "government", 72,
           replacement="intermediate_treasury", duration=4.6, idio=0.0045, expected_return=0.032,
           price=117.30, volume=1_600_000),
    _asset("ZLTT", "Alderbrook Long-Term Treasury ETF", "bond", "government", 71,
           replacement="long_treasury", duration=17.0, idio=0.008, expected_return=0.035,
           price=94.80, volume=16_000_000),
    _asset("QLTB", "Quillon 20+ Year Treasury Fund", "bond", "government", 71,
           replacement="long_treasury", duration=16.2, idio=0.009, expected_return=0.035,
           price=71.25, volume=5_000_000),
    _asset("ZCRP", "Alderbrook Investment Grade Corporate Bond ETF", "bond", "corporate", 57,
           replacement="ig_corporate", beta=0.08, sectors=(("credit", 1.0),), duration=8.0,
           idio=0.006, expected_return=0.04, price=108.90, volume=9_000_000),
    _asset("QCRB", "Quillon Corporate Bond Index Fund", "bond", "corporate", 56,
           replacement="ig_corporate", beta=0.07, sectors=(("credit", 0.95),), duration=7.4,
           idio=0.0065, expected_return=0.04, price=52.35, volume=2_200_000),
    _asset("ZMUN", "Alderbrook National Municipal Bond ETF", "bond", "municipal", 74,
           replacement="municipal", sectors=(("municipal", 1.0), ("credit", 0.15)), duration=4.5,
           idio=0.004, expected_return=0.025, price=106.70, volume=3_600_000),
    _asset("QMNI", "Quillon Tax-Exempt Bond Fund", "bond", "municipal", 73,
           replacement="municipal", sectors=(("municipal", 0.95), ("credit", 0.2)), duration=4.2,
           idio=0.0045, expected_return=0.025, price=53.10, volume=1_100_000),
    # Inflation-protected
    _asset("ZTPS", "Alderbrook TIPS ETF", "tips", "inflation_linked", 72, replacement="tips",
           sectors=(("inflation", 1.0),), duration=5.0, idio=0.004, expected_return=0.03,
           price=107.60, volume=2_800_000),
    _asset("QIPB", "Quillon Inflation-Protected Bond Fund", "tips", "inflation_linked", 72,
           replacement="tips", sectors=(("inflation", 0.95),), duration=4.6, idio=0.0045,
           expected_return=0.03, price=51.20, volume=900_000),
    # Real estate, commodities, cash
    _asset("ZREI", "Alderbrook Real Estate Index ETF", "real_estate", "real_estate", 62,
           replacement="us_reit", beta=0.85, sectors=(("real_estate", 1.0),), duration=4.0,
           idio=0.03, expected_return=0.06, price=88.40, volume=4_300_000),
    _asset("QRES", "Quillon REIT Fund", "real_estate", "real_estate", 59, replacement="us_reit",
           beta=0.88, sectors=(("real_estate", 0.95),), duration=4.2, idio=0.033,
           expected_return=0.06, price=36.90, volume=1_500_000),
    _asset("ZCMD", "Alderbrook Broad Commodity ETF", "commodity", "commodities", 24,
           replacement="broad_commodity", tags=("fossil_fuels",), beta=0.3,
           sectors=(("commodities", 1.0), ("inflation", 1.5)), idio=0.02, expected_return=0.03,
           price=24.15, volume=3_000_000),
    _asset("QCMX", "Quillon Commodity Strategy Fund", "commodity", "commodities", 26,
           replacement="broad_commodity", tags=("fossil_fuels",), beta=0.32,
           sectors=(("commodities", 0.95), ("inflation", 1.4)), idio=0.025,
           expected_return=0.03, price=17.85, volume=1_200_000),
    _asset("ZCSH", "Alderbrook Treasury Money Market ETF", "cash", "cash", 78, replacement="",
           duration=0.15, idio=0.0049, expected_return=0.025, price=100.00, volume=2_500_000),
    # A sector fund: the replacement for the utility stock
    _asset("ZUTL", "Alderbrook Utilities Sector ETF", "us_equity", "utilities", 58,
           replacement="utilities", tags=("nuclear",), beta=0.45, sectors=(("utilities", 1.0),),
           duration=5.0, idio=0.02, expected_return=0.06, price=67.20, volume=10_000_000),
    # Single stocks
    _asset("NWSC", "Northwind Semiconductor Corp.", "us_equity", "technology", 66, stock=True,
           replacement="technology_stocks", beta=1.25, sectors=(("technology", 1.3),),
           duration=3.0, idio=0.25, expected_return=0.11, price=143.20, volume=18_000_000),
    _asset("LMNS", "Lumenstack Software Inc.", "us_equity", "technology", 79, stock=True,
           replacement="technology_stocks", beta=1.15, sectors=(("technology", 1.0),),
           duration=4.0, idio=0.22, expected_return=0.10, price=312.60, volume=6_500_000),
    _asset("CVLX", "Corvalix Therapeutics Inc.", "us_equity", "health_care", 71, stock=True,
           replacement="health_care_stocks", beta=0.8, sectors=(("health_care", 1.2),),
           duration=2.0, idio=0.28, expected_return=0.08, price=88.75, volume=4_200_000),
    _asset("MDRA", "Medora Health Systems Inc.", "us_equity", "health_care", 63, stock=True,
           replacement="health_care_stocks", beta=0.75, sectors=(("health_care", 0.9),),
           duration=1.0, idio=0.16, expected_return=0.07, price=156.30, volume=3_000_000),
    _asset("BKHL", "Brookhollow Bancorp", "us_equity", "financials", 52, stock=True,
           replacement="financials_stocks", beta=1.1, sectors=(("financials", 1.1),),
           duration=-3.0, idio=0.17, expected_return=0.08, price=54.20, volume=12_000_000),
    _asset("KSTR", "Kestrel Insurance Group", "us_equity", "financials", 60, stock=True,
           replacement="financials_stocks", beta=0.85, sectors=(("financials", 0.8),),
           duration=-1.5, idio=0.15, expected_return=0.07, price=118.90, volume=2_600_000),
    _asset("PTRX", "Petrorex Energy Corp.", "us_equity", "energy", 18, stock=True,
           tags=("fossil_fuels",), replacement="energy_stocks", beta=0.9,
           sectors=(("energy", 1.1),), duration=-1.0, idio=0.17, expected_return=0.06,
           price=96.40, volume=9_000_000),
    _asset("GFLD", "Gulfield Oil & Gas Co.", "us_equity", "energy", 11, stock=True,
           tags=("fossil_fuels",), replacement="energy_stocks", beta=1.0,
           sectors=(("energy", 1.3),), duration=-1.0, idio=0.22, expected_return=0.06,
           price=47.85, volume=7_400_000),
    _asset("HRTB", "Hartwell Tobacco Co.", "us_equity", "consumer_staples", 14, stock=True,
           tags=("tobacco",), replacement="consumer_staples_stocks", beta=0.55,
           sectors=(("consumer_staples", 1.0),), duration=3.0, idio=0.16, expected_return=0.05,
           price=61.30, volume=5_100_000, fractionable=False),
    _asset("BRNV", "Brennover Beverage Group", "us_equity", "consumer_staples", 49, stock=True,
           tags=("alcohol",), replacement="consumer_staples_stocks", beta=0.6,
           sectors=(("consumer_staples", 1.1),), duration=2.0, idio=0.15, expected_return=0.06,
           price=172.45, volume=2_300_000),
    _asset("SLVC", "Silverbay Casinos & Resorts Inc.", "us_equity", "consumer_discretionary", 27,
           stock=True, tags=("gambling",), replacement="consumer_discretionary_stocks",
           beta=1.35, sectors=(("consumer_discretionary", 1.3),), duration=2.0, idio=0.30,
           expected_return=0.08, price=73.60, volume=4_900_000, fractionable=False),
    _asset("OKRT", "Oakrest Outfitters Inc.", "us_equity", "consumer_discretionary", 68,
           stock=True, replacement="consumer_discretionary_stocks", beta=1.1,
           sectors=(("consumer_discretionary", 1.0),), duration=1.5, idio=0.22,
           expected_return=0.08, price=129.15, volume=3_700_000),
    _asset("AEGD", "Aegisdyne Defense Systems Corp.", "us_equity", "industrials", 24, stock=True,
           tags=("weapons",), replacement="industrials_stocks", beta=0.7,
           sectors=(("industrials", 0.9),), duration=1.0, idio=0.16, expected_return=0.07,
           price=248.70, volume=1_800_000),
    _asset("FRWM", "Ferrowind Machinery Inc.", "us_equity", "industrials", 57, stock=True,
           replacement="industrials_stocks", beta=1.1, sectors=(("industrials", 1.2),),
           duration=1.0, idio=0.18, expected_return=0.08, price=201.35, volume=2_900_000),
    _asset("VLTU", "Valta Grid Utilities Co.", "us_equity", "utilities", 70, stock=True,
           tags=("nuclear",), replacement="utilities", beta=0.45, sectors=(("utilities", 0.9),),
           duration=5.0, idio=0.14, expected_return=0.06, price=64.80, volume=4_000_000),
)  # fmt: skip


def assets_by_symbol(assets: Sequence[DemoAsset] = DEMO_UNIVERSE) -> dict[str, DemoAsset]:
    """Index ``assets`` by symbol, refusing duplicates."""
    index: dict[str, DemoAsset] = {}
    for asset in assets:
        if asset.symbol in index:
            raise InvalidInput(f"symbol {asset.symbol} appears twice", field="assets")
        index[asset.symbol] = asset
    return index


def replacement_candidates(
    asset: DemoAsset, assets: Sequence[DemoAsset] = DEMO_UNIVERSE
) -> tuple[DemoAsset, ...]:
    """Assets a harvest may buy after selling ``asset``: same replacement group, not identical."""
    if not asset.replacement_group:
        return ()
    return tuple(
        other
        for other in assets
        if other.replacement_group == asset.replacement_group
        and other.identity_key != asset.identity_key
    )


# --------------------------------------------------------------------------------------------
# Demo households


@dataclass(frozen=True)
class DemoPerson:
    """A household member; the loader creates a client login named ``username``."""

    username: str
    first_name: str
    last_name: str
    email: str
    is_primary: bool


@dataclass(frozen=True)
class DemoLotSpec:
    """A lot to create: bought about ``held_days`` trading days before the history's end.

    With ``at_loss`` the purchase date is moved, within a couple of months, to the highest
    close nearby (and if that is still below the end price, to the highest close that leaves
    more than a wash-sale window before the end), so that the lot ends under water.
    """

    symbol: str
    quantity: Decimal
    held_days: int
    at_loss: bool = False


@dataclass(frozen=True)
class DemoAccountSpec:
    key: str
    name: str
    account_type: str
    owner: str
    """Username of the member who owns the account."""
    cash: Decimal
    lots: tuple[DemoLotSpec, ...]


@dataclass(frozen=True)
class DemoHousehold:
    key: str
    name: str
    filing_status: str
    risk_tolerance: str
    horizon_years: int
    annual_income: Decimal
    state: str
    esg_floor: int | None
    exclusions: tuple[str, ...]
    members: tuple[DemoPerson, ...]
    accounts: tuple[DemoAccountSpec, ...] = field(default=())

    @property
    def primary(self) -> DemoPerson:
        return next(member for member in self.members if member.is_primary)


@dataclass(frozen=True)
class DemoLot:
    """A tax lot ready to store: cost per share is the simulated close on ``acquired_on``."""

    household: str
    account: str
    symbol: str
    quantity: Decimal
    acquired_on: date
    cost_per_share: Decimal

    @property
    def cost_basis(self) -> Decimal:
        return cash(self.quantity * self.cost_per_share)


def _lot(symbol: str, qty: str, held_days: int, *, at_loss: bool = False) -> DemoLotSpec:
    return DemoLotSpec(symbol=symbol, quantity=Decimal(qty), held_days=held_days, at_loss=at_loss)


DEMO_CLIENT_USERNAME = "demo-client"

DEMO_HOUSEHOLDS: tuple[DemoHousehold, ...] = (
    DemoHousehold(
        key="rivera",
        name="Rivera household",
        filing_status="married_filing_jointly",
        risk_tolerance="moderately_aggressive",
        horizon_years=20,
        annual_income=Decimal("285000"),
        state="CA",
        esg_floor=60,
        exclusions=("tobacco", "weapons"),
        members=(
            DemoPerson(DEMO_CLIENT_USERNAME, "Alex", "Rivera", "alex.rivera@example.com", True),
            DemoPerson("demo-client-sam", "Sam", "Rivera", "sam.rivera@example.com", False),
        ),
        accounts=(
            DemoAccountSpec(
                key="rivera-taxable",
                name="Rivera Joint Brokerage",
                account_type="taxable",
                owner=DEMO_CLIENT_USERNAME,
                cash=Decimal("12500.00"),
                lots=(
                    _lot("ZLCA", "40", 1300),
                    _lot("ZLCA", "25", 420, at_loss=True),
                    _lot("ZLCA", "15.5", 200),
                    _lot("ZINT", "150", 900),
                    _lot("ZINT", "80", 300, at_loss=True),
                    _lot("ZEMK", "200", 500, at_loss=True),
                    _lot("NWSC", "60", 700),
                    _lot("NWSC", "30", 250, at_loss=True),
                    _lot("LMNS", "20", 380, at_loss=True),
                    _lot("CVLX", "45", 600, at_loss=True),
                    _lot("PTRX", "50", 1100),
                    _lot("ZMUN", "120", 800),
                    _lot("QESG", "100", 150),
                ),
            ),
            DemoAccountSpec(
                key="rivera-ira",
                name="Alex Rivera Traditional IRA",
                account_type="traditional_ira",
                owner=DEMO_CLIENT_USERNAME,
                cash=Decimal("4200.00"),
                lots=(
                    _lot("ZAGB", "300", 1000),
                    _lot("ZCRP", "120", 700),
                    _lot("ZTPS", "80", 500),
                    _lot("ZREI", "90", 350, at_loss=True),
                    _lot("QFHN", "150", 1200),
                ),
            ),
            DemoAccountSpec(
                key="rivera-roth",
                name="Sam Rivera Roth IRA",
                account_type="roth_ira",
                owner="demo-client-sam",
                cash=Decimal("1800.00"),
                lots=(
                    _lot("ZTMK", "60", 900),
                    _lot("QEMG", "250", 450, at_loss=True),
                    _lot("OKRT", "25", 300),
                ),
            ),
        ),
    ),
    DemoHousehold(
        key="chen",
        name="Chen household",
        filing_status="single",
        risk_tolerance="conservative",
        horizon_years=8,
        annual_income=Decimal("145000"),
        state="NY",
        esg_floor=None,
        exclusions=(),
        members=(DemoPerson("demo-client-chen", "Mei", "Chen", "mei.chen@example.com", True),),
        accounts=(
            DemoAccountSpec(
                key="chen-taxable",
                name="Mei Chen Individual Brokerage",
                account_type="taxable",
                owner="demo-client-chen",
                cash=Decimal("25000.00"),
                lots=(
                    _lot("ZMUN", "300", 1000),
                    _lot("QMNI", "150", 400, at_loss=True),
                    _lot("ZSTT", "400", 700),
                    _lot("ZITT", "250", 500, at_loss=True),
                    _lot("ZLCA", "30", 1400),
                    _lot("QDEV", "120", 600, at_loss=True),
                    _lot("ZCSH", "150", 200),
                ),
            ),
            DemoAccountSpec(
                key="chen-ira",
                name="Mei Chen Traditional IRA",
                account_type="traditional_ira",
                owner="demo-client-chen",
                cash=Decimal("6000.00"),
                lots=(
                    _lot("ZAGB", "450", 1300),
                    _lot("ZLTT", "120", 400, at_loss=True),
                    _lot("ZTPS", "150", 900),
                    _lot("QCRB", "200", 350, at_loss=True),
                    _lot("MDRA", "20", 800),
                    _lot("KSTR", "30", 600),
                ),
            ),
        ),
    ),
    DemoHousehold(
        key="okafor",
        name="Okafor household",
        filing_status="married_filing_jointly",
        risk_tolerance="aggressive",
        horizon_years=25,
        annual_income=Decimal("410000"),
        state="TX",
        esg_floor=None,
        exclusions=("fossil_fuels",),
        members=(
            DemoPerson("demo-client-okafor", "Chidi", "Okafor", "chidi.okafor@example.com", True),
            DemoPerson("demo-client-ngozi", "Ngozi", "Okafor", "ngozi.okafor@example.com", False),
        ),
        accounts=(
            DemoAccountSpec(
                key="okafor-taxable",
                name="Okafor Joint Brokerage",
                account_type="taxable",
                owner="demo-client-okafor",
                cash=Decimal("18000.00"),
                lots=(
                    _lot("QFHN", "500", 1350),
                    _lot("QFHN", "200", 380, at_loss=True),
                    _lot("ZTMK", "120", 800),
                    _lot("QEMG", "600", 550, at_loss=True),
                    _lot("NWSC", "80", 1000),
                    _lot("BKHL", "150", 420, at_loss=True),
                    _lot("SLVC", "100", 320, at_loss=True),
                    _lot("OKRT", "60", 700),
                    _lot("FRWM", "40", 260, at_loss=True),
                    _lot("GFLD", "200", 1200),
                    _lot("ZREI", "150", 500),
                ),
            ),
            DemoAccountSpec(
                key="okafor-ira",
                name="Ngozi Okafor Traditional IRA",
                account_type="traditional_ira",
                owner="demo-client-ngozi",
                cash=Decimal("3500.00"),
                lots=(
                    _lot("ZINT", "300", 900),
                    _lot("ZEMK", "400", 250, at_loss=True),
                    _lot("LMNS", "35", 600),
                    _lot("CVLX", "60", 450),
                    _lot("ZCRP", "100", 700),
                    _lot("AEGD", "12", 800),
                ),
            ),
        ),
    ),
)

_LOSS_WINDOW = 60
"""Trading days either side of the target date searched for a high purchase price."""
_END_BUFFER = 35
"""A lot bought "at a loss" stays out of the last 35 trading days (outside a wash-sale window)."""


def demo_holdings(
    history: MarketHistory,
    households: Sequence[DemoHousehold] = DEMO_HOUSEHOLDS,
) -> tuple[DemoLot, ...]:
    """Turn the households' lot specifications into dated, priced lots from ``history``.

    A lot's purchase date is ``held_days`` trading days before the history's last day (the
    first day when the history is shorter); a lot marked ``at_loss`` is moved to the highest
    close nearby, as :class:`DemoLotSpec` describes. The cost per share is the simulated close
    on the purchase date, so lots bought high sit at a loss at the end of the history.

    Parameters
    ----------
    history
        A simulated history that contains every symbol the households hold.
    households
        The household specifications, :data:`DEMO_HOUSEHOLDS` by default.

    Returns
    -------
    tuple of DemoLot
        One lot per specification, in household, account and specification order.
    """
    closes = history.closes()
    days = list(closes.index)
    if not days:
        raise InvalidInput("the history has no bars", field="history")
    universe = assets_by_symbol(history.assets)
    lots: list[DemoLot] = []
    for household in households:
        usernames = {member.username for member in household.members}
        for account in household.accounts:
            if account.account_type not in ACCOUNT_TYPES:
                raise InvalidInput(
                    f"{account.key}: unknown account type {account.account_type!r}",
                    field="account_type",
                )
            if account.owner not in usernames:
                raise InvalidInput(f"{account.key}: owner {account.owner!r} is not a member")
            for spec in account.lots:
                asset = universe.get(spec.symbol)
                if asset is None or spec.symbol not in closes.columns:
                    raise InvalidInput(
                        f"{account.key}: {spec.symbol} is not in the simulated history",
                        field="symbol",
                    )
                if spec.quantity <= 0:
                    raise InvalidInput(f"{account.key}: {spec.symbol} quantity must be positive")
                if not asset.fractionable and spec.quantity != spec.quantity.to_integral_value():
                    raise InvalidInput(
                        f"{account.key}: {spec.symbol} is not fractionable, "
                        f"quantity {spec.quantity} is not whole"
                    )
                series = closes[spec.symbol].to_numpy(dtype=float)
                index = _purchase_index(series, held_days=spec.held_days, at_loss=spec.at_loss)
                lots.append(
                    DemoLot(
                        household=household.key,
                        account=account.key,
                        symbol=spec.symbol,
                        quantity=quantity(spec.quantity),
                        acquired_on=days[index],
                        cost_per_share=price(float(series[index]), name=spec.symbol),
                    )
                )
    return tuple(lots)


def _purchase_index(closes: np.ndarray, *, held_days: int, at_loss: bool) -> int:
    """Index into ``closes`` of a lot's purchase day (see :class:`DemoLotSpec`)."""
    last = len(closes) - 1
    target = min(max(last - held_days, 0), max(last - 1, 0))
    if not at_loss:
        return target
    latest = max(last - _END_BUFFER, 0)
    low = min(max(target - _LOSS_WINDOW, 0), latest)
    high = min(target + _LOSS_WINDOW, latest)
    index = low + int(np.argmax(closes[low : high + 1]))
    if closes[index] <= closes[last]:
        index = int(np.argmax(closes[: latest + 1]))
    return index


def validate_universe(assets: Sequence[DemoAsset] = DEMO_UNIVERSE) -> None:
    """Raise :class:`InvalidInput` unless every non-cash asset has a replacement partner."""
    index = assets_by_symbol(assets)
    lonely = [
        symbol
        for symbol, asset in index.items()
        if asset.asset_class != "cash" and not replacement_candidates(asset, assets)
    ]
    if lonely:
        raise InvalidInput(f"assets without a replacement partner: {', '.join(lonely)}")
