from datetime import timedelta

import pandas as pd
import pytest

from portfolios.core.errors import InvalidInput
from signals.core.crossvenue import best_venue_gap, cross_venue_signal
from signals.core.types import SignalKind
from tests.signals.core.markets import START


def quotes(fee_bps: float = 10.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "venue": ["alpha", "beta", "gamma"],
            "bid": [99.90, 101.00, 100.20],
            "ask": [100.00, 101.10, 100.30],
            "taker_fee_bps": [fee_bps, fee_bps, fee_bps],
        }
    )


def test_profitable_gap_net_of_fees_and_transfer():
    # buy alpha at 100.00 (+0.100 fee), sell beta at 101.00 (-0.101 fee), transfer 5 / 100 units:
    # 1.00 - 0.201 - 0.05 = 0.749 per unit, 74.9 in all, 0.749 / 100.1 of the cash spent.
    gap = best_venue_gap(quotes(), transfer_cost=5.0, quantity=100.0)
    assert gap is not None
    assert (gap.buy_venue, gap.sell_venue) == ("alpha", "beta")
    assert gap.gross_per_unit == pytest.approx(1.0)
    assert gap.fees_per_unit == pytest.approx(0.201)
    assert gap.transfer_per_unit == pytest.approx(0.05)
    assert gap.net_per_unit == pytest.approx(0.749)
    assert gap.net_profit == pytest.approx(74.9)
    assert gap.net_return == pytest.approx(0.749 / 100.1)


def test_gap_eaten_by_fees_or_transfer_is_no_signal():
    # 50 bps a side: 0.500 + 0.505 = 1.005 of fees on a 1.00 gap
    assert best_venue_gap(quotes(fee_bps=50.0), transfer_cost=0.0, quantity=100.0) is None
    # transfer 200 over 100 units: 2.00 per unit on a 1.00 gap
    assert best_venue_gap(quotes(), transfer_cost=200.0, quantity=100.0) is None
    # one venue: nothing to arbitrage
    assert best_venue_gap(quotes().iloc[:1], transfer_cost=0.0, quantity=1.0) is None


def test_displayed_sizes_limit_the_trade_and_can_change_the_best_route():
    book = quotes()
    book["ask_size"] = [1.0, 50.0, 80.0]
    book["bid_size"] = [50.0, 80.0, 50.0]
    # alpha -> beta: 1 unit at 0.749 - 4.95 transfer share: loses.
    # gamma -> beta: 80 units at 101.00 - 100.30 - 0.2013 - 5/80 = 0.4362 per unit: 34.9 in all.
    gap = best_venue_gap(book, transfer_cost=5.0, quantity=100.0)
    assert gap is not None
    assert (gap.buy_venue, gap.sell_venue, gap.quantity) == ("gamma", "beta", 80.0)
    assert gap.net_per_unit == pytest.approx(0.70 - (0.1003 + 0.101) - 5.0 / 80.0)


def test_quote_checks():
    bad = quotes()
    bad.loc[1, "bid"] = 102.0
    with pytest.raises(InvalidInput, match="crossed"):
        best_venue_gap(bad, transfer_cost=0.0, quantity=1.0)
    with pytest.raises(InvalidInput, match="quantity"):
        best_venue_gap(quotes(), transfer_cost=0.0, quantity=0.0)
    with pytest.raises(InvalidInput, match="more than once"):
        best_venue_gap(pd.concat([quotes(), quotes()]), transfer_cost=0.0, quantity=1.0)
    with pytest.raises(InvalidInput, match="taker_fee_bps"):
        best_venue_gap(quotes().drop(columns="taker_fee_bps"), transfer_cost=0.0, quantity=1.0)


def quote_updates() -> pd.DataFrame:
    stamps = [START + timedelta(seconds=s) for s in (0, 0, 5, 9, 12)]
    return pd.DataFrame(
        {
            "venue": ["alpha", "beta", "alpha", "beta", "beta"],
            "bid": [99.90, 100.00, 99.90, 101.00, 100.00],
            "ask": [100.00, 100.10, 100.00, 101.10, 100.10],
            "taker_fee_bps": [10.0] * 5,
        },
        index=pd.DatetimeIndex(stamps),
    )


def test_signal_uses_the_latest_quote_per_venue_at_as_of():
    updates = quote_updates()
    as_of = START + timedelta(seconds=10)
    signal = cross_venue_signal(updates, asset="BTC", as_of=as_of, transfer_cost=5.0, quantity=100)
    assert signal is not None
    assert signal.kind is SignalKind.CROSS_VENUE_GAP
    assert signal.value == pytest.approx(0.749 / 100.1)
    assert signal.confidence == pytest.approx(0.749)
    assert signal.details["buy_venue"] == "alpha"
    assert signal.window_start == START + timedelta(seconds=5)
    assert signal.window_end == START + timedelta(seconds=9)
    # before beta's quote moved, and after it moved back, there is nothing
    early = START + timedelta(seconds=6)
    assert (
        cross_venue_signal(updates, asset="BTC", as_of=early, transfer_cost=5, quantity=100) is None
    )
    late = START + timedelta(seconds=12)
    assert (
        cross_venue_signal(updates, asset="BTC", as_of=late, transfer_cost=5, quantity=100) is None
    )


def test_stale_quotes_are_ignored():
    updates = quote_updates()
    as_of = START + timedelta(seconds=10)
    signal = cross_venue_signal(
        updates,
        asset="BTC",
        as_of=as_of,
        transfer_cost=5.0,
        quantity=100,
        max_quote_age=timedelta(seconds=2),
    )
    assert signal is None  # alpha's quote is 5 s old
