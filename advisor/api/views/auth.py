"""API tokens for integrations: exchange a username and password for a token."""

from __future__ import annotations

from django.contrib.auth import authenticate, user_logged_in
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from advisor.api.authentication import token_expires_at, token_fresh
from advisor.api.exceptions import TooManyFailedLogins
from advisor.api.login_limits import (
    blocked_message,
    client_address,
    login_failure_record,
    login_failures_clear,
    login_retry_after,
)
from advisor.api.serializers import TokenRequest, TokenResponse
from advisor.api.throttling import LoginRateThrottle
from advisor.api.views.base import ApiDefaults
from portfolios.core.errors import InvalidInput


class TokenCreate(ApiDefaults, APIView):
    """Your API token (created on first use): send it as ``Authorization: Token <token>``.

    It works until ``expires_at`` (``API_TOKEN_LIFETIME_DAYS`` after it was issued; signing in
    after that issues a new one), and a password change or reset revokes it.

    Sign-ins are rate-limited per address, and a username is refused from an address for a while
    after repeated failures (429). Every attempt is in the audit log.
    """

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginRateThrottle]

    @extend_schema(
        request=TokenRequest,
        responses={
            200: TokenResponse,
            400: OpenApiResponse(description="Wrong username or password"),
            429: OpenApiResponse(description="Too many attempts"),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        body = TokenRequest(data=request.data)
        body.is_valid(raise_exception=True)
        username = body.validated_data["username"]
        address = client_address(request._request)
        retry_after = login_retry_after(username=username, address=address)
        if retry_after is not None:
            raise TooManyFailedLogins(blocked_message(retry_after), wait=retry_after)
        user = authenticate(
            request._request, username=username, password=body.validated_data["password"]
        )
        if user is None:
            login_failure_record(username=username, address=address)
            raise InvalidInput("the username or password is wrong", code="invalid_credentials")
        login_failures_clear(username=username, address=address)
        token = token_fresh(user)
        user_logged_in.send(sender=type(user), request=request._request, user=user)
        return Response(
            {
                "token": token.key,
                "expires_at": token_expires_at(token),
                "user_id": user.pk,
                "username": user.get_username(),
                "role": user.role,
            }
        )
