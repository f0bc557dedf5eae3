"""Webhooks: integrations hear about proposals created and approved and orders filled.

Registering
-----------
An advisor or staff user registers endpoints (``POST /api/v1/webhooks/``): a URL, the events
(:class:`integrations.models.WebhookEvent`) and a signing secret (generated when not given,
shown once). An endpoint receives the events of the households its owner may see (an advisor's
clients, every household for staff), and nothing once its owner is deactivated.

Dispatching
-----------
Services call :func:`dispatch_event` where they publish the live event, inside their
transaction. It writes one :class:`~integrations.models.WebhookDelivery` row per subscribed
endpoint in that transaction (so a rolled-back action sends nothing, and a committed one is never
forgotten: the rows are the outbox) and queues the ``worker.tasks.webhook_deliver`` task for each
after the commit. :func:`webhook_deliveries_sweep` (every minute on the beat schedule) re-queues
deliveries that are due but were never queued or whose worker died mid-send.

What is sent
------------
``POST <url>`` with ``Content-Type: application/json`` and the body::

    {"id": "<event uuid>", "event": "order.filled", "created_at": "<ISO 8601 UTC>",
     "household": <id>, "data": {...the live event's payload...}}

The body is fixed when the event is dispatched; every attempt sends the same bytes. Headers:

* ``X-Webhook-Signature: t=<unix seconds>,v1=<hex>`` where ``<hex>`` is
  HMAC-SHA256(secret, ``"<t>." + raw body``), lower-case hex (the Stripe scheme). To verify,
  recompute it over the raw bytes received, compare in constant time, and refuse a ``t`` more
  than five minutes old (a replay); :func:`webhook_signature_verify` does exactly that.
* ``X-Webhook-Event``, ``X-Webhook-Id`` (the event's id: the same for a retry, so receivers can
  deduplicate) and ``X-Webhook-Attempt`` (1, 2, ...).

A 2xx answer is success. Anything else (another status, a redirect, a timeout after
:data:`TIMEOUT_SECONDS`, a refused connection) is retried with exponential backoff
(:data:`BACKOFF_SECONDS` times 2 to the power of the attempts so far, at most one hour) until
:data:`MAX_ATTEMPTS` attempts have failed; the delivery is then marked failed. The admin shows
each delivery's status, attempts, last response code, last error and timing, and can send it
again.

Where deliveries may go
-----------------------
Only to public addresses: a URL naming a loopback, private, link-local or otherwise non-global
address (or ``localhost``) is refused at registration, and every attempt checks the address it
actually connected to (after DNS, so a name that resolves to an internal host later is refused
too) before sending a byte. An integration cannot use the platform to reach its own network.
``WEBHOOK_ALLOW_PRIVATE_HOSTS`` lifts this for a deployment whose receivers are internal on
purpose (and for local development).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import secrets
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from advisor.models import Role
from advisor.selectors import households_visible_to
from integrations.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent
from portfolios.core.errors import InvalidInput
from portfolios.prepared import prepared_read

logger = logging.getLogger("advisor.webhooks")

SIGNATURE_HEADER = "X-Webhook-Signature"
MAX_ATTEMPTS = 8
BACKOFF_SECONDS = 30
MAX_BACKOFF_SECONDS = 3600
TIMEOUT_SECONDS = 10.0
SIGNATURE_TOLERANCE_SECONDS = 300
#: A delivery left "sending" this long had its worker die mid-send; the sweep retries it.
SENDING_STALE_AFTER = timedelta(minutes=5)
USER_AGENT = "Meridian-Advice-Webhooks/1"


# -- signatures --------------------------------------------------------------------------------------


def webhook_signature(*, secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Webhook-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def webhook_signature_verify(
    *,
    secret: str,
    body: bytes,
    header: str,
    now: int,
    tolerance: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` and is at most ``tolerance`` seconds old."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = webhook_signature(secret=secret, body=body, timestamp=timestamp).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", []))


# -- where deliveries may go ------------------------------------------------------------------------


def _non_public(address: str) -> bool:
    """Whether an IP address is not a public one: loopback, private, link-local, shared,
    multicast, reserved or unspecified (IPv4-mapped IPv6 judged as its IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def webhook_url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as a webhook endpoint, or None. Checks what the URL itself
    says (scheme, host, an address or ``localhost``); the address a name resolves to is checked
    at every delivery, when it is connected to."""
    if not url.lower().startswith(("https://", "http://")):
        return "the URL must be http:// or https://"
    try:
        host = urllib.parse.urlsplit(url).hostname
    except ValueError as exc:
        return f"the URL is not valid ({exc})"
    if not host:
        return "the URL names no host"
    if settings.WEBHOOK_ALLOW_PRIVATE_HOSTS:
        return None
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return "the URL must name a public host, not localhost"
    try:
        private = _non_public(name)
    except ValueError:
        try:  # the short and numeric forms resolvers accept: 127.1, 2130706433, 0x7f000001
            private = _non_public(socket.inet_ntoa(socket.inet_aton(name)))
        except OSError:
            return None  # a name, not an address
    if private:
        return f"the URL must name a public host, not the internal address {host}"
    return None


class RefusedAddress(OSError):
    """A delivery's host resolved to an address deliveries may not go to."""


def _public_connection(address: tuple[str, int], timeout: Any, *args: Any) -> socket.socket:
    """``socket.create_connection``, refusing a peer that is not a public address."""
    sock = socket.create_connection(address, timeout, *args)
    peer = sock.getpeername()[0]
    if not settings.WEBHOOK_ALLOW_PRIVATE_HOSTS and _non_public(peer):
        sock.close()
        raise RefusedAddress(f"{address[0]} is the internal address {peer}; not sent")
    return sock


class _PublicHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _public_connection


class _PublicHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _public_connection


class _PublicHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_PublicHTTPConnection, req)


