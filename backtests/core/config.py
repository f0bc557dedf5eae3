"""What a backtest replays: a strategy (a configuration, never code) on an account over a window.

A strategy says which target the account follows, how it is rebalanced, whether losses are
harvested and signal views used, and how often each decision is taken. Every strategy runs
through the same live services; the presets in :data:`STRATEGIES` differ only in these fields.

Targets
-------
``recommendation``
    The household's recommendation from the live recommender (mean-variance on the equilibrium
    prior, tilted by Black-Litterman views when ``views`` is on), refreshed on schedule.
``equal_weight``
    Equal weights over the recommendation universe's equity, bond and real-asset slots (one asset
    per replacement group; cash-like assets left out).
``fixed_sleeves``
    Fixed sleeve weights (``equity``/``bond``/``cash``), equal weights within each sleeve; a
    sleeve without assets in the market hands its weight to the cash sleeve.
``inverse_volatility``
    Weights proportional to 1/σ over the same slots as ``equal_weight`` (trailing year of daily
    returns), refreshed on schedule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from portfolios.core.errors import InvalidInput


class TargetKind(StrEnum):
    RECOMMENDATION = "recommendation"
    EQUAL_WEIGHT = "equal_weight"
    FIXED_SLEEVES = "fixed_sleeves"
    INVERSE_VOLATILITY = "inverse_volatility"


class Rebalancing(StrEnum):
    NONE = "none"
    DRIFT = "drift"


class Frequency(StrEnum):
    """How often a decision is taken: on the first trading day of each period."""

    ONCE = "once"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


class LotMethodChoice(StrEnum):
    FIFO = "fifo"
    HIFO = "hifo"
    TAX_MIN = "tax_min"


@dataclass(frozen=True)
class Schedule:
    """When each decision is taken (the first trading day of each period; day one always).

    ``refresh``: recompute the target (and, with views, run the signal pipeline first);
    ``drift``: the account check for drift and cash; ``harvest``: the tax-loss harvest scan.
    """

    refresh: Frequency = Frequency.QUARTERLY
    drift: Frequency = Frequency.MONTHLY
    harvest: Frequency = Frequency.WEEKLY

    def __post_init__(self) -> None:
        for name in ("refresh", "drift", "harvest"):
            object.__setattr__(self, name, Frequency(getattr(self, name)))


@dataclass(frozen=True)
class StrategyConfig:
    """One strategy: the target, the rebalancing, harvesting, views and the firm's knobs.

    The knobs are the firm settings the backtest's own database runs under: drift bands
    (``drift_threshold``, ``band_absolute``, ``band_relative``), the harvest thresholds
    (``harvest_min_loss_pct``, ``harvest_min_benefit`` in dollars), the cap on a view's tilt
    (``view_max_tilt``), the cash kept back from buys (``cash_buffer``) and the cap per asset in a
    recommendation (``max_asset_weight``; single stocks are allowed in backtests).
    """

    name: str
    target: TargetKind = TargetKind.RECOMMENDATION
    rebalancing: Rebalancing = Rebalancing.DRIFT
    harvesting: bool = False
    views: bool = False
    schedule: Schedule = field(default_factory=Schedule)
    sleeve_weights: Mapping[str, float] = field(default_factory=dict)
    risk_score: int = 10
    drift_threshold: float = 0.05
    band_absolute: float = 0.03
    band_relative: float = 0.25
    harvest_min_loss_pct: float = 0.05
    harvest_min_benefit: float = 100.0
    view_max_tilt: float = 0.02
    cash_buffer: float = 0.005
    max_asset_weight: float = 0.25
    min_position_weight: float = 0.02
    estimation_years: int = 5

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise InvalidInput(
                f"a strategy name is letters, digits, '-' and '_', got {self.name!r}", field="name"
            )
        set_(self, "target", TargetKind(self.target))
        set_(self, "rebalancing", Rebalancing(self.rebalancing))
        if isinstance(self.schedule, Mapping):
            set_(self, "schedule", Schedule(**self.schedule))
        set_(self, "sleeve_weights", dict(self.sleeve_weights))
        if not 1 <= int(self.risk_score) <= 10:
            raise InvalidInput(
                f"risk_score must be 1-10, got {self.risk_score}", field="risk_score"
            )
        for name in (
            "drift_threshold",
            "band_absolute",
            "band_relative",
            "harvest_min_loss_pct",
            "view_max_tilt",
            "cash_buffer",
            "max_asset_weight",
            "min_position_weight",
        ):
            value = float(getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise InvalidInput(f"{name} must be in [0, 1], got {value}", field=name)
            set_(self, name, value)
        if self.harvest_min_benefit < 0:
            raise InvalidInput(
                "harvest_min_benefit must not be negative", field="harvest_min_benefit"
            )
        if self.max_asset_weight <= 0:
            raise InvalidInput("max_asset_weight must be positive", field="max_asset_weight")
        if self.target is TargetKind.FIXED_SLEEVES:
            unknown = sorted(set(self.sleeve_weights) - {"equity", "bond", "cash"})
            if unknown:
                raise InvalidInput(
                    f"unknown sleeve(s) {', '.join(unknown)}: use equity, bond, cash",
                    field="sleeve_weights",
                )
            total = sum(self.sleeve_weights.values())
            if (
                not self.sleeve_weights
                or abs(total - 1.0) > 1e-6
                or min(self.sleeve_weights.values()) < 0
            ):
                raise InvalidInput(
                    f"sleeve weights must be non-negative and sum to 1, got {total:.4f}",
                    field="sleeve_weights",
                )
        if self.views and self.target is not TargetKind.RECOMMENDATION:
            raise InvalidInput(
                "views tilt the recommendation: use them with the recommendation target",
                field="views",
            )
        if self.harvesting and self.rebalancing is Rebalancing.NONE:
            raise InvalidInput(
                "harvesting needs drift rebalancing to reinvest (a bought-and-held account "
                "trades once)",
                field="harvesting",
            )

    def replace(self, **changes: Any) -> StrategyConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["target"] = self.target.value
        data["rebalancing"] = self.rebalancing.value
        data["schedule"] = {k: Frequency(v).value for k, v in data["schedule"].items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StrategyConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInput(f"unknown strategy field(s): {', '.join(unknown)}", field=unknown[0])
        values = dict(data)
        if isinstance(values.get("schedule"), Mapping):
            values["schedule"] = Schedule(**values["schedule"])
        return cls(**values)


@dataclass(frozen=True)
class AccountSetup:
    """The account a backtest starts with: one taxable account funded with cash on day one.

    ``tax_rates`` are the household's marginal (short-term, long-term) rates; ``cash_rate`` the
    annual growth of the synthetic cash asset added to markets without a bond or cash asset, and
    the risk-free rate of the Sharpe and Sortino ratios.
    """

    account_value: Decimal = Decimal("1000000")
    tax_rates: tuple[Decimal, Decimal] = (Decimal("0.32"), Decimal("0.15"))
    lot_method: LotMethodChoice = LotMethodChoice.HIFO
    cash_rate: float = 0.02
    commission_per_trade: Decimal = Decimal("0")

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        value = Decimal(str(self.account_value))
        if not value.is_finite() or value < 1000:
            raise InvalidInput(
                f"the account value must be at least 1,000, got {self.account_value}",
                field="account_value",
            )
        set_(self, "account_value", value)
        rates = tuple(Decimal(str(r)) for r in self.tax_rates)
        if len(rates) != 2 or any(not r.is_finite() or not 0 <= r <= 1 for r in rates):
            raise InvalidInput(
                f"tax rates are two rates in [0, 1] (short-term, long-term), got {self.tax_rates}",
                field="tax_rates",
            )
        set_(self, "tax_rates", rates)
        set_(self, "lot_method", LotMethodChoice(self.lot_method))
        if not -0.5 < float(self.cash_rate) < 1:
            raise InvalidInput(f"cash_rate is implausible: {self.cash_rate}", field="cash_rate")
        set_(self, "cash_rate", float(self.cash_rate))
        commission = Decimal(str(self.commission_per_trade))
        if not commission.is_finite() or commission < 0:
            raise InvalidInput("commission_per_trade must not be negative", field="commission")
        set_(self, "commission_per_trade", commission)

    def as_dict(self) -> dict[str, Any]:
        return {
            "account_value": str(self.account_value),
            "tax_rates": [str(r) for r in self.tax_rates],
            "lot_method": self.lot_method.value,
            "cash_rate": self.cash_rate,
            "commission_per_trade": str(self.commission_per_trade),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccountSetup:
        values = dict(data)
        if "tax_rates" in values:
            values["tax_rates"] = tuple(values["tax_rates"])
        return cls(**values)


@dataclass(frozen=True)
class BacktestJob:
    """One replay: a strategy on an account, trading from ``start`` to ``end`` (inclusive).

    Prices before ``start`` (up to the strategy's estimation years) are history the first
    decisions may read; nothing after the simulated day is ever loaded. ``seed`` fixes the
    replay process's hash seed, so even set iteration orders repeat exactly.
    """

    key: str
    strategy: StrategyConfig
    start: date
    end: date
    account: AccountSetup = field(default_factory=AccountSetup)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise InvalidInput(
                f"the backtest ends ({self.end}) before it starts ({self.start})", field="end"
            )
        if not 0 <= self.seed < 2**32:
            raise InvalidInput("seed must be in [0, 2**32)", field="seed")

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "strategy": self.strategy.as_dict(),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "account": self.account.as_dict(),
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BacktestJob:
        return cls(
            key=str(data["key"]),
            strategy=StrategyConfig.from_dict(data["strategy"]),
            start=date.fromisoformat(str(data["start"])),
            end=date.fromisoformat(str(data["end"])),
            account=AccountSetup.from_dict(data.get("account", {})),
            seed=int(data.get("seed", 0)),
        )


_NEVER = Schedule(refresh=Frequency.ONCE, drift=Frequency.ONCE, harvest=Frequency.ONCE)

#: The strategies every study can name. They differ only in configuration.
STRATEGIES: Mapping[str, StrategyConfig] = {
    s.name: s
    for s in (
        StrategyConfig(
            name="buy_and_hold",
            target=TargetKind.RECOMMENDATION,
            rebalancing=Rebalancing.NONE,
            schedule=_NEVER,
        ),
        StrategyConfig(name="drift", target=TargetKind.RECOMMENDATION),
        StrategyConfig(name="drift_harvest", target=TargetKind.RECOMMENDATION, harvesting=True),
        StrategyConfig(
            name="drift_harvest_views",
            target=TargetKind.RECOMMENDATION,
            harvesting=True,
            views=True,
        ),
        StrategyConfig(name="equal_weight", target=TargetKind.EQUAL_WEIGHT),
        StrategyConfig(
            name="sixty_forty",
            target=TargetKind.FIXED_SLEEVES,
            sleeve_weights={"equity": 0.6, "bond": 0.4},
        ),
        StrategyConfig(name="inverse_volatility", target=TargetKind.INVERSE_VOLATILITY),
    )
}


#: How pages and reports name each strategy of :data:`STRATEGIES` (JSON keeps the identifiers).
STRATEGY_TITLES: Mapping[str, str] = {
    "buy_and_hold": "Buy and hold",
    "drift": "Rebalance on drift",
    "drift_harvest": "Rebalance on drift, harvest losses",
    "drift_harvest_views": "Rebalance, harvest, signal views",
    "equal_weight": "Equal weight",
    "sixty_forty": "60/40 equity and bonds",
    "inverse_volatility": "Inverse volatility",
}


def strategy_title(name: str) -> str:
    """A strategy's name in words; a name that is not a preset (a tuned variant) as it is."""
    return STRATEGY_TITLES.get(name, name)


def strategy_named(name: str, **changes: Any) -> StrategyConfig:
    """A preset by name, with optional changes."""
    if name not in STRATEGIES:
        raise InvalidInput(
            f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}", field="strategy"
        )
    preset = STRATEGIES[name]
    return preset.replace(**changes) if changes else preset
