"""The advisor workspace: book, review page, single and bulk approval, access."""

import datetime as dt
import json
import re
from decimal import Decimal

from django.urls import reverse
from django.utils.html import escape

from advisor.services.proposals import proposal_build
from advisor.workspace_selectors import client_book
from portfolios.models import AuditEvent, FirmSettings, ProposalStatus, RebalanceProposal
from tests.advisor.services.market import AS_OF, NOW
from tests.factories import PASSWORD, AdvisorUserFactory, ClientFactory


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)


def test_book_lists_the_household_with_its_pending_proposal(client, book):
    proposal = proposal_build(account_id=book["account"].pk, as_of=AS_OF, now=NOW)
    login(client, book["advisor"])
    page = client.get(reverse("workspace")).content.decode()
    assert book["client"].household.name in page
    assert f"#{proposal.pk}" in page
    # one navigation on every workspace page: the book, the backtests, the password
    assert '<a href="/workspace/" aria-current="page">Client book</a>' in page
    assert '<a href="/workspace/backtests/">Backtests</a>' in page
    assert '<a href="/accounts/password/change/">Password</a>' in page


def test_book_drift_reads_to_one_decimal_against_the_firms_threshold(client, book):
    login(client, book["advisor"])
    (row,) = client_book(user=book["advisor"])
    assert row.drift is not None and 0.05 < row.drift < 0.95
    badge = re.compile(r'<span class="badge (\w+)[^>]*>([\d.]+)%</span>')

    def drift_badge() -> tuple[str, str]:
        page = client.get(reverse("workspace")).content.decode()
        (found,) = badge.findall(page)
        return found

    assert drift_badge() == ("warn", f"{row.drift * 100:.1f}")
    firm = FirmSettings.current()
    firm.drift_threshold = Decimal(f"{row.drift + 0.01:.4f}")  # the firm tolerates this much
    firm.save()
    assert drift_badge() == ("good", f"{row.drift * 100:.1f}")


