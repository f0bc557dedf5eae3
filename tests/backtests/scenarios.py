"""Small synthetic markets with known answers, for replays in tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import pandas as pd

from backtests.core.markets import business_days, constant_growth, fall_and_recover
from backtests.market import PRIMARY_DOLLAR_VOLUME, AssetSpec, MarketData

HISTORY_START = date(2014, 1, 1)


def market(
    closes: Mapping[str, pd.Series], specs: Mapping[str, AssetSpec], name: str
) -> MarketData:
    return MarketData(name=name, closes=pd.DataFrame(dict(closes)), assets=dict(specs))


def constant_growth_market(rate: float, *, end: date = date(2016, 12, 30)) -> MarketData:
    days = business_days(HISTORY_START, end)
    spec = AssetSpec(symbol="AAA", name="Steady grower", dollar_volume=PRIMARY_DOLLAR_VOLUME)
    return market({"AAA": constant_growth(days, rate=rate)}, {"AAA": spec}, "constant growth")


def fall_and_recover_market() -> tuple[MarketData, date]:
    """AAA falls 30% over 20 sessions from 2 March 2015 and recovers over 60; BBB (its
    replacement, not substantially identical) stays flat; CCC jumps 50% on 16 March 2015, so the
    next drift check must buy the AAA/BBB slot while AAA is blocked. Returns the market and the
    day CCC jumps."""
    days = business_days(HISTORY_START, date(2015, 8, 31))
    index = pd.DatetimeIndex(pd.to_datetime(days))
    fall_start = days.index(date(2015, 3, 2))
    aaa = fall_and_recover(days, fall_start=fall_start, fall_days=20, depth=0.3, recover_days=60)
    bbb = pd.Series(50.0, index=index)
    jump = date(2015, 3, 16)
    ccc = pd.Series([100.0 if d < jump else 150.0 for d in days], index=index)
    specs = {
        "AAA": AssetSpec(
            "AAA", "Alpha", replacement_group="g1", dollar_volume=PRIMARY_DOLLAR_VOLUME
        ),
        "BBB": AssetSpec("BBB", "Beta", replacement_group="g1"),
        "CCC": AssetSpec(
            "CCC", "Gamma", replacement_group="g2", dollar_volume=PRIMARY_DOLLAR_VOLUME
        ),
    }
    return market({"AAA": aaa, "BBB": bbb, "CCC": ccc}, specs, "fall and recover"), jump
