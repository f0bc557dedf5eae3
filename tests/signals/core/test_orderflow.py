from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from portfolios.core.errors import InvalidInput
from signals.core.orderflow import (
    book_depth_imbalance,
    book_microprice,
    depth_imbalance,
    depth_imbalance_signal,
    level_weights,
    microprice,
    microprice_signal,
    order_flow_events,
    order_flow_imbalance,
    order_flow_imbalance_signal,
)
from signals.core.types import SignalKind
from tests.signals.core.markets import START, order_book


def test_depth_imbalance_of_the_top_level():
    # (100 - 40) / (100 + 40) = 0.428571
    assert float(depth_imbalance([100.0], [40.0])) == pytest.approx(0.428571, abs=1e-6)


def test_weighted_multi_level_depth_imbalance():
    # (100 + 0.5 * 50 - 40 - 0.5 * 80) / (125 + 80) = 45 / 205
    value = depth_imbalance([100.0, 50.0], [40.0, 80.0], weights=[1.0, 0.5])
    assert float(value) == pytest.approx(45.0 / 205.0)
    # default weights fall off with depth
    weights = level_weights(3)
    assert weights[0] == 1.0
    assert weights[0] > weights[1] > weights[2] > 0
    many = depth_imbalance(np.array([[100.0, 0.0], [0.0, 10.0]]), np.array([[40.0, 0.0], [5, 0]]))
    assert many.shape == (2,)
    assert many[0] == pytest.approx(0.428571, abs=1e-6)


def test_depth_imbalance_refuses_an_empty_or_negative_book():
    with pytest.raises(InvalidInput, match="empty"):
        depth_imbalance([0.0], [0.0])
    with pytest.raises(InvalidInput, match="negative"):
        depth_imbalance([-1.0], [5.0])
    with pytest.raises(InvalidInput, match="one entry per level"):
        depth_imbalance([1.0, 2.0], [3.0, 4.0], weights=[1.0])


def test_microprice_by_hand():
    # (99 * 100 + 101 * 300) / (300 + 100) = 40200 / 400 = 100.5: heavy bids pull it toward the ask
    assert microprice(99.0, 300.0, 101.0, 100.0) == pytest.approx(100.5)
    assert microprice(99.0, 100.0, 101.0, 100.0) == pytest.approx(100.0)


def hand_book() -> pd.DataFrame:
    rows = [
        # bid price, bid size, ask price, ask size
        (100.00, 10.0, 100.10, 8.0),
        (100.00, 15.0, 100.10, 8.0),
        (100.05, 4.0, 100.10, 6.0),
        (100.05, 4.0, 100.15, 7.0),
        (100.00, 9.0, 100.05, 5.0),
    ]
    index = pd.date_range(START, periods=len(rows), freq="s")
    return pd.DataFrame(
        rows, index=index, columns=["bid_price_1", "bid_size_1", "ask_price_1", "ask_size_1"]
    )


def test_ofi_by_hand():
    # e_n = 1{Pb_n >= Pb_n-1} qb_n - 1{Pb_n <= Pb_n-1} qb_n-1
    #       - 1{Pa_n <= Pa_n-1} qa_n + 1{Pa_n >= Pa_n-1} qa_n-1
    # 1: bid unchanged 15 - 10 = +5; ask unchanged -8 + 8 = 0             -> e1 = +5
    # 2: bid up, only the new queue +4; ask unchanged -6 + 8 = +2           -> e2 = +6
    # 3: bid unchanged 4 - 4 = 0; ask up, the old queue was lifted: +6      -> e3 = +6
    # 4: bid down, the old queue was hit: -4; ask down, a new queue: -5     -> e4 = -9
    events = order_flow_events(hand_book())
    assert events["level_1"].tolist() == [0.0, 5.0, 6.0, 6.0, -9.0]
    whole = order_flow_imbalance(hand_book(), window=10)
    assert whole["ofi"].iloc[-1] == pytest.approx(8.0)
    last_three = order_flow_imbalance(hand_book(), window=3)
    assert last_three["ofi"].tolist() == pytest.approx([0.0, 5.0, 11.0, 17.0, 3.0])
    # mean depth (qb + qa) / 2 of the last 3 snapshots: (5 + 5.5 + 7) / 3; 3 / that = 0.514286
    assert last_three["depth"].iloc[-1] == pytest.approx(17.5 / 3)
    assert last_three["normalised_ofi"].iloc[-1] == pytest.approx(3 / (17.5 / 3))


