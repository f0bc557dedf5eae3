"""CSRF on session requests, limits on sign-ins (API token and browser form), the audit log of
sign-ins and sensitive actions, and no secrets in logs."""

import io
import logging
import re
from contextlib import contextmanager

import pytest
from django.test import Client as BrowserClient
from django.test import RequestFactory, override_settings
from django.urls import resolve
from rest_framework.authtoken.models import Token

from advisor.api import login_limits
from advisor.api.authentication import token_cache_forget
from advisor.api.login_limits import RateLimitedLoginView
from advisor.logging import RedactSecretsFilter
from portfolios.models import AuditEvent
from tests.api.world import api_client, build_world, random_address
from tests.factories import PASSWORD, AdvisorUserFactory, ClientFactory, UserFactory

pytestmark = pytest.mark.django_db


# -- CSRF -----------------------------------------------------------------------------------------


def test_a_session_post_without_the_csrf_token_is_refused():
    world = build_world()
    browser = BrowserClient(enforce_csrf_checks=True, REMOTE_ADDR=random_address())
    browser.force_login(world.a.advisor)
    url = f"/api/v1/proposals/{world.a.proposal.pk}/approve/"
    refused = browser.post(url, {"comment": "ok"}, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["message"]
    browser.get("/accounts/password/change/")  # a page with a form sets the csrftoken cookie
    token = browser.cookies["csrftoken"].value
    allowed = browser.post(
        url, {"comment": "ok"}, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert allowed.status_code == 200, allowed.content


def test_token_requests_need_no_csrf_token():
    world = build_world()
    api = api_client(world.a.advisor)
    api.handler.enforce_csrf_checks = True
    response = api.post(
        f"/api/v1/proposals/{world.a.proposal.pk}/approve/", {"comment": "ok"}, format="json"
    )
    assert response.status_code == 200


# -- the API token endpoint -------------------------------------------------------------------------


def token_request(username, password, address, **headers):
    return api_client().post(
        "/api/v1/auth/token/",
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=address,
        **headers,
    )


def test_the_token_endpoint_and_its_failed_login_limit():
    user = UserFactory()
    address = random_address()
    ok = token_request(user.username, PASSWORD, address)
    assert ok.status_code == 200
    assert ok.json()["token"] == Token.objects.get(user=user).key
    assert ok.json()["role"] == "client"
    wrong = token_request(user.username, "not-the-password", address)
    assert wrong.status_code == 400
    assert wrong.json()["error"] == {
        "code": "invalid_credentials",
        "message": "the username or password is wrong",
    }
    for _ in range(login_limits.FAILURE_LIMIT - 1):
        assert token_request(user.username, "still-wrong", address).status_code == 400
    blocked = token_request(user.username, PASSWORD, address)  # even the right password
    assert blocked.status_code == 429
    error = blocked.json()["error"]
    assert error["code"] == "too_many_failed_logins"
    assert "Try again in 15 minutes" in error["message"]
    wait = int(blocked["Retry-After"])
    assert 14 * 60 < wait <= 15 * 60 and error["details"] == {"retry_after_seconds": wait}
    # another address is not locked out; a success there clears nothing here
    assert token_request(user.username, PASSWORD, random_address()).status_code == 200
    assert token_request(user.username, PASSWORD, address).status_code == 429
    # a username that does not exist is limited the same way (no enumeration)
    ghost = [token_request("nobody-here", "x", address).status_code for _ in range(6)]
    assert ghost == [400] * 5 + [429]


def test_a_success_clears_the_failures():
    user = UserFactory()
    address = random_address()
    for _ in range(login_limits.FAILURE_LIMIT - 1):
        token_request(user.username, "wrong", address)
    assert token_request(user.username, PASSWORD, address).status_code == 200
    for _ in range(login_limits.FAILURE_LIMIT - 1):
        assert token_request(user.username, "wrong", address).status_code == 400
    assert token_request(user.username, PASSWORD, address).status_code == 200


def test_the_window_ends(monkeypatch):
    user = UserFactory()
    address = random_address()
    for _ in range(login_limits.FAILURE_LIMIT):
        token_request(user.username, "wrong", address)
    assert token_request(user.username, PASSWORD, address).status_code == 429
    real = login_limits.time.time
    monkeypatch.setattr(login_limits.time, "time", lambda: real() + 14 * 60)
    retry = login_limits.login_retry_after(username=user.username, address=address)
    assert retry is not None and retry <= 60
    assert "1 minute," in login_limits.blocked_message(retry)
    login_limits.login_failures_clear(username=user.username, address=address)  # the expiry
    assert token_request(user.username, PASSWORD, address).status_code == 200


@contextmanager
def tight_throttle(monkeypatch, scope, rate):
    """``scope`` throttled at ``rate``, all within one window (the clock held in its middle)."""
    from django.conf import settings

    from advisor.api import throttling

    frozen = throttling.time.time() // 60 * 60 + 30
    monkeypatch.setattr(throttling.time, "time", lambda: frozen)
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], scope: rate}
    with override_settings(
        REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    ):
        yield


