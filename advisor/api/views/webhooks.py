"""Webhook endpoints of integration users and their delivery log."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from advisor.api.pagination import ApiPagination
from advisor.api.permissions import IsAdvisorOrStaff
from advisor.api.serializers import (
    WebhookDeliverySerializer,
    WebhookEndpointCreated,
    WebhookEndpointSerializer,
)
from advisor.api.views.base import ApiDefaults, scoped_get
from advisor.models import Role
from advisor.webhooks import webhook_endpoint_create
from integrations.models import WebhookDelivery, WebhookEndpoint


def endpoints_visible_to(user: Any) -> Any:
    """Your own endpoints; staff see every endpoint."""
    endpoints = WebhookEndpoint.objects.all()
    return endpoints if user.role == Role.STAFF else endpoints.filter(owner=user)


class WebhookList(ApiDefaults, generics.ListAPIView):
    """Your webhook endpoints (GET) and registering one (POST). Events are signed with
    HMAC-SHA256: ``X-Webhook-Signature: t=<unix>,v1=<hex of HMAC(secret, "<t>." + body)>``."""

    serializer_class = WebhookEndpointSerializer
    pagination_class = ApiPagination
    permission_classes = [IsAdvisorOrStaff]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return endpoints_visible_to(self.request.user).order_by("pk")

    @extend_schema(request=WebhookEndpointSerializer, responses={201: WebhookEndpointCreated})
    def post(self, request: Request) -> Response:
        body = WebhookEndpointSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        endpoint, secret = webhook_endpoint_create(
            owner=request.user,
            url=body.validated_data["url"],
            events=body.validated_data["events"],
            secret=body.validated_data.get("secret"),
            description=body.validated_data.get("description", ""),
            is_active=body.validated_data.get("is_active", True),
        )
        return Response(
            {**WebhookEndpointSerializer(endpoint).data, "secret": secret},
            status=status.HTTP_201_CREATED,
        )


class WebhookDetail(ApiDefaults, APIView):
    """One endpoint (GET); removing it and its delivery log (DELETE)."""

    permission_classes = [IsAdvisorOrStaff]

    @extend_schema(responses=WebhookEndpointSerializer)
    def get(self, request: Request, pk: int) -> Response:
        endpoint = scoped_get(endpoints_visible_to(request.user), pk, "webhook endpoint")
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(responses={204: OpenApiResponse(description="Removed")})
    def delete(self, request: Request, pk: int) -> Response:
        endpoint = scoped_get(endpoints_visible_to(request.user), pk, "webhook endpoint")
        endpoint.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveryList(ApiDefaults, generics.ListAPIView):
    """The delivery log of one endpoint, newest first: status, attempts, last response code,
    last error and timing."""

    serializer_class = WebhookDeliverySerializer
    pagination_class = ApiPagination
    permission_classes = [IsAdvisorOrStaff]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        endpoint = scoped_get(
            endpoints_visible_to(self.request.user), self.kwargs["pk"], "webhook endpoint"
        )
        return WebhookDelivery.objects.filter(endpoint=endpoint).order_by("-created_at", "-pk")
