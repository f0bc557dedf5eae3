"""Live ticks for the demo market: the simulated process continued every few seconds.

A :class:`MarketTicker` carries on from the last bar of a
:class:`~advisor.demo.market.MarketHistory` (or from stored bars). Each session's close is
drawn from the same daily factor model as the history when the session opens; ticks then move
each price along a path from the open towards that close over New York's regular hours, plus a
mean-reverting wiggle (so that a price moves visibly every few seconds without drifting away
from what a day's volatility allows) and the jumps of occasional live events, which come with
headlines. A news item is published the moment its event is drawn and the price follows over
the next few ticks.

The ticker is pure: the caller passes ``now`` and the ticker reads no clock. Given its seed and
the sequence of ``now`` values it is called with, its output is deterministic; its whole state
can be saved as JSON with :meth:`MarketTicker.state` and restored with
:meth:`MarketTicker.from_state`, so a scheduled task can tick it between processes.

Outside regular hours, and over weekends and holidays, the demo keeps quoting: those ticks
update the bar of the last session (an extended session), so the live pages always move.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np

from advisor.demo import factors
from advisor.demo.events import EventKind, EventScope, MarketEvent
from advisor.demo.market import (
    GAP_SHARE,
    DailyBar,
    FactorModel,
    MarketHistory,
    bars_from_returns,
    garch_step,
    student_t,
)
from advisor.demo.news import NewsEvent, headlines_for_event
from advisor.demo.trading_calendar import (
    SESSION_CLOSE,
    new_york_moment,
    next_trading_day,
    require_aware,
    session_date,
    session_progress,
)
from advisor.demo.universe import DEMO_UNIVERSE, DemoAsset
from portfolios.core.errors import InvalidInput

STATE_VERSION = 1
DEFAULT_INTERVAL_SECONDS = 5.0
MAX_STEP_SECONDS = 600.0
"""Beyond ten minutes between calls, a tick counts as ten minutes (for wiggles and events)."""
WIGGLE_SHARE = 0.35
"""The wiggle's standard deviation, as a share of the daily volatility."""
WIGGLE_MINUTES = 10.0
"""Mean-reversion time of the wiggle."""
EVENT_IMMEDIATE_SHARE = 0.35
EVENT_RAMP_TICKS = 3
"""An event moves its prices 35% at once and the rest over the next three ticks."""
EVENT_FADE_MINUTES = 30.0
"""Live event moves fade with this time constant, so prices stay within a day's volatility
however long the demo runs (news arrives far more often live than in the daily history)."""
LIVE_IMPACT_SCALE = 0.4
"""Live event jumps are 40% of the size of the history's."""
LIVE_QUIET_SHARE = 0.4
"""Share of live events that are routine company announcements and move nothing."""
OFF_HOURS_VOLUME = 0.02
"""Volume traded outside regular hours, as a share of the daily volume per day."""
_LIVE_SCOPES = (EventScope.COMPANY, EventScope.SECTOR, EventScope.MARKET, EventScope.RATES)
_LIVE_SCOPE_WEIGHTS = np.array([0.70, 0.15, 0.08, 0.07])
_LIVE_COMPANY_KINDS = (EventKind.EARNINGS, *(EventKind(k) for k in factors.COMPANY_NEWS_KINDS))


@dataclass(frozen=True)
class Tick:
    """The latest price of one symbol and the running bar of its session.

    ``close`` is the latest price. ``bar_complete`` is true for a bar that will not change
    again (a session the ticker has rolled past, or a session it filled in for a gap).
    """

    symbol: str
    at: datetime
    session_date: date
    open: float
    high: float
    low: float
    close: float
    volume: int
    previous_close: float
    bar_complete: bool = False

    @property
    def price(self) -> float:
        return self.close

    @property
    def change(self) -> float:
        """Return since the previous session's close."""
        return self.close / self.previous_close - 1.0


@dataclass(frozen=True)
class TickerUpdate:
    """What one call of :meth:`MarketTicker.advance` produced."""

    ticks: tuple[Tick, ...]
    events: tuple[MarketEvent, ...]
    news: tuple[NewsEvent, ...]


