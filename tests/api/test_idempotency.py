"""``Idempotency-Key``: a repeat returns the first response without acting again; the same key
with another request is a 422; keys expire after 24 hours; concurrent duplicates give one
outcome."""

import datetime as dt
import threading
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.utils import timezone

from advisor.services import proposals as proposal_services
from integrations.models import IdempotencyKey
from portfolios.models import AuditEvent, Household, ProposalStatus, Transaction
from tests.api.world import api_client, build_world, transactions_csv

APPROVALS = {"action": "proposal.approved"}


@pytest.fixture
def world(db):
    return build_world()


def approve(api, proposal, key, comment="looks right"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post(
        f"/api/v1/proposals/{proposal.pk}/approve/", {"comment": comment}, format="json", **headers
    )


def test_a_repeat_returns_the_stored_response_without_approving_again(world):
    api = api_client(world.a.advisor)
    first = approve(api, world.a.proposal, "approve-1")
    assert first.status_code == 200, first.content
    assert first.json()["status"] == ProposalStatus.APPROVED
    assert "Idempotent-Replayed" not in first
    again = approve(api, world.a.proposal, "approve-1")
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert AuditEvent.objects.filter(**APPROVALS, object_id=str(world.a.proposal.pk)).count() == 1
    # without the key the action runs, and the service refuses a second approval
    plain = approve(api, world.a.proposal, None)
    assert plain.status_code == 409 and plain.json()["error"]["code"] == "conflict"


def test_the_same_key_with_another_request_is_a_422(world):
    api = api_client(world.a.advisor)
    assert approve(api, world.a.proposal, "k-1", comment="first").status_code == 200
    other_body = approve(api, world.a.proposal, "k-1", comment="second")
    assert other_body.status_code == 422
    error = other_body.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert "k-1" in error["message"]
    other_path = api.post(
        f"/api/v1/proposals/{world.a.proposal.pk}/reject/",
        {"comment": "first"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    assert other_path.status_code == 422


def test_errors_are_stored_and_replayed_too(world):
    api = api_client(world.a.advisor)
    missing_comment = api.post(
        f"/api/v1/proposals/{world.a.proposal.pk}/reject/",
        {},
        format="json",
        HTTP_IDEMPOTENCY_KEY="reject-1",
    )
    assert missing_comment.status_code == 400
    replay = api.post(
        f"/api/v1/proposals/{world.a.proposal.pk}/reject/",
        {},
        format="json",
        HTTP_IDEMPOTENCY_KEY="reject-1",
    )
    assert replay.status_code == 400 and replay.json() == missing_comment.json()
    assert replay["Idempotent-Replayed"] == "true"
    world.a.proposal.refresh_from_db()
    assert world.a.proposal.status == ProposalStatus.PENDING


def test_keys_expire_after_24_hours_and_belong_to_one_user(world):
    api = api_client(world.a.advisor)
    assert approve(api, world.a.proposal, "daily").status_code == 200
    row = IdempotencyKey.objects.get(key="daily")
    assert row.expires_at - row.created_at == dt.timedelta(hours=24)
    assert row.request_hash and row.response_status == 200
    # the same key string from another user is that user's own key
    staff = api_client(world.staff)
    assert approve(staff, world.b.proposal, "daily").status_code == 200
    # once expired, the key is new again: a different request with it runs
    IdempotencyKey.objects.filter(key="daily").update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    rerun = approve(api, world.a.proposal, "daily", comment="another request")
    assert rerun.status_code == 409  # ran again: the proposal is no longer pending
    assert "Idempotent-Replayed" not in rerun
    from advisor.api.idempotency import idempotency_keys_purge

    IdempotencyKey.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert idempotency_keys_purge() == 2 and not IdempotencyKey.objects.exists()


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "ümlaut"])
def test_malformed_keys_are_refused(world, key):
    response = approve(api_client(world.a.advisor), world.a.proposal, None)
    assert response.status_code == 200  # no key: runs
    response = api_client(world.a.advisor).post(
        f"/api/v1/proposals/{world.b.proposal.pk}/approve/",
        {},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "Idempotency-Key"


def test_registration_with_a_key_creates_one_household(world):
    api = api_client(world.a.advisor)
    body = {
        "household": {"name": "Keyed household"},
        "first_name": "Kay",
        "last_name": "Ed",
        "risk_score": 4,
        "horizon_years": 10,
    }
    first = api.post("/api/v1/clients/", body, format="json", HTTP_IDEMPOTENCY_KEY="reg-1")
    again = api.post("/api/v1/clients/", body, format="json", HTTP_IDEMPOTENCY_KEY="reg-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert Household.objects.filter(name="Keyed household").count() == 1


def test_an_import_uploaded_again_with_the_key_is_replayed(world):
    api = api_client(world.a.advisor)

    def upload():  # each call encodes the multipart body afresh (a new boundary)
        return api.post(
            "/api/v1/transactions/import/",
            {
                "household": world.a.household.pk,
                "file": SimpleUploadedFile("h.csv", transactions_csv(), content_type="text/csv"),
            },
            format="multipart",
            HTTP_IDEMPOTENCY_KEY="import-1",
        )

    first = upload()
    assert first.status_code == 201, first.content
    rows = Transaction.objects.count()
    again = upload()
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Transaction.objects.count() == rows


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_give_one_outcome(monkeypatch):
    world = build_world()
    queued = []
    monkeypatch.setattr(proposal_services, "_enqueue_execution", queued.append)
    original = proposal_services.proposal_approve

    def slow_approve(**kwargs):  # holds the transaction open while the duplicate arrives
        result = original(**kwargs)
        time.sleep(0.4)
        return result

    monkeypatch.setattr("advisor.api.views.proposals.proposal_approve", slow_approve)
    start = threading.Barrier(3)
    results: dict[str, object] = {}

    def send(name: str, key: str) -> None:
        try:
            api = api_client(world.a.advisor)
            start.wait(timeout=10)
            if name == "late":
                time.sleep(0.1)  # arrives while the first is still inside its transaction
            results[name] = approve(api, world.a.proposal, key)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=send, args=("first", "same-key")),
        threading.Thread(target=send, args=("late", "same-key")),
    ]
    for thread in threads:
        thread.start()
    start.wait(timeout=10)
    for thread in threads:
        thread.join(timeout=30)
    first, late = results["first"], results["late"]
    assert first.status_code == late.status_code == 200, (first.content, late.content)
    assert first.json() == late.json()
    # one ran the approval, the other (whichever came second) replayed its response
    assert sorted(r.get("Idempotent-Replayed", "") for r in (first, late)) == ["", "true"]
    assert AuditEvent.objects.filter(**APPROVALS, object_id=str(world.a.proposal.pk)).count() == 1
    assert queued == [world.a.proposal.pk]
    assert IdempotencyKey.objects.filter(key="same-key").count() == 1

    # two different keys racing: the service's own row lock still gives one approval
    start.reset()
    results.clear()

    def send_b(name: str, key: str) -> None:
        try:
            api = api_client(world.staff)
            start.wait(timeout=10)
            results[name] = approve(api, world.b.proposal, key)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=send_b, args=(n, k)) for n, k in (("x", "key-b1"), ("y", "key-b2"))
    ]
    for thread in threads:
        thread.start()
    start.wait(timeout=10)
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(r.status_code for r in results.values()) == [200, 409]
    assert AuditEvent.objects.filter(**APPROVALS, object_id=str(world.b.proposal.pk)).count() == 1
