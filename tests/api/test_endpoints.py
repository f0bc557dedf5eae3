"""What each endpoint returns: filters, pagination, the tax report as JSON and CSV, the import,
proposals with trades and checks, orders with fills, sentiment, and one error shape for all."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError
from django.test import Client as BrowserClient
from django.test import override_settings

from portfolios.models import AuditEvent, ProposalStatus, Transaction
from tests.api.world import api_client, build_world, random_address, transactions_csv
from tests.factories import RealizedLotFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build_world()


def results(response):
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_positions_are_valued_with_their_lots(world):
    rows = api_client(world.a.user).get(f"/api/v1/households/{world.a.household.pk}/positions/")
    assert rows.status_code == 200
    (position,) = rows.json()
    assert position["symbol"] == "WRLD"
    assert position["quantity"] == "10.000000000" and position["price"] == "95.000000"
    assert position["market_value"] == "950.00" and position["cost_basis"] == "900.00"
    assert position["unrealized_gain"] == "50.00"
    assert position["lots"] == [
        {
            "id": world.a.lot.pk,
            "quantity": "10.000000000",
            "cost_basis": "900.00",
            "acquired_on": "2024-01-02",
            "market_value": "950.00",
            "unrealized_gain": "50.00",
        }
    ]


def test_datetimes_are_utc_whatever_the_firms_zone(world, settings):
    """Pages use the firm's zone (New York by default); the API always answers in UTC."""
    assert settings.TIME_ZONE == "America/New_York"
    evening = dt.datetime(2024, 6, 4, 0, 30, tzinfo=dt.UTC)  # 20:30 in New York
    Transaction.objects.filter(pk=world.a.transaction.pk).update(executed_at=evening)
    api = api_client(world.a.user)
    (txn,) = [
        t
        for t in results(api.get(f"/api/v1/transactions/?household={world.a.household.pk}"))
        if t["id"] == world.a.transaction.pk
    ]
    assert txn["executed_at"] == "2024-06-04T00:30:00Z"


def test_list_filters_and_pagination(world):
    staff = api_client(world.staff)
    a, b = world.a, world.b
    assert {
        r["id"] for r in results(staff.get(f"/api/v1/accounts/?household={a.household.pk}"))
    } == {a.account.pk}
    assert results(staff.get("/api/v1/accounts/?account_type=ira")) == []
    lots = results(staff.get(f"/api/v1/lots/?account={b.account.pk}&open=true&symbol=wrld"))
    assert [lot["id"] for lot in lots] == [b.lot.pk]
    assert lots[0]["basis_reported"] is b.lot.basis_reported is True
    assert results(staff.get("/api/v1/lots/?open=false")) == []
    txns = results(staff.get(f"/api/v1/transactions/?household={a.household.pk}&kind=transfer_in"))
    assert [t["id"] for t in txns] == [a.transaction.pk]
    assert results(staff.get("/api/v1/transactions/?date_from=2024-01-03")) == []
    assert len(results(staff.get("/api/v1/transactions/?date_to=2024-01-02"))) == 2
    proposals = results(staff.get(f"/api/v1/proposals/?status=pending&account={a.account.pk}"))
    assert [p["id"] for p in proposals] == [a.proposal.pk]
    assert results(staff.get("/api/v1/proposals/?reason=harvest")) == []
    orders = results(
        staff.get(f"/api/v1/orders/?household={b.household.pk}&status=filled&side=buy")
    )
    assert [o["id"] for o in orders] == [b.order.pk]
    fills = results(staff.get(f"/api/v1/fills/?order={a.order.pk}&since=2025-07-01T00:00:00Z"))
    assert [f["id"] for f in fills] == [a.fill.pk]
    assert results(staff.get("/api/v1/fills/?until=2025-07-01")) == []
    assert len(results(staff.get("/api/v1/signals/?symbol=WRLD&kind=mean_reversion"))) == 1
    assert results(staff.get("/api/v1/signals/?since=2030-01-01")) == []
    assert len(results(staff.get("/api/v1/recommendations/?current=true"))) == 2
    page = staff.get("/api/v1/households/?page_size=1")
    body = page.json()
    assert body["count"] == 2 and len(body["results"]) == 1 and body["next"]
    assert results(staff.get("/api/v1/households/?search=household a"))[0]["id"] == a.household.pk
    clients = results(staff.get(f"/api/v1/clients/?household={b.household.pk}"))
    assert [c["id"] for c in clients] == [b.client.pk]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("/api/v1/accounts/?household=abc", "household"),
        ("/api/v1/accounts/?household=²", "household"),
        ("/api/v1/accounts/?household=" + "9" * 5000, "household"),  # past int's digit limit
        ("/api/v1/accounts/?account_type=brokerage", "account_type"),
        ("/api/v1/lots/?open=maybe", "open"),
        ("/api/v1/transactions/?date_from=2024-13-01", "date_from"),
        ("/api/v1/fills/?since=yesterday", "since"),
        # past year 9999 or before year 1 in UTC: used to overflow (a 500)
        ("/api/v1/fills/?since=9999-12-31T23:59:59-05:00", "since"),
        ("/api/v1/fills/?until=0001-01-01T00:00:00%2B05:00", "until"),
        ("/api/v1/signals/?since=0001-01-01T00:00:00%2B05:00", "since"),
        ("/api/v1/signals/?until=9999-12-31T23:59:59-05:00", "until"),
        ("/api/v1/proposals/?status=approvedd", "status"),
        ("/api/v1/households/?search=%00", "search"),
    ],
)
def test_a_malformed_filter_is_a_400_naming_it(world, query, parameter):
    response = api_client(world.staff).get(query)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == parameter


