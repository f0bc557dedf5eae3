import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portfolios.core.errors import InvalidInput
from signals.core.types import Signal, SignalKind
from signals.core.views import HitRate, build_views, forward_returns, hit_rate

NOW = datetime(2024, 6, 3, 21, 0, tzinfo=UTC)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
UNIVERSE = ["CVX", "MSFT", "XOM"]
CAP = 0.02


def signal(asset, kind, value, confidence=1.0, as_of=NOW, **details):
    return Signal(
        asset=asset,
        kind=kind,
        value=value,
        confidence=confidence,
        as_of=as_of,
        window_start=as_of - 30 * DAY,
        window_end=as_of,
        details=details,
    )


def pair(asset, other, value, hedge_ratio=1.0, confidence=1.0, as_of=NOW):
    return signal(
        asset,
        SignalKind.PAIR_SPREAD,
        value,
        confidence,
        as_of,
        pair_asset=other,
        hedge_ratio=hedge_ratio,
    )


RATES = {kind: 0.75 for kind in SignalKind}  # every kind right 3 times in 4: confidence 0.5


# hit rates ---------------------------------------------------------------------------------


def daily_prices() -> pd.DataFrame:
    index = pd.date_range("2024-01-01 21:00", periods=10, freq="D", tz="UTC")
    return pd.DataFrame(
        {
            "XOM": [100, 101, 102, 101, 100, 99, 100, 101, 102, 103],
            "CVX": [50, 50, 50, 50, 50, 50, 50, 50, 50, 50],
        },
        index=index,
        dtype=float,
    )


def test_hit_rate_counts_signs_that_matched_the_next_move():
    prices = daily_prices()
    day = prices.index.to_pydatetime()
    history = [
        signal("XOM", SignalKind.RSI, 1.0, as_of=day[0]),  # 100 -> 101: right
        signal("XOM", SignalKind.RSI, -1.0, as_of=day[1]),  # 101 -> 102: wrong
        signal("XOM", SignalKind.RSI, -1.0, as_of=day[2]),  # 102 -> 101: right
        signal("XOM", SignalKind.RSI, 1.0, as_of=day[8]),  # outcome at day 9: after as_of
        signal("CVX", SignalKind.RSI, 1.0, as_of=day[0]),  # flat: neither right nor wrong
        signal("XOM", SignalKind.MACD, 1.0, as_of=day[4]),  # 100 -> 99: wrong
        signal("XOM", SignalKind.MACD, 1.0, confidence=0.0, as_of=day[5]),  # claims nothing
        signal("XOM", SignalKind.ATR, 2.0, as_of=day[0]),  # no direction
        signal("XOM", SignalKind.RSI, 1.0, as_of=day[9]),  # after as_of
    ]
    rates = hit_rate(history, prices, as_of=day[8], horizon=DAY, prior_strength=0.0)
    assert set(rates) == {SignalKind.RSI, SignalKind.MACD}
    assert (rates[SignalKind.RSI].hits, rates[SignalKind.RSI].trials) == (2, 3)
    assert (rates[SignalKind.MACD].hits, rates[SignalKind.MACD].trials) == (0, 1)
    # a longer horizon: day 0 -> day 2 (+2: right), day 1 -> day 3 (0: neither), day 2 -> 4 (right)
    rates = hit_rate(history, prices, as_of=day[8], horizon=2 * DAY, prior_strength=0.0)
    assert (rates[SignalKind.RSI].hits, rates[SignalKind.RSI].trials) == (2, 2)


def test_hit_rate_ignores_prices_after_as_of():
    prices = daily_prices()
    day = prices.index.to_pydatetime()
    history = [signal("XOM", SignalKind.RSI, 1.0, as_of=day[2])]
    later = prices.copy()
    later.iloc[4:] = 1000.0
    for table in (prices, later):
        rate = hit_rate(history, table, as_of=day[3], horizon=DAY, prior_strength=0.0)
        assert (rate[SignalKind.RSI].hits, rate[SignalKind.RSI].trials) == (0, 1)


def test_pair_outcome_is_the_spread_return():
    prices = daily_prices()
    day = prices.index.to_pydatetime()
    history = [pair("XOM", "CVX", 1.0, hedge_ratio=2.0, as_of=day[0])]
    expected = math.log(101 / 100) - 2.0 * math.log(50 / 50)
    returns = forward_returns(history, prices, as_of=day[5], horizon=DAY)
    assert returns[0] == pytest.approx(expected)