class _PublicHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_PublicHTTPSConnection, req, context=self._context)  # type: ignore[attr-defined]


# -- endpoints ---------------------------------------------------------------------------------------


def webhook_endpoint_create(
    *,
    owner: Any,
    url: str,
    events: Iterable[str],
    secret: str | None = None,
    description: str = "",
    is_active: bool = True,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint for ``owner``; returns it with its secret (generated if not given).
    An inactive endpoint is registered but receives nothing until it is switched on."""
    if owner.role not in (Role.ADVISOR, Role.STAFF):
        raise InvalidInput("only advisors and staff register webhooks", field="owner")
    chosen = sorted(set(events))
    unknown = [e for e in chosen if e not in WebhookEvent.values]
    if not chosen or unknown:
        raise InvalidInput(
            f"events must be some of {', '.join(WebhookEvent.values)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else ""),
            field="events",
        )
    problem = webhook_url_problem(url)
    if problem:
        raise InvalidInput(problem, field="url")
    key = secret or secrets.token_urlsafe(32)
    if len(key) < 32:
        raise InvalidInput("the secret must be at least 32 characters", field="secret")
    endpoint = WebhookEndpoint.objects.create(
        owner=owner,
        url=url,
        events=chosen,
        secret=key,
        description=description,
        is_active=is_active,
    )
    return endpoint, key


# -- dispatching --------------------------------------------------------------------------------------


def _enqueue(delivery_ids: list[int], countdown: float | None = None) -> None:
    from worker.tasks import webhook_deliver

    for delivery_id in delivery_ids:
        if countdown:
            webhook_deliver.apply_async(args=[delivery_id], countdown=countdown)
        else:
            webhook_deliver.delay(delivery_id)


def _active_endpoints() -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(is_active=True, owner__is_active=True)


@prepared_read
def _active_subscriptions() -> QuerySet[WebhookEndpoint, Any]:
    """(pk, events) of every active endpoint (read on every domain event)."""
    return _active_endpoints().values_list("pk", "events")


def dispatch_event(event: str, payload: Mapping[str, Any], household_id: int) -> int:
    """Record one delivery of ``event`` for every active endpoint subscribed to it whose owner
    may see household ``household_id``, and queue them after the current transaction commits.

    Call it inside the transaction of the action it reports (where the live event is
    published). Events no endpoint can subscribe to are ignored. Returns the deliveries made.
    """
    if event not in WebhookEvent.values:
        return 0
    # Most events have no subscriber: the endpoints and their owners are read only when one does.
    subscribed = [pk for pk, events in _active_subscriptions() if event in (events or [])]
    if not subscribed:
        return 0
    endpoints = [
        endpoint
        for endpoint in _active_endpoints().filter(pk__in=subscribed).select_related("owner")
        if event in (endpoint.events or [])  # still subscribed when read in full
    ]
    allowed: dict[int, bool] = {}
    recipients = []
    for endpoint in endpoints:
        if endpoint.owner_id not in allowed:
            allowed[endpoint.owner_id] = (
                households_visible_to(user=endpoint.owner).filter(pk=household_id).exists()
            )
        if allowed[endpoint.owner_id]:
            recipients.append(endpoint)
    if not recipients:
        return 0
    event_id = uuid.uuid4()
    body = json.dumps(
        {
            "id": str(event_id),
            "event": event,
            "created_at": timezone.now().isoformat(),
            "household": household_id,
            "data": dict(payload),
        },
        cls=DjangoJSONEncoder,
        separators=(",", ":"),
    )
    rows = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                endpoint=endpoint,
                event=event,
                event_id=event_id,
                household_id=household_id,
                body=body,
            )
            for endpoint in recipients
        ]
    )
    ids = [row.pk for row in rows]
    transaction.on_commit(lambda: _enqueue(ids))
    return len(ids)


def on_domain_event(
    sender: Any, *, event: str, payload: Mapping[str, Any], household_id: int, **kwargs: Any
) -> None:
    """A Django signal receiver with :func:`dispatch_event`'s arguments, for layers that may not
    import this module (trading): they send a signal, this receives it."""
    dispatch_event(event, payload, household_id)


# -- delivering ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptOutcome:
    """What one call of :func:`webhook_delivery_attempt` did."""

    attempted: bool
    status: str
    response_code: int | None = None
    retry_in: float | None = None


def backoff_seconds(attempts: int) -> float:
    """The wait after the ``attempts``-th failed attempt: 30 s, 60 s, 120 s, ... at most 1 h."""
    return float(min(BACKOFF_SECONDS * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        return None  # a redirect is an answer other than 2xx: it fails the attempt


_OPENER = urllib.request.build_opener(_NoRedirects, _PublicHTTPHandler, _PublicHTTPSHandler)


def _post(
    url: str, body: bytes, headers: Mapping[str, str], timeout: float
) -> tuple[int | None, str]:
    """POST and return (status, error text); status None when no HTTP answer came back."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(1024)
            return int(response.status), ""
    except urllib.error.HTTPError as exc:
        snippet = exc.read(300).decode("utf-8", "replace") if exc.fp else ""
        return int(exc.code), f"HTTP {exc.code} {exc.reason}: {snippet}".strip()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, RefusedAddress):
            return None, f"refused: {reason}"
        return None, f"{type(exc).__name__}: {reason}"


