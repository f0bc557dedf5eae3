"""A client sees only their household; an advisor only their clients'; staff everything."""

import pytest
from django.urls import reverse

from advisor.selectors import households_visible_to, live_groups_for_user
from tests.factories import PASSWORD, ClientFactory, StaffUserFactory, TaxLotFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_households():
    mine = ClientFactory()
    theirs = ClientFactory()
    return mine, theirs


def test_visibility_by_role(two_households):
    mine, theirs = two_households
    assert list(households_visible_to(user=mine.user)) == [mine.household]
    assert list(households_visible_to(user=mine.advisor)) == [mine.household]
    staff = StaffUserFactory()
    assert set(households_visible_to(user=staff)) == {mine.household, theirs.household}
    assert live_groups_for_user(user=mine.user, household_id=theirs.household_id) == []
    assert live_groups_for_user(user=mine.advisor) == [
        f"household-{mine.household_id}",
        f"advisor-{mine.advisor_id}",
    ]


def test_client_dashboard_shows_own_positions(client, two_households):
    mine, _ = two_households
    lot = TaxLotFactory(account__household=mine.household)
    from portfolios.services import position_sync

    position_sync(account_id=lot.account_id, asset_ids=[lot.asset_id])
    client.login(username=mine.user.username, password=PASSWORD)
    response = client.get(reverse("client-dashboard"))
    assert response.status_code == 200
    assert lot.asset.symbol in response.content.decode()


def test_another_households_url_is_404(client, two_households):
    mine, theirs = two_households
    client.login(username=mine.user.username, password=PASSWORD)
    url = reverse("household-dashboard", args=[theirs.household_id])
    assert client.get(url).status_code == 404
    own = reverse("household-dashboard", args=[mine.household_id])
    assert client.get(own).status_code == 200


def test_advisor_sees_only_their_clients(client, two_households):
    mine, theirs = two_households
    client.login(username=mine.advisor.username, password=PASSWORD)
    assert client.get(reverse("household-dashboard", args=[mine.household_id])).status_code == 200
    assert client.get(reverse("household-dashboard", args=[theirs.household_id])).status_code == 404


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("client-dashboard"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_api_positions_respect_ownership(client, two_households):
    mine, theirs = two_households
    client.login(username=mine.user.username, password=PASSWORD)
    assert client.get(f"/api/v1/households/{mine.household_id}/positions/").status_code == 200
    response = client.get(f"/api/v1/households/{theirs.household_id}/positions/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
