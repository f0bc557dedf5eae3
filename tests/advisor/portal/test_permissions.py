"""Every portal page checks who may see it: clients their household, advisors their clients',
staff every household, anonymous visitors nothing (sent to sign in)."""

import pytest
from django.urls import reverse

from advisor.models import OnboardingDraft

pytestmark = pytest.mark.django_db

YEAR = 2025


def household_urls(household_id: int) -> list[str]:
    return [
        reverse("household-dashboard", args=[household_id]),
        reverse("household-live", args=[household_id]),
        reverse("form-8949-csv", args=[household_id, YEAR]),
    ]


def test_anonymous_visitors_are_sent_to_sign_in(client, people):
    urls = [
        *household_urls(people.mine.household_id),
        reverse("client-dashboard"),
        reverse("onboarding"),
        reverse("onboarding-step", args=["goal"]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url
    assert client.post(reverse("onboarding-preview"), {}).status_code == 302


@pytest.mark.parametrize(
    ("who", "own_status", "other_status"),
    [("client", 200, 404), ("advisor", 200, 404), ("staff", 200, 200)],
)
def test_household_pages_by_role(client, people, who, own_status, other_status):
    user = {"client": people.mine.user, "advisor": people.advisor, "staff": people.staff}[who]
    client.force_login(user)
    for url in household_urls(people.mine.household_id):
        assert client.get(url).status_code == own_status, url
    for url in household_urls(people.theirs.household_id):
        assert client.get(url).status_code == other_status, url


def test_a_household_that_does_not_exist_is_404_like_anyone_elses(client, people):
    client.force_login(people.mine.user)
    for url in household_urls(999_999_999):
        assert client.get(url).status_code == 404


def test_the_other_advisor_sees_only_their_own_client(client, people):
    client.force_login(people.other_advisor)
    assert client.get(household_urls(people.theirs.household_id)[0]).status_code == 200
    assert client.get(household_urls(people.mine.household_id)[0]).status_code == 404


def test_client_dashboard_is_the_clients_own_household(client, people):
    client.force_login(people.mine.user)
    response = client.get(reverse("client-dashboard"))
    assert response.status_code == 200
    assert response.context["household"] == people.mine.household
    assert people.theirs.household.name not in response.content.decode()


def test_home_sends_each_role_to_its_start_page(client, people):
    OnboardingDraft.objects.create(user=people.newcomer.user)
    cases = [
        (people.mine.user, reverse("client-dashboard")),
        (people.newcomer.user, reverse("onboarding")),
        (people.advisor, reverse("workspace")),
        (people.staff, reverse("admin:index")),
    ]
    for user, target in cases:
        client.force_login(user)
        response = client.get(reverse("home"))
        assert response.status_code == 302 and response["Location"] == target, user.username


def test_a_client_still_onboarding_is_sent_to_the_wizard(client, people):
    client.force_login(people.newcomer.user)
    # Registered by the firm, not signed up: the dashboard invites them to get started.
    page = client.get(reverse("client-dashboard")).content.decode()
    assert "Continue getting started" in page
    OnboardingDraft.objects.create(user=people.newcomer.user)
    response = client.get(reverse("client-dashboard"))
    assert response.status_code == 302 and response["Location"] == reverse("onboarding")


def test_onboarding_is_for_clients_only(client, people):
    for user in (people.advisor, people.staff):
        client.force_login(user)
        assert client.get(reverse("onboarding")).status_code == 404
        assert client.get(reverse("onboarding-step", args=["goal"])).status_code == 404
        response = client.post(
            reverse("onboarding-preview"), data="{}", content_type="application/json"
        )
        assert response.status_code == 404


def test_an_onboarded_client_cannot_reopen_the_wizard(client, people):
    client.force_login(people.mine.user)
    for url in (reverse("onboarding"), reverse("onboarding-step", args=["review"])):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == reverse("client-dashboard")


def test_signed_in_users_do_not_sign_up_again(client, people):
    client.force_login(people.mine.user)
    response = client.get(reverse("signup"))
    assert response.status_code == 302 and response["Location"] == reverse("home")


def test_an_advisor_opening_the_client_portal_goes_to_the_workspace(client, people):
    client.force_login(people.advisor)
    response = client.get(reverse("client-dashboard"))
    assert response.status_code == 302 and response["Location"] == reverse("workspace")


def test_auth_pages_render_in_the_products_look(client, people):
    for name in ("login", "password_reset", "signup"):
        response = client.get(reverse(name))
        assert response.status_code == 200
        assert "Meridian Advice" in response.content.decode()
        assert "Django administration" not in response.content.decode()
    client.force_login(people.mine.user)
    response = client.get(reverse("password_change"))
    assert response.status_code == 200 and "Change your password" in response.content.decode()
