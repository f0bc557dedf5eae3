"""The REST API speaks UTC, whatever zone the firm's pages use (``TIME_ZONE``).

Integrations get datetimes ending in ``Z`` and have a naive datetime they send read as UTC, so
moving the firm's zone never changes what the API says. Business dates do not move with it: the
services take "today" from :func:`portfolios.clock.firm_today`, which reads the firm's zone
whatever zone is active.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

API_PREFIX = "/api/"


class ApiUtcMiddleware:
    """Handles ``/api/`` requests with UTC as the current time zone."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        with timezone.override(dt.UTC):
            return self.get_response(request)
