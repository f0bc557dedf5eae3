from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from advisor.demo.events import EventKind, EventScope
from advisor.demo.market import MarketHistory, simulate_history
from advisor.demo.trading_calendar import is_trading_day
from advisor.demo.universe import DEMO_UNIVERSE, assets_by_symbol

from .conftest import END, SEED

BY_SYMBOL = assets_by_symbol(DEMO_UNIVERSE)
PRICE_COLUMNS = ["open", "high", "low", "close"]


def _csv(history: MarketHistory) -> bytes:
    return history.bars.to_csv(index=False).encode()


def _log_returns(history: MarketHistory) -> pd.DataFrame:
    return np.log(history.closes()).diff().dropna()


def test_same_seed_gives_identical_output(history: MarketHistory):
    again = simulate_history(seed=SEED, end=END)
    assert _csv(again) == _csv(history)
    assert again.events == history.events
    assert again.news == history.news


def test_different_seeds_differ(history: MarketHistory):
    other = simulate_history(seed=SEED + 1, end=END)
    assert _csv(other) != _csv(history)
    assert other.news != history.news


def test_shape_covers_six_years_of_trading_days(history: MarketHistory):
    bars = history.bars
    assert list(bars.columns) == ["date", "symbol", *PRICE_COLUMNS, "volume"]
    n_days, n_assets = len(history.days), len(DEMO_UNIVERSE)
    assert 1490 <= n_days <= 1520
    assert (history.end - history.start).days >= 5 * 365
    assert len(bars) == n_days * n_assets
    assert bars.groupby("date")["symbol"].nunique().eq(n_assets).all()
    assert all(is_trading_day(day) for day in history.days)
    assert history.end == date(2025, 6, 27)
    assert list(bars["date"]) == sorted(bars["date"])
    first_day = bars[bars["date"] == history.start]["symbol"].tolist()
    assert first_day == sorted(BY_SYMBOL)
    assert bars["volume"].dtype == np.int64


def test_ohlc_is_consistent_positive_and_in_cents(history: MarketHistory):
    bars = history.bars
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    assert (bars[PRICE_COLUMNS] > 0).all().all()
    cents = bars[PRICE_COLUMNS].to_numpy() * 100
    assert np.allclose(cents, np.round(cents), atol=1e-6)
    assert (bars["volume"] > 0).all()


def test_volumes_average_near_daily_volume_and_rise_on_big_moves(history: MarketHistory):
    bars = history.bars
    for symbol in ("ZLCA", "NWSC", "ZAGB"):
        volume = bars.loc[bars["symbol"] == symbol, "volume"]
        assert 0.7 < volume.mean() / BY_SYMBOL[symbol].avg_daily_volume < 1.5
    returns = _log_returns(history).abs()
    volumes = history.bars.pivot(index="date", columns="symbol", values="volume").iloc[1:]
    correlations = [returns[s].corr(np.log(volumes[s])) for s in ("ZLCA", "NWSC", "ZEMK")]
    assert min(correlations) > 0.2


def test_realised_volatilities_are_within_30_percent_of_targets(history: MarketHistory):
    realised = _log_returns(history).std() * np.sqrt(252)
    for asset in DEMO_UNIVERSE:
        assert realised[asset.symbol] == pytest.approx(asset.annual_vol, rel=0.3), asset.symbol


def test_correlations(history: MarketHistory):
    corr = _log_returns(history).corr()
    assert corr.loc["ZLCA", "QFHN"] > 0.99  # same identity group
    assert 0.95 < corr.loc["ZLCA", "ZTMK"] < 0.999  # replacement, not identical
    assert corr.loc["ZLCA", "ZITT"] < 0.1  # equities against treasuries
    assert corr.loc["ZLCA", "ZLTT"] < 0.1
    assert corr.loc["ZITT", "ZLTT"] > 0.8  # treasuries share the rates factor
    assert 0.3 < corr.loc["NWSC", "LMNS"] < 0.9  # same sector
    assert 0.6 < corr.loc["ZLCA", "ZINT"] < 0.95


