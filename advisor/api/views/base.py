"""What the API views share: permissions for mixed read/write endpoints, scoped lookups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from advisor.api.authentication import CachedTokenAuthentication
from advisor.api.permissions import is_advisor_or_staff
from advisor.api.throttling import DEFAULT_THROTTLES
from portfolios.core.errors import NotFound

M = TypeVar("M", bound=Model)


class ApiDefaults:
    """Mixed into every API view: token authentication with the user cached, then the browser
    session (as the settings order them), and the API's throttles (one Redis round trip)."""

    authentication_classes: Sequence[type[BaseAuthentication]] = [
        CachedTokenAuthentication,
        SessionAuthentication,
    ]
    throttle_classes: Sequence[type[BaseThrottle]] = DEFAULT_THROTTLES

    # DRF checks permissions before throttles, so a request without valid credentials (a 401)
    # would never be counted against its address. Here the throttles come first, once.

    def perform_authentication(self, request: Request) -> None:
        try:
            super().perform_authentication(request)  # type: ignore[misc]
        except AuthenticationFailed:
            self.check_throttles(request)  # a wrong token counts as an anonymous request
            raise

    def check_permissions(self, request: Request) -> None:
        self.check_throttles(request)
        super().check_permissions(request)  # type: ignore[misc]

    def check_throttles(self, request: Request) -> None:
        if getattr(request, "_throttles_checked", False):
            return
        request._throttles_checked = True  # type: ignore[attr-defined]
        super().check_throttles(request)  # type: ignore[misc]


class ReadOrAdvisorWrite(BasePermission):
    """Any signed-in user reads (within their scope); only advisors and staff write."""

    message = "this needs an advisor or staff login; clients can only read their own household"

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return bool(request.user and request.user.is_authenticated)
        return is_advisor_or_staff(request.user)


def scoped_get(queryset: QuerySet[M], pk: int, what: str) -> M:
    """The object with ``pk`` in the user's scope, or a 404 that does not say whether it exists."""
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise NotFound(f"{what} {pk} not found")
    return obj
