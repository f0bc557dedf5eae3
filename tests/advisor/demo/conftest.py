"""Shared simulated histories: simulating one takes a fraction of a second, so build few."""

from __future__ import annotations

from datetime import date

import pytest

from advisor.demo.market import MarketHistory, simulate_history

END = date(2025, 6, 27)
SEED = 11


@pytest.fixture(scope="session")
def history() -> MarketHistory:
    return simulate_history(seed=SEED, end=END)
