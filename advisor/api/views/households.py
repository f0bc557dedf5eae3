"""Households: the list, one household, its positions, its recommendation, its tax report."""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.db.models import QuerySet, Subquery
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from advisor.api import filters
from advisor.api.pagination import ApiPagination
from advisor.api.scoping import household_in_scope, one_in_household_scope
from advisor.api.serializers import HouseholdSerializer, PositionOut, RecommendationSerializer
from advisor.api.views.base import ApiDefaults
from advisor.models import Client
from advisor.selectors import households_visible_to
from advisor.services.recommendations import primary_client, recommendation_for_household
from portfolios.clock import firm_today
from portfolios.core.errors import Conflict, DomainError, NotFound
from portfolios.models import Household, Recommendation
from portfolios.selectors import household_holdings
from portfolios.tax_reports import tax_report, tax_report_csv, tax_report_json


class HouseholdList(ApiDefaults, generics.ListAPIView):
    """The households you may see: your own (client), your clients' (advisor), all (staff)."""

    serializer_class = HouseholdSerializer
    pagination_class = ApiPagination

    @extend_schema(parameters=[filters.text_filter("search", "Name contains (case-insensitive)")])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        households = households_visible_to(user=self.request.user).order_by("name", "pk")
        search = filters.text_param(self.request, "search")
        if search:
            households = households.filter(name__icontains=search)
        return households


class HouseholdDetail(ApiDefaults, APIView):
    """One household."""

    @extend_schema(responses=HouseholdSerializer)
    def get(self, request: Request, pk: int) -> Response:
        household = household_in_scope(user=request.user, household_id=pk)
        return Response(HouseholdSerializer(household).data)


def positions_payload(*, household_id: int) -> list[dict[str, Any]]:
    """Every position of the household's active accounts as JSON-ready dicts (the selector's
    three queries, no serializer machinery: amounts formatted to their fixed places)."""
    return [
        {
            "account_id": p.account_id,
            "symbol": p.symbol,
            "name": p.name,
            "asset_class": p.asset_class,
            "quantity": f"{p.quantity:.9f}",
            "price": f"{p.price:.6f}",
            "market_value": f"{p.market_value:.2f}",
            "cost_basis": f"{p.cost_basis:.2f}",
            "unrealized_gain": f"{p.unrealized_gain:.2f}",
            "lots": [
                {
                    "id": lot.id,
                    "quantity": f"{lot.quantity:.9f}",
                    "cost_basis": f"{lot.cost_basis:.2f}",
                    "acquired_on": lot.acquired_on.isoformat(),
                    "market_value": f"{lot.market_value:.2f}",
                    "unrealized_gain": f"{lot.unrealized_gain:.2f}",
                }
                for lot in p.lots
            ],
        }
        for account in household_holdings(household_id=household_id)
        for p in account.positions
    ]


class HouseholdPositions(ApiDefaults, APIView):
    """Every position of the household's active accounts, valued at the latest close, with its
    open lots."""

    @extend_schema(responses=PositionOut(many=True))
    def get(self, request: Request, pk: int) -> Response:
        household = household_in_scope(user=request.user, household_id=pk)
        return Response(positions_payload(household_id=household.pk))


def _current(
    recommendations: QuerySet[Recommendation], *, household_id: int
) -> Recommendation | None:
    """The current recommendation among ``recommendations`` if it is still up to date with the
    profile and ESG preference of the household's driving client (its first client with a
    profile), else None. One query: the change stamps are read as subqueries."""
    driver = Client.objects.filter(household_id=household_id, risk_profile__isnull=False).order_by(
        "created_at", "id"
    )
    current = (
        recommendations.filter(is_current=True)
        .annotate(
            profile_changed_at=Subquery(driver.values("risk_profile__updated_at")[:1]),
            esg_changed_at=Subquery(driver.values("esg_preference__updated_at")[:1]),
        )
        .first()
    )
    if current is None:
        return None
    changed = (current.profile_changed_at, current.esg_changed_at)  # type: ignore[attr-defined]
    if any(stamp is not None and stamp > current.created_at for stamp in changed):
        return None
    return current


