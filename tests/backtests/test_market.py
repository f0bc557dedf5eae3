"""Markets: the shared price file classified, windows, the synthetic cash asset, the look-ahead
probe, and files."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from backtests.market import (
    CASH_SYMBOL,
    STOCK_CLASSIFICATION,
    MarketData,
    market_from_file,
)
from portfolios.core.errors import InvalidInput
from tests.conftest import SHARED_DATA

PRICES = SHARED_DATA / "prices" / "stock_prices.csv"


@pytest.fixture(scope="module")
def stocks() -> MarketData:
    return market_from_file(PRICES, today=date(2024, 1, 1))


def test_the_shared_file_is_classified(stocks):
    assert set(stocks.closes.columns) == set(STOCK_CLASSIFICATION)
    assert stocks.assets["JPM"].replacement_group == stocks.assets["BAC"].replacement_group
    assert stocks.assets["XOM"].exclusion_tags == ("fossil_fuels",)
    assert all(a.esg_score == 50 for a in stocks.assets.values())
    # Stocks that listed later have no closes before their first day, never zeros.
    assert stocks.closes["FB"].first_valid_index() == pd.Timestamp("2012-05-18")
    assert stocks.volumes is None
    volume = stocks.volume_frame()
    day = pd.Timestamp("2010-06-01")
    assert volume.loc[day, "JPM"] * stocks.closes.loc[day, "JPM"] == pytest.approx(1e9, rel=1e-6)
    assert volume.loc[day, "BAC"] * stocks.closes.loc[day, "BAC"] == pytest.approx(5e8, rel=1e-5)


def test_window_and_cash_asset(stocks):
    window = stocks.window(date(2010, 1, 1), date(2010, 12, 31))
    assert window.days[0] == date(2010, 1, 4) and window.days[-1] == date(2010, 12, 31)
    assert "FB" not in window.closes.columns  # no bar in the window
    with_cash = window.with_cash_asset(0.03)
    cash = with_cash.closes[CASH_SYMBOL]
    years = (cash.index[-1] - cash.index[0]).days / 365.25
    assert cash.iloc[-1] / cash.iloc[0] == pytest.approx(1.03**years)
    assert with_cash.assets[CASH_SYMBOL].asset_class == "cash"
    assert with_cash.with_cash_asset(0.03) is with_cash  # it has a cash asset now


def test_perturbing_after_a_day_leaves_the_past_alone(stocks):
    window = stocks.window(date(2010, 1, 1), date(2010, 12, 31))
    cut = date(2010, 6, 30)
    probe = window.perturbed_after(cut, seed=1)
    before = window.closes.index <= pd.Timestamp(cut)
    pd.testing.assert_frame_equal(probe.closes[before], window.closes[before])
    assert not np.allclose(probe.closes[~before].fillna(0), window.closes[~before].fillna(0))


def test_save_and_load(stocks, tmp_path):
    window = stocks.window(date(2011, 1, 1), date(2011, 3, 31))
    window = MarketData(
        name=window.name,
        closes=window.closes,
        assets=window.assets,
        benchmark=window.closes["JPM"].rename("JPM"),
    )
    window.save(tmp_path / "m")
    loaded = MarketData.load(tmp_path / "m")
    pd.testing.assert_frame_equal(loaded.closes, window.closes, check_freq=False, check_names=False)
    assert loaded.assets == window.assets
    assert loaded.benchmark is not None and loaded.benchmark.name == "JPM"


def test_bad_markets_are_refused(stocks):
    closes = stocks.closes.iloc[:5, :2].copy()
    closes.iloc[2, 0] = -1.0
    with pytest.raises(InvalidInput):
        MarketData(name="bad", closes=closes, assets=stocks.assets)
    with pytest.raises(InvalidInput):
        MarketData(name="bad", closes=stocks.closes.iloc[:5, :2], assets={})
