from datetime import date

import pytest

from portfolios.core.errors import InvalidInput
from portfolios.core.price_import import parse_price_csv

TODAY = date(2026, 1, 1)


def test_wide_layout_blank_cells_are_missing_not_zero():
    text = "date,AAA,BBB\n2024-01-02,10.5,\n2024-01-03,10.75,20\n"
    parsed = parse_price_csv(text, today=TODAY)
    assert parsed.ok and parsed.layout == "wide"
    assert parsed.missing_cells == 1
    assert [(b.symbol, b.date, str(b.close)) for b in parsed.bars] == [
        ("AAA", date(2024, 1, 2), "10.500000"),
        ("AAA", date(2024, 1, 3), "10.750000"),
        ("BBB", date(2024, 1, 3), "20.000000"),
    ]


def test_long_layout_with_ohlcv():
    text = "date,symbol,open,high,low,close,volume\n2024-01-02,aaa,10,11,9,10.5,1200\n"
    parsed = parse_price_csv(text, today=TODAY)
    assert parsed.ok and parsed.layout == "long"
    bar = parsed.bars[0]
    assert (bar.symbol, str(bar.high), str(bar.low), bar.volume) == (
        "AAA",
        "11.000000",
        "9.000000",
        1200,
    )


def test_every_bad_row_is_reported_with_its_line():
    text = (
        "date,symbol,open,high,low,close,volume\n"
        "2024-01-02,AAA,10,11,9,10.5,100\n"  # line 2: fine
        "2024-13-02,AAA,10,11,9,10.5,100\n"  # line 3: bad date
        "2024-01-03,AAA,10,11,9,-1,100\n"  # line 4: negative close
        "2024-01-04,AAA,10,9,11,10,100\n"  # line 5: low above high
        "2024-01-02,AAA,10,11,9,10.5,100\n"  # line 6: duplicate of line 2
        "2027-01-02,AAA,10,11,9,10.5,100\n"  # line 7: future
        "2024-01-05,AAA,10,11,9,abc,1.5\n"  # line 8: two problems
        "2024-01-06,AAA,10\n"  # line 9: short row
    )
    parsed = parse_price_csv(text, today=TODAY)
    lines = sorted({e.line for e in parsed.errors})
    assert lines == [3, 4, 5, 6, 7, 8, 9]
    messages = {e.line: e.message for e in parsed.errors}
    assert "not an ISO date" in messages[3]
    assert "close must be positive" in messages[4]
    assert "low 11 is above high 9" in messages[5]
    assert "already appears on line 2" in messages[6]
    assert "in the future" in messages[7]
    assert "expected 7 columns" in messages[9]
    assert len([e for e in parsed.errors if e.line == 8]) == 2


def test_wide_duplicate_dates_and_bad_cells():
    text = "date,AAA\n2024-01-02,1\n2024-01-02,2\n2024-01-03,zero\n2024-01-04,0\n"
    parsed = parse_price_csv(text, today=TODAY)
    assert [(e.line, e.message) for e in parsed.errors] == [
        (3, "date 2024-01-02 already appears on line 2"),
        (4, "AAA close 'zero' is not a number"),
        (5, "AAA close must be positive, got 0"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("day,AAA\n", "first column must be 'date'"),
        ("date,symbol\n", "close"),
    ],
)
def test_unusable_headers(text, message):
    with pytest.raises(InvalidInput, match=message):
        parse_price_csv(text, today=TODAY)


def test_shared_stock_prices_parse(shared_data):
    with (shared_data / "prices" / "stock_prices.csv").open() as handle:
        parsed = parse_price_csv(handle, today=TODAY)
    assert parsed.ok
    assert len(parsed.symbols) == 20
    assert parsed.missing_cells > 0  # FB, BABA, GOOG... did not trade in 1990
    assert all(bar.close > 0 for bar in parsed.bars)
