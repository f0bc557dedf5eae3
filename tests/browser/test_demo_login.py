"""The demo client logs in with Chromium and sees their household's dashboard."""

import re

import pytest

from advisor.services.demo import DEMO_PASSWORD
from tests.browser.conftest import login, screenshot

# The demo data is committed by a module fixture (the server process must see it); the mark
# makes pytest-django create the test database.
pytestmark = [pytest.mark.browser, pytest.mark.django_db, pytest.mark.xdist_group("browser")]


def test_demo_client_logs_in_and_sees_the_dashboard(asgi_server, demo_data, page):
    login(page, asgi_server, "demo-client", DEMO_PASSWORD)
    page.wait_for_url(re.compile(r".*/portal/$"))
    assert page.get_by_role("heading", name="Rivera household").is_visible()
    assert page.get_by_test_id("total-value").inner_text().startswith("$")
    assert page.get_by_role("heading", name=re.compile("Rivera Joint Brokerage")).is_visible()
    page.wait_for_function("document.getElementById('live-status').textContent === 'Live'")
    screenshot(page, "client-dashboard")


def test_wrong_password_is_refused(asgi_server, demo_data, page):
    login(page, asgi_server, "demo-client", "not-the-password")
    assert "/accounts/login/" in page.url
    assert page.get_by_role("alert").is_visible()
    screenshot(page, "login-refused")
