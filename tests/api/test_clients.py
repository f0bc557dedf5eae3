"""Registering a client through the API and getting the recommendation in two calls."""

from decimal import Decimal

import pytest

from advisor.core.questionnaire import ALLOCATION_BY_SCORE
from advisor.models import Client, RiskProfile, Role, User
from portfolios.models import AuditEvent, Household, Recommendation
from tests.advisor.services.market import build_market
from tests.api.world import api_client
from tests.factories import (
    AdvisorUserFactory,
    ClientFactory,
    RiskProfileFactory,
    StaffUserFactory,
)

pytestmark = pytest.mark.django_db

ANSWERS = dict(RiskProfileFactory.answers.function())


def registration(**overrides):
    body = {
        "household": {
            "name": "Okafor household",
            "filing_status": "married_joint",
            "short_term_rate": "0.3500",
            "long_term_rate": "0.1500",
        },
        "first_name": "Ada",
        "last_name": "Okafor",
        "email": "ada@example.com",
        "answers": ANSWERS,
        "horizon_years": 20,
        "goal_amount": "750000.00",
        "monthly_contribution": "1500.00",
        "esg": {"min_esg_score": 40, "excluded_categories": ["fossil_fuels"]},
    }
    body.update(overrides)
    return body


def test_register_then_recommendation_in_two_calls():
    build_market()
    advisor = AdvisorUserFactory()
    api = api_client(advisor)

    created = api.post("/api/v1/clients/", registration(), format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    client = Client.objects.get(pk=body["client"]["id"])
    assert client.advisor == advisor and client.user is None
    assert body["client"]["has_login"] is False
    assert body["household"]["filing_status"] == "married_joint"
    assert body["household"]["short_term_rate"] == "0.3500"
    profile = client.risk_profile
    assert body["client"]["risk_profile"]["score"] == profile.score
    assert profile.goal_amount == Decimal("750000.00")
    assert client.esg_preference.excluded_categories == ["fossil_fuels"]
    assert AuditEvent.objects.filter(action="client.registered", object_id=str(client.pk)).exists()

    response = api.get(body["recommendation_url"])
    assert response.status_code == 200, response.content
    recommendation = response.json()
    assert recommendation["household"] == client.household_id
    assert recommendation["risk_score"] == profile.score
    assert sum(recommendation["weights"].values()) == pytest.approx(1.0, abs=1e-6)
    assert "OILX" not in recommendation["weights"]  # fossil fuels excluded
    assert recommendation["explanation"]
    # the second call reads the stored one
    again = api.get(body["recommendation_url"])
    assert again.json()["id"] == recommendation["id"]
    assert Recommendation.objects.filter(household=client.household).count() == 1

    # a new profile makes the recommendation stale: the next call recomputes it
    changed = api.put(
        f"/api/v1/clients/{client.pk}/risk-profile/",
        {"risk_score": 3, "horizon_years": 20},
        format="json",
    )
    assert changed.status_code == 200, changed.content
    fresh = api.get(body["recommendation_url"]).json()
    assert fresh["id"] != recommendation["id"] and fresh["risk_score"] == 3


def test_a_risk_score_given_directly_gets_the_questionnaire_split():
    advisor = AdvisorUserFactory()
    null_answers = api_client(advisor).post(
        "/api/v1/clients/", registration(answers=None, risk_score=7), format="json"
    )
    assert null_answers.status_code == 400  # "answers": null is not "no answers"
    body = registration(risk_score=7)
    del body["answers"]
    response = api_client(advisor).post("/api/v1/clients/", body, format="json")
    assert response.status_code == 201, response.content
    profile = RiskProfile.objects.get(client_id=response.json()["client"]["id"])
    equity, bond, cash = ALLOCATION_BY_SCORE[7]
    assert (profile.score, profile.willingness_score, profile.capacity_score) == (7, 7, 7)
    assert profile.answers == {}
    assert (
        float(profile.equity_weight),
        float(profile.bond_weight),
        float(profile.cash_weight),
    ) == (
        equity,
        bond,
        cash,
    )
    assert "given directly" in profile.explanation[0]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"risk_score": 9, "horizon_years": 2}, "risk_score"),  # too high for two years
        ({"risk_score": 11}, "risk_score"),
        ({"answers": {**ANSWERS, "goal": "lottery"}}, "goal"),
        ({"answers": {"goal": "growth"}}, "drawdown_reaction"),  # unanswered questions
        ({"horizon_years": 0}, "horizon_years"),
        ({"esg": {"min_esg_score": 101}}, "esg.min_esg_score"),
        ({"esg": {"excluded_categories": ["crypto"]}}, "esg.excluded_categories[0]"),
        ({"household": {"name": "X", "short_term_rate": "1.5"}}, "household.short_term_rate"),
        ({"annual_income": "99999999999999.99"}, "annual_income"),  # above what any field holds
        ({"goal_amount": "0"}, "goal_amount"),
        ({"date_of_birth": "9999-12-31"}, "date_of_birth"),
        ({"esg": {"min_esg_score": 60, "excluded_category": ["weapons"]}}, "esg.excluded_category"),
        ({"household": {"name": "X", "filing_staus": "single"}}, "household.filing_staus"),
        ({"nickname": "Al"}, "nickname"),
        ({"first_name": 5}, "first_name"),  # a number is not a name
        ({"last_name": "Oka\x07for"}, "last_name"),  # nor is a bell
    ],
)
def test_bad_registrations_name_the_field_and_write_nothing(change, field):
    advisor = AdvisorUserFactory()
    body = registration(**change)
    if "risk_score" in change:
        body.pop("answers")
    households = Household.objects.count()
    response = api_client(advisor).post("/api/v1/clients/", body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["field"] == field, error
    assert Household.objects.count() == households and not Client.objects.exists()


def test_both_answers_and_a_score_are_refused():
    response = api_client(AdvisorUserFactory()).post(
        "/api/v1/clients/", registration(risk_score=5), format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "risk_score"


def test_staff_name_the_advisor_and_advisors_register_for_themselves():
    advisor, other = AdvisorUserFactory(), AdvisorUserFactory()
    staff = StaffUserFactory()
    missing = api_client(staff).post("/api/v1/clients/", registration(), format="json")
    assert missing.status_code == 400 and missing.json()["error"]["field"] == "advisor"
    created = api_client(staff).post(
        "/api/v1/clients/", registration(advisor=advisor.pk), format="json"
    )
    assert created.status_code == 201, created.content
    assert created.json()["client"]["advisor"] == advisor.pk
    for_other = api_client(advisor).post(
        "/api/v1/clients/",
        registration(advisor=other.pk, household={"name": "Another"}),
        format="json",
    )
    assert for_other.status_code == 400 and for_other.json()["error"]["field"] == "advisor"
    not_an_advisor = api_client(staff).post(
        "/api/v1/clients/",
        registration(advisor=staff.pk, household={"name": "Third"}),
        format="json",
    )
    assert not_an_advisor.status_code == 400


def test_a_taken_household_name_is_a_conflict():
    api = api_client(AdvisorUserFactory())
    assert api.post("/api/v1/clients/", registration(), format="json").status_code == 201
    again = api.post("/api/v1/clients/", registration(first_name="Bo"), format="json")
    assert again.status_code == 409
    assert again.json()["error"] == {
        "code": "conflict",
        "message": "a household named 'Okafor household' already exists",
        "field": "household.name",
    }


@pytest.mark.parametrize("winner", ["ada.okafor", "Ada.Okafor"])
def test_a_username_taken_by_a_concurrent_registration_is_a_conflict(monkeypatch, winner):
    # Another registration commits the same username (or the same but for case) after this one
    # checked it was free: the unique index refuses the insert, and the loser gets the
    # sequential duplicate's 409.
    from advisor.api import services

    def validate_then_lose_the_race(password, user=None):
        User.objects.create_user(username=winner, password="x")

    monkeypatch.setattr(services, "validate_password", validate_then_lose_the_race)
    login = {"username": "ada.okafor", "password": "violet-harbour-58-kites"}
    response = api_client(AdvisorUserFactory()).post(
        "/api/v1/clients/", registration(login=login), format="json"
    )
    assert response.status_code == 409, response.content
    assert response.json()["error"] == {
        "code": "conflict",
        "message": "the username 'ada.okafor' is taken",
        "field": "login.username",
    }
    assert not Household.objects.exists() and not Client.objects.exists()


def test_password_validators_apply_to_a_portal_login_at_registration():
    api = api_client(AdvisorUserFactory())
    weak = api.post(
        "/api/v1/clients/",
        registration(login={"username": "ada.okafor", "password": "password"}),
        format="json",
    )
    assert weak.status_code == 400
    error = weak.json()["error"]
    assert error["field"] == "login.password"
    assert any("too short" in message for message in error["details"])
    assert any("too common" in message for message in error["details"])
    similar = api.post(
        "/api/v1/clients/",
        registration(login={"username": "ada.okafor", "password": "ada.okafor.2024"}),
        format="json",
    )
    assert similar.status_code == 400
    assert any("similar" in m for m in similar.json()["error"]["details"])
    numeric = api.post(
        "/api/v1/clients/",
        registration(login={"username": "ada.okafor", "password": "4817263950112"}),
        format="json",
    )
    assert numeric.status_code == 400
    assert not User.objects.filter(username="ada.okafor").exists()
    assert not Household.objects.exists()

    strong = api.post(
        "/api/v1/clients/",
        registration(login={"username": "ada.okafor", "password": "violet-harbour-58-kites"}),
        format="json",
    )
    assert strong.status_code == 201, strong.content
    user = User.objects.get(username="ada.okafor")
    assert user.role == Role.CLIENT and user.check_password("violet-harbour-58-kites")
    token = api_client().post(
        "/api/v1/auth/token/",
        {"username": "ada.okafor", "password": "violet-harbour-58-kites"},
        format="json",
    )
    assert token.status_code == 200
    mine = api_client(user).get("/api/v1/households/").json()
    assert [h["id"] for h in mine["results"]] == [strong.json()["household"]["id"]]


def test_an_infeasible_profile_is_a_422_naming_the_conflict():
    build_market()
    api = api_client(AdvisorUserFactory())
    created = api.post(
        "/api/v1/clients/",
        registration(esg={"min_esg_score": 95, "excluded_categories": []}),
        format="json",
    )
    assert created.status_code == 201
    response = api.get(created.json()["recommendation_url"])
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "infeasible"
    assert "ESG" in error["message"] or "esg" in error["message"]
    household = created.json()["household"]["id"]
    assert not Recommendation.objects.filter(household_id=household).exists()
    assert AuditEvent.objects.filter(
        action="recommendation.failed", object_id=str(household)
    ).exists()


def test_a_household_without_a_profile_is_a_conflict_not_a_computation():
    from tests.factories import ClientFactory

    client = ClientFactory()
    response = api_client(client.advisor).get(
        f"/api/v1/households/{client.household_id}/recommendation/"
    )
    assert response.status_code == 409
    assert "no client with a risk profile" in response.json()["error"]["message"]


def test_a_typo_in_an_update_is_refused_and_changes_nothing():
    """An unknown key is never dropped silently: the fields it was meant for keep their values."""
    world_client = ClientFactory()
    api = api_client(world_client.advisor)
    url = f"/api/v1/clients/{world_client.pk}/esg-preference/"
    first = api.put(url, {"min_esg_score": 60, "excluded_categories": ["weapons"]}, format="json")
    assert first.status_code == 200, first.content
    response = api.put(url, {"min_esg_score": 70, "excluded_category": []}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "excluded_category" and "unknown field" in error["message"]
    assert "excluded_categories" in error["message"]  # what the body takes
    shown = api.get(f"/api/v1/clients/{world_client.pk}/").json()["esg_preference"]
    assert (shown["min_esg_score"], shown["excluded_categories"]) == (60, ["weapons"])
