"""Clients: registration in one call, the list, one client, their risk profile and ESG
preference."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from advisor.api import filters
from advisor.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from advisor.api.pagination import ApiPagination
from advisor.api.scoping import clients_scope
from advisor.api.serializers import (
    ClientRegistrationInput,
    ClientSerializer,
    ESGInput,
    ESGPreferenceSerializer,
    HouseholdSerializer,
    RegistrationResponse,
    RiskInput,
    RiskProfileSerializer,
)
from advisor.api.services import (
    HouseholdDetails,
    PortalLogin,
    client_register,
    risk_profile_set,
)
from advisor.api.views.base import ApiDefaults, ReadOrAdvisorWrite, scoped_get
from advisor.models import Client, ESGPreference, RiskProfile, Role, User
from advisor.services.clients import esg_preference_save
from portfolios.core.errors import InvalidInput, NotFound


def _clients(user: Any) -> Any:
    return clients_scope(user).select_related("household", "risk_profile", "esg_preference")


class ClientList(ApiDefaults, generics.ListAPIView):
    """Clients you may see (GET), and registering a new client with their household, risk
    profile and ESG preference in one call (POST, advisors and staff).

    After registering, ``GET`` the returned ``recommendation_url`` for the recommended portfolio.
    A risk score may be given directly (``risk_score``, 1-10) instead of the questionnaire's
    ``answers``: it is stored with the questionnaire's equity/bond/cash split for that score.
    """

    serializer_class = ClientSerializer
    pagination_class = ApiPagination
    permission_classes = [ReadOrAdvisorWrite]

    @extend_schema(
        parameters=[
            filters.HOUSEHOLD,
            filters.text_filter("search", "First or last name contains (case-insensitive)"),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        clients = _clients(self.request.user).order_by("last_name", "first_name", "pk")
        household = filters.int_param(self.request, "household")
        if household is not None:
            clients = clients.filter(household_id=household)
        search = filters.text_param(self.request, "search")
        if search:
            clients = clients.filter(
                Q(first_name__icontains=search) | Q(last_name__icontains=search)
            )
        return clients

    @extend_schema(
        request=ClientRegistrationInput,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            201: RegistrationResponse,
            409: OpenApiResponse(description="The household name or username is taken"),
        },
    )
    def post(self, request: Request) -> Response:
        return idempotent(request, self, lambda: self._register(request))

    def _register(self, request: Request) -> Response:
        body = ClientRegistrationInput(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        advisor = None
        if data.get("advisor") is not None:
            advisor = User.objects.filter(pk=data["advisor"], role=Role.ADVISOR).first()
            if advisor is None:
                raise InvalidInput(f"user {data['advisor']} is not an advisor", field="advisor")
        household = data["household"]
        esg = data.get("esg") or {}
        login = data.get("login")
        registration = client_register(
            actor=request.user,
            household=HouseholdDetails(
                name=household["name"],
                filing_status=household["filing_status"],
                short_term_rate=household.get("short_term_rate"),
                long_term_rate=household.get("long_term_rate"),
            ),
            first_name=data["first_name"],
            last_name=data["last_name"],
            email=data.get("email", ""),
            date_of_birth=data.get("date_of_birth"),
            annual_income=data.get("annual_income"),
            horizon_years=data["horizon_years"],
            answers=data.get("answers"),
            risk_score=data.get("risk_score"),
            goal_amount=data.get("goal_amount"),
            monthly_contribution=data.get("monthly_contribution") or Decimal("0"),
            min_esg_score=esg.get("min_esg_score", 0),
            excluded_categories=esg.get("excluded_categories", []),
            advisor=advisor,
            login=PortalLogin(login["username"], login["password"]) if login else None,
        )
        client = Client.objects.select_related("household", "risk_profile", "esg_preference").get(
            pk=registration.client.pk
        )
        return Response(
            {
                "client": ClientSerializer(client).data,
                "household": HouseholdSerializer(registration.household).data,
                "recommendation_url": reverse(
                    "api-household-recommendation", args=[registration.household.pk]
                ),
            },
            status=status.HTTP_201_CREATED,
        )


class ClientDetail(ApiDefaults, APIView):
    """One client, with their risk profile and ESG preference."""

    @extend_schema(responses=ClientSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(ClientSerializer(scoped_get(_clients(request.user), pk, "client")).data)


class ClientRiskProfile(ApiDefaults, APIView):
    """The client's risk profile (GET); replacing it from the questionnaire's answers or a
    score given directly (PUT, advisors and staff)."""

    permission_classes = [ReadOrAdvisorWrite]

    @extend_schema(responses=RiskProfileSerializer)
    def get(self, request: Request, pk: int) -> Response:
        client = scoped_get(clients_scope(request.user), pk, "client")
        profile = RiskProfile.objects.filter(client=client).first()
        if profile is None:
            raise NotFound(f"client {pk} has no risk profile yet")
        return Response(RiskProfileSerializer(profile).data)

    @extend_schema(request=RiskInput, responses=RiskProfileSerializer)
    def put(self, request: Request, pk: int) -> Response:
        client = scoped_get(clients_scope(request.user), pk, "client")
        body = RiskInput(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        profile = risk_profile_set(
            client=client,
            answers=data.get("answers"),
            risk_score=data.get("risk_score"),
            horizon_years=data["horizon_years"],
            goal_amount=data.get("goal_amount"),
            monthly_contribution=data.get("monthly_contribution") or Decimal("0"),
            source=f"the integration of {request.user.username}",
        )
        return Response(RiskProfileSerializer(profile).data)


class ClientESGPreference(ApiDefaults, APIView):
    """The client's ESG floor and exclusions (GET); replacing them (PUT, advisors and staff)."""

    permission_classes = [ReadOrAdvisorWrite]

    @extend_schema(responses=ESGPreferenceSerializer)
    def get(self, request: Request, pk: int) -> Response:
        client = scoped_get(clients_scope(request.user), pk, "client")
        preference = ESGPreference.objects.filter(client=client).first()
        if preference is None:
            raise NotFound(f"client {pk} has no ESG preference yet")
        return Response(ESGPreferenceSerializer(preference).data)

    @extend_schema(request=ESGInput, responses=ESGPreferenceSerializer)
    def put(self, request: Request, pk: int) -> Response:
        client = scoped_get(clients_scope(request.user), pk, "client")
        body = ESGInput(data=request.data)
        body.is_valid(raise_exception=True)
        preference = esg_preference_save(
            client=client,
            min_esg_score=body.validated_data["min_esg_score"],
            excluded_categories=body.validated_data["excluded_categories"],
        )
        return Response(ESGPreferenceSerializer(preference).data)
