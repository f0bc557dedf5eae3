"""Recommendations and rebalance proposals: list, detail with trades and checks, approve, reject;
orders and fills."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from advisor.api import filters
from advisor.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from advisor.api.pagination import ApiPagination
from advisor.api.permissions import IsAdvisorOrStaff
from advisor.api.scoping import (
    fills_visible_to,
    orders_visible_to,
    proposals_visible_to,
    recommendations_visible_to,
)
from advisor.api.serializers import (
    DecisionInput,
    FillSerializer,
    OrderDetailSerializer,
    OrderSerializer,
    ProposalDetailSerializer,
    ProposalSerializer,
    RecommendationSerializer,
    RejectionInput,
)
from advisor.api.views.base import ApiDefaults, scoped_get
from advisor.services.proposals import proposal_approve, proposal_reject
from portfolios.models import ProposalReason, ProposalStatus, ProposalTrade, TradeSide
from trading.models import Fill, OrderStatus, PreTradeCheck


class RecommendationList(ApiDefaults, generics.ListAPIView):
    """Recommendations of the households you may see, newest first (``current=true``: only
    each household's current one)."""

    serializer_class = RecommendationSerializer
    pagination_class = ApiPagination

    @extend_schema(
        parameters=[
            filters.HOUSEHOLD,
            filters.bool_filter("current", "Only current (true) or retired (false) ones"),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        rows = recommendations_visible_to(self.request.user)
        household = filters.int_param(self.request, "household")
        if household is not None:
            rows = rows.filter(household_id=household)
        current = filters.bool_param(self.request, "current")
        if current is not None:
            rows = rows.filter(is_current=current)
        return rows.order_by("-created_at", "-pk")


def _proposals(user: Any) -> Any:
    return proposals_visible_to(user).select_related("account")


def _proposal_detail(user: Any, pk: int) -> Any:
    proposals = _proposals(user).prefetch_related(
        Prefetch(
            "trades", queryset=ProposalTrade.objects.select_related("asset").order_by("sequence")
        )
    )
    return scoped_get(proposals, pk, "proposal")


class ProposalList(ApiDefaults, generics.ListAPIView):
    """Rebalance proposals of the households you may see, newest first."""

    serializer_class = ProposalSerializer
    pagination_class = ApiPagination

    @extend_schema(
        parameters=[
            filters.HOUSEHOLD,
            filters.ACCOUNT,
            filters.choice_filter("status", "Only proposals in this state", ProposalStatus.values),
            filters.choice_filter(
                "reason", "Only proposals for this reason", ProposalReason.values
            ),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        rows = _proposals(self.request.user)
        rows = filters.by_household_and_account(rows, self.request)
        state = filters.choice_param(self.request, "status", ProposalStatus.values)
        if state is not None:
            rows = rows.filter(status=state)
        reason = filters.choice_param(self.request, "reason", ProposalReason.values)
        if reason is not None:
            rows = rows.filter(reason=reason)
        return rows.order_by("-created_at", "-pk")


class ProposalDetail(ApiDefaults, APIView):
    """One proposal: weights before and after, trades, estimated tax and costs, risk before and
    after, and the pre-trade checks of its orders."""

    @extend_schema(responses=ProposalDetailSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(ProposalDetailSerializer(_proposal_detail(request.user, pk)).data)


_DECISION_RESPONSES = {
    200: ProposalDetailSerializer,
    409: OpenApiResponse(description="The proposal is not pending (or expired on a price move)"),
    422: OpenApiResponse(description="The Idempotency-Key was used with another request"),
}


class ProposalApprove(ApiDefaults, APIView):
    """Approve a pending proposal (advisors of the household, and staff); its orders are created
    and executed after the approval commits. Exactly one approval, whatever the retries."""

    permission_classes = [IsAdvisorOrStaff]

    @extend_schema(
        request=DecisionInput, parameters=[IDEMPOTENCY_PARAMETER], responses=_DECISION_RESPONSES
    )
    def post(self, request: Request, pk: int) -> Response:
        return idempotent(request, self, lambda: self._approve(request, pk))

    def _approve(self, request: Request, pk: int) -> Response:
        body = DecisionInput(data=request.data)
        body.is_valid(raise_exception=True)
        scoped_get(proposals_visible_to(request.user), pk, "proposal")
        proposal_approve(proposal_id=pk, actor=request.user, comment=body.validated_data["comment"])
        return Response(ProposalDetailSerializer(_proposal_detail(request.user, pk)).data)


class ProposalReject(ApiDefaults, APIView):
    """Reject a pending proposal, saying why (advisors of the household, and staff)."""

    permission_classes = [IsAdvisorOrStaff]

    @extend_schema(
        request=RejectionInput, parameters=[IDEMPOTENCY_PARAMETER], responses=_DECISION_RESPONSES
    )
    def post(self, request: Request, pk: int) -> Response:
        return idempotent(request, self, lambda: self._reject(request, pk))

    def _reject(self, request: Request, pk: int) -> Response:
        body = RejectionInput(data=request.data)
        body.is_valid(raise_exception=True)
        scoped_get(proposals_visible_to(request.user), pk, "proposal")
        proposal_reject(proposal_id=pk, actor=request.user, comment=body.validated_data["comment"])
        return Response(ProposalDetailSerializer(_proposal_detail(request.user, pk)).data)


class OrderList(ApiDefaults, generics.ListAPIView):
    """Orders of the households you may see: parent orders (one per approved trade) and the
    slices sent to the broker (``parent`` set), newest first."""

    serializer_class = OrderSerializer
    pagination_class = ApiPagination

    @extend_schema(
        parameters=[
            filters.HOUSEHOLD,
            filters.ACCOUNT,
            filters.SYMBOL,
            filters.id_filter("proposal", "orders of this proposal"),
            filters.choice_filter("status", "Only orders in this state", OrderStatus.values),
            filters.choice_filter("side", "Only buys or sells", TradeSide.values),
            filters.bool_filter("parents", "Only parent orders (true) or only slices (false)"),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        rows = orders_visible_to(self.request.user).select_related("asset", "account")
        rows = filters.by_household_and_account(rows, self.request)
        symbol = filters.text_param(self.request, "symbol", max_length=16)
        if symbol:
            rows = rows.filter(asset__symbol=symbol.upper())
        proposal = filters.int_param(self.request, "proposal")
        if proposal is not None:
            rows = rows.filter(proposal_id=proposal)
        state = filters.choice_param(self.request, "status", OrderStatus.values)
        if state is not None:
            rows = rows.filter(status=state)
        side = filters.choice_param(self.request, "side", TradeSide.values)
        if side is not None:
            rows = rows.filter(side=side)
        parents = filters.bool_param(self.request, "parents")
        if parents is not None:
            rows = rows.filter(parent__isnull=parents)
        return rows.order_by("-created_at", "-pk")


class OrderDetail(ApiDefaults, APIView):
    """One order with its pre-trade checks and fills."""

    @extend_schema(responses=OrderDetailSerializer)
    def get(self, request: Request, pk: int) -> Response:
        orders = (
            orders_visible_to(request.user)
            .select_related("asset", "account")
            .prefetch_related(
                Prefetch("checks", queryset=PreTradeCheck.objects.select_related("order")),
                Prefetch("fills", queryset=Fill.objects.select_related("order__asset")),
            )
        )
        return Response(OrderDetailSerializer(scoped_get(orders, pk, "order")).data)


class FillList(ApiDefaults, generics.ListAPIView):
    """Executions at the broker, newest first."""

    serializer_class = FillSerializer
    pagination_class = ApiPagination

    @extend_schema(
        parameters=[
            filters.HOUSEHOLD,
            filters.ACCOUNT,
            filters.id_filter("order", "fills of this order"),
            filters.datetime_filter("since", "Executed at or after"),
            filters.datetime_filter("until", "Executed before"),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        rows = fills_visible_to(self.request.user).select_related("order__asset")
        rows = filters.by_household_and_account(rows, self.request, account="order__account")
        order = filters.int_param(self.request, "order")
        if order is not None:
            rows = rows.filter(order_id=order)
        since = filters.datetime_param(self.request, "since")
        if since is not None:
            rows = rows.filter(executed_at__gte=since)
        until = filters.datetime_param(self.request, "until")
        if until is not None:
            rows = rows.filter(executed_at__lt=until)
        return rows.order_by("-executed_at", "-pk")
