"""Rebalance proposals: built from drift, cash flows and harvestable losses; approved by an advisor
(or automatically, for the classes the firm allows); then executed.

States: draft → pending → approved → executing → done | partially done | failed, or pending →
rejected | superseded | expired. Every transition is audited (who, when, from, to, why). An
approval is a conditional update under a row lock: two advisors, a double click or a retry get
exactly one approval; approving a superseded or expired proposal is refused. A proposal whose
prices have moved beyond the firm's tolerance since it was priced expires instead of trading.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from advisor.models import Role
from portfolios.clock import firm_today
from portfolios.core import tax
from portfolios.core.drift import (
    AccountSnapshot,
    RebalancePlan,
    RebalancePolicy,
    Trigger,
    plan_rebalance,
)
from portfolios.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from portfolios.core.money import QUANTITY_QUANT, ZERO, cash
from portfolios.core.tax.harvest import HarvestProposal
from portfolios.core.tax.lots import format_quantity
from portfolios.ledger import (
    account_tax_type,
    household_rates,
    lot_method,
)
from portfolios.live import advisor_group, domain_event_send, household_group, publish_on_commit
from portfolios.models import (
    OPEN_PROPOSAL_STATUSES,
    Account,
    AccountType,
    Asset,
    FirmSettings,
    HarvestBlock,
    Position,
    PriceBar,
    ProposalReason,
    ProposalStatus,
    ProposalTrade,
    RebalanceProposal,
    Recommendation,
    TaxLot,
)
from portfolios.prepared import prepared_read
from portfolios.selectors import latest_prices, price_frame
from portfolios.services import audit_record
from trading.core.costs import FeeSchedule, estimate_trading_cost

OPEN_FOR_REPLACEMENT = (ProposalStatus.DRAFT, ProposalStatus.PENDING)
#: What sales bring below their value at the last price (half the spread and impact), budgeted.
SELL_PROCEEDS_HAIRCUT = 0.002


def money(value: Decimal) -> str:
    """``$1,234.56`` (``−$12.00`` for a negative amount), for explanations."""
    amount = cash(value)
    return f"−${-amount:,.2f}" if amount < 0 else f"${amount:,.2f}"


DEFAULT_SPREAD_BPS = {"etf": Decimal("3"), "stock": Decimal("8")}


def _policy(firm: FirmSettings) -> RebalancePolicy:
    from trading.models import ExecutionPolicy

    return RebalancePolicy(
        drift_threshold=float(firm.drift_threshold),
        band_absolute=float(firm.band_absolute),
        band_relative=float(firm.band_relative),
        min_trade_notional=firm.min_trade_notional,
        cash_buffer=float(firm.cash_buffer),
        buy_price_allowance=float(ExecutionPolicy.current().buy_limit_allowance),
        sell_proceeds_haircut=SELL_PROCEEDS_HAIRCUT,
    )


class MarketSnapshot:
    """What every account of one run shares, read once: the universe with its slots, prices on
    ``as_of``, identity groups, and a year of returns with volatilities and volumes (for cost
    and risk estimates).

    The returns and volumes are read when a proposal is first priced with them: a run in which
    no account needs trades never reads them.
    """

    def __init__(self, *, as_of: dt.date) -> None:
        self.as_of = as_of
        self.assets = {a.symbol: a for a in _all_assets()}
        self.slot_of = {s: (a.replacement_group or s) for s, a in self.assets.items()}
        self.slot_members: dict[str, list[str]] = {}
        for symbol in sorted(self.assets):
            asset = self.assets[symbol]
            if asset.replacement_group and asset.is_active:
                self.slot_members.setdefault(asset.replacement_group, []).append(symbol)
        self.prices = {p.symbol: p.close for p in latest_prices(on=as_of).values()}
        self.identity_groups = {
            s: a.identity_group for s, a in self.assets.items() if a.identity_group
        }

    @cached_property
    def returns(self) -> pd.DataFrame:
        """Daily returns of the year before ``as_of`` (date x symbol), NaN where a bar is missing."""
        closes = price_frame(
            asset_ids=[a.pk for a in self.assets.values()],
            start=self.as_of - dt.timedelta(days=400),
            end=self.as_of,
        )
        return closes.pct_change(fill_method=None).iloc[1:] if not closes.empty else closes

    @cached_property
    def return_matrix(self) -> np.ndarray:
        return self.returns.to_numpy(dtype=float) if not self.returns.empty else np.zeros((0, 0))

    @cached_property
    def column(self) -> dict[str, int]:
        return {str(symbol): i for i, symbol in enumerate(self.returns.columns)}

    @cached_property
    def volatility(self) -> dict[str, float]:
        """Daily volatility per symbol; 0.01 for a symbol with fewer than 6 returns."""
        # the frame's std reduces each column as Series.std does: the same figures, one call
        std = dict(zip(self.returns.columns, self.returns.std().tolist(), strict=True))
        observed = dict(zip(self.returns.columns, self.returns.count().tolist(), strict=True))
        return {s: std[s] if observed.get(s, 0) > 5 else 0.01 for s in self.assets}

    @cached_property
    def volume(self) -> dict[str, Decimal]:
        """Average daily volume per symbol over the 35 days to ``as_of``."""
        symbol_of = {a.pk: s for s, a in self.assets.items()}
        volumes: dict[str, list[int]] = {}
        for asset_id, volume in _volumes_between(self.as_of - dt.timedelta(days=35), self.as_of):
            if asset_id in symbol_of:
                volumes.setdefault(symbol_of[asset_id], []).append(volume)
        return {s: Decimal(sum(v) // len(v)) for s, v in volumes.items() if v}

    def identity_key(self, symbol: str) -> str:
        group = self.identity_groups.get(symbol)
        return f"group:{group}" if group else f"symbol:{symbol}"


@prepared_read
def _volumes_between(after: dt.date, through: dt.date) -> QuerySet[PriceBar, Any]:
    return (
        PriceBar.objects.filter(date__lte=through, date__gt=after)
        .order_by()
        .values_list("asset_id", "volume")
    )


@prepared_read
def _all_assets() -> QuerySet[Asset]:
    return Asset.objects.all()


@prepared_read
def _accounts_with_households(account_ids: list[int]) -> QuerySet[Account]:
    return Account.objects.filter(pk__in=account_ids).select_related("household")


@prepared_read
def _current_recommendations(household_ids: list[int]) -> QuerySet[Recommendation]:
    return Recommendation.objects.filter(household_id__in=household_ids, is_current=True)


@prepared_read
def _holdings_of(account_ids: list[int]) -> QuerySet[Position, Any]:
    return Position.objects.filter(account_id__in=account_ids, quantity__gt=0).values_list(
        "account_id", "asset__symbol", "quantity"
    )


@prepared_read
def _open_lots_of(account_ids: list[int]) -> QuerySet[TaxLot, Any]:
    return (
        TaxLot.objects.filter(account_id__in=account_ids, quantity__gt=0)
        .order_by("id")
        .values_list(
            "pk",
            "account_id",
            "asset__symbol",
            "quantity",
            "cost_basis",
            "acquired_on",
            "holding_period_start",
            "acquisition_id",
            "wash_sale_adjustment",
            "replacement_for_id",
        )
    )


@prepared_read
def _blocks_in_force(household_ids: list[int], on: dt.date) -> QuerySet[HarvestBlock, Any]:
    return HarvestBlock.objects.filter(
        household_id__in=household_ids, blocked_until__gte=on
    ).values_list("household_id", "identity_key")


class AccountBooks:
    """The accounts of one run with their positions, lots, recommendations and blocks, read in a
    handful of queries whatever the number of accounts."""

    def __init__(self, *, account_ids: Sequence[int], market: MarketSnapshot) -> None:
        self.accounts = {a.pk: a for a in _accounts_with_households(list(account_ids))}
        households = sorted({a.household_id for a in self.accounts.values()})
        self.recommendations = {r.household_id: r for r in _current_recommendations(households)}
        self.holdings: dict[int, dict[str, Decimal]] = {pk: {} for pk in self.accounts}
        for account_id, symbol, qty in _holdings_of(list(self.accounts)):
            self.holdings[account_id][symbol] = qty
        self.lots: dict[int, dict[str, list[tax.TaxLot]]] = {pk: {} for pk in self.accounts}
        for (
            pk,
            account_id,
            symbol,
            qty,
            basis,
            acquired,
            start,
            acquisition,
            adjustment,
            replaced,
        ) in _open_lots_of(list(self.accounts)):
            self.lots[account_id].setdefault(symbol, []).append(
                tax.TaxLot(
                    lot_id=str(pk),
                    account_id=str(account_id),
                    symbol=symbol,
                    quantity=qty,
                    cost_basis=basis,
                    acquired_on=acquired,
                    tacked_acquired_on=start if start != acquired else None,
                    acquisition_id=acquisition,
                    wash_sale_adjustment=adjustment,
                    replacement_for=str(replaced) if replaced else None,
                )
            )
        keys: dict[int, set[str]] = {}
        for household_id, key in _blocks_in_force(households, market.as_of):
            keys.setdefault(household_id, set()).add(key)
        self.blocked = {
            household_id: frozenset(
                s for s in market.assets if market.identity_key(s) in household_keys
            )
            for household_id, household_keys in keys.items()
        }


def active_blocks(household_id: int, on: dt.date) -> set[str]:
    """Symbols no account of the household may buy on ``on`` (harvest wash-sale blocks)."""
    market = MarketSnapshot(as_of=on)
    keys = set(
        HarvestBlock.objects.filter(household_id=household_id, blocked_until__gte=on).values_list(
            "identity_key", flat=True
        )
    )
    return {s for s in market.assets if market.identity_key(s) in keys}


def _overweight_slots(
    holdings: Mapping[str, Decimal],
    prices: Mapping[str, Decimal],
    cash_: Decimal,
    targets: Mapping[str, float],
    market: MarketSnapshot,
) -> set[str]:
    """Slots held above their target: only their bands need the tax impact factor."""
    total = sum((q * prices[s] for s, q in holdings.items() if s in prices), ZERO) + cash_
    if total <= 0:
        return set()
    weights: dict[str, float] = {}
    for symbol, qty in holdings.items():
        if symbol in prices:
            slot = market.slot_of.get(symbol, symbol)
            weights[slot] = weights.get(slot, 0.0) + float(qty * prices[symbol] / total)
    slot_targets: dict[str, float] = {}
    for symbol, weight in targets.items():
        slot = market.slot_of.get(symbol, symbol)
        slot_targets[slot] = slot_targets.get(slot, 0.0) + weight
    return {slot for slot, w in weights.items() if w > slot_targets.get(slot, 0.0)}


@dataclass
class AccountContext:
    account: Account
    recommendation: Recommendation | None
    snapshot: AccountSnapshot
    lots: dict[str, list[tax.TaxLot]]
    assets: dict[str, Asset]
    market: MarketSnapshot


def account_context(
    *,
    account: Account,
    as_of: dt.date,
    withdrawal: Decimal = ZERO,
    market: MarketSnapshot | None = None,
    books: AccountBooks | None = None,
) -> AccountContext:
    """Everything the rebalancer needs about one account (from the run's shared reads if given)."""
    market = market or MarketSnapshot(as_of=as_of)
    books = books or AccountBooks(account_ids=[account.pk], market=market)
    recommendation = books.recommendations.get(account.household_id)
    targets = dict(recommendation.weights) if recommendation else {}
    holdings = books.holdings.get(account.pk, {})
    lots = books.lots.get(account.pk, {})
    symbols = set(holdings) | set(targets)
    slots = {market.slot_of.get(s, s) for s in symbols}
    wanted = symbols | {m for slot in slots for m in market.slot_members.get(slot, [])}
    assets = {s: market.assets[s] for s in wanted if s in market.assets}
    prices = {s: market.prices[s] for s in wanted if s in market.prices}
    missing = [s for s in symbols if s not in prices]
    if missing:
        raise InvalidInput(
            f"no price on or before {as_of} for {', '.join(sorted(missing))}", field="prices"
        )
    account_type = account_tax_type(account.account_type)
    rates = household_rates(account.household)
    tax_impact: dict[str, float] = {}
    if account_type is tax.AccountType.TAXABLE:
        overweight = _overweight_slots(holdings, prices, account.cash, targets, market)
        for symbol, qty in holdings.items():
            if (
                market.slot_of.get(symbol, symbol) in overweight
                and symbol in prices
                and lots.get(symbol)
            ):
                factor = tax.tax_impact_factor(
                    lots[symbol],
                    quantity=qty,
                    price=prices[symbol],
                    sale_date=as_of,
                    rates=rates,
                    account_type=account_type,
                )
                slot = market.slot_of.get(symbol, symbol)
                tax_impact[slot] = max(tax_impact.get(slot, 0.0), factor)
    snapshot = AccountSnapshot(
        holdings=holdings,
        prices=prices,
        cash=account.cash,
        targets=targets,
        slot_of={s: market.slot_of.get(s, s) for s in wanted},
        slot_members={slot: market.slot_members.get(slot, []) for slot in slots},
        withdrawal=withdrawal,
        blocked=books.blocked.get(account.household_id, frozenset()),
        whole_shares=frozenset(s for s, a in assets.items() if not a.fractionable),
        tax_impact=tax_impact,
    )
    return AccountContext(
        account=account,
        recommendation=recommendation,
        snapshot=snapshot,
        lots=lots,
        assets=assets,
        market=market,
    )


@dataclass(frozen=True)
class TradeEstimate:
    gain_short: Decimal
    gain_long: Decimal
    cost: Decimal


def estimate_sale(
    context: AccountContext, symbol: str, qty: Decimal, price: Decimal, on: dt.date
) -> tuple[Decimal, Decimal, list[dict[str, str]]]:
    """Realised short and long gains of a sale by the account's lot method, and the lots it closes."""
    lots = context.lots.get(symbol, [])
    if not lots:
        return ZERO, ZERO, []
    method = lot_method(context.account.lot_method)
    if method is tax.LotMethod.SPECIFIC:
        method = tax.LotMethod.TAX_MINIMISING
    closing = tax.close_lots(
        lots,
        quantity=qty,
        sale_price=price,
        sale_date=on,
        method=method,
        rates=household_rates(context.account.household),
        reportable=context.account.account_type == AccountType.TAXABLE,
    )
    short = sum(
        (c.proceeds - c.cost_basis for c in closing.closures if c.term is tax.Term.SHORT), ZERO
    )
    long_ = sum(
        (c.proceeds - c.cost_basis for c in closing.closures if c.term is tax.Term.LONG), ZERO
    )
    used = [{"lot": c.lot_id, "quantity": str(c.quantity)} for c in closing.closures]
    if context.account.account_type != AccountType.TAXABLE:
        return ZERO, ZERO, used
    return short, long_, used


def _risk(weights: Mapping[str, float], market: MarketSnapshot) -> dict[str, float]:
    """Annualised volatility and 1-day 95% historical VaR and expected shortfall of ``weights``
    (cash at zero risk), from the run's year of daily returns; days with a missing price dropped."""
    from portfolios.core.risk import expected_shortfall, value_at_risk

    held = [s for s, w in weights.items() if s in market.column and w]
    if not held:
        return {"volatility": 0.0, "var_95": 0.0, "es_95": 0.0}
    sub = market.return_matrix[:, [market.column[s] for s in held]]
    sub = sub[~np.isnan(sub).any(axis=1)]
    if len(sub) < 20:
        return {"volatility": 0.0, "var_95": 0.0, "es_95": 0.0}
    w = np.array([weights[s] for s in held])
    portfolio = sub @ w
    return {
        "volatility": round(float(np.std(portfolio, ddof=1) * np.sqrt(252)), 6),
        "var_95": round(float(value_at_risk(portfolio, level=0.95)), 6),
        "es_95": round(float(expected_shortfall(portfolio, level=0.95)), 6),
    }


def _reason(trigger: Trigger, *, harvest: bool, profile_change: bool) -> str:
    if harvest:
        return ProposalReason.HARVEST
    if profile_change:
        return ProposalReason.PROFILE_CHANGE
    if trigger in (Trigger.CASH_FLOW, Trigger.WITHDRAWAL):
        return ProposalReason.CASH_FLOW
    return ProposalReason.DRIFT


@dataclass(frozen=True)
class DraftTrade:
    symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    purpose: str = ProposalTrade.Purpose.REBALANCE
    lots: tuple[dict[str, str], ...] = ()


def proposal_build(
    *,
    account_id: int,
    as_of: dt.date,
    now: dt.datetime,
    withdrawal: Decimal = ZERO,
    profile_change: bool = False,
    harvest: HarvestProposal | None = None,
    firm: FirmSettings | None = None,
    market: MarketSnapshot | None = None,
    books: AccountBooks | None = None,
    notify: bool = True,
) -> RebalanceProposal | None:
    """Price what the account needs now and store it as a pending proposal (or None: nothing to do).

    A newer proposal supersedes the account's draft or pending one; while one is approved or
    executing, nothing new is proposed. A daily run passes the ``market`` and ``books`` it read
    once for all its accounts.
    """
    firm = firm or FirmSettings.current()
    account = (
        books.accounts[account_id]
        if books and account_id in books.accounts
        else (Account.objects.select_related("household").get(pk=account_id))
    )
    context = account_context(
        account=account, as_of=as_of, withdrawal=withdrawal, market=market, books=books
    )
    if context.recommendation is None and harvest is None and withdrawal == 0:
        return None
    policy = _policy(firm)
    plan = plan_rebalance(context.snapshot, policy)
    drafts: list[DraftTrade] = []
    notes = list(plan.notes)
    if harvest is not None:
        drafts = _harvest_drafts(harvest, context, policy)
        trigger = Trigger.DRIFT
    else:
        trigger = plan.trigger
        if trigger is Trigger.NONE:
            return None
        for trade in plan.trades:
            purpose = (
                ProposalTrade.Purpose.CASH_FLOW
                if trigger in (Trigger.CASH_FLOW, Trigger.WITHDRAWAL)
                else ProposalTrade.Purpose.REBALANCE
            )
            drafts.append(
                DraftTrade(trade.symbol, trade.side, trade.quantity, trade.price, purpose)
            )
    if not drafts:
        return None
    return _store(
        context=context,
        plan=plan,
        drafts=drafts,
        as_of=as_of,
        now=now,
        firm=firm,
        reason=_reason(trigger, harvest=harvest is not None, profile_change=profile_change),
        notes=notes,
        withdrawal=withdrawal,
        harvest_benefit=harvest.net_benefit if harvest is not None else None,
        notify=notify,
    )


def _harvest_drafts(
    harvest: HarvestProposal, context: AccountContext, policy: RebalancePolicy
) -> list[DraftTrade]:
    prices = context.snapshot.prices
    drafts = [
        DraftTrade(
            harvest.symbol,
            "sell",
            harvest.quantity,
            prices.get(harvest.symbol, harvest.replacement_price),
            ProposalTrade.Purpose.HARVEST_SELL,
            tuple({"lot": lot.lot_id, "quantity": str(lot.quantity)} for lot in harvest.lots),
        )
    ]
    if harvest.replacement_symbol and harvest.replacement_quantity > 0:
        # the same dollar exposure, sized at the buy's protected limit so the proceeds cover it
        allowance = Decimal(1) + Decimal(str(policy.buy_price_allowance))
        haircut = Decimal(1) - Decimal(str(policy.sell_proceeds_haircut))
        asset = context.market.assets.get(harvest.replacement_symbol)
        step = QUANTITY_QUANT if asset is None or asset.fractionable else Decimal(1)
        quantity = (harvest.replacement_quantity * haircut / allowance).quantize(
            step, rounding=ROUND_DOWN
        )
        if quantity > 0:
            drafts.append(
                DraftTrade(
                    harvest.replacement_symbol,
                    "buy",
                    quantity,
                    harvest.replacement_price,
                    ProposalTrade.Purpose.HARVEST_REPLACE,
                )
            )
    return drafts


def _store(
    *,
    context: AccountContext,
    plan: RebalancePlan,
    drafts: Sequence[DraftTrade],
    as_of: dt.date,
    now: dt.datetime,
    firm: FirmSettings,
    reason: str,
    notes: list[str],
    withdrawal: Decimal,
    harvest_benefit: Decimal | None = None,
    notify: bool = True,
) -> RebalanceProposal | None:
    account = context.account
    market = context.market
    vols, volumes = market.volatility, market.volume
    fees = FeeSchedule(per_share=ZERO, bps=ZERO, minimum=firm.commission_per_trade)
    gain_short = gain_long = costs = ZERO
    rows: list[dict[str, Any]] = []
    ordered = sorted(drafts, key=lambda d: (d.side != "sell", d.symbol))
    for sequence, draft in enumerate(ordered, start=1):
        asset = context.assets.get(draft.symbol) or Asset.objects.get(symbol=draft.symbol)
        estimate = estimate_trading_cost(
            quantity=draft.quantity,
            price=draft.price,
            spread_bps=DEFAULT_SPREAD_BPS.get(asset.security_type, Decimal(5)),
            daily_volatility=max(vols.get(draft.symbol, 0.01), 1e-4),
            average_daily_volume=max(volumes.get(draft.symbol, ZERO), Decimal(1)),
            fees=fees,
        )
        gain = ZERO
        lots: list[dict[str, str]] = list(draft.lots)
        if draft.side == "sell":
            short, long_, used = estimate_sale(
                context, draft.symbol, draft.quantity, draft.price, as_of
            )
            gain_short += short
            gain_long += long_
            gain = short + long_
            lots = lots or used
        costs += estimate.total
        rows.append(
            {
                "sequence": sequence,
                "asset": asset,
                "side": draft.side,
                "quantity": draft.quantity,
                "estimated_price": draft.price,
                "notional": cash(draft.quantity * draft.price),
                "estimated_cost": cash(estimate.total),
                "estimated_gain": cash(gain),
                "lots": lots,
                "purpose": draft.purpose,
            }
        )
    rates = household_rates(account.household)
    taxable = account.account_type == AccountType.TAXABLE
    estimated_tax = (
        max(gain_short * rates.short_term + gain_long * rates.long_term, ZERO) if taxable else ZERO
    )
    weights_after = _weights_after(context, drafts, total=plan.total_value)
    drift_after = _slot_drift(weights_after, context, plan.slot_targets)
    explanation = _explain(
        reason=reason,
        plan=plan,
        drafts=ordered,
        notes=notes,
        withdrawal=withdrawal,
        gain_short=gain_short,
        gain_long=gain_long,
        tax_=estimated_tax,
        costs=costs,
        taxable=taxable,
        harvest_benefit=harvest_benefit,
    )
    with transaction.atomic():
        Account.objects.select_for_update().filter(pk=account.pk).values_list("pk").get()
        open_now = list(
            RebalanceProposal.objects.select_for_update().filter(
                account=account, status__in=[s.value for s in OPEN_PROPOSAL_STATUSES]
            )
        )
        if any(p.status in (ProposalStatus.APPROVED, ProposalStatus.EXECUTING) for p in open_now):
            return None  # one is being traded: propose again after it
        replaced = [p for p in open_now if p.status in OPEN_FOR_REPLACEMENT]
        for old in replaced:
            _transition(
                old,
                ProposalStatus.SUPERSEDED,
                actor_id=None,
                reason="superseded by a newer proposal",
            )
        proposal = RebalanceProposal.objects.create(
            account=account,
            recommendation=context.recommendation,
            status=ProposalStatus.DRAFT,
            reason=reason,
            total_value=plan.total_value,
            drift_before=round(plan.drift_before, 6),
            drift_after=round(drift_after, 6),
            target_weights=context.recommendation.weights if context.recommendation else {},
            weights_before={k: round(v, 6) for k, v in plan.weights_before.items()},
            weights_after={k: round(v, 6) for k, v in weights_after.items()},
            prices={s: str(p) for s, p in context.snapshot.prices.items()},
            priced_at=now,
            realized_gain_short=cash(gain_short),
            realized_gain_long=cash(gain_long),
            estimated_tax=cash(estimated_tax),
            estimated_tax_saving=cash(harvest_benefit) if harvest_benefit is not None else ZERO,
            estimated_costs=cash(costs),
            risk_before=_risk(plan.weights_before, market),
            risk_after=_risk(weights_after, market),
            explanation=explanation,
            withdrawal_amount=cash(withdrawal),
        )
        ProposalTrade.objects.bulk_create([ProposalTrade(proposal=proposal, **row) for row in rows])
        RebalanceProposal.objects.filter(pk__in=[old.pk for old in replaced]).update(
            superseded_by=proposal
        )
        _transition(proposal, ProposalStatus.PENDING, actor_id=None, reason=f"created ({reason})")
        if notify:
            _notify(proposal, "proposal.created")
        if _auto_approvable(proposal, firm, notional=sum((row["notional"] for row in rows), ZERO)):
            _transition(
                proposal,
                ProposalStatus.APPROVED,
                actor_id=None,
                reason="approved automatically by firm policy",
            )
            proposal.auto_approved = True
            proposal.decided_at = now
            proposal.save(update_fields=["auto_approved", "decided_at"])
            _enqueue_execution(proposal.pk)
    return proposal


def _slot_drift(
    weights: Mapping[str, float], context: AccountContext, targets: Mapping[str, float]
) -> float:
    """Drift of symbol weights against slot targets (the same measure as the plan's)."""
    from portfolios.core.drift import CASH_SLOT, drift

    by_slot: dict[str, float] = {}
    for symbol, weight in weights.items():
        slot = CASH_SLOT if symbol == "cash" else context.snapshot.slot(symbol)
        by_slot[slot] = by_slot.get(slot, 0.0) + weight
    return drift(by_slot, targets)


def _weights_after(
    context: AccountContext, drafts: Sequence[DraftTrade], *, total: Decimal
) -> dict[str, float]:
    values = {s: q * context.snapshot.prices[s] for s, q in context.snapshot.holdings.items()}
    cash_left = context.snapshot.cash
    for d in drafts:
        sign = 1 if d.side == "buy" else -1
        values[d.symbol] = values.get(d.symbol, ZERO) + sign * d.quantity * d.price
        cash_left -= sign * d.quantity * d.price
    if total <= 0:
        return {}
    weights = {s: float(v / total) for s, v in values.items() if v > 0}
    weights["cash"] = float(cash_left / total)
    return weights


def _explain(
    *,
    reason: str,
    plan: RebalancePlan,
    drafts: Sequence[DraftTrade],
    notes: list[str],
    withdrawal: Decimal,
    gain_short: Decimal,
    gain_long: Decimal,
    tax_: Decimal,
    costs: Decimal,
    taxable: bool,
    harvest_benefit: Decimal | None = None,
) -> list[str]:
    lines = []
    if reason == ProposalReason.HARVEST:
        sell = drafts[0]
        lines.append(
            f"Harvest a loss: sell {format_quantity(sell.quantity)} {sell.symbol} below its cost and keep the exposure."
        )
        if harvest_benefit is not None:
            lines.append(f"Estimated tax benefit {money(harvest_benefit)} net of trading costs.")
        if len(drafts) > 1:
            lines.append(
                f"Buy {drafts[1].symbol}, similar but not substantially identical, with the proceeds; "
                f"{sell.symbol} is then blocked for 30 days in every account of the household."
            )
    elif withdrawal > 0:
        lines.append(
            f"Raise {money(withdrawal)} for a withdrawal, selling overweight positions first."
        )
    elif reason == ProposalReason.CASH_FLOW:
        lines.append("Invest new cash in the positions furthest below target; nothing is sold.")
    else:
        lines.append(
            f"The account has drifted {plan.drift_before:.1%} from its target "
            f"(it is rebalanced above the firm's threshold or when a position leaves its band)."
        )
        if plan.out_of_band:
            names = [slot.replace("_", " ") for slot in plan.out_of_band]
            lines.append("Outside their bands: " + ", ".join(names) + ".")
        lines.append(f"After these trades the drift is {plan.drift_after:.1%}.")
    if taxable:
        lines.append(
            f"Estimated realised gains: short-term {money(gain_short)}, long-term {money(gain_long)}; "
            f"estimated tax {money(tax_)}."
        )
    else:
        lines.append("Tax-advantaged account: no realised gains are taxed.")
    lines.append(f"Estimated trading costs (spread, impact, commissions): {money(costs)}.")
    lines.extend(notes)
    return lines


def _auto_approvable(proposal: RebalanceProposal, firm: FirmSettings, *, notional: Decimal) -> bool:
    """Whether the firm approves this class of proposal without an advisor."""
    if proposal.reason == ProposalReason.HARVEST:
        return firm.auto_approve_harvests
    if proposal.reason == ProposalReason.CASH_FLOW and firm.auto_approve_cash_flow_max > 0:
        return notional <= firm.auto_approve_cash_flow_max
    return False


def _transition(proposal: RebalanceProposal, to: str, *, actor_id: int | None, reason: str) -> None:
    old = proposal.status
    proposal.status = to
    proposal.save(update_fields=["status", "updated_at"])
    audit_record(
        actor_id=actor_id,
        action=f"proposal.{to}",
        obj=proposal,
        from_state=old,
        to_state=to,
        reason=reason,
    )
    if to in (ProposalStatus.PENDING, ProposalStatus.APPROVED) and old != to:
        domain_event_send(
            event="proposal.created" if to == ProposalStatus.PENDING else "proposal.approved",
            payload={
                "proposal": proposal.pk,
                "account": proposal.account_id,
                "status": to,
                "reason": proposal.reason,
                "actor": actor_id,
            },
            household_id=proposal.account.household_id,
        )


def _notify(proposal: RebalanceProposal, event: str) -> None:
    household_id = proposal.account.household_id
    advisors = set(
        proposal.account.household.clients.exclude(advisor__isnull=True).values_list(
            "advisor_id", flat=True
        )
    )
    publish_on_commit(
        groups=[household_group(household_id), *(advisor_group(a) for a in advisors)],
        event=event,
        payload={"proposal": proposal.pk, "status": proposal.status, "reason": proposal.reason},
    )


def _enqueue_execution(proposal_id: int) -> None:
    from worker.tasks import trading_execute_proposal

    trading_execute_proposal.delay(proposal_id)  # after commit (the base task class waits)


def _can_decide(actor: Any, proposal: RebalanceProposal) -> None:
    if actor is None or not actor.is_authenticated:
        raise PermissionDenied("sign in to decide on proposals")
    if actor.role == Role.STAFF:
        return
    if (
        actor.role != Role.ADVISOR
        or not proposal.account.household.clients.filter(advisor=actor).exists()
    ):
        raise NotFound(f"proposal {proposal.pk} not found")


def _moved(proposal: RebalanceProposal, tolerance: Decimal) -> list[str]:
    trades = list(proposal.trades.values_list("asset_id", "asset__symbol"))
    symbols = [symbol for _, symbol in trades]
    now_prices = {
        p.symbol: p.close for p in latest_prices(asset_ids={pk for pk, _ in trades}).values()
    }
    moved = []
    for symbol in symbols:
        then = Decimal(proposal.prices.get(symbol, "0"))
        current = now_prices.get(symbol)
        if then > 0 and current is not None and abs(current / then - 1) > tolerance:
            moved.append(f"{symbol} {then:.2f} → {current:.2f}")
    return moved


@prepared_read
def _proposal_for_decision(proposal_id: int) -> QuerySet[RebalanceProposal]:
    return (
        RebalanceProposal.objects.select_for_update()
        .select_related("account__household")
        .filter(pk=proposal_id)
    )


def _pending_for_decision(proposal_id: int, actor: Any, *, verb: str) -> RebalanceProposal:
    """The proposal, locked, if the actor may decide on it and it is still pending.

    The row lock makes concurrent decisions queue up: the first one wins, the others see the
    proposal no longer pending and get a Conflict.
    """
    rows = _proposal_for_decision(proposal_id)
    if not rows:
        raise NotFound(f"proposal {proposal_id} not found")
    proposal = rows[0]
    _can_decide(actor, proposal)
    if proposal.status != ProposalStatus.PENDING:
        raise Conflict(
            f"proposal {proposal_id} is {proposal.get_status_display().lower()}; "
            f"only a pending proposal can be {verb}"
        )
    return proposal


def proposal_approve(
    *,
    proposal_id: int,
    actor: Any,
    comment: str = "",
    now: dt.datetime | None = None,
    execute: bool = True,
) -> RebalanceProposal:
    """Approve a pending proposal (exactly once) and queue its execution after commit.

    ``execute=False`` leaves the execution to the caller: a backtest executes approved proposals
    itself, at the next simulated trading day, instead of a worker doing it at wall-clock time.
    """
    now = now or timezone.now()
    firm = FirmSettings.current()
    with transaction.atomic():
        proposal = _pending_for_decision(proposal_id, actor, verb="approved")
        moved = _moved(proposal, firm.proposal_price_tolerance)
        if moved:
            _transition(
                proposal,
                ProposalStatus.EXPIRED,
                actor_id=actor.pk,
                reason=f"prices moved more than {firm.proposal_price_tolerance:.0%} since pricing: "
                + ", ".join(moved),
            )
            expired = True
        else:
            proposal.advisor_comment = comment.strip()
            proposal.decided_by = actor
            proposal.decided_at = now
            proposal.save(update_fields=["advisor_comment", "decided_by", "decided_at"])
            _transition(
                proposal,
                ProposalStatus.APPROVED,
                actor_id=actor.pk,
                reason=comment.strip() or "approved",
            )
            _notify(proposal, "proposal.approved")
            if execute:
                _enqueue_execution(proposal.pk)
            expired = False
    if expired:
        raise Conflict(
            f"proposal {proposal_id} expired: prices moved since it was priced ({', '.join(moved)}); re-price it"
        )
    return proposal


def proposal_reject(
    *, proposal_id: int, actor: Any, comment: str, now: dt.datetime | None = None
) -> RebalanceProposal:
    if not comment.strip():
        raise InvalidInput("say why the proposal is rejected", field="comment")
    now = now or timezone.now()
    with transaction.atomic():
        proposal = _pending_for_decision(proposal_id, actor, verb="rejected")
        proposal.advisor_comment = comment.strip()
        proposal.decided_by = actor
        proposal.decided_at = now
        proposal.save(update_fields=["advisor_comment", "decided_by", "decided_at"])
        _transition(proposal, ProposalStatus.REJECTED, actor_id=actor.pk, reason=comment.strip())
        _notify(proposal, "proposal.rejected")
    return proposal


def proposal_reprice(
    *, proposal_id: int, actor: Any, now: dt.datetime | None = None
) -> RebalanceProposal | None:
    """Build a fresh proposal for the account of an expired (or pending) one at today's prices."""
    now = now or timezone.now()
    proposal = (
        RebalanceProposal.objects.select_related("account__household")
        .filter(pk=proposal_id)
        .first()
    )
    if proposal is None:
        raise NotFound(f"proposal {proposal_id} not found")
    _can_decide(actor, proposal)
    if proposal.status not in (ProposalStatus.PENDING, ProposalStatus.EXPIRED):
        # an approved or finished proposal's trades are placed: a new one is the next run's job
        raise Conflict(
            f"proposal {proposal_id} is {proposal.get_status_display().lower()}; only a pending "
            "or expired proposal can be re-priced"
        )
    return proposal_build(
        account_id=proposal.account_id,
        as_of=firm_today(now),
        now=now,
        profile_change=proposal.reason == ProposalReason.PROFILE_CHANGE,
    )


@dataclass(frozen=True)
class RunReport:
    accounts: int
    proposals: int
    harvests: int
    errors: dict[int, str]


def proposals_run(
    *,
    as_of: dt.date,
    now: dt.datetime,
    account_ids: Iterable[int] | None = None,
    harvest: bool = True,
    keep_pending_for: dt.timedelta = dt.timedelta(hours=20),
) -> RunReport:
    """The scheduled check of accounts: harvests first (taxable accounts), then drift and cash
    flows. An account whose pending proposal was priced less than ``keep_pending_for`` ago is
    left alone, so an advisor's review is not pulled from under them by every run; deposits,
    withdrawals, profile changes and re-pricing supersede it at once."""
    accounts = Account.objects.filter(is_active=True)
    if account_ids is not None:
        accounts = accounts.filter(pk__in=list(account_ids))
    recent = RebalanceProposal.objects.filter(
        status=ProposalStatus.PENDING, priced_at__gt=now - keep_pending_for
    ).values_list("account_id", flat=True)
    ids = list(accounts.exclude(pk__in=recent).order_by("pk").values_list("pk", flat=True))
    firm = FirmSettings.current()
    made = harvested = 0
    errors: dict[int, str] = {}
    harvest_for: dict[int, HarvestProposal] = {}
    market = MarketSnapshot(as_of=as_of)
    if harvest:
        from portfolios.harvest_scan import harvest_scan
        from trading.services import pending_buy_orders

        households = set(Account.objects.filter(pk__in=ids).values_list("household_id", flat=True))
        for result in harvest_scan(
            as_of=as_of,
            account_ids=ids,
            prices=market.prices,
            firm=firm,
            excluded_by_household=_excluded_by_household(households),
            pending_orders=pending_buy_orders(households),
        ):
            if result.scan.proposals:
                best = max(result.scan.proposals, key=lambda p: p.net_benefit)
                harvest_for[result.account_id] = best
    books = AccountBooks(account_ids=ids, market=market)
    touched: set[int] = set()
    for account_id in ids:
        try:
            if account_id in harvest_for:
                proposal = proposal_build(
                    account_id=account_id,
                    as_of=as_of,
                    now=now,
                    harvest=harvest_for[account_id],
                    firm=firm,
                    market=market,
                    books=books,
                    notify=False,
                )
                if proposal is not None:
                    harvested += 1
                    made += 1
                    touched.add(books.accounts[account_id].household_id)
                    continue
            built = proposal_build(
                account_id=account_id,
                as_of=as_of,
                now=now,
                firm=firm,
                market=market,
                books=books,
                notify=False,
            )
            if built is not None:
                made += 1
                touched.add(books.accounts[account_id].household_id)
        except InvalidInput as exc:
            errors[account_id] = exc.message
    _notify_run(touched)
    return RunReport(accounts=len(ids), proposals=made, harvests=harvested, errors=errors)


def _notify_run(household_ids: set[int]) -> None:
    """One event per household and per advisor after a run, not one per proposal."""
    from advisor.models import Client

    if not household_ids:
        return
    advisors: dict[int, int] = {}
    for _household, advisor_id in Client.objects.filter(
        household_id__in=household_ids, advisor__isnull=False
    ).values_list("household_id", "advisor_id"):
        advisors[advisor_id] = advisors.get(advisor_id, 0) + 1
    for household_id in household_ids:
        publish_on_commit(
            groups=[household_group(household_id)], event="proposals.created", payload={}
        )
    for advisor_id, count in advisors.items():
        publish_on_commit(
            groups=[advisor_group(advisor_id)],
            event="proposals.created",
            payload={"households": count},
        )


def _excluded_by_household(households: Collection[int]) -> dict[int, set[str]]:
    """Symbols each household excludes (its clients' ESG exclusions): harvests never buy them."""
    from advisor.models import ESGPreference

    tags_by_household: dict[int, set[str]] = {}
    for household_id, categories in ESGPreference.objects.filter(
        client__household_id__in=households
    ).values_list("client__household_id", "excluded_categories"):
        tags_by_household.setdefault(household_id, set()).update(categories or [])
    if not tags_by_household:
        return {}
    result: dict[int, set[str]] = {}
    assets = list(Asset.objects.values_list("symbol", "exclusion_tags"))
    for household_id, tags in tags_by_household.items():
        result[household_id] = {s for s, asset_tags in assets if tags & set(asset_tags or [])}
    return result