def test_shrinkage_toward_a_coin_flip():
    few = HitRate(SignalKind.RSI, hits=3, trials=3, prior_strength=20)
    many = HitRate(SignalKind.RSI, hits=300, trials=300, prior_strength=20)
    assert few.raw == 1.0
    assert few.shrunk == pytest.approx(13 / 23)
    assert many.shrunk == pytest.approx(310 / 320)
    assert HitRate(SignalKind.RSI, hits=0, trials=0).shrunk == 0.5
    assert HitRate(SignalKind.RSI, hits=0, trials=0).view_confidence == 0.0
    assert HitRate(SignalKind.RSI, hits=2, trials=10, prior_strength=0).view_confidence == 0.0


# views -------------------------------------------------------------------------------------


def test_empty_signal_set_gives_empty_views():
    views = build_views(
        [], universe=UNIVERSE, hit_rates=RATES, max_tilt_per_asset=CAP, horizon=WEEK, as_of=NOW
    )
    assert views.P.shape == (0, 3)
    assert views.Q.shape == (0,)
    assert views.confidences.shape == (0,)
    assert len(views) == 0


def test_one_signal_gives_one_absolute_view():
    views = build_views(
        [signal("XOM", SignalKind.SENTIMENT_DIVERGENCE, 3.2, confidence=0.8)],
        universe=UNIVERSE,
        hit_rates=RATES,
        max_tilt_per_asset=CAP,
        horizon=WEEK,
        as_of=NOW,
    )
    np.testing.assert_array_equal(views.P, [[0.0, 0.0, 1.0]])
    np.testing.assert_allclose(views.Q, [CAP])
    # 2 * (0.75 - 0.5) * 0.8
    np.testing.assert_allclose(views.confidences, [0.4])
    view = views.views[0]
    assert view.form == "absolute"
    assert view.explanation == "positive news sentiment divergence on XOM tilted +2.0%"
    assert view.contributions[0].value == 3.2
    with pytest.raises(ValueError, match="read-only"):
        views.P[0, 0] = 1.0


def test_a_negative_tilt_reads_with_a_minus_sign():
    views = build_views(
        [signal("XOM", SignalKind.SENTIMENT_DIVERGENCE, -3.2, confidence=0.8)],
        universe=UNIVERSE,
        hit_rates=RATES,
        max_tilt_per_asset=CAP,
        horizon=WEEK,
        as_of=NOW,
    )
    np.testing.assert_allclose(views.Q, [-CAP])
    assert views.views[0].explanation == (
        "negative news sentiment divergence on XOM tilted \u22122.0%"
    )


def test_signals_on_one_asset_combine_weighted_by_confidence():
    rates = {SignalKind.RSI: 0.75, SignalKind.MACD: 0.6, SignalKind.MEAN_REVERSION: 0.4}
    views = build_views(
        [
            signal("MSFT", SignalKind.RSI, 0.5, confidence=1.0),  # weight 0.5
            signal("MSFT", SignalKind.MACD, -0.01, confidence=0.5),  # weight 0.2 * 0.5 = 0.1
            signal("MSFT", SignalKind.MEAN_REVERSION, -2.0),  # hit rate below 0.5: weight 0
        ],
        universe=UNIVERSE,
        hit_rates=rates,
        max_tilt_per_asset=CAP,
        horizon=WEEK,
        as_of=NOW,
    )
    assert views.P.shape == (1, 3)
    # tilt = cap * (0.5 - 0.1) / 0.6; confidence = (0.25 + 0.01) / 0.6
    assert views.Q[0] == pytest.approx(CAP * 0.4 / 0.6)
    assert views.confidences[0] == pytest.approx(0.26 / 0.6)
    assert len(views.views[0].contributions) == 2
    assert views.views[0].explanation.startswith("positive RSI and negative MACD on MSFT")


