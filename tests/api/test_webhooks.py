"""Webhooks: registration, dispatch after commit, HMAC signatures, retries with exponential
backoff until a last attempt, and the delivery log."""

import datetime as dt
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import transaction
from django.utils import timezone

from advisor import webhooks
from advisor.webhooks import (
    backoff_seconds,
    dispatch_event,
    webhook_deliveries_sweep,
    webhook_delivery_attempt,
    webhook_signature,
    webhook_signature_verify,
)
from integrations.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from tests.api.world import api_client
from tests.factories import AdvisorUserFactory, ClientFactory, StaffUserFactory

pytestmark = pytest.mark.django_db

SECRET = "k" * 40


class Receiver:
    """A local HTTP server answering with the statuses queued, recording what it got."""

    def __init__(self, statuses=(200,)):
        self.statuses = list(statuses)
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"headers": dict(self.headers), "body": body})
                status = (
                    receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                )
                self.send_response(status)
                if status in (301, 302):
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"nope")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def internal_receivers(settings):
    """The receivers here listen on loopback, which deliveries may reach only when allowed."""
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = True


@pytest.fixture
def closed_port_url() -> Iterator[str]:
    """A local address that refuses connections. The port stays bound, never listening, for
    the whole test: released at once, another process (a server of a parallel worker) could
    start listening on it before the deliveries are tried."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook"


@pytest.fixture
def queued(monkeypatch):
    """Deliveries queued (instead of sent to the broker)."""
    calls: list[int] = []
    monkeypatch.setattr(webhooks, "_enqueue", lambda ids, countdown=None: calls.extend(ids))
    return calls


def endpoint_for(owner, url="https://example.com/hook", events=("proposal.created",)):
    return WebhookEndpoint.objects.create(owner=owner, url=url, secret=SECRET, events=list(events))


def test_dispatch_records_one_delivery_per_subscribed_endpoint_and_queues_after_commit(
    queued, django_capture_on_commit_callbacks
):
    mine = ClientFactory()
    theirs = ClientFactory()
    subscribed = endpoint_for(mine.advisor, events=["proposal.created", "order.filled"])
    endpoint_for(mine.advisor, events=["order.filled"])  # not this event
    endpoint_for(theirs.advisor)  # another advisor's households
    staff_endpoint = endpoint_for(StaffUserFactory())  # staff see every household
    inactive = endpoint_for(mine.advisor)
    inactive.is_active = False
    inactive.save()

    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        made = dispatch_event("proposal.created", {"proposal": 7}, mine.household_id)
        assert queued == []  # nothing leaves before the commit
    assert made == 2 and len(callbacks) == 1
    deliveries = WebhookDelivery.objects.order_by("endpoint_id")
    assert {d.endpoint_id for d in deliveries} == {subscribed.pk, staff_endpoint.pk}
    assert sorted(queued) == sorted(d.pk for d in deliveries)
    assert len({d.event_id for d in deliveries}) == 1  # one event, the same id everywhere
    body = json.loads(deliveries[0].body)
    assert body == {
        "id": str(deliveries[0].event_id),
        "event": "proposal.created",
        "created_at": body["created_at"],
        "household": mine.household_id,
        "data": {"proposal": 7},
    }


def test_a_rolled_back_action_sends_nothing(queued, django_capture_on_commit_callbacks):
    client = ClientFactory()
    endpoint_for(client.advisor)

    def failing_action():
        with transaction.atomic():
            dispatch_event("proposal.created", {"proposal": 1}, client.household_id)
            raise RuntimeError("the action failed")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        failing_action()
    assert not WebhookDelivery.objects.exists() and queued == []


def test_unknown_events_and_no_subscribers_are_no_ops(queued):
    client = ClientFactory()
    assert dispatch_event("proposal.rejected", {}, client.household_id) == 0
    assert dispatch_event("order.filled", {}, client.household_id) == 0
    assert not WebhookDelivery.objects.exists()


def delivery_to(url, event="order.filled", payload=None):
    client = ClientFactory()
    endpoint_for(client.advisor, url=url, events=[event])
    dispatch_event(event, payload or {"order": "rp1-001", "status": "filled"}, client.household_id)
    return WebhookDelivery.objects.get()


def test_a_delivery_is_signed_and_logged(queued):
    with Receiver([204]) as receiver:
        delivery = delivery_to(receiver.url)
        outcome = webhook_delivery_attempt(delivery_id=delivery.pk)
    assert outcome.status == DeliveryStatus.SUCCEEDED and outcome.response_code == 204
    got = receiver.received[0]
    assert got["body"] == delivery.body.encode()
    headers = got["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Webhook-Event"] == "order.filled"
    assert headers["X-Webhook-Id"] == str(delivery.event_id)
    assert headers["X-Webhook-Attempt"] == "1"
    assert webhook_signature_verify(
        secret=SECRET, body=got["body"], header=headers["X-Webhook-Signature"], now=int(time.time())
    )
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.attempts == 1 and delivery.last_response_code == 204
    assert delivery.last_duration_ms is not None and delivery.delivered_at is not None
    # a duplicate task does nothing
    assert webhook_delivery_attempt(delivery_id=delivery.pk).attempted is False


def test_the_signature_scheme():
    body = b'{"event":"order.filled"}'
    header = webhook_signature(secret=SECRET, body=body, timestamp=1_700_000_000)
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert webhook_signature_verify(secret=SECRET, body=body, header=header, now=1_700_000_100)
    assert not webhook_signature_verify(
        secret=SECRET, body=body + b" ", header=header, now=1_700_000_000
    )
    assert not webhook_signature_verify(
        secret="x" * 40, body=body, header=header, now=1_700_000_000
    )
    assert not webhook_signature_verify(secret=SECRET, body=body, header=header, now=1_700_000_301)
    assert not webhook_signature_verify(
        secret=SECRET, body=body, header="v1=abc", now=1_700_000_000
    )


def test_failures_are_retried_with_exponential_backoff(queued):
    with Receiver([500, 302, 200]) as receiver:
        delivery = delivery_to(receiver.url)
        first = webhook_delivery_attempt(delivery_id=delivery.pk)
        assert first.status == DeliveryStatus.RETRYING and first.retry_in == 30
        delivery.refresh_from_db()
        assert delivery.last_response_code == 500 and "HTTP 500" in delivery.last_error
        due = delivery.next_attempt_at
        assert due - delivery.last_attempt_at >= dt.timedelta(seconds=30)
        # not due yet: nothing happens
        early = webhook_delivery_attempt(delivery_id=delivery.pk, now=due - dt.timedelta(seconds=1))
        assert early.attempted is False
        second = webhook_delivery_attempt(delivery_id=delivery.pk, now=due)
        assert (
            second.status == DeliveryStatus.RETRYING and second.retry_in == 60
        )  # a redirect fails
        delivery.refresh_from_db()
        third = webhook_delivery_attempt(delivery_id=delivery.pk, now=delivery.next_attempt_at)
        assert third.status == DeliveryStatus.SUCCEEDED
    assert [r["headers"]["X-Webhook-Attempt"] for r in receiver.received] == ["1", "2", "3"]
    assert len({r["body"] for r in receiver.received}) == 1  # the same bytes every time
    delivery.refresh_from_db()
    assert delivery.attempts == 3 and delivery.status == DeliveryStatus.SUCCEEDED


def test_it_stops_after_the_last_attempt(queued, monkeypatch, closed_port_url):
    monkeypatch.setattr(webhooks, "MAX_ATTEMPTS", 3)
    delivery = delivery_to(closed_port_url)
    now = timezone.now()
    statuses = []
    for _ in range(4):
        outcome = webhook_delivery_attempt(delivery_id=delivery.pk, now=now)
        statuses.append(outcome.status)
        now += dt.timedelta(hours=2)
    assert statuses == ["retrying", "retrying", "failed", "failed"]
    delivery.refresh_from_db()
    assert delivery.attempts == 3 and delivery.status == DeliveryStatus.FAILED
    assert delivery.last_response_code is None
    assert "refused" in delivery.last_error.lower() or "URLError" in delivery.last_error
    assert delivery.next_attempt_at is None


def test_backoff_doubles_up_to_an_hour():
    assert [backoff_seconds(n) for n in range(1, 9)] == [30, 60, 120, 240, 480, 960, 1920, 3600]


def test_the_task_queues_the_next_attempt_after_its_backoff(queued, monkeypatch):
    from worker.tasks import webhook_deliver

    scheduled = []
    monkeypatch.setattr(
        webhook_deliver, "apply_async", lambda args, countdown: scheduled.append((args, countdown))
    )
    with Receiver([503]) as receiver:
        delivery = delivery_to(receiver.url)
        result = webhook_deliver.apply(args=[delivery.pk]).get()
    assert result["status"] == "retrying" and result["response_code"] == 503
    assert scheduled == [([delivery.pk], 30.0)]


def test_the_sweep_queues_what_is_due(queued):
    delivery = delivery_to("https://example.com/hook")
    long_ago = timezone.now() - dt.timedelta(minutes=10)
    queued.clear()
    assert webhook_deliveries_sweep() == 0  # just dispatched: its own task will send it
    WebhookDelivery.objects.filter(pk=delivery.pk).update(created_at=long_ago)
    assert webhook_deliveries_sweep() == 1 and queued == [delivery.pk]
    # a worker died mid-send: retried
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SENDING, last_attempt_at=long_ago
    )
    queued.clear()
    assert webhook_deliveries_sweep() == 1
    delivery.refresh_from_db()
    assert (
        delivery.status == DeliveryStatus.RETRYING and delivery.last_error == "interrupted mid-send"
    )


def test_the_api_registers_endpoints_and_shows_the_log(queued):
    advisor = AdvisorUserFactory()
    api = api_client(advisor)
    created = api.post(
        "/api/v1/webhooks/",
        {
            "url": "https://integrator.example.com/in",
            "events": ["order.filled", "proposal.approved"],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert len(body["secret"]) >= 32 and body["owner"] == advisor.pk
    assert body["events"] == ["order.filled", "proposal.approved"]
    shown = api.get(f"/api/v1/webhooks/{body['id']}/").json()
    assert "secret" not in shown
    chosen = api.post(
        "/api/v1/webhooks/",
        {"url": "https://integrator.example.com/2", "events": ["order.filled"], "secret": "z" * 32},
        format="json",
    )
    assert chosen.json()["secret"] == "z" * 32
    for bad in (
        {"url": "ftp://x.example.com/", "events": ["order.filled"]},
        {"url": "https://x.example.com/", "events": []},
        {"url": "https://x.example.com/", "events": ["account.closed"]},
        {"url": "https://x.example.com/", "events": ["order.filled"], "secret": "short"},
    ):
        response = api.post("/api/v1/webhooks/", bad, format="json")
        assert response.status_code == 400, bad
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    WebhookDelivery.objects.create(
        endpoint=endpoint,
        event="order.filled",
        body="{}",
        attempts=2,
        status="retrying",
        last_response_code=500,
    )
    log = api.get(f"/api/v1/webhooks/{body['id']}/deliveries/").json()["results"]
    assert log[0]["status"] == "retrying" and log[0]["attempts"] == 2
    assert log[0]["last_response_code"] == 500
    assert api.delete(f"/api/v1/webhooks/{body['id']}/").status_code == 204
    assert not WebhookEndpoint.objects.filter(pk=body["id"]).exists()


def test_the_admin_shows_the_delivery_log_and_retries(client, queued):
    staff = StaffUserFactory(is_superuser=True)
    delivery = delivery_to("https://example.com/hook")
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.FAILED, attempts=8, last_response_code=500
    )
    client.force_login(staff)
    page = client.get("/admin/integrations/webhookdelivery/")
    assert page.status_code == 200
    assert b"Gave up after the last attempt" in page.content
    queued.clear()
    with transaction.atomic():
        response = client.post(
            "/admin/integrations/webhookdelivery/",
            {"action": "retry_now", "_selected_action": [delivery.pk]},
        )
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/admin/",
        "https://localhost/in",
        "http://api.localhost/in",
        "http://[::1]/in",
        "http://[::ffff:10.0.0.1]/in",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/in",
        "http://192.168.0.10/in",
        "http://100.64.0.1/in",
        "http://0.0.0.0/in",
    ],
)
def test_an_internal_address_cannot_be_registered(settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = False
    response = api_client(AdvisorUserFactory()).post(
        "/api/v1/webhooks/", {"url": url, "events": ["order.filled"]}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "url" and "public host" in error["message"]
    assert not WebhookEndpoint.objects.exists()


def test_the_numeric_forms_of_an_address_are_recognised(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = False
    for url in ("http://2130706433/in", "http://127.1/in", "http://0x7f000001/in"):
        assert "not the internal address" in (webhooks.webhook_url_problem(url) or ""), url
    assert webhooks.webhook_url_problem("https://integrator.example.com/in") is None
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = True
    assert webhooks.webhook_url_problem("http://127.0.0.1:8000/in") is None


def test_a_delivery_to_a_name_that_resolves_internally_is_refused_unsent(settings, queued):
    """An endpoint stored earlier whose name now resolves to loopback (DNS can change after
    registration): the address connected to is checked, and nothing reaches the server."""
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = False
    with Receiver([200]) as receiver:
        port = receiver.server.server_address[1]
        delivery = delivery_to(f"http://localhost:{port}/hook")
        outcome = webhook_delivery_attempt(delivery_id=delivery.pk)
    assert outcome.status == DeliveryStatus.RETRYING and outcome.response_code is None
    assert receiver.received == []
    delivery.refresh_from_db()
    assert delivery.last_error.startswith("refused: localhost is the internal address")


@pytest.mark.parametrize("change", ["owner deactivated", "client moved to another advisor"])
def test_a_queued_delivery_is_not_sent_once_its_owner_may_no_longer_see_it(queued, change):
    with Receiver([204]) as receiver:
        delivery = delivery_to(receiver.url)
        owner = delivery.endpoint.owner
        if change == "owner deactivated":
            owner.is_active = False
            owner.save()
            reason = "the endpoint's owner is deactivated"
        else:
            for client in owner.advised_clients.all():
                client.advisor = AdvisorUserFactory()
                client.save()
            reason = "the endpoint's owner no longer sees this household"
        outcome = webhook_delivery_attempt(delivery_id=delivery.pk)
    assert outcome.attempted is False and receiver.received == []
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.last_error == reason


def test_an_endpoint_can_be_registered_switched_off(queued):
    api = api_client(AdvisorUserFactory())
    created = api.post(
        "/api/v1/webhooks/",
        {
            "url": "https://integrator.example.com/in",
            "events": ["order.filled"],
            "is_active": False,
        },
        format="json",
    )
    assert created.status_code == 201 and created.json()["is_active"] is False
    assert WebhookEndpoint.objects.get().is_active is False