def _refusal(endpoint: WebhookEndpoint, household_id: int | None) -> str:
    """Why a queued delivery may no longer go out ("" when it may): checked at every attempt, as
    retries run for hours after the event and the owner's access may have changed since."""
    if not endpoint.is_active:
        return "the endpoint is disabled"
    if not endpoint.owner.is_active:
        return "the endpoint's owner is deactivated"
    if (
        household_id is not None
        and not households_visible_to(user=endpoint.owner).filter(pk=household_id).exists()
    ):
        return "the endpoint's owner no longer sees this household"
    return ""


def webhook_delivery_attempt(
    *, delivery_id: int, now: datetime | None = None, timeout: float = TIMEOUT_SECONDS
) -> AttemptOutcome:
    """Send one due delivery once, record how it went, and say when to try again.

    Safe to call twice: the attempt is claimed by a conditional update, so a duplicate task (or
    one that comes before the delivery is due) does nothing.
    """
    now = now or timezone.now()
    claimed = WebhookDelivery.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        pk=delivery_id,
        status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING],
    ).update(status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, last_attempt_at=now)
    delivery = (
        WebhookDelivery.objects.select_related("endpoint", "endpoint__owner")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None:
        return AttemptOutcome(attempted=False, status="missing")
    if not claimed:
        return AttemptOutcome(attempted=False, status=delivery.status)
    endpoint = delivery.endpoint
    refused = _refusal(endpoint, delivery.household_id)
    if refused:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.FAILED, last_error=refused, next_attempt_at=None
        )
        return AttemptOutcome(attempted=False, status=DeliveryStatus.FAILED)
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: webhook_signature(
            secret=endpoint.secret, body=body, timestamp=int(time.time())
        ),
        "X-Webhook-Event": delivery.event,
        "X-Webhook-Id": str(delivery.event_id),
        "X-Webhook-Attempt": str(delivery.attempts),
    }
    started = time.perf_counter()
    code, error = _post(endpoint.url, body, headers, timeout)
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    finished = timezone.now()
    if code is not None and 200 <= code < 300:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.SUCCEEDED,
            last_response_code=code,
            last_error="",
            last_duration_ms=duration_ms,
            delivered_at=finished,
            next_attempt_at=None,
        )
        return AttemptOutcome(attempted=True, status=DeliveryStatus.SUCCEEDED, response_code=code)
    if code is not None and not error:
        error = f"HTTP {code}"
    if delivery.attempts >= MAX_ATTEMPTS:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.FAILED,
            last_response_code=code,
            last_error=error[:2000],
            last_duration_ms=duration_ms,
            next_attempt_at=None,
        )
        logger.warning(
            "webhook %s to endpoint %s failed for good after %s attempts: %s",
            delivery.pk,
            endpoint.pk,
            delivery.attempts,
            error[:200],
        )
        return AttemptOutcome(attempted=True, status=DeliveryStatus.FAILED, response_code=code)
    wait = backoff_seconds(delivery.attempts)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.RETRYING,
        last_response_code=code,
        last_error=error[:2000],
        last_duration_ms=duration_ms,
        next_attempt_at=finished + timedelta(seconds=wait),
    )
    return AttemptOutcome(
        attempted=True, status=DeliveryStatus.RETRYING, response_code=code, retry_in=wait
    )