def test_ofi_over_a_time_window():
    # "2s" at the last snapshot covers the updates at 3 s and 4 s: 6 - 9 = -3
    table = order_flow_imbalance(hand_book(), window="2s")
    assert table["ofi"].iloc[-1] == pytest.approx(-3.0)
    assert order_flow_imbalance(hand_book(), window=timedelta(seconds=2))["ofi"].iloc[
        -1
    ] == pytest.approx(-3.0)


def test_multi_level_ofi_combines_each_level():
    book = hand_book()
    # a second level 0.05 behind the first on each side
    book["bid_price_2"] = book["bid_price_1"] - 0.05
    book["bid_size_2"] = [20.0, 21.0, 22.0, 23.0, 24.0]
    book["ask_price_2"] = book["ask_price_1"] + 0.05
    book["ask_size_2"] = [30.0, 30.0, 30.0, 30.0, 30.0]
    events = order_flow_events(book, levels=2)
    # level 2, update 2: bid up (99.95 -> 100.00): +22; ask same: -30 + 30 = 0
    assert events["level_2"].iloc[2] == pytest.approx(22.0)
    # update 4: bid down (100.00 -> 99.95): -23; ask down (100.20 -> 100.10): -30
    assert events["level_2"].iloc[4] == pytest.approx(-53.0)
    table = order_flow_imbalance(book, window=10, levels=2, weights=[3.0, 1.0])
    expected = 0.75 * table["level_1"] + 0.25 * table["level_2"]
    np.testing.assert_allclose(table["ofi"], expected)


def test_book_series_and_signals():
    book = hand_book()
    imbalance = book_depth_imbalance(book)
    assert imbalance.iloc[0] == pytest.approx((10 - 8) / 18)
    micro = book_microprice(book)
    assert micro.iloc[0] == pytest.approx((100.00 * 8 + 100.10 * 10) / 18)

    as_of = book.index[3].to_pydatetime()
    signal = depth_imbalance_signal(book, asset="BTC", as_of=as_of)
    assert signal.kind is SignalKind.DEPTH_IMBALANCE
    assert signal.value == pytest.approx((4 - 7) / 11)
    assert signal.window_start == signal.window_end == as_of

    signal = microprice_signal(book, asset="BTC", as_of=as_of)
    mid = (100.05 + 100.15) / 2
    assert signal.value == pytest.approx((microprice(100.05, 4.0, 100.15, 7.0) - mid) / mid)
    assert signal.value < 0  # thin bids: the next move is more likely down
    assert signal.confidence == pytest.approx(3 / 11)

    signal = order_flow_imbalance_signal(book, asset="BTC", as_of=book.index[-1], window=3)
    assert signal.value == pytest.approx(3 / (17.5 / 3))
    assert signal.details["ofi"] == pytest.approx(3.0)
    assert signal.window_start == book.index[1]
    assert 0 < signal.confidence < 1


def test_book_checks():
    book = hand_book()
    crossed = book.copy()
    crossed.loc[crossed.index[2], "bid_price_1"] = 100.20
    with pytest.raises(InvalidInput, match="crossed"):
        book_depth_imbalance(crossed)
    negative = book.copy()
    negative.loc[negative.index[1], "ask_size_1"] = -1.0
    with pytest.raises(InvalidInput, match="negative"):
        order_flow_events(negative)
    with pytest.raises(InvalidInput, match="bid_price_1"):
        order_flow_events(book.drop(columns=["bid_price_1"]))
    with pytest.raises(InvalidInput, match="levels"):
        order_flow_events(book, levels=2)
    with pytest.raises(InvalidInput, match="window"):
        order_flow_imbalance(book, window=0)


def test_ofi_on_a_longer_book_equals_the_loop():
    book = order_book(400, seed=11, levels=1)
    previous = None
    expected = []
    for row in book.itertuples():
        if previous is None:
            expected.append(0.0)
        else:
            e = 0.0
            if row.bid_price_1 >= previous.bid_price_1:
                e += row.bid_size_1
            if row.bid_price_1 <= previous.bid_price_1:
                e -= previous.bid_size_1
            if row.ask_price_1 <= previous.ask_price_1:
                e -= row.ask_size_1
            if row.ask_price_1 >= previous.ask_price_1:
                e += previous.ask_size_1
            expected.append(e)
        previous = row
    np.testing.assert_allclose(order_flow_events(book)["level_1"], expected)
    table = order_flow_imbalance(book, window=50)
    np.testing.assert_allclose(
        table["ofi"], pd.Series(expected, index=book.index).rolling(50, min_periods=1).sum()
    )
