"""The embedded demo market: a seeded, simulated market with news, labelled as demo data.

Pure Python on numpy and pandas (no Django): :mod:`~advisor.demo.universe` defines the invented
instruments and demo households, :mod:`~advisor.demo.market` simulates years of daily bars and
the events behind them, :mod:`~advisor.demo.news` writes simulated headlines about those events,
and :mod:`~advisor.demo.ticker` keeps the market moving tick by tick for the live pages. The
loader in the Django layer stores what these return.
"""

from advisor.demo.events import EventKind, EventScope, MarketEvent
from advisor.demo.market import DailyBar, MarketHistory, simulate_history
from advisor.demo.news import NewsEvent, news_for_events
from advisor.demo.ticker import MarketTicker, Tick, TickerUpdate
from advisor.demo.universe import (
    DEMO_CLIENT_USERNAME,
    DEMO_HOUSEHOLDS,
    DEMO_UNIVERSE,
    DemoAsset,
    DemoHousehold,
    DemoLot,
    demo_holdings,
)

__all__ = [
    "DEMO_CLIENT_USERNAME",
    "DEMO_HOUSEHOLDS",
    "DEMO_UNIVERSE",
    "DailyBar",
    "DemoAsset",
    "DemoHousehold",
    "DemoLot",
    "EventKind",
    "EventScope",
    "MarketEvent",
    "MarketHistory",
    "MarketTicker",
    "NewsEvent",
    "Tick",
    "TickerUpdate",
    "demo_holdings",
    "news_for_events",
    "simulate_history",
]
