"""Drift, rebalancing bands and the trades that bring an account back to its target.

Targets are set per *slot*: a replacement group of similar funds (or a single asset). Holding the
alternate of a slot (bought by a loss harvest, or brought in at onboarding) counts towards the
slot, so a harvest is never undone by the next rebalance and nothing is sold only to buy its twin.

Definitions
-----------
* Weights are of the account's value after any requested withdrawal; cash is its own slot whose
  target is the firm's cash buffer.
* Drift is ``sum(|w - target|) / 2`` over the slots (cash included): the share of the account
  that sits in the wrong place.
* A slot is out of its band when ``|w - target|`` exceeds its tolerance:
  ``min(band_absolute, max(band_relative * target, MIN_RELATIVE_BAND))``; for an *overweight* slot
  the tolerance is widened to ``tolerance * (1 + tax_impact_factor)`` (the tax engine's factor:
  the tax cost of selling down to target per dollar sold; zero in IRAs), so positions whose sale
  would be expensive in tax are given more room.

What triggers trades, in order of precedence:

1. a withdrawal: sell overweight slots first (largest overweight first), then proportionally,
   until the cash is raised; no buys;
2. drift above the threshold or any slot out of band: sell every out-of-band overweight slot down
   to target, then buy underweight slots with the cash available above the buffer, in proportion
   to their shortfall;
3. cash above the buffer (a deposit, a dividend): buy underweight slots with it, no sells.

Trades under the minimum trade size are dropped; a sell that would leave less than the minimum
trade size in a symbol sells it all. Quantities round down (9 places, or whole shares for assets
that are not fractionable), so buys never spend more than the cash. Sells come before buys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

from portfolios.core.errors import InvalidInput
from portfolios.core.money import QUANTITY_QUANT, ZERO, cash

CASH_SLOT = "cash"
MIN_RELATIVE_BAND = 0.01


class Trigger(StrEnum):
    NONE = "none"
    WITHDRAWAL = "withdrawal"
    DRIFT = "drift"
    CASH_FLOW = "cash_flow"


@dataclass(frozen=True)
class RebalancePolicy:
    drift_threshold: float = 0.05
    band_absolute: float = 0.03
    band_relative: float = 0.25
    min_trade_notional: Decimal = Decimal("50")
    cash_buffer: float = 0.005
    buy_price_allowance: float = 0.0
    """Buys are sized at ``price * (1 + allowance)``: the ceiling they are sent with (a
    protected market order), so the cash they are checked against always covers them."""
    sell_proceeds_haircut: float = 0.0
    """Sales raise this fraction less than their value at the last price (spread, impact):
    buys funded by sales are budgeted on what the sales will really bring."""

    def __post_init__(self) -> None:
        for name in (
            "drift_threshold",
            "band_absolute",
            "band_relative",
            "cash_buffer",
            "buy_price_allowance",
            "sell_proceeds_haircut",
        ):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise InvalidInput(f"{name} must be in [0, 1], got {value}", field=name)
        if self.min_trade_notional < 0:
            raise InvalidInput(
                "min_trade_notional must not be negative", field="min_trade_notional"
            )


@dataclass(frozen=True)
class AccountSnapshot:
    """An account at its current prices, with its target.

    Attributes
    ----------
    holdings
        Quantity held per symbol.
    prices
        Price per symbol, for every symbol held, targeted or in a targeted slot.
    cash
        Cash in the account.
    targets
        Target weight per symbol (the recommendation); they sum to at most 1.
    slot_of
        Slot of each symbol (held or targeted); a symbol missing here is its own slot.
    slot_members
        Symbols that may be bought for each slot, in order of preference after the target.
    withdrawal
        Cash the client asked to take out (raised by selling if needed).
    blocked
        Symbols that may not be bought (a harvest's wash-sale block).
    whole_shares
        Symbols that trade only in whole shares.
    tax_impact
        Tax impact factor per slot (overweight slots only need one).
    """

    holdings: Mapping[str, Decimal]
    prices: Mapping[str, Decimal]
    cash: Decimal
    targets: Mapping[str, float]
    slot_of: Mapping[str, str] = field(default_factory=dict)
    slot_members: Mapping[str, Sequence[str]] = field(default_factory=dict)
    withdrawal: Decimal = ZERO
    blocked: frozenset[str] = frozenset()
    whole_shares: frozenset[str] = frozenset()
    tax_impact: Mapping[str, float] = field(default_factory=dict)

    def slot(self, symbol: str) -> str:
        return self.slot_of.get(symbol, symbol)


@dataclass(frozen=True)
class PlannedTrade:
    symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    slot: str

    @property
    def notional(self) -> Decimal:
        return cash(self.quantity * self.price)


@dataclass(frozen=True)
class RebalancePlan:
    trigger: Trigger
    trades: tuple[PlannedTrade, ...]
    total_value: Decimal
    drift_before: float
    drift_after: float
    weights_before: dict[str, float]
    weights_after: dict[str, float]
    slot_weights_before: dict[str, float]
    slot_weights_after: dict[str, float]
    slot_targets: dict[str, float]
    out_of_band: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def sells(self) -> tuple[PlannedTrade, ...]:
        return tuple(t for t in self.trades if t.side == "sell")

    @property
    def buys(self) -> tuple[PlannedTrade, ...]:
        return tuple(t for t in self.trades if t.side == "buy")


def _check(snapshot: AccountSnapshot) -> None:
    for symbol, qty in snapshot.holdings.items():
        if qty < 0:
            raise InvalidInput(f"holding of {symbol} is negative: {qty}", field="holdings")
        if qty > 0 and snapshot.prices.get(symbol, ZERO) <= 0:
            raise InvalidInput(f"no positive price for held {symbol}", field="prices")
    total = 0.0
    for symbol, weight in snapshot.targets.items():
        if not 0 <= weight <= 1:
            raise InvalidInput(
                f"target weight of {symbol} must be in [0, 1], got {weight}", field="targets"
            )
        if snapshot.prices.get(symbol, ZERO) <= 0:
            raise InvalidInput(f"no positive price for target {symbol}", field="prices")
        total += weight
    if total > 1 + 1e-6:
        raise InvalidInput(f"target weights sum to {total:.6f}, more than 1", field="targets")
    if snapshot.cash < 0 or snapshot.withdrawal < 0:
        raise InvalidInput("cash and withdrawal must not be negative", field="cash")


def _values(snapshot: AccountSnapshot) -> dict[str, Decimal]:
    return {s: q * snapshot.prices[s] for s, q in snapshot.holdings.items() if q > 0}


def _slot_weights(
    values: Mapping[str, Decimal], cash_value: Decimal, base: Decimal, snapshot: AccountSnapshot
) -> dict[str, float]:
    weights: dict[str, float] = {}
    if base <= 0:
        return weights
    for symbol, value in values.items():
        slot = snapshot.slot(symbol)
        weights[slot] = weights.get(slot, 0.0) + float(value / base)
    weights[CASH_SLOT] = weights.get(CASH_SLOT, 0.0) + float(cash_value / base)
    return weights


def drift(weights: Mapping[str, float], targets: Mapping[str, float]) -> float:
    """``sum(|w - target|) / 2`` over the union of slots."""
    keys = set(weights) | set(targets)
    return sum(abs(weights.get(k, 0.0) - targets.get(k, 0.0)) for k in keys) / 2


def tolerance(
    target: float, policy: RebalancePolicy, *, overweight: bool, tax_impact: float
) -> float:
    """The band half-width of a slot (see the module docstring)."""
    base = min(policy.band_absolute, max(policy.band_relative * target, MIN_RELATIVE_BAND))
    return base * (1 + max(tax_impact, 0.0)) if overweight else base


def _round_quantity(notional: Decimal, price: Decimal, *, whole: bool) -> Decimal:
    step = Decimal(1) if whole else QUANTITY_QUANT
    return (notional / price).quantize(step, rounding=ROUND_DOWN)


def plan_rebalance(snapshot: AccountSnapshot, policy: RebalancePolicy) -> RebalancePlan:
    """The trades, if any, that the account needs now; see the module docstring."""
    _check(snapshot)
    values = _values(snapshot)
    invested = sum(values.values(), ZERO)
    total = invested + snapshot.cash
    if snapshot.withdrawal > total:
        raise InvalidInput(
            f"the withdrawal of {snapshot.withdrawal} exceeds the account's value of {cash(total)}",
            field="withdrawal",
        )
    base = total - snapshot.withdrawal
    slot_targets: dict[str, float] = {}
    for symbol, weight in snapshot.targets.items():
        if weight > 0:
            slot = snapshot.slot(symbol)
            slot_targets[slot] = slot_targets.get(slot, 0.0) + weight * (1 - policy.cash_buffer)
    slot_targets[CASH_SLOT] = (
        slot_targets.get(CASH_SLOT, 0.0)
        + policy.cash_buffer
        + (1 - sum(snapshot.targets.values())) * (1 - policy.cash_buffer)
    )
    weights_before = _slot_weights(values, snapshot.cash - snapshot.withdrawal, base, snapshot)
    slot_values: dict[str, Decimal] = {}
    for symbol, value in values.items():
        slot_values[snapshot.slot(symbol)] = slot_values.get(snapshot.slot(symbol), ZERO) + value
    drift_before = drift(weights_before, slot_targets) if base > 0 else 0.0
    out_of_band = []
    for slot in sorted(set(weights_before) | set(slot_targets)):
        if slot == CASH_SLOT:
            continue
        w, t = weights_before.get(slot, 0.0), slot_targets.get(slot, 0.0)
        over = w > t
        if abs(w - t) > tolerance(
            t, policy, overweight=over, tax_impact=snapshot.tax_impact.get(slot, 0.0)
        ):
            out_of_band.append(slot)

    spare_cash = snapshot.cash - snapshot.withdrawal - Decimal(str(policy.cash_buffer)) * base
    if snapshot.withdrawal > 0:
        trigger = Trigger.WITHDRAWAL
    elif drift_before > policy.drift_threshold or out_of_band:
        trigger = Trigger.DRIFT
    elif spare_cash > policy.min_trade_notional:
        trigger = Trigger.CASH_FLOW
    else:
        trigger = Trigger.NONE

    notes: list[str] = []
    sells: dict[str, Decimal] = {}  # symbol -> notional
    buys: dict[str, Decimal] = {}
    if trigger is Trigger.WITHDRAWAL:
        need = snapshot.withdrawal - snapshot.cash + Decimal(str(policy.cash_buffer)) * base
        if need > 0:
            _sell_for_cash(need, values, weights_before, slot_targets, base, snapshot, sells)
    elif trigger is Trigger.DRIFT:
        for slot in out_of_band:
            excess = slot_values.get(slot, ZERO) - _dec(slot_targets.get(slot, 0.0)) * base
            if excess > 0:
                _sell_from_slot(excess, slot, values, snapshot, sells)
    trades: list[PlannedTrade] = []
    for symbol, notional in sorted(sells.items()):
        price = snapshot.prices[symbol]
        held = snapshot.holdings.get(symbol, ZERO)
        qty = min(held, _round_quantity(notional, price, whole=symbol in snapshot.whole_shares))
        if (held - qty) * price < policy.min_trade_notional:
            qty = held
        if qty > 0 and qty * price >= policy.min_trade_notional:
            trades.append(PlannedTrade(symbol, "sell", qty, price, snapshot.slot(symbol)))
    raised = sum((t.quantity * t.price for t in trades), ZERO)
    available = spare_cash + raised * (1 - _dec(policy.sell_proceeds_haircut))
    if trigger in (Trigger.DRIFT, Trigger.CASH_FLOW) and available > 0:
        after_sells = dict(slot_values)
        for trade in trades:
            after_sells[trade.slot] -= trade.quantity * trade.price
        shortfalls = {
            slot: _dec(t) * base - after_sells.get(slot, ZERO)
            for slot, t in slot_targets.items()
            if slot != CASH_SLOT and _dec(t) * base - after_sells.get(slot, ZERO) > 0
        }
        total_short = sum(shortfalls.values(), ZERO)
        if total_short > 0:
            budget = min(available, total_short)
            for slot, short in sorted(shortfalls.items(), key=lambda kv: -kv[1]):
                chosen = _buy_symbol(slot, snapshot)
                if chosen is None:
                    notes.append(
                        f"no unblocked fund to buy for {slot}: every member is blocked by a recent harvest"
                    )
                    continue
                buys[chosen] = buys.get(chosen, ZERO) + budget * short / total_short
    allowance = Decimal(1) + _dec(policy.buy_price_allowance)
    for symbol, notional in sorted(buys.items()):
        price = snapshot.prices[symbol]
        qty = _round_quantity(notional / allowance, price, whole=symbol in snapshot.whole_shares)
        if qty > 0 and qty * price >= policy.min_trade_notional:
            trades.append(PlannedTrade(symbol, "buy", qty, price, snapshot.slot(symbol)))
    if trigger is not Trigger.NONE and not trades:
        notes.append("every trade was below the minimum trade size")
    after = _after(snapshot, trades)
    after_values = _values(after)
    weights_after = _slot_weights(after_values, after.cash - snapshot.withdrawal, base, snapshot)
    return RebalancePlan(
        trigger=trigger if trades else Trigger.NONE,
        trades=tuple(trades),
        total_value=cash(total),
        drift_before=drift_before,
        drift_after=drift(weights_after, slot_targets) if base > 0 else 0.0,
        weights_before=_symbol_weights(values, snapshot.cash, total),
        weights_after=_symbol_weights(after_values, after.cash, total),
        slot_weights_before=weights_before,
        slot_weights_after=weights_after,
        slot_targets=slot_targets,
        out_of_band=tuple(out_of_band),
        notes=tuple(notes),
    )


def _dec(value: float) -> Decimal:
    """A float weight as a Decimal with 12 significant places (no binary round-off in money)."""
    return Decimal(f"{value:.12g}")


def _symbol_weights(
    values: Mapping[str, Decimal], cash_value: Decimal, total: Decimal
) -> dict[str, float]:
    if total <= 0:
        return {}
    weights = {s: float(v / total) for s, v in values.items()}
    weights[CASH_SLOT] = float(cash_value / total)
    return weights


def _sell_from_slot(
    notional: Decimal,
    slot: str,
    values: Mapping[str, Decimal],
    snapshot: AccountSnapshot,
    sells: dict[str, Decimal],
) -> None:
    """Sell ``notional`` of a slot: symbols that are not targeted first, then the largest."""
    members = [s for s in values if snapshot.slot(s) == slot]
    members.sort(key=lambda s: (snapshot.targets.get(s, 0.0) > 0, -values[s]))
    left = notional
    for symbol in members:
        if left <= 0:
            break
        take = min(left, values[symbol] - sells.get(symbol, ZERO))
        if take > 0:
            sells[symbol] = sells.get(symbol, ZERO) + take
            left -= take


def _sell_for_cash(
    need: Decimal,
    values: Mapping[str, Decimal],
    weights: Mapping[str, float],
    targets: Mapping[str, float],
    base: Decimal,
    snapshot: AccountSnapshot,
    sells: dict[str, Decimal],
) -> None:
    """Raise ``need`` in cash: overweights first (largest first), then pro rata to what is left."""
    left = need
    overweights = sorted(
        ((slot, w - targets.get(slot, 0.0)) for slot, w in weights.items() if slot != CASH_SLOT),
        key=lambda kv: -kv[1],
    )
    for slot, excess in overweights:
        if left <= 0 or excess <= 0:
            break
        amount = min(left, Decimal(str(excess)) * base)
        _sell_from_slot(amount, slot, values, snapshot, sells)
        left -= amount
    if left > 0:
        remaining = {s: v - sells.get(s, ZERO) for s, v in values.items()}
        pool = sum(remaining.values(), ZERO)
        if pool < left:
            raise InvalidInput("the holdings cannot raise the withdrawal", field="withdrawal")
        for symbol, value in remaining.items():
            if value > 0:
                sells[symbol] = sells.get(symbol, ZERO) + left * value / pool


def _buy_symbol(slot: str, snapshot: AccountSnapshot) -> str | None:
    """The target symbol of a slot, or its first unblocked alternate."""
    targeted = [s for s, w in snapshot.targets.items() if w > 0 and snapshot.slot(s) == slot]
    candidates = [*targeted, *snapshot.slot_members.get(slot, ())]
    for symbol in candidates:
        if symbol not in snapshot.blocked and snapshot.prices.get(symbol, ZERO) > 0:
            return symbol
    return None


def _after(snapshot: AccountSnapshot, trades: Sequence[PlannedTrade]) -> AccountSnapshot:
    holdings = dict(snapshot.holdings)
    cash_left = snapshot.cash
    for trade in trades:
        sign = 1 if trade.side == "buy" else -1
        holdings[trade.symbol] = holdings.get(trade.symbol, ZERO) + sign * trade.quantity
        cash_left -= sign * trade.quantity * trade.price
    prices = dict(snapshot.prices)
    return AccountSnapshot(
        holdings=holdings,
        prices=prices,
        cash=cash_left,
        targets=snapshot.targets,
        slot_of=snapshot.slot_of,
    )
