"""The client portal in Chromium: a new client onboards and sees a recommendation, a holdings
file with bad rows is refused row by row, another household's URL is a 404, and the dashboard
works at a phone's width. Screenshots of each page are saved under artifacts/screenshots/."""

import re
from decimal import Decimal

import pytest

from advisor.services.demo import DEMO_PASSWORD
from tests.browser.conftest import login, page_figures, screenshot, server_password

pytestmark = [pytest.mark.browser, pytest.mark.django_db, pytest.mark.xdist_group("browser")]

PASSWORD = "a-long-enough-passphrase-42"
ANSWERS = [
    "Hold and wait for a recovery",
    "Long-term growth",
    "Between -$15,000 and +$22,000",
    "Good: I have held stocks and funds through a downturn",
    "I accept moderate risk for higher returns",
    "Stable",
    "3 to 6 months",
    "25% to 50%",
    "A little",
]


@pytest.fixture(scope="module")
def client_at_accounts_step(demo_data, django_db_blocker):
    """A signed-up client whose first four steps are done (committed for the server)."""
    from advisor.services.onboarding import client_sign_up, onboarding_step_save

    with django_db_blocker.unblock():
        client = client_sign_up(
            username="uploader",
            email="uploader@example.com",
            password=PASSWORD,
            first_name="Uma",
            last_name="Loader",
        )
        user = client.user
        onboarding_step_save(
            user=user,
            step="goal",
            values={"horizon_years": 15, "goal_amount": "500000.00", "monthly_contribution": "0"},
        )
        onboarding_step_save(
            user=user,
            step="risk",
            values={
                "answers": {
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
            },
        )
        onboarding_step_save(
            user=user,
            step="tax",
            values={"filing_status": "single", "short_term_rate": "0.24", "long_term_rate": "0.15"},
        )
        onboarding_step_save(
            user=user, step="esg", values={"min_esg_score": 0, "excluded_categories": []}
        )
        server_password("uploader", PASSWORD)
    return client


def test_a_new_client_onboards_and_sees_a_recommendation(asgi_server, demo_data, page):
    page.goto(f"{asgi_server}/accounts/login/")
    screenshot(page, "login")
    page.get_by_role("link", name="New client? Open an account").click()
    page.get_by_label("First name").fill("Dana")
    page.get_by_label("Last name").fill("Okoye")
    page.get_by_label("Email").fill("dana@example.com")
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Password confirmation").fill("short")
    page.get_by_role("button", name="Create my login").click()
    assert "This password is too short" in page.locator("#id_password2_error").inner_text()
    screenshot(page, "signup-errors")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Create my login").click()

    page.wait_for_url(re.compile(r".*/onboarding/goal/$"))
    page.get_by_role("button", name="Save and continue").click()
    assert page.locator("#id_horizon_years_error").is_visible()
    page.get_by_label("Years until you need the money").fill("20")
    page.get_by_label("Goal amount ($)").fill("900000")
    page.get_by_label("Monthly contribution ($)").fill("1000")
    screenshot(page, "onboarding-goal")
    page.get_by_role("button", name="Save and continue").click()

    page.wait_for_url(re.compile(r".*/onboarding/risk/$"))
    assert page.get_by_role("button", name="Show my score").is_hidden()  # JS previews live
    for label in ANSWERS:
        page.get_by_label(label, exact=True).check()
    preview = page.get_by_test_id("score-preview")
    preview.locator(".score-number").wait_for()
    assert re.fullmatch(r"\d+", preview.locator(".score-number").inner_text())
    screenshot(page, "onboarding-risk")
    # Progress survives a reload: the answers come back from the draft.
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url(re.compile(r".*/onboarding/tax/$"))
    page.reload()
    page.get_by_role("link", name=re.compile("Attitude to risk")).click()
    assert page.get_by_label(ANSWERS[0], exact=True).is_checked()
    page.get_by_role("link", name=re.compile("Tax situation")).click()

    page.get_by_label("Filing status").select_option("married_joint")
    page.get_by_label("Marginal rate on short-term gains (%)").fill("24")
    page.get_by_label("Rate on long-term gains (%)").fill("15")
    screenshot(page, "onboarding-tax")
    page.get_by_role("button", name="Save and continue").click()

    page.wait_for_url(re.compile(r".*/onboarding/esg/$"))
    page.get_by_label("Lowest acceptable portfolio ESG score").fill("50")
    page.get_by_label("Tobacco").check()
    screenshot(page, "onboarding-esg")
    page.get_by_role("button", name="Save and continue").click()

    page.wait_for_url(re.compile(r".*/onboarding/accounts/$"))
    page.get_by_label("Account name").fill("Joint brokerage")
    page.get_by_label("Cash in the account ($)").fill("25000")
    page.get_by_role("button", name="Add account").click()
    symbol = demo_data_symbol(page)
    page.get_by_label("Symbol").fill(symbol)
    page.get_by_label("Shares").fill("40")
    page.get_by_label("Total cost basis ($)").fill("12000")
    page.get_by_label("Date acquired").fill("2023-03-15")
    page.get_by_role("button", name="Add holding").click()
    assert (
        page.get_by_test_id("draft-account")
        .get_by_role("row", name=re.compile(symbol))
        .is_visible()
    )
    screenshot(page, "onboarding-accounts")
    page.get_by_role("button", name="Continue to review").click()

    page.wait_for_url(re.compile(r".*/onboarding/review/$"))
    screenshot(page, "onboarding-review")
    page.get_by_role("button", name="Submit and see my plan").click()
    page.wait_for_url(re.compile(r".*/portal/(#recommendation)?$"), timeout=90_000)
    assert page.get_by_role("heading", name="Dana Okoye household").is_visible()
    assert page.get_by_role("heading", name="Your recommended portfolio").is_visible()
    assert page.locator(".explanation li").count() >= 3
    assert page.get_by_test_id("total-value").inner_text().startswith("$")
    page.locator("#chart-frontier.rendered").wait_for()
    page.locator("#chart-projection.rendered").wait_for()
    page.wait_for_function("document.getElementById('live-status').textContent === 'Live'")
    assert symbol in page.get_by_test_id("positions-table").inner_text()
    screenshot(page, "dashboard-after-onboarding")


def demo_data_symbol(page) -> str:
    """A fund of the demo universe (the demo data is committed, so the test reads it too)."""
    from portfolios.models import Asset, SecurityType

    fund = Asset.objects.filter(is_active=True, security_type=SecurityType.ETF).order_by("symbol")
    return str(fund.values_list("symbol", flat=True)[0])


def test_an_upload_with_bad_rows_shows_each_error_and_saves_nothing(
    asgi_server, client_at_accounts_step, page, tmp_path
):
    login(page, asgi_server, "uploader", PASSWORD)
    page.wait_for_url(re.compile(r".*/onboarding/accounts/$"))
    symbol = demo_data_symbol(page)
    bad = tmp_path / "holdings.csv"
    bad.write_text(
        "account,type,symbol,quantity,cost_basis,price,acquired_on\n"
        f"Joint,taxable,{symbol},10,1000,,2022-01-03\n"
        "Joint,taxable,NOSUCH,10,1000,,2022-01-03\n"
        f"Joint,taxable,{symbol},-4,1000,,2022-01-03\n"
        f"Joint,taxable,{symbol},4,,,2099-01-03\n"
    )
    page.get_by_label("Holdings file (CSV)").set_input_files(str(bad))
    page.get_by_role("button", name="Upload file").click()
    errors = page.get_by_test_id("upload-errors")
    text = errors.inner_text()
    assert "3 rows could not be read, so nothing was added" in text
    assert "Line 3: symbol NOSUCH is not in the firm's universe" in text
    assert "Line 4: quantity must be positive" in text
    assert (
        "Line 5: give cost_basis" in text
        and "Line 5: acquired_on 2099-01-03 is in the future" in text
    )
    assert page.get_by_text("No accounts yet.").is_visible()
    screenshot(page, "onboarding-upload-errors")

    from advisor.models import OnboardingDraft

    draft = OnboardingDraft.objects.get(user=client_at_accounts_step.user)
    assert draft.data.get("accounts", []) == []

    good = tmp_path / "good.csv"
    good.write_text(
        "account,type,symbol,quantity,cost_basis,price,acquired_on\n"
        f"Joint,taxable,{symbol},10,1000,,2022-01-03\n"
    )
    page.get_by_label("Holdings file (CSV)").set_input_files(str(good))
    page.get_by_role("button", name="Upload file").click()
    assert page.get_by_text("Imported 1 holding.").is_visible()
    assert page.get_by_test_id("draft-account").count() == 1


def test_another_households_url_is_404(asgi_server, demo_data, page):
    from portfolios.models import Household

    login(page, asgi_server, "demo-client", DEMO_PASSWORD)
    page.wait_for_url(re.compile(r".*/portal/$"))
    mine = page.get_by_test_id("positions-table").get_attribute("data-household")
    other = Household.objects.exclude(pk=int(mine)).order_by("pk").first()
    response = page.goto(f"{asgi_server}/portal/households/{other.pk}/")
    assert response.status == 404
    assert other.name not in page.content()
    response = page.goto(f"{asgi_server}/portal/households/{other.pk}/live/")
    assert response.status == 404
    response = page.goto(f"{asgi_server}/portal/households/{mine}/")
    assert response.status == 200


def test_the_dashboard_at_a_phones_width(asgi_server, demo_data, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    login(page, asgi_server, "demo-client", DEMO_PASSWORD)
    page.wait_for_url(re.compile(r".*/portal/$"))
    page.locator("#chart-performance.rendered").wait_for()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the phone"
    screenshot(page, "dashboard-phone")
    page.goto(f"{asgi_server}/accounts/password/change/")
    screenshot(page, "password-change-phone")
    context.close()


def test_a_trade_updates_the_open_dashboard_without_a_reload(asgi_server, demo_data, page):
    """A fill committed by another process reaches the page over the websocket: the positions,
    the value and the recent activity change in place, and the weights, the drift and the
    allocation and drift charts follow, as a reload shows them."""
    import os
    import subprocess
    import sys

    from portfolios.models import Position
    from tests.conftest import REPO, shared_database_url

    login(page, asgi_server, "demo-client", DEMO_PASSWORD)
    page.wait_for_url(re.compile(r".*/portal/$"))
    page.wait_for_function("document.getElementById('live-status').textContent === 'Live'")
    household = int(page.get_by_test_id("positions-table").get_attribute("data-household"))
    position = (
        Position.objects.filter(account__household_id=household, account__account_type="taxable")
        .select_related("asset", "account")
        .order_by("asset__symbol")
        .first()
    )
    symbol, account_id = position.asset.symbol, position.account_id
    row = page.locator(f"[data-account='{account_id}'] tr[data-symbol='{symbol}']")
    before = row.get_attribute("data-quantity")
    value_before = page.get_by_test_id("total-value").inner_text()
    figures_before = page_figures(page)
    script = (
        "import datetime, django; django.setup()\n"
        "from decimal import Decimal\n"
        "from portfolios.ledger import trade_apply\n"
        f"trade_apply(account_id={account_id}, symbol='{symbol}', side='buy', "
        "quantity=Decimal('3'), price=Decimal('10.00'), trade_date=datetime.date.today())\n"
    )
    env = {
        **os.environ,
        "DATABASE_URL": shared_database_url(),
        "DJANGO_SETTINGS_MODULE": "advisor.settings",
    }
    subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, check=True, timeout=120)
    expected = str(Decimal(before) + 3)
    page.wait_for_function(
        f"""() => {{
            const row = document.querySelector("[data-account='{account_id}'] tr[data-symbol='{symbol}']");
            return row && Number(row.getAttribute('data-quantity')) === {float(expected)};
        }}"""
    )
    activity = page.get_by_test_id("recent-activity").inner_text()
    assert f"Bought 3 {symbol} at $10.00" in activity
    assert page.get_by_test_id("total-value").inner_text() != value_before  # 30.00 cash to shares
    screenshot(page, "dashboard-live-update")
    # the fragment swap and the recomputation run in one task, so both are done by now
    after = page_figures(page)
    assert after["allocation chart"] != figures_before["allocation chart"]
    page.reload()
    page.wait_for_function("document.getElementById('live-status').textContent === 'Live'")
    reloaded = page_figures(page)
    assert {k: (v, reloaded.get(k)) for k, v in after.items() if v != reloaded.get(k)} == {}
    assert after == reloaded

    # selling every share of a fund outside the target drops its row from the drift table and
    # its bar from the chart: the fragment brings the tables, the charts follow, as on a reload
    from advisor.portal_selectors import current_recommendation

    targets = set(current_recommendation(household_id=household).weights)
    holders: dict[str, list[Position]] = {}
    for p in Position.objects.filter(account__household_id=household).select_related("asset"):
        holders.setdefault(p.asset.symbol, []).append(p)
    sold = next(
        ps[0]
        for symbol, ps in sorted(holders.items())
        if symbol not in targets and len(ps) == 1 and ps[0].account.account_type == "taxable"
    )
    assert page.locator(f"[data-testid=drift-rows] tr[data-symbol='{sold.asset.symbol}']").count()
    script = (
        "import datetime, django; django.setup()\n"
        "from decimal import Decimal\n"
        "from portfolios.ledger import trade_apply\n"
        f"trade_apply(account_id={sold.account_id}, symbol='{sold.asset.symbol}', side='sell', "
        f"quantity=Decimal('{sold.quantity}'), price=Decimal('10.00'), "
        "trade_date=datetime.date.today())\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, check=True, timeout=120)
    page.wait_for_function(
        f"""() => !document.querySelector(
            "[data-account='{sold.account_id}'] tr[data-symbol='{sold.asset.symbol}']")"""
    )
    after_sale = page_figures(page)
    assert not any(sold.asset.symbol in row for row in after_sale["drift rows"])
    page.reload()
    page.wait_for_function("document.getElementById('live-status').textContent === 'Live'")
    assert after_sale == page_figures(page)
