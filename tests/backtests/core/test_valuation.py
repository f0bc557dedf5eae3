"""Daily values from the ledger's entries and the closes."""

from datetime import date

import pandas as pd
import pytest

from backtests.core.valuation import LedgerEntry, account_values, weights_by_day

DAYS = [date(2021, 3, d) for d in (1, 2, 3, 4, 5)]
CLOSES = pd.DataFrame(
    {"A": [10.0, 11.0, None, 12.0, 12.5], "B": [20.0, 20.0, 21.0, 22.0, 20.0]},
    index=pd.to_datetime(DAYS),
)


def test_values_follow_the_holdings_and_cash():
    entries = [
        LedgerEntry(date(2021, 3, 1), None, 0.0, 1000.0),  # deposit
        LedgerEntry(date(2021, 3, 2), "A", 50.0, -551.0),  # buy at 11 plus a 1 fee
        LedgerEntry(date(2021, 3, 4), "B", 10.0, -220.0),
        LedgerEntry(date(2021, 3, 5), "A", -20.0, 249.0),  # sell at 12.5 less a 1 fee
    ]
    table = account_values(entries, CLOSES, DAYS)
    assert table["cash"].tolist() == pytest.approx([1000, 449, 449, 229, 478])
    # 3 March has no bar for A: the last close (11) values it, as the live valuation does.
    assert table["invested"].tolist() == pytest.approx(
        [0, 550, 550, 50 * 12 + 220, 30 * 12.5 + 200]
    )
    assert table["value"].tolist() == pytest.approx([1000, 999, 999, 1049, 1053])
    weights = weights_by_day(entries, CLOSES, DAYS)
    assert weights.sum(axis=1).to_numpy() == pytest.approx([1.0] * 5)
    assert weights.loc[pd.Timestamp("2021-03-05"), "A"] == pytest.approx(375 / 1053)
