import copy
import dataclasses
import pickle
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from portfolios.core.errors import InvalidInput
from signals.core.timeseries import require_series, up_to
from signals.core.types import Signal, SignalKind, VolatilityRegime

NOW = datetime(2024, 3, 1, 15, 0, tzinfo=UTC)


def make_signal(**overrides):
    fields: dict[str, Any] = {
        "asset": "XOM",
        "kind": SignalKind.RSI,
        "value": 0.4,
        "confidence": 0.4,
        "as_of": NOW,
        "window_start": NOW - timedelta(days=30),
        "window_end": NOW,
        "details": {"rsi": 30.0},
    }
    fields.update(overrides)
    return Signal(**fields)


def test_signal_is_frozen_and_its_details_read_only():
    signal = make_signal()
    with pytest.raises(dataclasses.FrozenInstanceError):
        signal.value = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        signal.details["rsi"] = 10.0  # type: ignore[index]


def test_signal_survives_pickle_and_deepcopy():
    signal = make_signal()
    restored = pickle.loads(pickle.dumps(signal))  # noqa: S301 - our own bytes
    assert restored == signal
    assert restored.details["rsi"] == 30.0
    assert copy.deepcopy(signal) == signal
    assert len({signal, make_signal()}) == 1  # hashable, details aside


def test_signal_accepts_kind_by_value_and_reports_direction():
    assert make_signal(kind="macd").kind is SignalKind.MACD
    assert make_signal(value=-2.0).direction == -1
    assert make_signal(value=0.0).direction == 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"asset": " "}, "asset"),
        ({"kind": "tea_leaves"}, "unknown signal kind"),
        ({"value": float("nan")}, "finite"),
        ({"confidence": 1.5}, r"\[0, 1\]"),
        ({"confidence": -0.1}, r"\[0, 1\]"),
        ({"as_of": datetime(2024, 3, 1)}, "timezone-aware"),  # noqa: DTZ001
        ({"window_start": NOW + timedelta(days=1)}, "starts"),
        ({"window_end": NOW + timedelta(seconds=1), "window_start": NOW}, "look-ahead"),
    ],
)
def test_signal_refuses_bad_fields(overrides, message):
    with pytest.raises(InvalidInput, match=message):
        make_signal(**overrides)


def test_kinds_know_whether_they_carry_a_direction():
    assert SignalKind.SENTIMENT_DIVERGENCE.directional
    assert SignalKind.PAIR_SPREAD.relative
    assert not SignalKind.ATR.directional
    assert not SignalKind.CROSS_VENUE_GAP.directional
    assert not SignalKind.VOLATILITY_REGIME.directional
    assert all(kind.label for kind in SignalKind)


def test_volatility_regime_codes_round_trip():
    for regime in VolatilityRegime:
        assert VolatilityRegime.from_code(regime.code) is regime
    with pytest.raises(InvalidInput):
        VolatilityRegime.from_code(2)


def test_series_checks_name_the_problem():
    index = pd.date_range("2024-01-01", periods=3, freq="D", tz="UTC")
    with pytest.raises(InvalidInput, match="timezone-aware"):
        require_series(pd.Series([1.0, 2.0, 3.0], index=index.tz_localize(None)), name="close")
    with pytest.raises(InvalidInput, match="missing or infinite value at 2024-01-02"):
        require_series(pd.Series([1.0, np.nan, 3.0], index=index), name="close")
    with pytest.raises(InvalidInput, match="positive"):
        require_series(pd.Series([1.0, -2.0, 3.0], index=index), name="close", positive=True)
    with pytest.raises(InvalidInput, match="sorted"):
        require_series(pd.Series([1.0, 2.0, 3.0], index=index[::-1]), name="close")
    with pytest.raises(InvalidInput, match="indexed by timestamp"):
        require_series(pd.Series([1.0, 2.0, 3.0]), name="close")


def test_up_to_cuts_rows_after_as_of_and_refuses_naive_times():
    index = pd.date_range("2024-01-01", periods=5, freq="D", tz="UTC")
    data = pd.Series(np.arange(5.0), index=index)
    assert list(up_to(data, index[2].to_pydatetime())) == [0.0, 1.0, 2.0]
    with pytest.raises(InvalidInput, match="no rows"):
        up_to(data, datetime(2023, 1, 1, tzinfo=UTC))
    with pytest.raises(InvalidInput, match="timezone-aware"):
        up_to(data, datetime(2024, 1, 3))  # noqa: DTZ001