def recommendation_current_or_compute(*, household: Household) -> Recommendation:
    """The household's current recommendation; computed now (as of today) when there is none
    or its client's profile changed since. One computation at a time per household.

    Raises ``InfeasibleProblem`` (422) naming the conflict when the profile cannot be met, and
    ``Conflict`` (409) when no client of the household has a risk profile yet.
    """
    current = _current(
        Recommendation.objects.filter(household=household), household_id=household.pk
    )
    if current is not None:
        return current
    error: DomainError | None = None
    with transaction.atomic():
        Household.objects.select_for_update().filter(pk=household.pk).first()
        current = _current(
            Recommendation.objects.filter(household=household), household_id=household.pk
        )
        if current is not None:
            return current  # computed by a concurrent request meanwhile
        if primary_client(household) is None:
            raise Conflict(
                f"household {household.pk} has no client with a risk profile yet; "
                "set one (PUT /api/v1/clients/<id>/risk-profile/) first"
            )
        try:
            current = recommendation_for_household(household=household, as_of=firm_today())
        except DomainError as exc:
            error = exc  # raised after the commit, so the audited failure is kept
    if error is not None:
        raise error
    assert current is not None
    return current


def recommendation_payload(recommendation: Recommendation) -> dict[str, Any]:
    """A recommendation as :class:`RecommendationSerializer` shapes it, built directly (this
    endpoint is hot; the serializer documents the shape and serves the list)."""
    return {
        "id": recommendation.pk,
        "household": recommendation.household_id,
        "risk_score": recommendation.risk_score,
        "method": recommendation.method,
        "weights": recommendation.weights,
        "expected_return": recommendation.expected_return,
        "volatility": recommendation.volatility,
        "esg_score": recommendation.esg_score,
        "explanation": recommendation.explanation,
        "views": recommendation.views,
        "diagnostics": recommendation.diagnostics,
        "fallback": recommendation.fallback,
        "is_current": recommendation.is_current,
        "created_at": recommendation.created_at,
    }


class HouseholdRecommendation(ApiDefaults, APIView):
    """The household's recommended portfolio with the reasons for it.

    Computed on the spot (as of today's prices) when there is none yet or the profile changed
    since the last one; an infeasible profile is a 422 whose message names the conflict.
    """

    @extend_schema(
        responses={
            200: RecommendationSerializer,
            409: OpenApiResponse(description="No client of the household has a risk profile"),
            422: OpenApiResponse(description="The profile's constraints cannot be met"),
        }
    )
    def get(self, request: Request, pk: int) -> Response:
        if pk > filters.MAX_ID:
            # No household has such an id; SQLite would overflow on the foreign-key lookups below
            # (the primary-key lookup of the other routes finds nothing instead).
            raise NotFound(f"household {pk} not found")
        # The common case in one query: an up-to-date current recommendation in the user's scope.
        recommendation = _current(
            one_in_household_scope(
                Recommendation.objects.filter(household_id=pk), request.user, household="household"
            ),
            household_id=pk,
        )
        if recommendation is None:
            household = household_in_scope(user=request.user, household_id=pk)
            recommendation = recommendation_current_or_compute(household=household)
        return Response(recommendation_payload(recommendation))


class CSVRenderer(BaseRenderer):
    """Text already formatted as CSV (``?format=csv`` or ``Accept: text/csv``)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        if isinstance(data, str):
            return data.encode(self.charset)
        return json.dumps(data).encode(self.charset)


class HouseholdTaxReport(ApiDefaults, APIView):
    """Realised gains of one tax year: Form 8949 parts I and II and the Schedule D summary, as
    JSON, or as CSV with ``?format=csv`` or ``Accept: text/csv``."""

    renderer_classes = [JSONRenderer, CSVRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=["json", "csv"],
                required=False,
                description="csv for the Form 8949 CSV; json (the default) otherwise",
            )
        ],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/csv"): OpenApiTypes.STR,
        },
    )
    def get(self, request: Request, pk: int, year: int) -> Response:
        household = household_in_scope(user=request.user, household_id=pk)
        report = tax_report(household_id=household.pk, year=year)
        if request.accepted_renderer.format == "csv":
            return Response(
                tax_report_csv(report),
                content_type="text/csv; charset=utf-8",
                headers={
                    "Content-Disposition": f'attachment; filename="form-8949-{household.pk}-{year}.csv"'
                },
            )
        return Response(tax_report_json(report))

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        # Errors are JSON in the one shape, whatever format was asked for.
        if response.status_code >= 400 and getattr(request, "accepted_renderer", None) is not None:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = "application/json"
        return super().finalize_response(request, response, *args, **kwargs)
