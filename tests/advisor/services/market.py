"""A small seeded market in the database for service tests: eight ETFs in six slots."""

import datetime as dt
from decimal import Decimal

import numpy as np

from portfolios.models import Asset, AssetClass, PriceBar

AS_OF = dt.date(2025, 6, 30)
NOW = dt.datetime(2025, 7, 1, 15, 0, tzinfo=dt.UTC)  # a Tuesday, 11:00 in New York

SPECS = [
    # symbol, class, sector, esg, tags, replacement group, annual vol, identity group
    ("USA1", AssetClass.US_EQUITY, "Broad market", 70, [], "us-large", 0.16, "sp500"),
    ("USA2", AssetClass.US_EQUITY, "Broad market", 72, [], "us-large", 0.16, "sp500"),
    ("INTL", AssetClass.INTL_EQUITY, "Broad market", 75, [], "intl", 0.17, ""),
    ("OILX", AssetClass.US_EQUITY, "Energy", 20, ["fossil_fuels"], "energy", 0.28, ""),
    ("BOND", AssetClass.BOND, "Government", 80, [], "bonds", 0.05, ""),
    ("BND2", AssetClass.BOND, "Government", 78, [], "bonds", 0.05, ""),
    ("TIPS", AssetClass.TIPS, "Government", 82, [], "tips", 0.06, ""),
    ("CASH", AssetClass.CASH, "Cash", 90, [], "cash", 0.005, ""),
]


def build_market(
    *, days: int = 420, end: dt.date = dt.date(2025, 6, 30), seed: int = 3
) -> list[Asset]:
    rng = np.random.default_rng(seed)
    assets = [
        Asset.objects.create(
            symbol=s,
            name=f"{s} Fund",
            asset_class=c,
            sector=sec,
            esg_score=e,
            exclusion_tags=t,
            replacement_group=g,
            identity_group=i,
        )
        for s, c, sec, e, t, g, _, i in SPECS
    ]
    market = rng.standard_normal(days)
    dates = [end - dt.timedelta(days=days - 1 - k) for k in range(days)]
    rows = []
    for asset, (_, cls, _, _, _, _, vol, _) in zip(assets, SPECS, strict=True):
        beta = 1.0 if cls in (AssetClass.US_EQUITY, AssetClass.INTL_EQUITY) else -0.1
        daily = vol / np.sqrt(252)
        returns = daily * (0.6 * beta * market + 0.8 * rng.standard_normal(days)) + 0.0002
        prices = 100 * np.exp(np.cumsum(returns))
        volume = (
            2_000_000 if asset.symbol.endswith("1") or asset.symbol in ("BOND", "INTL") else 500_000
        )
        for day, price in zip(dates, prices, strict=True):
            px = Decimal(f"{price:.4f}")
            rows.append(
                PriceBar(asset=asset, date=day, open=px, high=px, low=px, close=px, volume=volume)
            )
    PriceBar.objects.bulk_create(rows, batch_size=5000)
    return assets