def test_pair_signals_become_relative_views_long_the_cheap_leg():
    views = build_views(
        [pair("XOM", "CVX", -2.5, hedge_ratio=0.8)],  # XOM rich against CVX
        universe=UNIVERSE,
        hit_rates=RATES,
        max_tilt_per_asset=CAP,
        horizon=WEEK,
        as_of=NOW,
    )
    view = views.views[0]
    assert view.form == "relative"
    # the spread is XOM - 0.8 CVX; seen from CVX it is CVX - 1.25 XOM, which is cheap: long it
    assert view.assets == ("CVX", "XOM")
    assert view.weights == pytest.approx((1.0, -1.25))
    np.testing.assert_allclose(views.P, [[1.0, 0.0, -1.25]])
    # XOM carries 1.25 * tilt <= cap
    assert views.Q[0] == pytest.approx(CAP / 1.25)
    assert "long CVX, short XOM" in view.explanation


def test_one_pair_seen_both_ways_is_one_view():
    views = build_views(
        [pair("XOM", "CVX", -1.0, hedge_ratio=2.0), pair("CVX", "XOM", 1.0, hedge_ratio=0.5)],
        universe=UNIVERSE,
        hit_rates=RATES,
        max_tilt_per_asset=CAP,
        horizon=WEEK,
        as_of=NOW,
    )
    assert views.P.shape == (1, 3)
    np.testing.assert_allclose(views.P, [[1.0, 0.0, -0.5]])


def test_a_pair_whose_hedge_ratios_cancel_gives_no_view():
    views = build_views(
        [pair("CVX", "XOM", 1.0, hedge_ratio=1.5), pair("CVX", "XOM", 1.0, hedge_ratio=-1.5)],
        universe=UNIVERSE,
        hit_rates=RATES,
        max_tilt_per_asset=CAP,
        horizon=WEEK,
        as_of=NOW,
    )
    assert views.P.shape == (0, 3)
    assert views.views == ()


def test_tilts_on_an_asset_are_capped_across_views():
    views = build_views(
        [
            signal("XOM", SignalKind.RSI, 1.0),
            signal("CVX", SignalKind.RSI, -1.0),
            pair("XOM", "CVX", 2.0, hedge_ratio=1.0),
        ],
        universe=UNIVERSE,
        hit_rates=RATES,
        max_tilt_per_asset=CAP,
        horizon=WEEK,
        as_of=NOW,
    )
    assert views.P.shape == (3, 3)
    assert (views.asset_tilt_exposure <= CAP + 1e-15).all()
    assert views.asset_tilt_exposure.max() == pytest.approx(CAP)
    assert views.asset_tilts[views.universe.index("XOM")] > 0


def test_stale_future_foreign_and_undirected_signals_are_left_out():
    views = build_views(
        [
            signal("XOM", SignalKind.RSI, 1.0, as_of=NOW - 8 * DAY),  # expired
            signal("XOM", SignalKind.RSI, 1.0, as_of=NOW + DAY),  # not yet known
            signal("TSLA", SignalKind.RSI, 1.0),  # outside the universe
            signal("XOM", SignalKind.ATR, 3.0),  # no direction
            signal("XOM", SignalKind.CROSS_VENUE_GAP, 0.01),
            signal("XOM", SignalKind.RSI, 0.0),  # no direction
            pair("XOM", "TSLA", 2.0),
            signal("MSFT", SignalKind.MACD, 1.0),  # no hit rate: a coin flip
        ],
        universe=UNIVERSE,
        hit_rates={SignalKind.RSI: 0.8},
        max_tilt_per_asset=CAP,
        horizon=WEEK,
        as_of=NOW,
    )
    assert views.P.shape == (0, 3)


def test_conflicting_signals_cancel_out():
    views = build_views(
        [signal("XOM", SignalKind.RSI, 1.0), signal("XOM", SignalKind.MACD, -1.0)],
        universe=UNIVERSE,
        hit_rates=RATES,
        max_tilt_per_asset=CAP,
        horizon=WEEK,
        as_of=NOW,
    )
    assert len(views) == 0