def test_the_tax_report_as_json_and_as_csv(world):
    RealizedLotFactory(
        lot=world.a.lot,
        account=world.a.account,
        asset=world.a.lot.asset,
        sold_on="2024-06-03",
        proceeds=Decimal("1100.00"),
        cost_basis=Decimal("1000.00"),
        gain=Decimal("100.00"),
    )
    api = api_client(world.a.user)
    url = f"/api/v1/households/{world.a.household.pk}/tax-report/2024/"
    report = api.get(url)
    assert report.status_code == 200 and report["Content-Type"] == "application/json"
    body = report.json()
    assert body["tax_year"] == 2024 and body["household"]["id"] == world.a.household.pk
    assert [row["proceeds"] for row in body["part_i"]["rows"]] == ["1100.00"]
    assert [row["box"] for row in body["part_i"]["rows"]] == ["A"]
    assert [(b["box"], b["schedule_d_line"]) for b in body["part_i"]["boxes"]] == [("A", "1b")]
    as_csv = api.get(url + "?format=csv")
    assert as_csv.status_code == 200
    assert as_csv["Content-Type"].startswith("text/csv")
    assert "attachment" in as_csv["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(as_csv.content.decode())))
    assert any("1100.00" in row for row in rows)
    by_header = api.get(url, HTTP_ACCEPT="text/csv")
    assert by_header.status_code == 200 and by_header.content == as_csv.content
    # errors stay JSON in the one shape, whatever was asked for
    bad_year = api.get(f"/api/v1/households/{world.a.household.pk}/tax-report/1800/?format=csv")
    assert bad_year.status_code == 400 and bad_year["Content-Type"] == "application/json"
    assert bad_year.json()["error"]["field"] == "year"
    unknown = api.get(url + "?format=xml")
    assert unknown.status_code == 400 and unknown.json()["error"]["field"] == "format"


def test_the_tax_report_csv_neutralises_a_formula_in_the_household_name(world):
    world.a.household.name = '=HYPERLINK("http://evil.example","x")'
    world.a.household.save(update_fields=["name"])
    url = f"/api/v1/households/{world.a.household.pk}/tax-report/2024/?format=csv"
    response = api_client(world.a.user).get(url)
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[1] == ["Household", '\'=HYPERLINK("http://evil.example","x")']


def test_the_import_is_all_or_nothing_with_every_bad_row(world):
    api = api_client(world.a.advisor)
    bad = (
        b"date,account,account_type,symbol,side,quantity,price,fees,lot_id,amount\n"
        b"2024-01-05,Imported,taxable,,deposit,,,,,1000\n"
        b"2024-01-06,Imported,,NOPE,buy,2,95,,,\n"
        b"2024-01-07,Imported,,WRLD,buy,-2,95,,,\n"
    )
    response = api.post(
        "/api/v1/transactions/import/",
        {"household": world.a.household.pk, "file": SimpleUploadedFile("h.csv", bad)},
        format="multipart",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "file"
    assert [row["line"] for row in error["details"]] == [3, 4]
    good = api.post(
        "/api/v1/transactions/import/",
        {
            "household": world.a.household.pk,
            "file": SimpleUploadedFile("h.csv", transactions_csv()),
        },
        format="multipart",
    )
    assert good.status_code == 201, good.content
    assert good.json()["accounts_created"] == ["Imported"] and good.json()["rows_applied"] == 2
    again = api.post(
        "/api/v1/transactions/import/",
        {
            "household": world.a.household.pk,
            "file": SimpleUploadedFile("h.csv", transactions_csv()),
        },
        format="multipart",
    )
    assert again.status_code == 200 and again.json()["already_imported"] is True
    missing_file = api.post(
        "/api/v1/transactions/import/", {"household": world.a.household.pk}, format="multipart"
    )
    assert missing_file.status_code == 400 and missing_file.json()["error"]["field"] == "file"


def test_a_proposal_with_its_trades_and_checks_and_deciding_on_it(world):
    api = api_client(world.a.advisor)
    detail = api.get(f"/api/v1/proposals/{world.a.proposal.pk}/").json()
    assert detail["status"] == "pending" and detail["household"] == world.a.household.pk
    assert detail["trades"] == [
        {
            "sequence": 1,
            "symbol": "WRLD",
            "side": "buy",
            "quantity": "50.000000000",
            "estimated_price": "95.000000",
            "notional": "4750.00",
            "estimated_cost": "0.00",
            "estimated_gain": "0.00",
            "purpose": "rebalance",
            "lots": [],
            "client_order_id": f"rp{world.a.proposal.pk}-001",
        }
    ]
    assert detail["checks"] == []
    world.a.order.proposal = world.a.proposal
    world.a.order.save()
    detail = api.get(f"/api/v1/proposals/{world.a.proposal.pk}/").json()
    assert [c["check_name"] for c in detail["checks"]] == ["max_position_weight"]
    approved = api.post(
        f"/api/v1/proposals/{world.a.proposal.pk}/approve/", {"comment": "go"}, format="json"
    )
    assert approved.status_code == 200
    assert approved.json()["status"] == ProposalStatus.APPROVED
    assert approved.json()["decided_by"] == world.a.advisor.pk
    event = AuditEvent.objects.get(action="proposal.approved", object_id=str(world.a.proposal.pk))
    assert event.actor == world.a.advisor and event.from_state == "pending"
    no_reason = api_client(world.staff).post(
        f"/api/v1/proposals/{world.b.proposal.pk}/reject/", {"comment": "  "}, format="json"
    )
    assert no_reason.status_code == 400
    rejected = api_client(world.staff).post(
        f"/api/v1/proposals/{world.b.proposal.pk}/reject/", {"comment": "too costly"}, format="json"
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert rejected.json()["advisor_comment"] == "too costly"


def test_an_order_with_its_checks_and_fills(world):
    body = api_client(world.b.user).get(f"/api/v1/orders/{world.b.order.pk}/").json()
    assert body["status"] == "filled" and body["household"] == world.b.household.pk
    assert [c["outcome"] for c in body["checks"]] == ["pass"]
    assert [f["execution_id"] for f in body["fills"]] == [world.b.fill.execution_id]
    assert body["fills"][0]["price"] == "95.000000"


def test_sentiment_scoring_uses_the_configured_backend(world):
    api = api_client(world.a.advisor)
    response = api.post(
        "/api/v1/sentiment/",
        {"texts": ["Profits surge to a record high", "Shares plunge after the fraud probe"]},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["backend"] == "embedded"
    first, second = body["scores"]
    assert first["score"] > 0 > second["score"]
    assert first["positive"] + first["neutral"] + first["negative"] == pytest.approx(1.0)
    for bad in ({"texts": []}, {"texts": ["x" * 2001]}, {"texts": ["a"] * 65}, {}):
        assert api.post("/api/v1/sentiment/", bad, format="json").status_code == 400


def test_the_sentiment_endpoint_has_its_own_rate_limit(world, monkeypatch):
    from rest_framework.settings import api_settings

    from advisor.api import throttling

    frozen = throttling.time.time() // 60 * 60 + 1.5 * 3600 * 24 * 365  # a window of its own
    monkeypatch.setattr(throttling.time, "time", lambda: frozen)
    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "sentiment": "2/minute"}
    api = api_client(world.b.advisor)
    with override_settings(REST_FRAMEWORK={**_rest_framework(), "DEFAULT_THROTTLE_RATES": rates}):
        codes = [
            api.post("/api/v1/sentiment/", {"texts": ["fine"]}, format="json").status_code
            for _ in range(3)
        ]
        limited = api.post("/api/v1/sentiment/", {"texts": ["fine"]}, format="json")
        assert api.get("/api/v1/households/").status_code == 200  # only sentiment is limited
    assert codes == [200, 200, 429]
    assert limited.json()["error"]["code"] == "throttled"
    assert limited["Retry-After"] == "60"
    assert limited.json()["error"]["details"]["retry_after_seconds"] == 60  # as the header says


def test_fixed_windows_count_in_one_round_trip_and_reset(monkeypatch):
    from advisor.api import throttling

    key = f"test-window-{random_address()}"
    start = 1_900_000_020.0  # a window's first second (a multiple of 60)
    assert throttling.window_count(key, seconds=60, now=start + 5) == (1, start + 60)
    assert throttling.window_count(key, seconds=60, now=start + 59) == (2, start + 60)
    assert throttling.window_count(key, seconds=60, now=start + 60) == (1, start + 120)
    monkeypatch.setattr(throttling, "_redis_client", lambda key: None)  # other cache backends
    assert throttling.window_count(key + "-b", seconds=60, now=start)[0] == 1
    assert throttling.window_count(key + "-b", seconds=60, now=start)[0] == 2


def _rest_framework():
    from django.conf import settings

    return dict(settings.REST_FRAMEWORK)


def test_one_error_shape_everywhere(world, monkeypatch):
    api = api_client(world.a.user)
    unknown = api.get("/api/v1/nothing/here/")
    assert unknown.status_code == 404
    assert unknown.json() == {
        "error": {"code": "not_found", "message": "no API endpoint at /api/v1/nothing/here/"}
    }
    # a write to no route, with a session cookie and no CSRF token: still the 404, not the
    # CSRF failure page (that only guards views that act)
    browser = BrowserClient(enforce_csrf_checks=True, HTTP_COOKIE="sessionid=x")
    for write in (browser.put, browser.delete, browser.post):
        missing = write(
            "/api/v1/clients/-4/risk-profile/", "a=1", "application/x-www-form-urlencoded"
        )
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong_method = api.delete("/api/v1/households/")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    anonymous = api_client().get("/api/v1/households/")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    bad_token = api_client()
    bad_token.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    refused = bad_token.get("/api/v1/households/")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "authentication_failed"
    malformed = api_client(world.a.advisor).post(
        "/api/v1/sentiment/", b"{not json", content_type="application/json"
    )
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "parse_error"

    def database_gone(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("advisor.api.views.households.household_holdings", database_gone)
    down = api.get(f"/api/v1/households/{world.a.household.pk}/positions/")
    assert down.status_code == 503 and down["Retry-After"] == "5"
    assert down.json()["error"]["code"] == "service_unavailable"

    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("advisor.api.views.households.household_holdings", broken)
    crashed = api.get(f"/api/v1/households/{world.a.household.pk}/positions/")
    assert crashed.status_code == 500
    assert crashed.json() == {
        "error": {
            "code": "server_error",
            "message": "an unexpected error occurred; it has been logged",
        }
    }


def test_an_api_request_in_the_evening_keeps_the_firms_today(world, monkeypatch):
    """At 20:30 in New York (00:30 UTC the next day) an import through the API, which renders in
    UTC, still takes today to be the New York day: a row dated the UTC day is in the future."""
    from django.utils import timezone

    evening = dt.datetime(2024, 6, 4, 0, 30, tzinfo=dt.UTC)
    monkeypatch.setattr(timezone, "now", lambda: evening)
    api = api_client(world.a.advisor)

    def upload(day):
        text = (
            "date,account,account_type,symbol,side,quantity,price,fees,lot_id,amount\n"
            f"{day},Evening,taxable,,deposit,,,,,1000\n"
        )
        return api.post(
            "/api/v1/transactions/import/",
            {
                "household": world.a.household.pk,
                "file": SimpleUploadedFile("h.csv", text.encode()),
            },
            format="multipart",
        )

    tomorrow = upload("2024-06-04")
    assert tomorrow.status_code == 400, tomorrow.content
    assert "future" in tomorrow.json()["error"]["details"][0]["message"]
    assert upload("2024-06-03").status_code == 201