def webhook_delivery_retry(*, delivery_id: int) -> int:
    """Send a delivery again now, whatever happened before (the admin's action). Returns 1 if
    it was queued, 0 if it is being sent right now."""
    updated = (
        WebhookDelivery.objects.filter(pk=delivery_id)
        .exclude(status=DeliveryStatus.SENDING)
        .update(status=DeliveryStatus.PENDING, next_attempt_at=None, attempts=0)
    )
    if updated:
        transaction.on_commit(lambda: _enqueue([delivery_id]))
    return updated


def webhook_deliveries_sweep(*, now: datetime | None = None, limit: int = 500) -> int:
    """Queue every delivery that is due: never queued, due for a retry, or stuck "sending"
    because its worker died. Returns how many were queued."""
    now = now or timezone.now()
    WebhookDelivery.objects.filter(
        status=DeliveryStatus.SENDING, last_attempt_at__lt=now - SENDING_STALE_AFTER
    ).update(status=DeliveryStatus.RETRYING, next_attempt_at=now, last_error="interrupted mid-send")
    due = list(
        WebhookDelivery.objects.filter(
            Q(status=DeliveryStatus.PENDING, created_at__lt=now - timedelta(seconds=30))
            | Q(status=DeliveryStatus.RETRYING, next_attempt_at__lte=now)
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    _enqueue(due)
    return len(due)
