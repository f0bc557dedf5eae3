"""The dashboard's content: allocation and drift, realised gains and the Form 8949 download,
proposals with the advisor's note, recent activity and the live fragment."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from advisor.portal_selectors import CASH_KEY, household_allocation
from portfolios.models import (
    ProposalReason,
    ProposalStatus,
    ProposalTrade,
    RebalanceProposal,
    Recommendation,
    TransactionKind,
)
from portfolios.selectors import household_holdings
from portfolios.services import position_sync
from portfolios.tax_reports import tax_report, tax_report_csv
from tests.factories import (
    AccountFactory,
    AssetFactory,
    PriceBarFactory,
    RealizedLotFactory,
    TaxLotFactory,
    TransactionFactory,
)

pytestmark = pytest.mark.django_db


def today() -> dt.date:
    """Read when a test runs, not when the module is imported (a run may cross midnight)."""
    return timezone.localdate()


def hold(account, symbol, quantity, close, *, basis="100.00", acquired=dt.date(2024, 1, 2)):
    asset = AssetFactory(symbol=symbol)
    PriceBarFactory(asset=asset, date=today(), close=Decimal(close), low=Decimal(close))
    lot = TaxLotFactory(
        account=account,
        asset=asset,
        quantity=Decimal(quantity),
        cost_basis=Decimal(basis),
        acquired_on=acquired,
    )
    position_sync(account_id=account.pk, asset_ids=[asset.pk])
    return lot


def recommend(household, weights):
    return Recommendation.objects.create(
        household=household,
        risk_score=6,
        method="mean_variance_equilibrium",
        weights=weights,
        expected_return=0.06,
        volatility=0.11,
        explanation=["Built for a risk score of 6/10.", "AAA holds the growth part."],
    )


def test_allocation_and_drift_against_the_target(people):
    account = AccountFactory(household=people.mine.household, cash=Decimal("0"))
    hold(account, "AAA", "6", "100")  # 600
    hold(account, "BBB", "4", "100")  # 400
    recommendation = recommend(people.mine.household, {"AAA": 0.5, "CCC": 0.5})
    AssetFactory(symbol="CCC")
    allocation = household_allocation(
        accounts=household_holdings(household_id=people.mine.household_id),
        recommendation=recommendation,
    )
    rows = {r.symbol: r for r in allocation.rows}
    assert rows["AAA"].weight == pytest.approx(0.6) and rows["AAA"].target == 0.5
    assert rows["BBB"].target == 0.0 and rows["CCC"].weight == 0.0
    assert CASH_KEY not in rows  # no uninvested cash, no row for it
    # |0.6-0.5| + |0.4-0| + |0-0.5| = 1.0, halved
    assert allocation.drift == pytest.approx(0.5)


def test_uninvested_cash_counts_as_drift(people):
    account = AccountFactory(household=people.mine.household, cash=Decimal("250.00"))
    hold(account, "AAA", "7.5", "100")  # 750
    allocation = household_allocation(
        accounts=household_holdings(household_id=people.mine.household_id),
        recommendation=recommend(people.mine.household, {"AAA": 1.0}),
    )
    assert allocation.drift == pytest.approx(0.25)
    assert {r.symbol: r.weight for r in allocation.rows}[CASH_KEY] == pytest.approx(0.25)


def test_dashboard_shows_positions_lots_recommendation_and_test_ids(client, people):
    account = AccountFactory(household=people.mine.household, name="Joint", cash=Decimal("50"))
    hold(account, "AAA", "80.5", "100", basis="7000.00")
    recommend(people.mine.household, {"AAA": 1.0})
    client.force_login(people.mine.user)
    response = client.get(reverse("client-dashboard"))
    page = response.content.decode()
    for test_id in ("total-value", "positions-table", "recent-activity", "drift"):
        assert f'data-testid="{test_id}"' in page, test_id
    assert "$8,100.00" in page  # 80.5 x 100 + 50 cash
    assert ">80.5<" in page  # quantities without trailing zeros
    assert "1 tax lot" in page and "Long" in page
    assert "AAA holds the growth part." in page
    assert "vendor/plotly.min.js" in page
    # scripts and styles come from this site, never a CDN; a random token in the page may
    # spell "cdn", so look at the addresses rather than the whole text
    assets = re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="([^"]*)"', page)
    assert "/static/vendor/plotly.min.js" in assets
    off_site = [url for url in assets if not url.startswith(("/", "data:")) or url[:2] == "//"]
    assert not off_site
    assert len(response.content) < 400_000  # the plotly bundle is never inlined


def test_realised_gains_and_the_form_8949_download(client, people):
    account = AccountFactory(household=people.mine.household)
    year = today().year
    RealizedLotFactory(
        lot__account=account,
        sold_on=dt.date(year, 1, 15),
        acquired_on=dt.date(year - 3, 1, 2),
        holding_period_start=dt.date(year - 3, 1, 2),
        term="long",
        proceeds=Decimal("1500.00"),
        cost_basis=Decimal("1000.00"),
        gain=Decimal("500.00"),
        basis_reported=False,
    )
    RealizedLotFactory(
        lot__account=account,
        sold_on=dt.date(year, 1, 20),
        acquired_on=dt.date(year - 1, 12, 2),
        holding_period_start=dt.date(year - 1, 12, 2),
        term="short",
        proceeds=Decimal("900.00"),
        cost_basis=Decimal("1000.00"),
        gain=Decimal("-100.00"),
    )
    client.force_login(people.mine.user)
    page = client.get(reverse("client-dashboard")).content.decode()
    assert 'data-testid="form-8949"' in page
    assert "−$100.00" in page and "$500.00" in page
    # one heading per checked box: the short-term sale in box A, the long-term one (its basis not
    # reported to the IRS) in box E; no empty boxes
    assert re.findall(r'data-testid="form-8949-box-(\w)"', page) == ["A", "E"]
    assert "box E: basis not reported to the IRS" in page
    # each box ends with its totals and the Schedule D line they go on
    totals = re.search(r'data-testid="form-8949-box-E-totals">(.*?)</tr>', page, re.S).group(1)
    assert "Schedule D line 9" in totals and "1,500.00" in totals and "$500.00" in totals
    assert 'data-testid="form-8949-box-A-totals"' in page and "Schedule D line 1b" in page
    url = reverse("form-8949-csv", args=[people.mine.household_id, year])
    assert url in page
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    slug = people.mine.household.name.lower().replace(" ", "-")
    assert response["Content-Disposition"] == f'attachment; filename="form-8949-{year}-{slug}.csv"'
    expected = tax_report_csv(tax_report(household_id=people.mine.household_id, year=year))
    assert response.content.decode() == expected
    assert "1500.00" in expected and "-100.00" in expected
    future = reverse("form-8949-csv", args=[people.mine.household_id, year + 1])
    assert client.get(future).status_code == 404
    before_income_tax = reverse("form-8949-csv", args=[people.mine.household_id, 1905])
    assert client.get(before_income_tax).status_code == 404  # not a 500 from the tax engine
    beyond_64_bits = f"/portal/households/{2**64}/form-8949/{year}.csv"
    assert client.get(beyond_64_bits).status_code == 404


def test_proposals_are_shown_read_only_with_the_advisors_note(client, people):
    account = AccountFactory(household=people.mine.household, name="Joint")
    lot = hold(account, "AAA", "10", "100")
    proposal = RebalanceProposal.objects.create(
        account=account,
        status=ProposalStatus.APPROVED,
        reason=ProposalReason.DRIFT,
        total_value=Decimal("1000.00"),
        drift_before=0.12,
        drift_after=0.01,
        target_weights={"AAA": 1.0},
        weights_before={"AAA": 0.9},
        weights_after={"AAA": 0.99},
        prices={"AAA": "100"},
        priced_at=timezone.now(),
        advisor_comment="Trimming cash back to target before year end.",
        decided_by=people.advisor,
        decided_at=timezone.now(),
    )
    ProposalTrade.objects.create(
        proposal=proposal,
        sequence=1,
        asset=lot.asset,
        side="buy",
        quantity=Decimal("1"),
        estimated_price=Decimal("100"),
        notional=Decimal("100.00"),
    )
    client.force_login(people.mine.user)
    page = client.get(reverse("client-dashboard")).content.decode()
    assert "Trimming cash back to target before year end." in page
    assert "Approved" in page and "1 trade" in page
    assert "<form" not in page.split('id="proposals"')[1].split("</section>")[0]


def test_live_fragment_has_value_positions_and_activity(client, people):
    account = AccountFactory(household=people.mine.household, name="Joint", cash=Decimal("0"))
    lot = hold(account, "AAA", "3", "100")
    TransactionFactory(
        account=account,
        kind=TransactionKind.BUY,
        asset=lot.asset,
        quantity=Decimal("3"),
        price=Decimal("99.5"),
        amount=Decimal("-298.50"),
    )
    client.force_login(people.mine.user)
    response = client.get(reverse("household-live", args=[people.mine.household_id]))
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    page = response.content.decode()
    for element in ('id="kpi-value"', 'id="positions"', 'id="recent-activity"'):
        assert element in page
    assert "$300.00" in page
    assert "Bought 3 AAA at $99.50" in page
