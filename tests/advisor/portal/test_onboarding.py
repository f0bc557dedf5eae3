"""Sign-up, the wizard's steps with their validation, the draft between steps, and submission."""

import datetime as dt
import json
import re
from decimal import Decimal

import pytest
from django.test import Client as BrowserClient
from django.urls import reverse

from advisor.models import Client, ESGPreference, OnboardingDraft, RiskProfile, Role, User
from advisor.services.onboarding import advisor_with_fewest_clients
from portfolios.models import (
    Account,
    AuditEvent,
    Household,
    Recommendation,
    TaxLot,
    Transaction,
)
from tests.advisor.services.market import build_market
from tests.factories import AdvisorUserFactory, ClientFactory

pytestmark = pytest.mark.django_db

ANSWERS = {
    "drawdown_reaction": "hold",
    "goal": "growth",
    "outcome_range": "wide",
    "experience": "good",
    "risk_attitude": "balanced",
    "income_stability": "stable",
    "emergency_fund": "3_to_6",
    "net_worth_share": "25_to_50",
    "near_term_withdrawals": "little",
}


def step_url(step):
    return reverse("onboarding-step", args=[step])


@pytest.fixture
def newcomer(client):
    person = ClientFactory()
    client.force_login(person.user)
    return person


def fill_steps(client, *, esg_floor="50", exclusions=("tobacco",)):
    responses = [
        client.post(
            step_url("goal"),
            {"horizon_years": "20", "goal_amount": "750000", "monthly_contribution": "500"},
        ),
        client.post(step_url("risk"), {**ANSWERS, "action": "save"}),
        client.post(
            step_url("tax"),
            {"filing_status": "married_joint", "short_term_rate": "24", "long_term_rate": "15"},
        ),
        client.post(
            step_url("esg"), {"min_esg_score": esg_floor, "excluded_categories": list(exclusions)}
        ),
    ]
    assert all(r.status_code == 302 for r in responses), [r.status_code for r in responses]


# --- Sign-up -------------------------------------------------------------------------------------


def test_sign_up_creates_a_client_login_household_and_draft_with_the_least_busy_advisor(client):
    busy = AdvisorUserFactory()
    ClientFactory(advisor=busy)
    idle = AdvisorUserFactory()
    response = client.post(
        reverse("signup"),
        {
            "first_name": "Dana",
            "last_name": "Okoye",
            "email": "Dana@Example.com",
            "username": "dana",
            "password1": "a-long-enough-passphrase-42",
            "password2": "a-long-enough-passphrase-42",
        },
    )
    assert response.status_code == 302 and response["Location"] == reverse("onboarding")
    user = User.objects.get(username="dana")
    assert user.role == Role.CLIENT and not user.is_staff
    assert user.check_password("a-long-enough-passphrase-42")
    client_record = Client.objects.get(user=user)
    assert client_record.advisor == idle
    assert client_record.household.name == "Dana Okoye household"
    assert client_record.email == "dana@example.com"
    assert OnboardingDraft.objects.get(user=user).step == "goal"
    assert AuditEvent.objects.filter(action="client.signed_up").exists()
    assert client.get(reverse("onboarding")).status_code == 302  # signed in