def test_identity_group_members_track_each_other(history: MarketHistory):
    closes = history.closes()
    growth = closes[["ZLCA", "QFHN"]] / closes[["ZLCA", "QFHN"]].iloc[0]
    assert (growth["ZLCA"] / growth["QFHN"] - 1).abs().max() < 0.01
    tracking = _log_returns(history)[["ZLCA", "QFHN"]].diff(axis=1)["QFHN"]
    assert tracking.std() * np.sqrt(252) < 0.005


def test_stressed_period_has_a_crash_and_a_recovery(history: MarketHistory):
    assert history.stress_period is not None
    start, trough, recovered = history.stress_period
    broad = history.closes()["ZLCA"]
    drawdown = 1 - broad / broad.cummax()
    assert 0.20 <= drawdown.max() <= 0.45
    before = broad[broad.index < start].iloc[-1]
    assert broad.loc[start:trough].min() / before - 1 < -0.12
    assert broad.loc[recovered] > broad.loc[start:recovered].min() * 1.15
    # Long treasuries rally in the sell-off (flight to quality)
    treasuries = history.closes()["ZLTT"]
    assert treasuries.loc[trough] > treasuries.loc[start]
    stress_news = [e for e in history.events if e.kind is EventKind.MARKET_STRESS]
    assert any(e.direction == -1 and start <= e.day <= trough for e in stress_news)


def test_histories_without_stress_are_allowed():
    history = simulate_history(seed=3, end=END, stress=False)
    assert history.stress_period is None
    assert not any(e.kind is EventKind.MARKET_STRESS for e in history.events)


def test_events_drive_the_moves(history: MarketHistory):
    returns = _log_returns(history)
    kinds = {event.kind for event in history.events}
    assert kinds >= {
        EventKind.EARNINGS,
        EventKind.ANALYST_RATING,
        EventKind.MACRO,
        EventKind.RATE_DECISION,
        EventKind.SECTOR,
        EventKind.ROUTINE,
    }
    big = [
        e
        for e in history.events
        if e.scope is EventScope.COMPANY and abs(e.impact) > 0.05 and e.day in returns.index
    ]
    assert len(big) > 50
    agree = [np.sign(returns.loc[e.day, e.subject]) == e.direction for e in big]
    assert np.mean(agree) > 0.8
    hikes = [e for e in history.events if e.kind is EventKind.RATE_DECISION and e.detail == "hike"]
    assert hikes
    assert all(e.direction == -1 and e.impact > 0 for e in hikes)
    earnings = [e for e in history.events if e.kind is EventKind.EARNINGS and e.subject == "NWSC"]
    assert 20 <= len(earnings) <= 26  # quarterly over six years


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), days=st.integers(3, 150))
def test_short_histories_are_consistent(seed, days):
    end = date(2024, 12, 31)
    start = date.fromordinal(end.toordinal() - days)
    history = simulate_history(seed=seed, start=start, end=end)
    bars = history.bars
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    assert (bars[PRICE_COLUMNS] > 0).all().all()
    assert history.stress_period is None  # too short for a sell-off
    assert len(bars) == len(history.days) * len(DEMO_UNIVERSE)


def test_too_short_or_empty_inputs_are_refused():
    from portfolios.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="at least 2"):
        simulate_history(seed=1, start=date(2024, 12, 25), end=date(2024, 12, 25))
    with pytest.raises(InvalidInput, match="empty"):
        simulate_history(seed=1, end=END, assets=())


def test_subset_universe():
    subset = [BY_SYMBOL[s] for s in ("ZLCA", "QFHN", "ZAGB", "NWSC")]
    history = simulate_history(seed=5, end=END, assets=subset)
    assert set(history.bars["symbol"]) == {"ZLCA", "QFHN", "ZAGB", "NWSC"}
    assert {s for e in history.events for s in e.symbols} <= {"ZLCA", "QFHN", "ZAGB", "NWSC"}
