"""Read helpers over the ledger and the market."""

import datetime as dt
import math
from decimal import Decimal

from portfolios.selectors import price_frame
from tests.factories import AssetFactory, PriceBarFactory
from tests.portfolios.sqlite_probe import run_on_sqlite


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


# --- the same book on both backends: PostgreSQL here, SQLite (embedded mode, backtests) in a child

EXPECTED_LATEST = {
    "latest": {
        "ZZZ": ("52", "2024-03-07"),
        "AAA": ("13.25", "2024-03-06"),
        "BBB": ("203", "2024-03-07"),
        "LTE": ("7.5", "2024-03-07"),
    },
    "latest_on": {
        "ZZZ": ("50.5", "2024-03-04"),
        "AAA": ("12.25", "2024-03-05"),
        "BBB": ("201.408089", "2024-03-05"),
    },
    "latest_some_on": {"BBB": ("201.408089", "2024-03-05")},
    "latest_before_any": {},
    "latest_none": {},
}


def _check_selector_results(results):
    for case, expected in EXPECTED_LATEST.items():
        found = results[case]
        assert {s: (Decimal(close), day) for s, (_, close, day) in found.items()} == {
            s: (Decimal(close), day) for s, (close, day) in expected.items()
        }, case
        assert all(symbol == s for s, (symbol, _, _) in found.items())
    for name, frame in results["frames"].items():
        assert frame == results["references"][name], name
    assert results["frames"]["all"]["columns"] == ["AAA", "BBB", "LTE", "ZZZ"]
    assert results["frames"]["one"]["values"] == [[201.408089]]
    assert results["frames"]["window"]["values"] == [
        [11.25, None, 50.5],
        [12.25, 201.408089, None],
        [13.25, None, 51.25],
    ]
    assert results["empty"]


def test_price_selectors_on_postgresql(db):
    from tests.portfolios.selector_cases import price_book, selector_results

    _check_selector_results(selector_results(price_book()))


def test_price_selectors_on_sqlite():
    _check_selector_results(
        run_on_sqlite(
            "tests.portfolios.selector_cases",
            "price_book, selector_results",
            "selector_results(price_book())",
        )
    )
