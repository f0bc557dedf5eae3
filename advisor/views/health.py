"""Liveness and readiness: ``/healthz`` checks the database, and Redis when it is configured.

``/metrics`` (Prometheus) answers scrapers on the networks of ``METRICS_ALLOWED_NETWORKS``
(loopback and the private ranges by default) and signed-in staff; anyone else gets a 404, as
request rates per view and the pipeline's counters are nobody else's business.
"""

from __future__ import annotations

import ipaddress
import time

from django.conf import settings
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _check_database() -> dict[str, object]:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return {"ok": False, "error": exc.__class__.__name__}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 2)}


def _check_redis() -> dict[str, object]:
    import redis

    started = time.perf_counter()
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2
        )
        client.ping()
        client.close()
    except Exception as exc:
        return {"ok": False, "error": exc.__class__.__name__}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 2)}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 with each check's result when everything answers, 503 otherwise."""
    checks = {"database": _check_database()}
    if settings.REDIS_URL:
        checks["redis"] = _check_redis()
    healthy = all(bool(check["ok"]) for check in checks.values())
    return JsonResponse(
        {
            "status": "ok" if healthy else "unavailable",
            "mode": settings.RUNTIME_MODE,
            "checks": checks,
        },
        status=200 if healthy else 503,
    )


def _may_scrape(request: HttpRequest) -> bool:
    from advisor.api.login_limits import client_address

    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    try:
        address = ipaddress.ip_address(client_address(request))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net) for net in settings.METRICS_ALLOWED_NETWORKS)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics, for scrapers on the allowed networks and for staff."""
    if not _may_scrape(request):
        raise Http404("no such page")
    from django_prometheus.exports import ExportToDjangoView

    response: HttpResponse = ExportToDjangoView(request)
    return response
