"""A small price book and what the price selectors read from it, shared by the PostgreSQL tests
and the SQLite probe (the embedded mode and the backtests run on SQLite, the suite on PostgreSQL).

Not collected by pytest: the SQLite probe imports it in a child process with its own settings.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pandas as pd

from portfolios.models import Asset, PriceBar
from portfolios.selectors import latest_prices, price_frame

DAYS = [dt.date(2024, 3, d) for d in (1, 4, 5, 6, 7)]
#: Closes per symbol and day; None: no bar. ZZZ sorts last but is created first (lower id).
CLOSES: dict[str, list[str | None]] = {
    "ZZZ": ["50", "50.5", None, "51.25", "52"],
    "AAA": ["10.25", "11.25", "12.25", "13.25", None],
    "BBB": ["200.5", None, "201.408089", None, "203"],
    "NOB": [None, None, None, None, None],
    "LTE": [None, None, None, None, "7.5"],
}


def price_book() -> dict[str, int]:
    """Create the book; the id of each symbol."""
    ids = {}
    for symbol, closes in CLOSES.items():
        asset = Asset.objects.create(symbol=symbol, name=f"{symbol} Fund", asset_class="us_equity")
        ids[symbol] = asset.pk
        for day, close in zip(DAYS, closes, strict=True):
            if close is not None:
                price = Decimal(close)
                PriceBar.objects.create(
                    asset=asset, date=day, open=price, high=price, low=price, close=price
                )
    return ids


def _pivot_reference(asset_ids: list[int], start: dt.date, end: dt.date) -> pd.DataFrame:
    """The frame as the pivot of the ORM's rows (what price_frame promises)."""
    rows = [
        (bar.date, bar.asset.symbol, float(bar.close))
        for bar in PriceBar.objects.filter(
            asset_id__in=asset_ids, date__gte=start, date__lte=end
        ).select_related("asset")
    ]
    frame = pd.DataFrame.from_records(rows, columns=["date", "symbol", "close"])
    return frame.pivot(index="date", columns="symbol", values="close").sort_index()


def _frame(frame: pd.DataFrame) -> dict[str, Any]:
    return {
        "index": [day.isoformat() for day in frame.index],
        "index_name": frame.index.name,
        "columns": [str(c) for c in frame.columns],
        "columns_name": frame.columns.name,
        "dtypes": [str(d) for d in frame.dtypes],
        "values": [[None if v != v else v for v in row] for row in frame.to_numpy().tolist()],
        "blocks": len(frame._mgr.blocks),
        "rows_contiguous": bool(frame.to_numpy().flags["C_CONTIGUOUS"]),
    }


def _prices(found: dict[int, Any], ids: dict[str, int]) -> dict[str, Any]:
    symbol_of = {pk: symbol for symbol, pk in ids.items()}
    return {
        symbol_of[pk]: [last.symbol, str(last.close), last.date.isoformat()]
        for pk, last in sorted(found.items())
    }


def selector_results(ids: dict[str, int]) -> dict[str, Any]:
    """What the selectors return on the book, with the references to compare against."""
    some = [ids["ZZZ"], ids["AAA"], ids["BBB"]]
    frames = {
        "all": (list(ids.values()), DAYS[0], DAYS[-1]),
        "window": (some, DAYS[1], DAYS[3]),
        "one": ([ids["BBB"]], DAYS[1], DAYS[2]),
    }
    return {
        "latest": _prices(latest_prices(), ids),
        "latest_on": _prices(latest_prices(on=DAYS[2]), ids),
        "latest_some_on": _prices(
            latest_prices(asset_ids=[ids["BBB"], ids["NOB"]], on=DAYS[3]), ids
        ),
        "latest_before_any": _prices(latest_prices(on=DAYS[0] - dt.timedelta(days=1)), ids),
        "latest_none": _prices(latest_prices(asset_ids=[]), ids),
        "frames": {
            name: _frame(price_frame(asset_ids=asset_ids, start=start, end=end))
            for name, (asset_ids, start, end) in frames.items()
        },
        "references": {
            name: _frame(_pivot_reference(asset_ids, start, end))
            for name, (asset_ids, start, end) in frames.items()
        },
        "empty": price_frame(
            asset_ids=some, start=dt.date(2025, 1, 1), end=dt.date(2025, 2, 1)
        ).empty,
    }