def test_sign_up_runs_the_password_validators_and_refuses_a_taken_username(client):
    User.objects.create_user(username="Dana", password="x" * 12)
    response = client.post(
        reverse("signup"),
        {
            "first_name": "Dana",
            "last_name": "Okoye",
            "email": "dana@example.com",
            "username": "dana",
            "password1": "12345678",
            "password2": "12345678",
        },
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["username"] == ["That username is taken; choose another."]
    assert any("too short" in e for e in form.errors["password2"])
    assert any("entirely numeric" in e for e in form.errors["password2"])
    page = response.content.decode()
    assert 'id="id_username_error"' in page and 'aria-invalid="true"' in page
    assert Household.objects.count() == 0


def test_every_page_counts_the_wizard_steps_the_same_way(client):
    """The sign-up page claimed "Step 1 of 7" while the wizard's own pages count 6 steps."""
    from advisor.services.onboarding import STEPS

    signup = client.get(reverse("signup")).content.decode()
    assert re.search(r"Step \d+ of \d+", signup) is None  # the login is not a wizard step
    assert f"About you · then {len(STEPS)} short steps" in signup
    newcomer = ClientFactory()
    client.force_login(newcomer.user)
    done = []
    for number, step in enumerate(STEPS, start=1):
        OnboardingDraft.objects.update_or_create(
            user=newcomer.user, defaults={"step": step, "data": {"completed": done}}
        )
        page = client.get(step_url(step)).content.decode()
        counters = re.findall(r"Step (\d+) of (\d+)", page)
        assert counters == [(str(number), str(len(STEPS)))] * 2, (step, counters)
        # the sidebar numbers the same steps the counter counts
        dots = re.findall(r'<span class="step-dot" aria-hidden="true">([^<]*)</span>', page)
        assert len(dots) == len(STEPS) and dots[number - 1] == str(number)
        done = [*done, step]


def test_a_second_household_of_the_same_name_is_numbered():
    from advisor.services.onboarding import client_sign_up

    first = client_sign_up(
        username="a1", email="", password="x" * 12, first_name="Sam", last_name="Lee"
    )
    second = client_sign_up(
        username="a2", email="", password="x" * 12, first_name="Sam", last_name="Lee"
    )
    assert first.household.name == "Sam Lee household"
    assert second.household.name == "Sam Lee household (2)"
    assert advisor_with_fewest_clients() is None  # no advisor yet: clients wait for one


# --- Validation at the field ---------------------------------------------------------------------


def test_goal_step_messages_are_at_their_fields(client, newcomer):
    response = client.post(
        step_url("goal"), {"horizon_years": "0", "goal_amount": "-5", "monthly_contribution": "x"}
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["horizon_years"] == ["Ensure this value is greater than or equal to 1."]
    assert errors["goal_amount"] == ["Ensure this value is greater than or equal to 1.00."]
    assert errors["monthly_contribution"] == ["Enter a number."]
    page = response.content.decode()
    assert 'id="id_horizon_years_error"' in page
    assert 'aria-describedby="id_horizon_years_helptext id_horizon_years_error"' in page
    assert OnboardingDraft.objects.get(user=newcomer.user).data == {}


def test_risk_step_asks_for_every_answer(client, newcomer):
    fill_goal = {"horizon_years": "10", "goal_amount": "100000", "monthly_contribution": "0"}
    client.post(step_url("goal"), fill_goal)
    partial = {k: v for k, v in ANSWERS.items() if k != "emergency_fund"}
    response = client.post(step_url("risk"), {**partial, "action": "save"})
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "emergency_fund": ["Choose the answer that fits you best."]
    }
    assert 'id="id_emergency_fund_error"' in response.content.decode()


def test_without_javascript_the_risk_step_shows_the_score_on_request(client, newcomer):
    client.post(
        step_url("goal"),
        {"horizon_years": "20", "goal_amount": "100000", "monthly_contribution": "0"},
    )
    response = client.post(step_url("risk"), {**ANSWERS, "action": "preview"})
    assert response.status_code == 200
    assert response.context["preview"]["score"] >= 1
    assert 'class="score-number"' in response.content.decode()
    assert "risk" not in OnboardingDraft.objects.get(user=newcomer.user).data  # not saved


def test_tax_and_esg_limits(client, newcomer):
    client.post(
        step_url("goal"),
        {"horizon_years": "20", "goal_amount": "100000", "monthly_contribution": "0"},
    )
    client.post(step_url("risk"), {**ANSWERS, "action": "save"})
    response = client.post(
        step_url("tax"), {"filing_status": "single", "short_term_rate": "120", "long_term_rate": ""}
    )
    errors = response.context["form"].errors
    assert errors["short_term_rate"] == ["Enter a percentage between 0 and 100."]
    assert errors["long_term_rate"] == ["This field is required."]
    response = client.post(
        step_url("tax"),
        {"filing_status": "single", "short_term_rate": "1e20", "long_term_rate": "-1"},
    )
    errors = response.context["form"].errors  # once each, however far outside
    assert (
        errors["short_term_rate"]
        == errors["long_term_rate"]
        == ["Enter a percentage between 0 and 100."]
    )
    response = client.post(
        step_url("tax"),
        {"filing_status": "single", "short_term_rate": "24.555", "long_term_rate": "15"},
    )
    assert response.context["form"].errors["short_term_rate"] == [
        "Give the percentage with at most 2 decimal places."
    ]
    client.post(
        step_url("tax"),
        {"filing_status": "single", "short_term_rate": "24", "long_term_rate": "15"},
    )
    draft = OnboardingDraft.objects.get(user=newcomer.user)
    assert draft.data["tax"]["short_term_rate"] == "0.2400"
    response = client.post(
        step_url("esg"), {"min_esg_score": "101", "excluded_categories": ["asbestos"]}
    )
    errors = response.context["form"].errors
    assert errors["min_esg_score"] == ["Ensure this value is less than or equal to 100."]
    assert "asbestos is not one of the available choices" in errors["excluded_categories"][0]


def test_holding_form_messages(client, newcomer):
    build_market(days=5)
    fill_steps(client)
    client.post(
        step_url("accounts"),
        {"action": "add_account", "account-name": "Joint", "account-account_type": "taxable"},
    )
    account_id = OnboardingDraft.objects.get(user=newcomer.user).data["accounts"][0]["id"]
    tomorrow = dt.date.today() + dt.timedelta(days=2)  # noqa: DTZ011 - the form's own "today"
    response = client.post(
        step_url("accounts"),
        {
            "action": "add_holding",
            "holding-account": account_id,
            "holding-symbol": "nope",
            "holding-quantity": "0",
            "holding-acquired_on": tomorrow.isoformat(),
        },
    )
    assert response.status_code == 400
    errors = response.context["holding_form"].errors
    assert errors["symbol"] == ["NOPE is not in the firm's universe of funds and stocks."]
    # in words, not Django's "Ensure this value is greater than or equal to 1E-9."
    assert errors["quantity"] == ["Enter a number of shares greater than 0."]
    assert errors["acquired_on"] == ["The date acquired cannot be in the future."]
    assert errors["cost_basis"] == ["Give the total cost basis, or the price per share paid."]
    free = client.post(
        step_url("accounts"),
        {
            "action": "add_holding",
            "holding-account": account_id,
            "holding-symbol": "USA1",
            "holding-quantity": "-1",
            "holding-price": "0",
            "holding-acquired_on": "2024-01-02",
        },
    )
    errors = free.context["holding_form"].errors
    assert errors["quantity"] == ["Enter a number of shares greater than 0."]
    assert errors["price"] == ["Enter a price per share greater than 0."]  # was "... 1E-6."
    ancient = client.post(
        step_url("accounts"),
        {
            "action": "add_holding",
            "holding-account": account_id,
            "holding-symbol": "USA1",
            "holding-quantity": "1",
            "holding-price": "10",
            "holding-acquired_on": "0001-01-01",
        },
    )
    assert ancient.status_code == 400
    assert ancient.context["holding_form"].errors == {
        "acquired_on": ["The date acquired cannot be before January 1, 1900."]
    }
    # a price that, times the shares, is a basis no money field holds: named, not a 500
    huge = client.post(
        step_url("accounts"),
        {
            "action": "add_holding",
            "holding-account": account_id,
            "holding-symbol": "USA1",
            "holding-quantity": "999999999999999",
            "holding-price": "999999999999",
            "holding-acquired_on": "2024-01-02",
        },
    )
    assert huge.status_code == 400
    (message,) = huge.context["holding_form"].errors["price"]
    assert message.startswith("This price times 999999999999999 shares is a cost basis of more")
    # a basis and a price that disagree, and more shares than any portfolio could hold
    for fields, field, start in (
        (
            {"holding-quantity": "3", "holding-cost_basis": "100", "holding-price": "50"},
            "price",
            "This price times 3 shares is not the total cost basis of $100.00",
        ),
        (
            {"holding-quantity": "100000000000000", "holding-cost_basis": "1000"},
            "quantity",
            "At USA1's last price ($",
        ),
    ):
        refused = client.post(
            step_url("accounts"),
            {
                "action": "add_holding",
                "holding-account": account_id,
                "holding-symbol": "USA1",
                "holding-acquired_on": "2024-01-02",
                **fields,
            },
        )
        assert refused.status_code == 400
        assert refused.context["holding_form"].errors[field][0].startswith(start)
    (account,) = OnboardingDraft.objects.get(user=newcomer.user).data["accounts"]
    assert account["holdings"] == []  # nothing saved
    response = client.post(
        step_url("accounts"),
        {"action": "add_account", "account-name": "joint", "account-account_type": "ira"},
    )
    assert response.context["account_form"].errors["name"] == [
        "You already have an account named joint."
    ]


# --- The draft -------------------------------------------------------------------------------------


def test_progress_is_kept_between_steps_and_sessions(client, newcomer):
    assert client.get(reverse("onboarding"))["Location"] == step_url("goal")
    client.post(
        step_url("goal"),
        {"horizon_years": "12", "goal_amount": "250000", "monthly_contribution": "300"},
    )
    draft = OnboardingDraft.objects.get(user=newcomer.user)
    assert draft.step == "risk"
    assert draft.data["goal"] == {
        "horizon_years": 12,
        "goal_amount": "250000.00",
        "monthly_contribution": "300.00",
    }
    # A later step cannot be skipped to.
    response = client.get(step_url("tax"))
    assert response.status_code == 302 and response["Location"] == step_url("risk")
    # A new session resumes at the same step with the same answers.
    client.logout()
    fresh = BrowserClient()
    fresh.force_login(newcomer.user)
    assert fresh.get(reverse("onboarding"))["Location"] == step_url("risk")
    page = fresh.get(step_url("goal")).content.decode()
    assert 'value="12"' in page and 'value="250000.00"' in page
    assert "With a horizon of 12 years" in fresh.get(step_url("risk")).content.decode()


def test_accounts_and_holdings_can_be_added_and_removed(client, newcomer):
    build_market(days=5)
    fill_steps(client)
    url = step_url("accounts")
    assert client.post(url, {"action": "continue"}).status_code == 400  # no account yet
    client.post(
        url,
        {
            "action": "add_account",
            "account-name": "Joint",
            "account-account_type": "taxable",
            "account-cash": "1000",
        },
    )
    draft = OnboardingDraft.objects.get(user=newcomer.user)
    account_id = draft.data["accounts"][0]["id"]
    response = client.post(
        url,
        {
            "action": "add_holding",
            "holding-account": account_id,
            "holding-symbol": "usa1",
            "holding-quantity": "10",
            "holding-price": "55.5",
            "holding-acquired_on": "2024-02-01",
        },
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    (holding,) = draft.data["accounts"][0]["holdings"]
    assert holding["symbol"] == "USA1" and holding["cost_basis"] == "555.00"
    assert client.post(url, {"action": "continue"})["Location"] == step_url("review")
    draft.refresh_from_db()
    assert draft.step == "review" and "accounts" in draft.data["completed"]
    # Changing the accounts asks for them to be confirmed again.
    client.post(url, {"action": "remove_holding", "account": account_id, "holding": holding["id"]})
    draft.refresh_from_db()
    assert draft.data["accounts"][0]["holdings"] == []
    assert "accounts" not in draft.data["completed"] and draft.step == "accounts"
    client.post(url, {"action": "remove_account", "account": account_id})
    draft.refresh_from_db()
    assert draft.data["accounts"] == []


# --- The live preview ------------------------------------------------------------------------------


def test_the_score_preview_is_json_and_csrf_protected(newcomer):
    browser = BrowserClient(enforce_csrf_checks=True)
    browser.force_login(newcomer.user)
    browser.get(step_url("goal"))
    token = browser.cookies["csrftoken"].value
    browser.post(
        step_url("goal"),
        {
            "horizon_years": "20",
            "goal_amount": "100000",
            "monthly_contribution": "0",
            "csrfmiddlewaretoken": token,
        },
    )
    url = reverse("onboarding-preview")
    body = json.dumps({"answers": ANSWERS})
    assert browser.post(url, body, content_type="application/json").status_code == 403
    response = browser.post(
        url, body, content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert response.status_code == 200
    data = response.json()
    assert data["complete"] is True and 1 <= data["score"] <= 10
    assert data["meaning"] and data["equity"] + data["bond"] + data["cash"] == 100
    partial = json.dumps({"answers": {"goal": "growth"}})
    data = browser.post(
        url, partial, content_type="application/json", headers={"X-CSRFToken": token}
    ).json()
    assert data == {
        "complete": False,
        "answered": 1,
        "total": 9,
        "message": "Answer all 9 questions to see your score (1 answered so far).",
    }
    bad = json.dumps({"answers": {**ANSWERS, "goal": "yolo"}})
    response = browser.post(
        url, bad, content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert response.status_code == 400 and response.json()["error"]["field"] == "goal"
    deep = "[" * 100_000 + "]" * 100_000
    response = browser.post(
        url, deep, content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert response.status_code == 400 and response.json()["error"]["message"] == (
        "the body must be JSON"
    )


# --- Submission ----------------------------------------------------------------------------------------


def add_account_with_lot(client, newcomer):
    url = step_url("accounts")
    client.post(
        url,
        {
            "action": "add_account",
            "account-name": "Joint",
            "account-account_type": "taxable",
            "account-cash": "20000",
        },
    )
    account_id = OnboardingDraft.objects.get(user=newcomer.user).data["accounts"][0]["id"]
    client.post(
        url,
        {
            "action": "add_holding",
            "holding-account": account_id,
            "holding-symbol": "USA1",
            "holding-quantity": "40",
            "holding-cost_basis": "3000",
            "holding-acquired_on": "2024-09-03",
        },
    )
    assert client.post(url, {"action": "continue"}).status_code == 302


def test_submitting_creates_everything_and_the_recommendation(client, newcomer):
    build_market()
    fill_steps(client)
    add_account_with_lot(client, newcomer)
    response = client.post(step_url("review"))
    assert response.status_code == 302
    assert response["Location"] == reverse("client-dashboard") + "#recommendation"
    newcomer.refresh_from_db()
    household = newcomer.household
    assert newcomer.onboarded_at is not None
    profile = RiskProfile.objects.get(client=newcomer)
    assert profile.horizon_years == 20 and profile.goal_amount == Decimal("750000.00")
    assert profile.monthly_contribution == Decimal("500.00")
    esg = ESGPreference.objects.get(client=newcomer)
    assert esg.min_esg_score == 50 and esg.excluded_categories == ["tobacco"]
    assert household.filing_status == "married_joint"
    assert household.short_term_rate == Decimal("0.2400")
    account = Account.objects.get(household=household)
    assert account.cash == Decimal("20000.00") and account.lot_method == "tax_min"
    lot = TaxLot.objects.get(account=account)
    assert lot.quantity == Decimal("40") and lot.cost_basis == Decimal("3000.00")
    assert lot.acquired_on == dt.date(2024, 9, 3)
    assert Transaction.objects.filter(account=account).count() == 2  # deposit and transfer
    recommendation = Recommendation.objects.get(household=household, is_current=True)
    assert recommendation.esg_score >= 50 - 1e-6
    assert not OnboardingDraft.objects.filter(user=newcomer.user).exists()
    page = client.get(reverse("client-dashboard")).content.decode()
    assert "Your recommended portfolio" in page
    assert recommendation.explanation[0] in page
    assert 'data-testid="goal-probability"' in page


def test_a_lot_whose_basis_was_not_reported_is_marked_so(client, newcomer):
    """The client's answer (or, when unsure, the date acquired) decides whether a lot's sales go
    in the Form 8949 boxes for a basis reported to the IRS (A, D) or not (B, E)."""
    build_market()
    fill_steps(client)
    add_account_with_lot(client, newcomer)  # 2024, "not sure": reported, by its date
    draft = OnboardingDraft.objects.get(user=newcomer.user)
    account_id = draft.data["accounts"][0]["id"]
    url = step_url("accounts")

    def add(acquired_on, answer):
        lot = {"symbol": "USA1", "quantity": "5", "cost_basis": "200", "acquired_on": acquired_on}
        data = {f"holding-{key}": value for key, value in lot.items()}
        return client.post(
            url,
            {
                "action": "add_holding",
                "holding-account": account_id,
                "holding-basis_reported": answer,
                **data,
            },
        )

    assert add("2016-05-02", "no").status_code == 302
    assert add("2009-03-09", "").status_code == 302
    page = client.get(url).content.decode()
    assert page.count('data-testid="basis-not-reported"') == 1
    assert "Did your previous broker report the cost basis to the IRS?" in page
    bad = add("2016-05-02", "perhaps")
    assert bad.status_code == 400 and "Select a valid choice" in bad.content.decode()
    assert client.post(url, {"action": "continue"}).status_code == 302
    assert client.post(step_url("review")).status_code == 302
    lots = TaxLot.objects.filter(account__household=newcomer.household).order_by("acquired_on")
    assert [(lot.acquired_on.year, lot.basis_reported) for lot in lots] == [
        (2009, False),
        (2016, False),
        (2024, True),
    ]


def test_infeasible_preferences_write_nothing_and_send_the_client_back_to_the_esg_step(
    client, newcomer
):
    build_market()
    fill_steps(client, esg_floor="95")  # no fund scores over 90
    add_account_with_lot(client, newcomer)
    response = client.post(step_url("review"))
    assert response.status_code == 302 and response["Location"] == step_url("esg")
    assert not RiskProfile.objects.filter(client=newcomer).exists()
    assert not Account.objects.filter(household=newcomer.household).exists()
    assert not Recommendation.objects.exists()
    newcomer.refresh_from_db()
    assert newcomer.onboarded_at is None
    page = client.get(step_url("esg")).content.decode()
    assert "We could not build a portfolio with these preferences." in page
    assert "ESG" in page and f'href="{step_url("review")}"' in page
    # Lowering the floor clears the message and the submission goes through.
    client.post(step_url("esg"), {"min_esg_score": "40"})
    assert "problem" not in OnboardingDraft.objects.get(user=newcomer.user).data
    assert client.post(step_url("review")).status_code == 302
    assert Recommendation.objects.filter(household=newcomer.household, is_current=True).exists()


def test_review_refuses_until_every_step_is_done(client, newcomer):
    response = client.get(step_url("review"))
    assert response.status_code == 302 and response["Location"] == step_url("goal")


def test_changing_an_earlier_answer_returns_to_the_review(client, newcomer):
    build_market(days=5)
    fill_steps(client)
    add_account_with_lot(client, newcomer)
    assert OnboardingDraft.objects.get(user=newcomer.user).step == "review"
    page = client.get(step_url("tax")).content.decode()
    assert 'value="24"' in page and 'value="15"' in page  # stored as fractions, shown as percent
    response = client.post(
        step_url("tax"),
        {"filing_status": "single", "short_term_rate": "32", "long_term_rate": "15"},
    )
    assert response["Location"] == step_url("review")