class MarketTicker:
    """Continues a simulated market tick by tick; see the module docstring.

    Parameters
    ----------
    last_bars
        The latest bar of every asset (the session the ticker starts in).
    seed
        Seed of the ticker's own randomness.
    assets
        The universe; every asset needs a bar.
    volatility_state
        Variance multiplier to continue the volatility clustering from (1 is normal).
    news_per_minute
        Average number of live events per minute of ticking (each brings one to three
        headlines).
    wiggle
        Scale of the visible tick-to-tick movement (1 is :data:`WIGGLE_SHARE` of a daily
        volatility).
    """

    def __init__(
        self,
        *,
        last_bars: Mapping[str, DailyBar],
        seed: int,
        assets: Sequence[DemoAsset] = DEMO_UNIVERSE,
        volatility_state: float = 1.0,
        last_market_shock: float = 0.0,
        news_per_minute: float = 2.0,
        wiggle: float = 1.0,
    ) -> None:
        self._model = FactorModel.of(assets)
        missing = [s for s in self._model.symbols if s not in last_bars]
        if missing:
            raise InvalidInput(f"no last bar for {', '.join(missing)}", field="last_bars")
        days = {last_bars[s].day for s in self._model.symbols}
        if len(days) != 1:
            raise InvalidInput("the last bars must all be from the same day", field="last_bars")
        if not (news_per_minute >= 0 and math.isfinite(news_per_minute)):
            raise InvalidInput("news_per_minute must be a non-negative number")
        if not (wiggle >= 0 and math.isfinite(wiggle)):
            raise InvalidInput("wiggle must be a non-negative number")
        if not (volatility_state > 0 and math.isfinite(volatility_state)):
            raise InvalidInput("volatility_state must be positive")
        bars = [last_bars[s] for s in self._model.symbols]
        self._seed = seed
        self._rng = np.random.default_rng(np.random.SeedSequence([seed, 0x71C4]))
        self._news_per_minute = news_per_minute
        self._wiggle = wiggle
        self._by_symbol = {a.symbol: a for a in self._model.assets}
        self._session: date = days.pop()
        close = np.array([b.close for b in bars], dtype=float)
        if np.any(close <= 0):
            raise InvalidInput("last closes must be positive", field="last_bars")
        self._previous_close = close.copy()
        self._open = np.array([b.open for b in bars], dtype=float)
        self._high = np.array([b.high for b in bars], dtype=float)
        self._low = np.array([b.low for b in bars], dtype=float)
        self._volume = np.array([b.volume for b in bars], dtype=float)
        self._anchor_open = np.log(close)
        self._anchor_close = np.log(close)
        self._shift = np.zeros(len(bars))
        self._wiggle_state = np.zeros(len(bars))
        self._pending: list[tuple[np.ndarray, int]] = []
        self._variance = float(volatility_state)
        self._last_shock = float(last_market_shock)
        self._last_moment: datetime | None = None
        self._last_progress = 1.0
        self._queued_news: list[NewsEvent] = []
        self._queued_events: list[MarketEvent] = []

    @classmethod
    def from_history(
        cls, history: MarketHistory, *, seed: int | None = None, **options: Any
    ) -> MarketTicker:
        """A ticker that continues ``history`` (seeded from the history's seed by default)."""
        return cls(
            last_bars=history.last_bars(),
            seed=history.seed if seed is None else seed,
            assets=history.assets,
            volatility_state=history.volatility_state,
            last_market_shock=history.last_market_shock,
            **options,
        )

    @property
    def session(self) -> date:
        """The session whose bar the ticks currently update."""
        return self._session

    @property
    def symbols(self) -> tuple[str, ...]:
        return self._model.symbols

    # ------------------------------------------------------------------ public API

    def tick(self, now: datetime) -> list[Tick]:
        """Advance to ``now`` and return the new ticks, one per symbol (more after a gap).

        Events and headlines drawn on the way wait in :meth:`take_news` and
        :meth:`take_events`. A ``now`` that is not after the previous call returns nothing.
        """
        update = self.advance(now)
        self._queued_news.extend(update.news)
        self._queued_events.extend(update.events)
        return list(update.ticks)

    def take_news(self) -> list[NewsEvent]:
        """The headlines drawn by :meth:`tick` since the last call, oldest first."""
        news, self._queued_news = self._queued_news, []
        return news

    def take_events(self) -> list[MarketEvent]:
        """The events drawn by :meth:`tick` since the last call, oldest first."""
        events, self._queued_events = self._queued_events, []
        return events

    def advance(self, now: datetime) -> TickerUpdate:
        """Advance the simulated market to ``now`` (an aware datetime).

        When ``now`` falls in a later session than the current one, the current bar is
        completed, any whole sessions in between are simulated as complete bars, and a new
        session opens. Then every price moves by one tick and an event may happen.
        """
        now = require_aware(now)
        if self._last_moment is not None and now <= self._last_moment:
            return TickerUpdate((), (), ())
        ticks: list[Tick] = []
        target = session_date(now)
        if target > self._session:
            ticks.extend(self._ticks(self._last_moment or self._close_moment(), complete=True))
            day = next_trading_day(self._session)
            while day < target:
                ticks.extend(self._simulate_whole_session(day))
                day = next_trading_day(day)
            self._open_session(target)
        elapsed = (
            DEFAULT_INTERVAL_SECONDS
            if self._last_moment is None
            else (now - self._last_moment).total_seconds()
        )
        events, news = self._step(now, min(elapsed, MAX_STEP_SECONDS))
        ticks.extend(self._ticks(now, complete=False))
        self._last_moment = now
        return TickerUpdate(tuple(ticks), tuple(events), tuple(news))

    # ------------------------------------------------------------------ sessions

    def _close_moment(self) -> datetime:
        return new_york_moment(self._session, SESSION_CLOSE)

    def _draw_day(self) -> tuple[np.ndarray, float]:
        """One day's log returns (N,) from the daily model, and the day's volatility scale."""
        model = self._model
        self._variance = garch_step(self._variance, self._last_shock)
        scale = np.array([math.sqrt(self._variance)])
        shocks = model.factor_shocks(self._rng, 1)
        idio = student_t(self._rng, (1, model.n_identities))
        tracking = 5e-5 * self._rng.standard_normal((1, len(model.assets)))
        _, returns = model.diffusive_returns(
            scale=scale, factor_shocks=shocks, idio_shocks=idio, tracking=tracking
        )
        self._last_shock = float(shocks[0, 0])
        return returns[0] + model.drift, float(scale[0])

    def _simulate_whole_session(self, day: date) -> list[Tick]:
        """A complete bar for a session that passed between two calls."""
        returns, scale = self._draw_day()
        bars = bars_from_returns(
            self._rng,
            self._model,
            returns=returns[None, :],
            jumps=np.zeros((1, len(returns))),
            scale=np.array([scale]),
            previous_close=self._current_close(),
        )
        at = new_york_moment(day, SESSION_CLOSE)
        previous = self._rounded(self._current_close())
        ticks = [
            Tick(
                symbol=symbol,
                at=at,
                session_date=day,
                open=float(bars["open"][0, i]),
                high=float(bars["high"][0, i]),
                low=float(bars["low"][0, i]),
                close=float(bars["close"][0, i]),
                volume=int(bars["volume"][0, i]),
                previous_close=float(previous[i]),
                bar_complete=True,
            )
            for i, symbol in enumerate(self._model.symbols)
        ]
        self._session = day
        close = bars["close"][0].astype(float)
        self._previous_close = close.copy()
        self._anchor_open = self._anchor_close = np.log(close)
        self._shift[:] = 0.0
        self._wiggle_state[:] = 0.0
        return ticks

    def _open_session(self, day: date) -> None:
        """Start ``day``'s bar at a gap from the last close; draw where the day will end."""
        last_close = self._current_close()
        returns, scale = self._draw_day()
        noise = self._rng.standard_normal(len(returns))
        gap = GAP_SHARE * returns + 0.1 * scale * self._model.daily_vol * noise
        log_close = np.log(last_close)
        self._session = day
        self._previous_close = last_close
        self._anchor_open = log_close + gap
        self._anchor_close = log_close + returns
        self._shift = np.zeros(len(returns))
        self._wiggle_state = np.zeros(len(returns))
        self._open = np.exp(self._anchor_open)
        self._high = self._open.copy()
        self._low = self._open.copy()
        self._volume = np.zeros(len(returns))
        self._last_progress = 0.0

    def _current_close(self) -> np.ndarray:
        """The latest price of every asset, unrounded."""
        progress = self._last_progress
        anchor = self._anchor_open + progress * (self._anchor_close - self._anchor_open)
        return np.asarray(np.exp(anchor + self._shift + self._wiggle_state))

    # ------------------------------------------------------------------ ticks

    def _step(self, now: datetime, seconds: float) -> tuple[list[MarketEvent], list[NewsEvent]]:
        """Move every price by one tick of ``seconds`` and maybe draw an event."""
        model = self._model
        progress = session_progress(now, self._session)
        # The wiggle: an Ornstein-Uhlenbeck term driven by factor-structured shocks.
        decay = math.exp(-seconds / (WIGGLE_MINUTES * 60.0))
        shocks = self._rng.standard_normal((1, len(factors.FACTORS))) @ model.factor_chol.T
        idio = self._rng.standard_normal((1, model.n_identities))
        _, moves = model.diffusive_returns(
            scale=np.ones(1),
            factor_shocks=shocks,
            idio_shocks=idio,
            tracking=np.zeros((1, len(model.assets))),
        )
        unit = moves[0] / np.sqrt(
            (model.loadings**2 * model.factor_vol**2).sum(axis=1) + model.idio_vol**2
        )
        size = self._wiggle * WIGGLE_SHARE * model.daily_vol * math.sqrt(self._variance)
        self._wiggle_state = self._wiggle_state * decay + size * math.sqrt(1 - decay**2) * unit
        # Events already announced keep moving their prices; older moves fade.
        self._shift = self._shift * math.exp(-seconds / (EVENT_FADE_MINUTES * 60.0))
        still_pending: list[tuple[np.ndarray, int]] = []
        for increment, remaining in self._pending:
            self._shift += increment
            if remaining > 1:
                still_pending.append((increment, remaining - 1))
        self._pending = still_pending
        events: list[MarketEvent] = []
        news: list[NewsEvent] = []
        chance = 1.0 - math.exp(-self._news_per_minute * seconds / 60.0)
        if float(self._rng.random()) < chance:
            event, impulse = self._draw_live_event()
            self._shift += EVENT_IMMEDIATE_SHARE * impulse
            rest = (1.0 - EVENT_IMMEDIATE_SHARE) * impulse / EVENT_RAMP_TICKS
            self._pending.append((rest, EVENT_RAMP_TICKS))
            events.append(event)
            news.extend(
                headlines_for_event(event, assets=self._by_symbol, rng=self._rng, published_at=now)
            )
        # Volume: the regular session trades the daily volume; off hours trickle.
        adv = np.array([a.avg_daily_volume for a in model.assets], dtype=float)
        traded = max(progress - self._last_progress, 0.0) + OFF_HOURS_VOLUME * seconds / 86_400
        noise = np.exp(0.3 * self._rng.standard_normal(len(adv)) - 0.045)
        self._volume = self._volume + adv * traded * noise
        self._last_progress = progress
        price = self._current_close()
        rounded = self._rounded(price)
        self._high = np.maximum(self._high, rounded)
        self._low = np.minimum(self._low, rounded)
        return events, news

    def _draw_live_event(self) -> tuple[MarketEvent, np.ndarray]:
        """One live event and its total log-return impulse on every asset (N,)."""
        model, rng = self._model, self._rng
        if float(rng.random()) < LIVE_QUIET_SHARE and len(model.stock_index):
            i = int(model.stock_index[int(rng.random() * len(model.stock_index))])
            symbol = model.assets[i].symbol
            quiet = MarketEvent(
                self._session, EventKind.ROUTINE, EventScope.COMPANY, symbol, (symbol,), 0, 0.0
            )
            return quiet, np.zeros(len(model.assets))
        scope = _LIVE_SCOPES[int(rng.choice(len(_LIVE_SCOPES), p=_LIVE_SCOPE_WEIGHTS))]
        size = LIVE_IMPACT_SCALE * math.exp(factors.JUMP_LOG_SPREAD * float(rng.standard_normal()))
        sign = 1 if float(rng.random()) < 0.5 else -1
        impulse = np.zeros(len(model.assets))
        if scope is EventScope.COMPANY and len(model.stock_index):
            i = int(model.stock_index[int(rng.random() * len(model.stock_index))])
            kind = _LIVE_COMPANY_KINDS[int(rng.random() * len(_LIVE_COMPANY_KINDS))]
            jump = sign * size * factors.EARNINGS_SIZE * float(model.idio_annual[i])
            impulse[i] = jump
            symbol = model.assets[i].symbol
            return MarketEvent(self._session, kind, scope, symbol, (symbol,), sign, jump), impulse
        if scope is EventScope.RATES:
            low, high = factors.RATE_MOVE_RANGE
            change = sign * LIVE_IMPACT_SCALE * (low + (high - low) * float(rng.random()))
            impulse = model.loadings[:, -1] * change
            detail = "hike" if change > 0 else "cut"
            event = MarketEvent(
                self._session, EventKind.RATE_DECISION, scope, factors.RATES,
                model.factor_symbols[-1], -sign, change, detail,
            )  # fmt: skip
            return event, impulse
        if scope is EventScope.SECTOR:
            candidates = [k for k in range(1, len(factors.FACTORS) - 1) if model.factor_symbols[k]]
            k = candidates[int(rng.random() * len(candidates))] if candidates else 0
            kind = EventKind.SECTOR if k else EventKind.MACRO
            jump = sign * size * factors.SECTOR_EVENT_SIZE * float(model.factor_total_vol[k])
        else:
            k, kind = 0, EventKind.MACRO
            jump = sign * size * factors.MACRO_SIZE * float(model.factor_total_vol[0])
        impulse = model.loadings[:, k] * jump
        detail = (
            ""
            if kind is EventKind.SECTOR
            else ("jobs report", "inflation report")[int(rng.random() * 2)]
        )
        event_scope = EventScope.SECTOR if kind is EventKind.SECTOR else EventScope.MARKET
        event = MarketEvent(
            self._session, kind, event_scope, factors.FACTORS[k], model.factor_symbols[k],
            sign, jump, detail,
        )  # fmt: skip
        return event, impulse

    def _ticks(self, at: datetime, *, complete: bool) -> list[Tick]:
        close = self._rounded(self._current_close())
        open_ = self._rounded(self._open)
        high = np.maximum(self._rounded(self._high), np.maximum(open_, close))
        low = np.minimum(self._rounded(self._low), np.minimum(open_, close))
        previous = self._rounded(self._previous_close)
        return [
            Tick(
                symbol=symbol,
                at=at,
                session_date=self._session,
                open=float(open_[i]),
                high=float(high[i]),
                low=float(low[i]),
                close=float(close[i]),
                volume=round(float(self._volume[i])),
                previous_close=float(previous[i]),
                bar_complete=complete,
            )
            for i, symbol in enumerate(self._model.symbols)
        ]

    @staticmethod
    def _rounded(prices: np.ndarray) -> np.ndarray:
        return np.asarray(np.maximum(np.round(prices, 2), 0.01))

    # ------------------------------------------------------------------ persistence

    def state(self) -> dict[str, Any]:
        """The ticker's whole state as JSON-serialisable data (queued news excluded)."""
        return {
            "version": STATE_VERSION,
            "seed": self._seed,
            "symbols": list(self._model.symbols),
            "session": self._session.isoformat(),
            "previous_close": self._previous_close.tolist(),
            "open": self._open.tolist(),
            "high": self._high.tolist(),
            "low": self._low.tolist(),
            "volume": self._volume.tolist(),
            "anchor_open": self._anchor_open.tolist(),
            "anchor_close": self._anchor_close.tolist(),
            "shift": self._shift.tolist(),
            "wiggle_state": self._wiggle_state.tolist(),
            "pending": [[increment.tolist(), remaining] for increment, remaining in self._pending],
            "variance": self._variance,
            "last_shock": self._last_shock,
            "last_moment": None if self._last_moment is None else self._last_moment.isoformat(),
            "last_progress": self._last_progress,
            "news_per_minute": self._news_per_minute,
            "wiggle": self._wiggle,
            "rng": self._rng.bit_generator.state,
        }

    @classmethod
    def from_state(
        cls, state: Mapping[str, Any], *, assets: Sequence[DemoAsset] = DEMO_UNIVERSE
    ) -> MarketTicker:
        """Rebuild a ticker saved with :meth:`state`; ``assets`` must be the same universe."""
        if state.get("version") != STATE_VERSION:
            raise InvalidInput(f"unsupported ticker state version {state.get('version')!r}")
        symbols = [a.symbol for a in assets]
        if list(state["symbols"]) != symbols:
            raise InvalidInput("the ticker state is for a different universe", field="assets")
        session = date.fromisoformat(state["session"])
        last_bars = {symbol: DailyBar(session, symbol, 1.0, 1.0, 1.0, 1.0, 0) for symbol in symbols}
        ticker = cls(
            last_bars=last_bars,
            seed=int(state["seed"]),
            assets=assets,
            news_per_minute=float(state["news_per_minute"]),
            wiggle=float(state["wiggle"]),
        )
        ticker._previous_close = np.array(state["previous_close"], dtype=float)
        ticker._open = np.array(state["open"], dtype=float)
        ticker._high = np.array(state["high"], dtype=float)
        ticker._low = np.array(state["low"], dtype=float)
        ticker._volume = np.array(state["volume"], dtype=float)
        ticker._anchor_open = np.array(state["anchor_open"], dtype=float)
        ticker._anchor_close = np.array(state["anchor_close"], dtype=float)
        ticker._shift = np.array(state["shift"], dtype=float)
        ticker._wiggle_state = np.array(state["wiggle_state"], dtype=float)
        ticker._pending = [
            (np.array(increment, dtype=float), int(remaining))
            for increment, remaining in state["pending"]
        ]
        ticker._variance = float(state["variance"])
        ticker._last_shock = float(state["last_shock"])
        moment = state["last_moment"]
        ticker._last_moment = None if moment is None else datetime.fromisoformat(moment)
        ticker._last_progress = float(state["last_progress"])
        ticker._rng.bit_generator.state = state["rng"]
        return ticker
