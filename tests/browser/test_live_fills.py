"""An advisor approves a proposal and the client's open dashboard shows the fills arrive, without
a reload: HTTP and websockets through the ASGI server, the channel layer on Redis."""

import re

import pytest

from advisor.services.demo import DEMO_PASSWORD
from portfolios.models import ProposalReason, ProposalStatus, RebalanceProposal
from tests.browser.conftest import login, running_asgi_server, screenshot
from tests.conftest import shared_database_url

pytestmark = [pytest.mark.browser, pytest.mark.django_db, pytest.mark.xdist_group("browser")]


@pytest.fixture(scope="module")
def eager_server(demo_data, django_db_blocker, redis_url):
    """The server runs approved executions in-process (as the embedded mode does), with a
    visible delay per order at the simulated exchange so fills arrive one by one."""
    with django_db_blocker.unblock():
        database_url = shared_database_url()
    with running_asgi_server(
        database_url, redis_url, CELERY_TASK_ALWAYS_EAGER="true", SIMULATED_BROKER_LATENCY_MS="300"
    ) as base:
        yield base


def test_the_clients_dashboard_shows_fills_live_when_the_advisor_approves(
    eager_server, browser, django_db_blocker
):
    with django_db_blocker.unblock():
        proposal = RebalanceProposal.objects.get(
            status=ProposalStatus.PENDING,
            reason=ProposalReason.HARVEST,
            account__household__name="Rivera household",
        )
        sold = proposal.trades.get(side="sell").asset.symbol
        bought = proposal.trades.get(side="buy").asset.symbol
        table = f"positions-{proposal.account_id}"

    client_context = browser.new_context(viewport={"width": 1280, "height": 900})
    client_page = client_context.new_page()
    client_page.set_default_timeout(30_000)
    login(client_page, eager_server, "demo-client", DEMO_PASSWORD)
    client_page.wait_for_url(re.compile(r".*/portal/$"))
    client_page.wait_for_function(
        "document.getElementById('live-status').textContent.trim() === 'Live'"
    )
    assert bought not in client_page.get_by_test_id(table).inner_text()
    client_page.evaluate("window.__notReloaded = true")

    advisor_context = browser.new_context(viewport={"width": 1280, "height": 900})
    advisor_page = advisor_context.new_page()
    advisor_page.set_default_timeout(60_000)
    login(advisor_page, eager_server, "demo-advisor", DEMO_PASSWORD)
    advisor_page.goto(f"{eager_server}/workspace/proposals/{proposal.pk}/")
    advisor_page.fill("#comment", "Harvest agreed with the client")
    advisor_page.click("button[value=approve]")
    advisor_page.wait_for_load_state("networkidle")
    screenshot(advisor_page, "advisor-proposal-approved")

    # the client's page, never reloaded, shows the replacement arrive and the harvested fund go
    client_page.wait_for_function(
        "([table, bought]) => document.querySelector(`[data-testid=${table}]`).innerText.includes(bought)",
        arg=[table, bought],
    )
    activity = client_page.get_by_test_id("recent-activity").inner_text()
    assert bought in activity or sold in activity
    assert client_page.evaluate("window.__notReloaded === true")
    screenshot(client_page, "client-dashboard-live-fills")
    with django_db_blocker.unblock():
        proposal.refresh_from_db()
        assert proposal.status == ProposalStatus.DONE
    client_context.close()
    advisor_context.close()