def test_review_page_shows_trades_checks_and_explanation(client, book):
    proposal = proposal_build(account_id=book["account"].pk, as_of=AS_OF, now=NOW)
    login(client, book["advisor"])
    response = client.get(reverse("workspace-proposal", args=[proposal.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="proposal-trades"' in page and 'data-testid="checks-preview"' in page
    assert escape(proposal.explanation[0]) in page
    # losses read −$1,234.56 as everywhere in the portal, never $-1,234.56
    assert any(t.estimated_gain < 0 for t in proposal.trades.all())
    assert "$-" not in page and "−$" in page and "\n," not in page  # "$0.00, long", no gap
    # every risk measure a percentage, the daily ones to basis points, volatility to one decimal
    # as the dashboard writes it
    assert re.search(r'VaR 95%</th><td class="num">\d+\.\d\d%</td><td class="num">\d+\.\d\d%', page)
    assert re.search(
        r'Volatility \(annual\)</th><td class="num">\d+\.\d%</td><td class="num">\d+\.\d%', page
    )
    assert (
        "vendor/plotly.min.js" in page and "Plotly.newPlot" not in page
    )  # the bundle is linked, not inlined
    # times read in the firm's zone (New York by default), named, not in UTC
    evening = dt.datetime(2024, 6, 4, 0, 30, tzinfo=dt.UTC)
    RebalanceProposal.objects.filter(pk=proposal.pk).update(priced_at=evening)
    page = client.get(reverse("workspace-proposal", args=[proposal.pk])).content.decode()
    assert "priced 3 Jun 2024 20:30 EDT" in page
    # drift to one decimal, as the explanation writes it: a 0.2 % drift after is not "0%"
    RebalanceProposal.objects.filter(pk=proposal.pk).update(drift_before=0.38, drift_after=0.002)
    page = client.get(reverse("workspace-proposal", args=[proposal.pk])).content.decode()
    assert '<span class="kpi-value">38.0% → 0.2%</span>' in page


def test_ids_beyond_64_bits_are_not_found(client, book):
    login(client, book["advisor"])
    huge = 10**20
    assert client.get(f"/workspace/proposals/{huge}/").status_code == 404
    decided = client.post(f"/workspace/proposals/{huge}/decide/", {"decision": "approve"})
    assert decided.status_code == 404
    assert client.get(f"/workspace/backtests/{huge}/").status_code == 404
    assert client.get(f"/portal/households/{huge}/").status_code == 404
    assert client.get(f"/api/v1/proposals/{huge}/").json()["error"]["code"] == "not_found"


def test_the_weights_chart_cannot_close_its_script_tag(client, book):
    proposal = proposal_build(account_id=book["account"].pk, as_of=AS_OF, now=NOW)
    hostile = "</script><b>x"  # a symbol as staff could type it in the admin
    RebalanceProposal.objects.filter(pk=proposal.pk).update(
        weights_before={**proposal.weights_before, hostile: 0.01}
    )
    login(client, book["advisor"])
    page = client.get(reverse("workspace-proposal", args=[proposal.pk])).content.decode()
    data = page.split('id="weights-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data and hostile in json.loads(data)["data"][0]["x"]
    assert "<b>x" not in page


def test_execution_costs_print_negatives_as_the_portal_does(client, book):
    # the shortfall reports are JSON with amounts as strings: "$-1.23" slipped through
    from trading.models import Order

    proposal = proposal_build(account_id=book["account"].pk, as_of=AS_OF, now=NOW)
    trade = proposal.trades.order_by("sequence").first()
    report = {
        "execution_cost": "-1.5000",
        "fees": "0.27",
        "opportunity_cost": "0.00",
        "total_cost": "-1.23",
        "arrival_notional": "12345.60",
        "total_bps": "-1.00",
    }
    Order.objects.create(
        proposal=proposal,
        proposal_trade=trade,
        account=book["account"],
        asset=trade.asset,
        side=trade.side,
        quantity=trade.quantity,
        filled_quantity=trade.quantity,
        status="filled",
        client_order_id=f"p{proposal.pk}-t{trade.pk}",
        cost_analysis=report,
    )
    RebalanceProposal.objects.filter(pk=proposal.pk).update(
        status=ProposalStatus.DONE,
        execution_summary={
            "orders": 1,
            "filled": 1,
            "blocked": [],
            "fees": "0.27",
            "shortfall": {**report, "total_cost": "-1234.5", "orders": "1"},
        },
    )
    login(client, book["advisor"])
    page = client.get(reverse("workspace-proposal", args=[proposal.pk])).content.decode()
    assert "$-" not in page
    assert re.search(r'<td class="num">−\$1\.23 \(-1\.00 bps\)</td>', page)
    assert (
        "Implementation shortfall for the proposal: −$1,234.50 on $12,345.60 (1 order); "
        "fees $0.27." in page
    )


def test_approve_and_reject_through_the_page(client, book):
    proposal = proposal_build(account_id=book["account"].pk, as_of=AS_OF, now=NOW)
    login(client, book["advisor"])
    url = reverse("workspace-proposal-decide", args=[proposal.pk])
    response = client.post(url, {"decision": "reject", "comment": ""}, follow=True)
    assert "say why the proposal is rejected" in response.content.decode()
    client.post(url, {"decision": "approve", "comment": "Fine"})
    proposal.refresh_from_db()
    assert proposal.status in (
        ProposalStatus.APPROVED,
        ProposalStatus.EXECUTING,
        ProposalStatus.DONE,
    )
    again = client.post(url, {"decision": "approve"}, follow=True).content.decode()
    assert "only a pending proposal can be approved" in again
    # nor can an approved one be re-priced (a second tab still showing the pending page)
    proposals = RebalanceProposal.objects.count()
    repriced = client.post(url, {"decision": "reprice"}, follow=True).content.decode()
    assert "only a pending or expired proposal can be re-priced" in repriced
    assert RebalanceProposal.objects.count() == proposals


def test_bulk_approve_reports_each_outcome(client, book):
    proposal = proposal_build(account_id=book["account"].pk, as_of=AS_OF, now=NOW)
    login(client, book["advisor"])
    response = client.post(
        reverse("workspace-bulk-approve"), {"proposal": [str(proposal.pk), "999999"]}, follow=True
    )
    page = response.content.decode()
    assert f"Approved 1 proposal(s): {proposal.pk}" in page and "999999" in page
    assert AuditEvent.objects.filter(object_id=str(proposal.pk), to_state="approved").count() == 1


def test_bulk_approve_skips_what_is_not_a_proposal_number(client, book):
    # "²".isdigit() holds but int("²") raises: a crafted form was a 500
    proposal = proposal_build(account_id=book["account"].pk, as_of=AS_OF, now=NOW)
    login(client, book["advisor"])
    url = reverse("workspace-bulk-approve")
    response = client.post(
        url, {"proposal": ["²", str(proposal.pk), "1" * 40, "-3", str(proposal.pk)]}, follow=True
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert f"Approved 1 proposal(s): {proposal.pk}." in page  # once, though sent twice
    assert escape("Skipped what is not a proposal number: '²', '11111111111111111111', '-3'.") in (
        page
    )
    assert "only a pending proposal can be approved" not in page
    nothing = client.post(url, {"proposal": ["٣"]}, follow=True)  # an Arabic-Indic three
    assert nothing.status_code == 200
    assert "Select at least one proposal to approve." in nothing.content.decode()


def test_other_advisors_and_clients_cannot_see_or_decide(client, book):
    proposal = proposal_build(account_id=book["account"].pk, as_of=AS_OF, now=NOW)
    login(client, AdvisorUserFactory())
    assert client.get(reverse("workspace-proposal", args=[proposal.pk])).status_code == 404
    client.post(reverse("workspace-proposal-decide", args=[proposal.pk]), {"decision": "approve"})
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.PENDING
    client.logout()
    login(client, ClientFactory().user)
    assert client.get(reverse("workspace")).status_code == 403


def test_decisions_need_the_csrf_token(book):
    from django.test import Client

    proposal = proposal_build(account_id=book["account"].pk, as_of=AS_OF, now=NOW)
    strict = Client(enforce_csrf_checks=True)
    login(strict, book["advisor"])
    response = strict.post(
        reverse("workspace-proposal-decide", args=[proposal.pk]), {"decision": "approve"}
    )
    assert response.status_code == 403
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.PENDING