def test_q_adds_the_tilt_to_equilibrium():
    prior = {"CVX": 0.05, "MSFT": 0.07, "XOM": 0.06}
    views = build_views(
        [signal("XOM", SignalKind.RSI, -1.0), pair("XOM", "CVX", 1.0, hedge_ratio=1.0)],
        universe=UNIVERSE,
        hit_rates=RATES,
        max_tilt_per_asset=CAP,
        horizon=WEEK,
        as_of=NOW,
        equilibrium_returns=prior,
    )
    pi = np.array([prior[a] for a in UNIVERSE])
    np.testing.assert_allclose(views.Q, views.P @ pi + views.tilts)
    with pytest.raises(InvalidInput, match="MSFT"):
        build_views(
            [],
            universe=UNIVERSE,
            hit_rates=RATES,
            max_tilt_per_asset=CAP,
            horizon=WEEK,
            as_of=NOW,
            equilibrium_returns={"XOM": 0.1, "CVX": 0.1},
        )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"universe": []}, "universe is empty"),
        ({"universe": ["XOM", "XOM"]}, "distinct"),
        ({"max_tilt_per_asset": 0.0}, "max_tilt_per_asset"),
        ({"horizon": timedelta(0)}, "horizon"),
        ({"hit_rates": {SignalKind.RSI: 1.5}}, "hit rate"),
        ({"as_of": datetime(2024, 6, 3)}, "timezone-aware"),  # noqa: DTZ001
    ],
)
def test_bad_arguments_are_named(overrides, message):
    arguments: dict[str, Any] = {
        "universe": UNIVERSE,
        "hit_rates": RATES,
        "max_tilt_per_asset": CAP,
        "horizon": WEEK,
        "as_of": NOW,
    }
    arguments.update(overrides)
    with pytest.raises(InvalidInput, match=message):
        build_views([signal("XOM", SignalKind.RSI, 1.0)], **arguments)


def test_pair_signal_without_hedge_ratio_is_refused():
    bad = signal("XOM", SignalKind.PAIR_SPREAD, 1.0, pair_asset="CVX")
    with pytest.raises(InvalidInput, match="hedge_ratio"):
        build_views(
            [bad],
            universe=UNIVERSE,
            hit_rates=RATES,
            max_tilt_per_asset=CAP,
            horizon=WEEK,
            as_of=NOW,
        )


# property: whatever the signals, no asset is tilted beyond the cap ----------------------------

SYMBOLS = ["A", "B", "C", "D"]
DIRECTIONAL = [kind for kind in SignalKind if kind.directional and not kind.relative]

absolute_signals = st.builds(
    lambda asset, kind, value, confidence, age: signal(
        asset, kind, value, confidence, as_of=NOW - timedelta(hours=age)
    ),
    st.sampled_from(SYMBOLS),
    st.sampled_from(DIRECTIONAL),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.floats(0.0, 1.0),
    st.integers(0, 24 * 10),
)
pair_signals = st.builds(
    lambda legs, value, ratio, sign, confidence: pair(
        legs[0], legs[1], value, hedge_ratio=sign * ratio, confidence=confidence
    ),
    st.permutations(SYMBOLS).map(lambda legs: legs[:2]),
    st.floats(-10.0, 10.0, allow_nan=False),
    st.floats(0.01, 100.0),
    st.sampled_from([-1.0, 1.0]),
    st.floats(0.0, 1.0),
)


@settings(max_examples=150, deadline=None)
@given(
    signals=st.lists(st.one_of(absolute_signals, pair_signals), max_size=25),
    rates=st.dictionaries(st.sampled_from(list(SignalKind)), st.floats(0.0, 1.0)),
    cap=st.floats(1e-4, 0.5),
)
def test_no_asset_is_ever_tilted_beyond_the_cap(signals, rates, cap):
    views = build_views(
        signals, universe=SYMBOLS, hit_rates=rates, max_tilt_per_asset=cap, horizon=WEEK, as_of=NOW
    )
    k = len(views)
    assert views.P.shape == (k, len(SYMBOLS))
    assert views.Q.shape == views.confidences.shape == views.tilts.shape == (k,)
    assert np.all((views.confidences >= 0) & (views.confidences <= 1))
    assert np.all(views.asset_tilt_exposure <= cap * (1 + 1e-9))
    assert np.all(np.abs(views.asset_tilts) <= cap * (1 + 1e-9))
    assert np.all(np.abs(views.Q) <= cap * np.abs(views.P).max(axis=1, initial=0) + 1e-12)
    for view, row in zip(views.views, views.P, strict=True):
        assert view.contributions
        assert np.count_nonzero(row) == (1 if view.form == "absolute" else 2)
