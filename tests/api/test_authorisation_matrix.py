"""Every API endpoint, every role, own object and someone else's.

The endpoints come from the URL conf (everything under ``/api/``): an endpoint or method without
a rule in :data:`MATRIX` fails :func:`test_every_endpoint_has_a_rule`, so nothing new ships
unchecked. Roles: anonymous, a client, another household's client, an advisor, another
household's advisor, staff. Targets: household A's object (own for the client and the advisor)
and household B's (own for the other client and the other advisor). Listings are checked for
leaks too: another household's objects never appear in them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver

from tests.api.world import Side, World, api_client, build_world, transactions_csv
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "client", "other_client", "advisor", "other_advisor", "staff")
OWNERS = {"A": ("client", "advisor"), "B": ("other_client", "other_advisor")}

Url = Callable[[World, Side], str]
Body = Callable[[World, Side, str], dict[str, Any]]


@dataclass(frozen=True)
class Rule:
    """How an endpoint answers each role.

    kind:
      public      anyone, signed in or not
      household   any signed-in role, objects of households they may see (404 otherwise)
      write       advisors (their clients' households) and staff; clients 403
      listing     any signed-in role; the list holds only what they may see
      firm        advisors and staff (firm-wide data or their own things); clients 403
      owned       advisors (their own) and staff; clients 403, other advisors 404
      missing     no such endpoint: 404 for everyone
    """

    kind: str
    url: Url
    ok: int = 200
    body: Body | None = None
    multipart: bool = False
    item: Callable[[Side], int] | None = None  # listings: the id that must show or not


def _h(path: str) -> Url:
    return lambda world, side: path.format(household=side.household.pk)


def _registration(world: World, side: Side, role: str) -> dict[str, Any]:
    import uuid

    body: dict[str, Any] = {
        "household": {"name": f"Registered {uuid.uuid4().hex[:10]}"},
        "first_name": "Reg",
        "last_name": "Istered",
        "risk_score": 5,
        "horizon_years": 12,
    }
    if role == "staff":
        body["advisor"] = world.a.advisor.pk
    return body


def _import(world: World, side: Side, role: str) -> dict[str, Any]:
    return {
        "household": side.household.pk,
        "file": SimpleUploadedFile("history.csv", transactions_csv(), content_type="text/csv"),
    }


MATRIX: dict[tuple[str, str], Rule] = {
    ("api-schema", "get"): Rule("public", lambda w, s: "/api/schema/"),
    ("api-docs", "get"): Rule("public", lambda w, s: "/api/docs/"),
    ("api-not-found", "get"): Rule("missing", lambda w, s: "/api/v1/no-such-thing/"),
    ("api-auth-token", "post"): Rule(
        "public",
        lambda w, s: "/api/v1/auth/token/",
        body=lambda w, s, r: {"username": w.a.user.username, "password": PASSWORD},
    ),
    ("api-households", "get"): Rule(
        "listing", lambda w, s: "/api/v1/households/", item=lambda s: s.household.pk
    ),
    ("api-household", "get"): Rule("household", _h("/api/v1/households/{household}/")),
    ("api-household-positions", "get"): Rule(
        "household", _h("/api/v1/households/{household}/positions/")
    ),
    ("api-household-recommendation", "get"): Rule(
        "household", _h("/api/v1/households/{household}/recommendation/")
    ),
    ("api-household-tax-report", "get"): Rule(
        "household", _h("/api/v1/households/{household}/tax-report/2024/")
    ),
    ("api-clients", "get"): Rule(
        "listing", lambda w, s: "/api/v1/clients/", item=lambda s: s.client.pk
    ),
    ("api-clients", "post"): Rule(
        "firm", lambda w, s: "/api/v1/clients/", ok=201, body=_registration
    ),
    ("api-client", "get"): Rule("household", lambda w, s: f"/api/v1/clients/{s.client.pk}/"),
    ("api-client-risk-profile", "get"): Rule(
        "household", lambda w, s: f"/api/v1/clients/{s.client.pk}/risk-profile/"
    ),
    ("api-client-risk-profile", "put"): Rule(
        "write",
        lambda w, s: f"/api/v1/clients/{s.client.pk}/risk-profile/",
        body=lambda w, s, r: {"risk_score": 4, "horizon_years": 10},
    ),
    ("api-client-esg-preference", "get"): Rule(
        "household", lambda w, s: f"/api/v1/clients/{s.client.pk}/esg-preference/"
    ),
    ("api-client-esg-preference", "put"): Rule(
        "write",
        lambda w, s: f"/api/v1/clients/{s.client.pk}/esg-preference/",
        body=lambda w, s, r: {"min_esg_score": 10, "excluded_categories": ["tobacco"]},
    ),
    ("api-accounts", "get"): Rule(
        "listing", lambda w, s: "/api/v1/accounts/", item=lambda s: s.account.pk
    ),
    ("api-account", "get"): Rule("household", lambda w, s: f"/api/v1/accounts/{s.account.pk}/"),
    ("api-lots", "get"): Rule("listing", lambda w, s: "/api/v1/lots/", item=lambda s: s.lot.pk),
    ("api-transactions", "get"): Rule(
        "listing", lambda w, s: "/api/v1/transactions/", item=lambda s: s.transaction.pk
    ),
    ("api-transactions-import", "post"): Rule(
        "write",
        lambda w, s: "/api/v1/transactions/import/",
        ok=201,
        body=_import,
        multipart=True,
    ),
    ("api-recommendations", "get"): Rule(
        "listing", lambda w, s: "/api/v1/recommendations/", item=lambda s: s.recommendation.pk
    ),
    ("api-proposals", "get"): Rule(
        "listing", lambda w, s: "/api/v1/proposals/", item=lambda s: s.proposal.pk
    ),
    ("api-proposal", "get"): Rule("household", lambda w, s: f"/api/v1/proposals/{s.proposal.pk}/"),
    ("api-proposal-approve", "post"): Rule(
        "write",
        lambda w, s: f"/api/v1/proposals/{s.proposal.pk}/approve/",
        body=lambda w, s, r: {"comment": "fine"},
    ),
    ("api-proposal-reject", "post"): Rule(
        "write",
        lambda w, s: f"/api/v1/proposals/{s.proposal.pk}/reject/",
        body=lambda w, s, r: {"comment": "not now"},
    ),
    ("api-orders", "get"): Rule(
        "listing", lambda w, s: "/api/v1/orders/", item=lambda s: s.order.pk
    ),
    ("api-order", "get"): Rule("household", lambda w, s: f"/api/v1/orders/{s.order.pk}/"),
    ("api-fills", "get"): Rule("listing", lambda w, s: "/api/v1/fills/", item=lambda s: s.fill.pk),
    ("api-signals", "get"): Rule("firm", lambda w, s: "/api/v1/signals/"),
    ("api-sentiment", "post"): Rule(
        "firm",
        lambda w, s: "/api/v1/sentiment/",
        body=lambda w, s, r: {"texts": ["Profits surge to a record"]},
    ),
    ("api-webhooks", "get"): Rule(
        "firm", lambda w, s: "/api/v1/webhooks/", item=lambda s: s.webhook.pk
    ),
    ("api-webhooks", "post"): Rule(
        "firm",
        lambda w, s: "/api/v1/webhooks/",
        ok=201,
        body=lambda w, s, r: {"url": "https://example.com/hook", "events": ["order.filled"]},
    ),
    ("api-webhook", "get"): Rule("owned", lambda w, s: f"/api/v1/webhooks/{s.webhook.pk}/"),
    ("api-webhook", "delete"): Rule(
        "owned", lambda w, s: f"/api/v1/webhooks/{s.webhook.pk}/", ok=204
    ),
    ("api-webhook-deliveries", "get"): Rule(
        "owned", lambda w, s: f"/api/v1/webhooks/{s.webhook.pk}/deliveries/"
    ),
}


def _walk(patterns: list[Any], prefix: str = "") -> list[tuple[str, URLPattern]]:
    found = []
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found.extend(_walk(entry.url_patterns, route))
        elif isinstance(entry, URLPattern):
            found.append((route, entry))
    return found


def api_endpoints() -> set[tuple[str, str]]:
    """(route name, method) of everything routed under /api/, read from the URL conf."""
    endpoints = set()
    for route, pattern in _walk(get_resolver().url_patterns):
        if not route.lstrip("^").startswith("api/"):
            continue
        assert pattern.name, f"the API route {route} has no name"
        view = getattr(pattern.callback, "cls", None) or getattr(
            pattern.callback, "view_class", None
        )
        if view is None:
            endpoints.add((pattern.name, "get"))
            continue
        for method in ("get", "post", "put", "patch", "delete"):
            if hasattr(view, method):
                endpoints.add((pattern.name, method))
    return endpoints


def test_every_endpoint_has_a_rule():
    endpoints = api_endpoints()
    missing = sorted(endpoints - set(MATRIX))
    assert not missing, f"API endpoints without a rule in the authorisation matrix: {missing}"
    stale = sorted(set(MATRIX) - endpoints)
    assert not stale, f"rules for endpoints that no longer exist: {stale}"


def expected_status(rule: Rule, role: str, target: str) -> int:
    own = role in OWNERS[target]
    if rule.kind == "missing":
        return 404
    if rule.kind == "public":
        return rule.ok
    if role == "anonymous":
        return 401
    is_client = role in ("client", "other_client")
    if rule.kind == "household":
        return rule.ok if role == "staff" or own else 404
    if rule.kind == "write":
        if is_client:
            return 403
        return rule.ok if role == "staff" or own else 404
    if rule.kind == "listing":
        return rule.ok
    if rule.kind == "firm":
        return 403 if is_client else rule.ok
    if rule.kind == "owned":
        if is_client:
            return 403
        return rule.ok if role == "staff" or own else 404
    raise AssertionError(f"unknown rule kind {rule.kind}")


def _targets(rule: Rule) -> tuple[str, ...]:
    return ("A",) if rule.kind in ("public", "missing") else ("A", "B")


def _listed_ids(response: Any) -> set[int]:
    data = response.json()
    rows = data["results"] if isinstance(data, dict) else data
    return {row["id"] for row in rows}


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Built once for the module (committed), flushed afterwards; each request below runs in a
    transaction that is rolled back, so every request sees the same world."""
    from django.core.management import call_command

    with django_db_blocker.unblock():
        built = build_world()
    yield built
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


@pytest.mark.parametrize("endpoint", sorted(MATRIX), ids=lambda e: f"{e[1].upper()} {e[0]}")
def test_authorisation(endpoint, world):
    name, method = endpoint
    rule = MATRIX[endpoint]
    users = world.users()
    wrong: list[str] = []
    for role in ROLES:
        for target in _targets(rule):
            side = world.a if target == "A" else world.b
            client = api_client(users[role])
            url = rule.url(world, side)
            body = rule.body(world, side, role) if rule.body else None
            with transaction.atomic():
                kwargs: dict[str, Any] = {}
                if body is not None:
                    kwargs = {"data": body, "format": "multipart" if rule.multipart else "json"}
                response = getattr(client, method)(url, **kwargs)
                transaction.set_rollback(True)
            want = expected_status(rule, role, target)
            if response.status_code != want:
                wrong.append(
                    f"{role} on {target}'s object: {response.status_code}, expected {want} "
                    f"({response.content[:160]!r})"
                )
                continue
            if response.status_code >= 400 and rule.kind != "missing":
                error = response.json().get("error", {})
                if not error.get("code") or not error.get("message"):
                    wrong.append(
                        f"{role} on {target}: not the one error shape: {response.content!r}"
                    )
            if rule.item is not None and response.status_code == 200:
                shown = _listed_ids(response)
                for other in ("A", "B"):
                    visible = role == "staff" or role in OWNERS[other]
                    item = rule.item(world.a if other == "A" else world.b)
                    if (item in shown) != visible:
                        wrong.append(
                            f"{role}: {other}'s item {item} {'missing from' if visible else 'leaks into'} the list"
                        )
    assert not wrong, f"{method.upper()} {name}:\n" + "\n".join(wrong)
