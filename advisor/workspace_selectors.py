"""Read-side queries of the advisor workspace: the client book and the proposal review."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, Min, Q
from django.utils import timezone

from advisor.models import Client, RiskProfile
from advisor.selectors import households_visible_to
from portfolios.core.drift import drift as drift_of
from portfolios.core.money import ZERO
from portfolios.models import (
    OPEN_PROPOSAL_STATUSES,
    Asset,
    AuditEvent,
    FirmSettings,
    Position,
    ProposalReason,
    ProposalStatus,
    RebalanceProposal,
    Recommendation,
)
from portfolios.selectors import latest_prices
from trading.core.checks import CheckOutcome, check_batch
from trading.core.orders import OrderIntent, OrderSide
from trading.models import LIVE_ORDER_STATUSES, Order, OrderStatus, PreTradeCheck


@dataclass
class BookRow:
    household_id: int
    name: str
    clients: list[str]
    value: Decimal = ZERO
    drift: float | None = None
    #: Whether ``drift`` exceeds the firm's rebalancing threshold (``FirmSettings.drift_threshold``).
    drift_over: bool = False
    pending: int = 0
    oldest_pending: dt.datetime | None = None
    harvests: int = 0
    executing: int = 0
    alerts: list[str] = field(default_factory=list)

    @property
    def drift_pct(self) -> float | None:
        return None if self.drift is None else self.drift * 100

    @property
    def urgency(self) -> float:
        """Pending decisions first, then alerts, then drift."""
        return (
            self.pending * 10 + self.harvests * 5 + len(self.alerts) * 4 + (self.drift or 0) * 100
        )


def client_book(*, user: Any) -> list[BookRow]:
    """Every household the user advises with its status, most urgent first (a few queries)."""
    households = list(households_visible_to(user=user).order_by("name"))
    ids = [h.pk for h in households]
    rows = {h.pk: BookRow(household_id=h.pk, name=h.name, clients=[]) for h in households}
    for household_id, first, last in Client.objects.filter(household_id__in=ids).values_list(
        "household_id", "first_name", "last_name"
    ):
        rows[household_id].clients.append(f"{first} {last}")
    targets = {
        r.household_id: r.weights
        for r in Recommendation.objects.filter(household_id__in=ids, is_current=True)
    }
    positions = list(
        Position.objects.filter(account__household_id__in=ids, quantity__gt=0).values_list(
            "account__household_id", "asset_id", "quantity"
        )
    )
    cash: defaultdict[int, Decimal] = defaultdict(lambda: ZERO)
    from portfolios.models import Account

    for household_id, amount in Account.objects.filter(
        household_id__in=ids, is_active=True
    ).values_list("household_id", "cash"):
        cash[household_id] += amount
    prices = latest_prices(asset_ids={a for _, a, _ in positions})
    assets = {a.pk: a for a in Asset.objects.filter(pk__in={a for _, a, _ in positions})}
    slot_of = {a.symbol: a.replacement_group or a.symbol for a in Asset.objects.all()}
    values: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for household_id, asset_id, qty in positions:
        price = prices.get(asset_id)
        if price is None:
            continue
        slot = slot_of.get(assets[asset_id].symbol, assets[asset_id].symbol)
        values[household_id][slot] = values[household_id].get(slot, ZERO) + qty * price.close
    threshold = float(FirmSettings.current().drift_threshold)
    for household_id, row in rows.items():
        invested = sum(values[household_id].values(), ZERO)
        row.value = invested + cash[household_id]
        target = targets.get(household_id)
        if target is None:
            row.alerts.append("no recommendation")
        elif row.value > 0:
            weights = {k: float(v / row.value) for k, v in values[household_id].items()}
            weights["cash"] = float(cash[household_id] / row.value)
            slot_targets: dict[str, float] = {}
            for symbol, weight in target.items():
                slot = slot_of.get(symbol, symbol)
                slot_targets[slot] = slot_targets.get(slot, 0.0) + weight
            slot_targets["cash"] = slot_targets.get("cash", 0.0) + max(
                0.0, 1 - sum(target.values())
            )
            row.drift = drift_of(weights, slot_targets)
            row.drift_over = row.drift > threshold
    pending = (
        RebalanceProposal.objects.filter(
            account__household_id__in=ids, status=ProposalStatus.PENDING
        )
        .values("account__household_id")
        .annotate(
            n=Count("pk"),
            oldest=Min("created_at"),
            harvests=Count("pk", filter=Q(reason=ProposalReason.HARVEST)),
        )
    )
    for entry in pending:
        row = rows[entry["account__household_id"]]
        row.pending, row.oldest_pending, row.harvests = (
            entry["n"],
            entry["oldest"],
            entry["harvests"],
        )
    for household_id in RebalanceProposal.objects.filter(
        account__household_id__in=ids,
        status__in=[ProposalStatus.APPROVED, ProposalStatus.EXECUTING],
    ).values_list("account__household_id", flat=True):
        rows[household_id].executing += 1
    week_ago = timezone.now() - dt.timedelta(days=7)
    for object_id, reason in AuditEvent.objects.filter(
        action="recommendation.failed",
        object_type="Household",
        object_id__in=[str(i) for i in ids],
        created_at__gte=week_ago,
    ).values_list("object_id", "reason"):
        rows[int(object_id)].alerts.append(f"recommendation failed: {reason}")
    for household_id in (
        Order.objects.filter(
            account__household_id__in=ids,
            status=OrderStatus.BLOCKED,
            updated_at__gte=week_ago,
            parent__isnull=False,
        )
        .values_list("account__household_id", flat=True)
        .distinct()
    ):
        rows[household_id].alerts.append("an order was blocked by a pre-trade check")
    for household_id, contradictions in RiskProfile.objects.filter(
        client__household_id__in=ids
    ).values_list("client__household_id", "contradictions"):
        if contradictions:
            rows[household_id].alerts.append("contradictory questionnaire answers")
    return sorted(rows.values(), key=lambda r: (-r.urgency, r.name))


def pending_proposals(*, user: Any) -> list[RebalanceProposal]:
    return list(
        RebalanceProposal.objects.filter(
            account__household__in=households_visible_to(user=user), status=ProposalStatus.PENDING
        )
        .select_related("account__household")
        .order_by("created_at")
    )


def proposal_for_user(*, user: Any, proposal_id: int) -> RebalanceProposal | None:
    return (
        RebalanceProposal.objects.filter(
            pk=proposal_id, account__household__in=households_visible_to(user=user)
        )
        .select_related("account__household", "recommendation", "decided_by", "superseded_by")
        .first()
    )


@dataclass(frozen=True)
class CheckPreview:
    symbol: str
    side: str
    outcome: str
    messages: tuple[str, ...]
    final_quantity: Decimal | None


def checks_preview(proposal: RebalanceProposal) -> list[CheckPreview]:
    """The pre-trade checks each trade would meet now, at the limits in force (a dry run)."""
    from trading.services import account_state, core_limits, market_context, risk_limit_current

    trades = list(proposal.trades.select_related("asset").order_by("sequence"))
    if not trades:
        return []
    state = account_state(proposal.account, symbols=[t.asset.symbol for t in trades])
    excluded = (
        proposal.recommendation.diagnostics.get("excluded", []) if proposal.recommendation else []
    )
    intents = [
        OrderIntent(
            client_order_id=t.client_order_id,
            account_key=str(proposal.account_id),
            symbol=t.asset.symbol,
            side=OrderSide(t.side),
            quantity=t.quantity,
        )
        for t in trades
    ]
    now = timezone.now()
    batch = check_batch(
        intents,
        account=state,
        limits=core_limits(risk_limit_current(), excluded=excluded),
        market=market_context(
            now, non_fractionable=[t.asset.symbol for t in trades if not t.asset.fractionable]
        ),
        now=now,
    )
    previews = []
    for intent in intents:
        decision = batch.decision_for(intent.client_order_id)
        notes = tuple(r.message for r in decision.results if r.outcome is not CheckOutcome.PASS)
        previews.append(
            CheckPreview(
                symbol=intent.symbol,
                side=intent.side.value,
                outcome=decision.outcome.value,
                messages=notes,
                final_quantity=decision.order.quantity if decision.order else None,
            )
        )
    return previews


def proposal_orders(proposal: RebalanceProposal) -> list[Order]:
    return list(
        Order.objects.filter(proposal=proposal, parent__isnull=True)
        .select_related("asset")
        .order_by("client_order_id")
    )


def order_checks(proposal: RebalanceProposal) -> list[PreTradeCheck]:
    return list(
        PreTradeCheck.objects.filter(order__proposal=proposal)
        .exclude(outcome=CheckOutcome.PASS.value)
        .select_related("order__asset")
        .order_by("order__client_order_id", "round")
    )


def proposal_history(proposal: RebalanceProposal) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(object_type="RebalanceProposal", object_id=str(proposal.pk))
        .select_related("actor")
        .order_by("created_at", "id")
    )


def is_open(proposal: RebalanceProposal) -> bool:
    return proposal.status in OPEN_PROPOSAL_STATUSES


def live_order_count(proposal: RebalanceProposal) -> int:
    return Order.objects.filter(
        proposal=proposal, parent__isnull=False, status__in=LIVE_ORDER_STATUSES
    ).count()