def test_token_sign_ins_are_throttled_per_address(monkeypatch):
    user = UserFactory()
    address = random_address()
    with tight_throttle(monkeypatch, "login", "3/minute"):
        codes = [token_request(user.username, PASSWORD, address).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_a_client_cannot_choose_its_address_with_x_forwarded_for(monkeypatch):
    """Without trusted proxies the connection's address counts, whatever the header says: a
    fresh X-Forwarded-For on every request neither escapes the throttle nor the failure limit."""
    user = UserFactory()
    address = random_address()
    with tight_throttle(monkeypatch, "login", "3/minute"):
        codes = [
            token_request(
                user.username, PASSWORD, address, HTTP_X_FORWARDED_FOR=random_address()
            ).status_code
            for _ in range(4)
        ]
    assert codes == [200, 200, 200, 429]
    other = UserFactory()
    spoofed = [
        token_request(other.username, "wrong", address, HTTP_X_FORWARDED_FOR=random_address())
        for _ in range(login_limits.FAILURE_LIMIT + 1)
    ]
    assert spoofed[-1].status_code == 429


def test_behind_a_trusted_proxy_the_address_it_saw_counts():
    from django.conf import settings

    proxy, client, forged = "10.0.0.1", random_address(), random_address()
    request = RequestFactory().get(
        "/healthz", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=f"{forged}, {client}"
    )
    assert login_limits.client_address(request) == proxy  # no trusted proxies: the connection
    with override_settings(
        NUM_PROXIES=1, REST_FRAMEWORK={**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    ):
        assert login_limits.client_address(request) == client  # what the proxy appended
        user = UserFactory()
        for _ in range(login_limits.FAILURE_LIMIT):
            token_request(user.username, "wrong", proxy, HTTP_X_FORWARDED_FOR=client)
        blocked = token_request(user.username, PASSWORD, proxy, HTTP_X_FORWARDED_FOR=client)
        elsewhere = token_request(
            user.username, PASSWORD, proxy, HTTP_X_FORWARDED_FOR=random_address()
        )
    assert blocked.status_code == 429 and elsewhere.status_code == 200


def test_an_address_spraying_many_usernames_is_refused(monkeypatch):
    monkeypatch.setattr(login_limits, "ADDRESS_FAILURE_LIMIT", 6)
    address = random_address()
    users = [UserFactory() for _ in range(3)]
    for user in users:  # two wrong passwords each: under the per-username limit
        for _ in range(2):
            assert token_request(user.username, "wrong", address).status_code == 400
    fresh = UserFactory()
    blocked = token_request(fresh.username, PASSWORD, address)
    assert blocked.status_code == 429
    assert "from your network" in blocked.json()["error"]["message"]
    # a success elsewhere does not clear the address's count, and other addresses are free
    assert token_request(fresh.username, PASSWORD, random_address()).status_code == 200
    assert token_request(fresh.username, PASSWORD, address).status_code == 429


def test_requests_without_valid_credentials_are_throttled_per_address(monkeypatch):
    """Throttles come before permissions: unauthenticated requests and wrong tokens to a
    protected route are counted against their address (429, not an endless run of 401s)."""
    address = random_address()
    anonymous = BrowserClient(REMOTE_ADDR=address)
    wrong_token = BrowserClient(REMOTE_ADDR=random_address(), HTTP_AUTHORIZATION="Token nope")
    with tight_throttle(monkeypatch, "anon", "3/minute"):
        codes = [anonymous.get("/api/v1/households/").status_code for _ in range(4)]
        wrong = [wrong_token.get("/api/v1/households/").status_code for _ in range(4)]
        limited = anonymous.get("/api/v1/households/")
        signed_in = api_client(AdvisorUserFactory()).get("/api/v1/households/")
    assert codes == [401, 401, 401, 429] and wrong == [401, 401, 401, 429]
    assert 1 <= int(limited["Retry-After"]) <= 31
    assert limited.json()["error"]["details"] == {
        "retry_after_seconds": int(limited["Retry-After"])
    }
    assert signed_in.status_code == 200  # counted per user, not against the address


# -- the browser login form -------------------------------------------------------------------------


def test_the_browser_login_uses_the_failed_login_limit():
    """The one-line wiring in advisor/urls.py: /accounts/login/ is the rate-limited view."""
    assert resolve("/accounts/login/").func.view_class is RateLimitedLoginView


@override_settings(ROOT_URLCONF="tests.api.login_urls")
def test_the_browser_login_refuses_after_repeated_failures():
    user = UserFactory()
    address = random_address()
    browser = BrowserClient(REMOTE_ADDR=address)
    for _ in range(login_limits.FAILURE_LIMIT):
        page = browser.post("/accounts/login/", {"username": user.username, "password": "nope"})
        assert page.status_code == 200  # the form again, with Django's error
    events = AuditEvent.objects.filter(action="login.failed", data__username=user.username)
    assert events.count() == login_limits.FAILURE_LIMIT
    blocked = browser.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert blocked.status_code == 429
    assert "Too many failed sign-in attempts" in blocked.content.decode()
    assert int(blocked["Retry-After"]) > 0
    # refused before the password is checked: no new failure is recorded
    assert events.count() == login_limits.FAILURE_LIMIT
    elsewhere = BrowserClient(REMOTE_ADDR=random_address())
    ok = elsewhere.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert ok.status_code == 302
    assert AuditEvent.objects.filter(action="login.succeeded", actor=user).exists()


# -- the audit log --------------------------------------------------------------------------------------


def test_sign_ins_sign_outs_and_failures_are_audited_without_the_password():
    user = UserFactory()
    address = random_address()
    browser = BrowserClient(REMOTE_ADDR=address)
    browser.post("/accounts/login/", {"username": user.username, "password": "Secret-Guess-1"})
    assert browser.login(username=user.username, password=PASSWORD)
    browser.post("/accounts/logout/")
    token_request(user.username, PASSWORD, address)
    actions = list(
        AuditEvent.objects.filter(object_type__in=["User", "Login"])
        .order_by("id")
        .values_list("action", "data")
    )
    assert [a for a, _ in actions] == [
        "login.failed",
        "login.succeeded",
        "logout",
        "login.succeeded",
    ]
    failed = actions[0][1]
    assert failed["username"] == user.username and failed["ip"] == address
    assert failed["channel"] == "browser" and actions[3][1]["channel"] == "api"
    assert "Secret-Guess-1" not in str(actions)


def test_approvals_and_limit_changes_are_audited():
    from trading.services import risk_limit_current, risk_limit_update

    world = build_world()
    api_client(world.a.advisor).post(
        f"/api/v1/proposals/{world.a.proposal.pk}/approve/", {"comment": "fine"}, format="json"
    )
    approval = AuditEvent.objects.get(action="proposal.approved")
    assert approval.actor == world.a.advisor
    assert (approval.from_state, approval.to_state, approval.reason) == (
        "pending",
        "approved",
        "fine",
    )
    limit = risk_limit_current()
    risk_limit_update(
        limit_id=limit.pk,
        changes={"allow_outside_hours": True},
        actor_id=world.staff.pk,
        reason="drill",
    )
    change = AuditEvent.objects.get(action="risk_limit.changed")
    assert change.actor == world.staff and change.data == {"allow_outside_hours": ["False", "True"]}


# -- no secrets in logs ------------------------------------------------------------------------------


@pytest.fixture
def log_output():
    """Everything logged while the test runs, through the project's redacting filter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecretsFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_the_configured_handlers_redact():
    handlers = logging.getLogger().handlers
    assert any(isinstance(f, RedactSecretsFilter) for h in handlers for f in h.filters), (
        "the console handler lost its redacting filter"
    )


def test_authorization_headers_tokens_and_passwords_are_redacted(log_output):
    token = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"
    log = logging.getLogger("advisor.test")
    log.warning("Authorization: Token %s", token)
    log.warning("headers %s", {"HTTP_AUTHORIZATION": f"Token {token}", "HTTP_HOST": "x"})
    log.warning("Authorization: Bearer abc.def.ghi")
    log.warning("retrying with token=%s", token)
    log.warning('body {"username": "pat", "password": "hunter2-hunter2"}')
    log.warning("login failed for pat password=hunter2-hunter2&next=/")
    log.warning("connecting to postgres://advisor:dbpass-123@db:5432/advisor")
    text = log_output.getvalue()
    for secret in (token, "abc.def.ghi", "hunter2-hunter2", "dbpass-123"):
        assert secret not in text, text
    assert "pat" in text and "HTTP_HOST" in text  # the rest stays readable


def test_a_failed_login_leaks_no_password_into_the_logs(log_output):
    user = UserFactory()
    secret = "Never-Log-Me-42"
    token_request(user.username, secret, random_address())
    BrowserClient(REMOTE_ADDR=random_address()).post(
        "/accounts/login/", {"username": user.username, "password": secret}
    )
    api_client().post(
        "/api/v1/auth/token/",
        f'{{"username": "x", "password": "{secret}"'.encode(),
        content_type="application/json",
    )  # malformed JSON, logged as a bad request
    text = log_output.getvalue()
    assert "Bad Request: /api/v1/auth/token/" in text  # requests are logged...
    assert secret not in text  # ...without the password
    assert not re.search(r"[0-9a-f]{40}", text)  # nor any API token


# -- roles ---------------------------------------------------------------------------------------------


def test_an_inactive_users_token_stops_working():
    advisor = AdvisorUserFactory()
    api = api_client(advisor)
    assert api.get("/api/v1/households/").status_code == 200
    advisor.is_active = False
    advisor.save()
    response = api.get("/api/v1/households/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_a_token_expires_and_signing_in_again_issues_a_new_one():
    import datetime as dt

    from django.utils import timezone

    user = UserFactory()
    address = random_address()
    first = token_request(user.username, PASSWORD, address).json()
    expires = dt.datetime.fromisoformat(first["expires_at"])
    assert dt.timedelta(days=29) < expires - timezone.now() <= dt.timedelta(days=30)
    api = api_client()
    api.credentials(HTTP_AUTHORIZATION=f"Token {first['token']}")
    assert api.get("/api/v1/households/").status_code == 200
    Token.objects.filter(key=first["token"]).update(
        created=timezone.now() - dt.timedelta(days=30, seconds=1)
    )
    token_cache_forget(keys=[first["token"]])  # as after TOKEN_CACHE_SECONDS
    refused = api.get("/api/v1/households/")
    assert refused.status_code == 401
    assert "expired" in refused.json()["error"]["message"]
    second = token_request(user.username, PASSWORD, address).json()
    assert second["token"] != first["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {second['token']}")
    assert api.get("/api/v1/households/").status_code == 200


def test_a_password_change_revokes_the_token():
    advisor = AdvisorUserFactory()
    api = api_client(advisor)
    assert api.get("/api/v1/households/").status_code == 200
    advisor.last_login = advisor.date_joined
    advisor.save(update_fields=["last_login"])  # a sign-in's stamp changes nothing
    advisor.first_name = "Renamed"
    advisor.save()  # nor does any other change
    assert api.get("/api/v1/households/").status_code == 200
    advisor.set_password("a-new-long-password-1")
    advisor.save()
    assert not Token.objects.filter(user=advisor).exists()
    assert api.get("/api/v1/households/").status_code == 401


def test_an_advisor_of_one_client_in_a_shared_household_sees_it_once():
    advisor = AdvisorUserFactory()
    first = ClientFactory(advisor=advisor)
    ClientFactory(advisor=advisor, household=first.household)
    rows = api_client(advisor).get("/api/v1/households/").json()
    assert rows["count"] == 1
    accounts = api_client(advisor).get("/api/v1/accounts/").json()
    assert accounts["count"] == 0
