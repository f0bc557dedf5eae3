"""Read helpers over the ledger and the market."""

import datetime as dt
import math
from decimal import Decimal

from portfolios.selectors import price_frame
from tests.factories import AssetFactory, PriceBarFactory


def test_price_frame_is_a_float_frame_by_date_and_symbol_within_the_dates(db):
    a, b, other = AssetFactory(symbol="AAA"), AssetFactory(symbol="BBB"), AssetFactory()
    days = [dt.date(2024, 3, d) for d in (1, 4, 5, 6)]
    for i, day in enumerate(days):
        PriceBarFactory(asset=a, date=day, close=Decimal("10.25") + i)
        if day != days[1]:  # B has no bar on the 4th
            PriceBarFactory(asset=b, date=day, close=Decimal("200.5"))
        PriceBarFactory(asset=other, date=day)
    frame = price_frame(asset_ids=[a.pk, b.pk], start=days[1], end=days[3])
    assert list(frame.columns) == ["AAA", "BBB"]
    assert list(frame.index) == days[1:]
    assert all(isinstance(day, dt.date) for day in frame.index)
    assert frame.dtypes.tolist() == ["float64", "float64"]
    assert frame.loc[days[1], "AAA"] == 11.25 and math.isnan(frame.loc[days[1], "BBB"])
    assert frame.loc[days[3], "BBB"] == 200.5
    assert price_frame(asset_ids=[a.pk], start=dt.date(2025, 1, 1), end=dt.date(2025, 2, 1)).empty
