"""The API's one error shape: ``{"error": {"code", "message", "field"?, "details"?}}``.

Domain errors (``portfolios.core.errors.DomainError``), DRF's own exceptions, Django's
``ValidationError``, a database that went away (503) and unexpected failures (500, logged) all
end up here, so an integration only ever parses one shape.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from portfolios.core.errors import DomainError

logger = logging.getLogger("advisor.api")


class IdempotencyKeyReused(exceptions.APIException):
    """The same ``Idempotency-Key`` came with a different request."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"
    default_detail = "this Idempotency-Key was already used with a different request"


class TooManyFailedLogins(exceptions.Throttled):
    """Sign-ins for one username from one address are refused for a while after failures; like
    any 429 it says when to try again (``Retry-After``)."""

    default_code = "too_many_failed_logins"
    default_detail = "too many failed sign-in attempts; try again later"

    def __init__(self, detail: str, *, wait: float) -> None:
        super().__init__(wait=wait, detail=detail)
        self.detail = exceptions.ErrorDetail(detail, code=self.default_code)


def error_body(
    code: str, message: str, *, field: str | None = None, details: Any = None
) -> dict[str, Any]:
    """The one error shape."""
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    if details is not None:
        body["details"] = details
    return {"error": body}


def _flatten(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    """DRF validation detail (nested dicts/lists) as a flat list of {field, message}."""
    items: list[dict[str, str]] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int):  # a list's item (ListField errors are keyed by index)
                name = f"{prefix}[{key}]"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            items.extend(_flatten(value, "" if key == "non_field_errors" else name))
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, (dict, list)):
                items.extend(_flatten(value, f"{prefix}[{index}]" if prefix else f"[{index}]"))
            else:
                items.append({"field": prefix, "message": str(value)})
    else:
        items.append({"field": prefix, "message": str(detail)})
    return items


def _validation_response(detail: Any) -> Response:
    errors = _flatten(detail)
    first = errors[0] if errors else {"field": "", "message": "Invalid input."}
    message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return Response(
        error_body("invalid_input", message, field=first["field"] or None, details=errors),
        status=status.HTTP_400_BAD_REQUEST,
    )


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map any exception raised in an API view to the one error shape."""
    if isinstance(exc, DomainError):
        return Response({"error": exc.as_dict()}, status=exc.status)
    if isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        return _validation_response(detail)
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The connection is marked unusable; Django closes it when the request ends, and the next
        # request connects afresh (CONN_HEALTH_CHECKS).
        logger.warning(
            "database unavailable during %s: %s", _where(context), exc.__class__.__name__
        )
        unavailable = Response(
            error_body("service_unavailable", "the database is unavailable; try again in a moment"),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        unavailable["Retry-After"] = "5"
        return unavailable
    if isinstance(exc, SuspiciousOperation):  # an oversized or malformed request
        return Response(
            error_body("bad_request", str(exc) or "the request could not be read"),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        if settings.DEBUG:
            return None  # Django's debug page shows the traceback
        logger.error("unhandled error in %s", _where(context), exc_info=exc)
        return Response(
            error_body("server_error", "an unexpected error occurred; it has been logged"),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, exceptions.ValidationError):
        validation = _validation_response(exc.detail)
        response.data = validation.data
        response.status_code = validation.status_code
        return response
    if isinstance(exc, exceptions.APIException):
        message = (
            str(exc.detail)
            if not isinstance(exc.detail, (dict, list))
            else str(_flatten(exc.detail)[0]["message"])
        )
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        details = None
        wait = getattr(exc, "wait", None)
        if isinstance(exc, exceptions.Throttled) and wait is not None:
            # whole seconds, rounded up: a client that waits this long is let in
            seconds = max(1, math.ceil(wait))
            details = {"retry_after_seconds": seconds}
            response["Retry-After"] = str(seconds)
        response.data = error_body(code, message, details=details)
    return response


def _where(context: dict[str, Any]) -> str:
    view = context.get("view")
    return type(view).__name__ if view is not None else "an API view"


@csrf_exempt  # it changes nothing; a write to no route is a 404, not the CSRF page's 403
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any path under the API that matches no route: 404 in the one error shape."""
    return JsonResponse(error_body("not_found", f"no API endpoint at {request.path}"), status=404)
