"""The daily harvest scan over the books: proposals, replacements, blocks, IRAs and wash sales."""

import datetime as dt
from decimal import Decimal

import pytest

from portfolios.harvest_scan import harvest_scan
from portfolios.ledger import PendingOrder, trade_apply
from portfolios.models import AccountType, HarvestBlock, WashSale
from tests.factories import AccountFactory, AssetFactory, HouseholdFactory, PriceBarFactory

pytestmark = pytest.mark.django_db
D = Decimal
AS_OF = dt.date(2024, 6, 3)

UNIVERSE = {
    # symbol: (replacement group, price on the scan date)
    "VTI": ("us-total", "150"),
    "ITOT": ("us-total", "100"),
    "SCHB": ("us-total", "50"),
    "QQQ": ("growth", "300"),
    "ONEQ": ("growth", "60"),
    "EFA": ("intl", "48.50"),
    "IEFA": ("intl", "70"),
    "BND": ("bonds", "80"),
    "AGG": ("bonds", "95"),
}


def buy(account, symbol, qty, price, day):
    trade_apply(
        account_id=account.pk,
        symbol=symbol,
        side="buy",
        quantity=D(qty),
        price=D(price),
        trade_date=day,
    )


@pytest.fixture
def books():
    for symbol, (group, close) in UNIVERSE.items():
        asset = AssetFactory(symbol=symbol, replacement_group=group)
        PriceBarFactory(asset=asset, date=AS_OF - dt.timedelta(days=3), close=D(close) + 1)
        PriceBarFactory(asset=asset, date=AS_OF, close=D(close), low=D(close), high=D(close))
    household = HouseholdFactory()  # 32% short-term, 15% long-term
    taxable = AccountFactory(household=household, cash=D("1000000.00"))
    ira = AccountFactory(household=household, account_type=AccountType.IRA, cash=D("100000.00"))
    # $5,000 short-term loss (25%): worth $1,600 of tax, well above the firm's $100 minimum.
    buy(taxable, "VTI", "100", "200", dt.date(2024, 1, 2))
    # $1,000 long-term loss, but the IRA bought the same fund 10 days ago: fully washed.
    buy(taxable, "QQQ", "10", "400", dt.date(2023, 1, 3))
    buy(ira, "QQQ", "10", "310", AS_OF - dt.timedelta(days=10))
    # $1,500 loss, worth $480, but only 3% of the value: under the firm's 5% minimum.
    buy(taxable, "EFA", "1000", "50", dt.date(2024, 1, 2))
    # A loss in the IRA: never harvested.
    buy(ira, "BND", "100", "100", dt.date(2024, 1, 2))
    return household, taxable, ira


def test_a_qualifying_loss_gets_a_replacement_from_its_group(books):
    household, taxable, _ = books
    (result,) = harvest_scan(as_of=AS_OF)  # the IRA is not scanned
    assert (result.account_id, result.household_id) == (taxable.pk, household.pk)
    (proposal,) = result.scan.proposals
    assert proposal.symbol == "VTI" and proposal.replacement_symbol == "ITOT"  # first in its group
    assert (proposal.quantity, proposal.market_value, proposal.allowed_loss) == (
        D("100"),
        D("15000.00"),
        D("5000.00"),
    )
    assert proposal.tax_benefit == D("1600.00") and proposal.replacement_quantity == D("150")
    assert proposal.block.blocked_until == AS_OF + dt.timedelta(days=30)
    reasons = {skip.symbol: skip.reason for skip in result.scan.skipped}
    assert reasons["QQQ"] == "no lot's net benefit exceeds the minimum"  # washed by the IRA buy
    assert reasons["EFA"].startswith("losses under 5.00% of the lots' value")


def test_a_blocked_or_excluded_symbol_is_not_bought(books):
    household, taxable, _ = books
    HarvestBlock.objects.create(
        household=household,
        symbol="ITOT",
        identity_key="symbol:ITOT",
        sold_on=AS_OF - dt.timedelta(days=20),
        blocked_until=AS_OF + dt.timedelta(days=10),
    )
    (result,) = harvest_scan(as_of=AS_OF, account_ids=[taxable.pk])
    assert [p.replacement_symbol for p in result.scan.proposals] == ["SCHB"]
    HarvestBlock.objects.all().delete()
    (result,) = harvest_scan(
        as_of=AS_OF, account_ids=[taxable.pk], excluded_by_household={household.pk: {"ITOT"}}
    )
    assert [p.replacement_symbol for p in result.scan.proposals] == ["SCHB"]


def test_an_ira_is_never_scanned(books):
    _, _, ira = books
    assert harvest_scan(as_of=AS_OF, account_ids=[ira.pk]) == []


def test_without_the_washing_purchase_the_loss_is_harvested(books):
    """The QQQ loss is harvested once the IRA's purchase is more than 30 days old."""
    _, taxable, _ = books
    # Day 30 after the purchase: still inside the window.
    (result,) = harvest_scan(as_of=AS_OF + dt.timedelta(days=20), account_ids=[taxable.pk])
    assert {p.symbol: p.replacement_symbol for p in result.scan.proposals} == {"VTI": "ITOT"}
    (result,) = harvest_scan(as_of=AS_OF + dt.timedelta(days=21), account_ids=[taxable.pk])
    assert {p.symbol: p.replacement_symbol for p in result.scan.proposals} == {
        "VTI": "ITOT",
        "QQQ": "ONEQ",
    }


def test_prices_can_be_given_and_a_gain_leaves_nothing_to_harvest(books):
    _, taxable, _ = books
    prices = {symbol: D("1000") for symbol in UNIVERSE}
    (result,) = harvest_scan(as_of=AS_OF, prices=prices)
    assert result.account_id == taxable.pk and result.screened_lots == 0
    assert result.scan.proposals == () and result.scan.skipped == ()


def test_pending_buys_and_recent_losses_are_respected(books):
    _, taxable, ira = books
    # The household sold ITOT at a loss 10 days ago: buying it now would wash that loss.
    buy(taxable, "ITOT", "10", "120", dt.date(2024, 1, 2))
    trade_apply(
        account_id=taxable.pk,
        symbol="ITOT",
        side="sell",
        quantity=D("10"),
        price=D("100"),
        trade_date=AS_OF - dt.timedelta(days=10),
    )
    # A VTI buy order of the IRA not filled yet washes a VTI harvest like a purchase.
    pending = PendingOrder(
        order_ref="rp1-001",
        account_id=ira.pk,
        symbol="VTI",
        quantity=D("100"),
        expected_on=AS_OF + dt.timedelta(days=1),
    )
    (result,) = harvest_scan(as_of=AS_OF, account_ids=[taxable.pk])
    assert [(p.symbol, p.replacement_symbol) for p in result.scan.proposals] == [("VTI", "SCHB")]
    (result,) = harvest_scan(as_of=AS_OF, account_ids=[taxable.pk], pending_orders=[pending])
    assert result.scan.proposals == ()


def test_an_order_in_live_slices_counts_its_promised_shares_once(books):
    """A VTI buy in two live slices of 50, of which an earlier loss took 50 shares: the other 50
    still wash a VTI harvest."""
    _, taxable, ira = books
    slices = [
        PendingOrder(
            order_ref="rp1-002",
            account_id=ira.pk,
            symbol="VTI",
            quantity=D("50"),
            expected_on=AS_OF + dt.timedelta(days=1),
        )
    ] * 2
    trade_apply(
        account_id=taxable.pk,
        symbol="VTI",
        side="sell",
        quantity=D("50"),
        price=D("151"),
        trade_date=AS_OF - dt.timedelta(days=1),
        pending_orders=slices[:1],
    )
    assert WashSale.objects.get(pending=True).quantity == D("50")
    (result,) = harvest_scan(as_of=AS_OF, account_ids=[taxable.pk])
    assert [p.symbol for p in result.scan.proposals] == ["VTI"]
    (result,) = harvest_scan(as_of=AS_OF, account_ids=[taxable.pk], pending_orders=slices)
    assert result.scan.proposals == ()


def test_a_caller_that_read_the_firm_and_the_prices_passes_them(books):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from portfolios.models import FirmSettings
    from portfolios.selectors import latest_prices

    _, taxable, _ = books
    firm = FirmSettings.current()
    prices = {last.symbol: last.close for last in latest_prices(on=AS_OF).values()}
    with CaptureQueriesContext(connection) as reading:
        found = harvest_scan(as_of=AS_OF, account_ids=[taxable.pk])
    with CaptureQueriesContext(connection) as given:
        assert (
            harvest_scan(as_of=AS_OF, account_ids=[taxable.pk], firm=firm, prices=prices) == found
        )
    assert len(given) == len(reading) - 2
    # the assets; the households' accounts with their rates; blocks; recent losses; open lots
    assert len(given) == 5, [q["sql"] for q in given.captured_queries]
    assert [p.symbol for p in found[0].scan.proposals] == ["VTI"]


def test_a_scan_of_some_accounts_reads_their_households_other_accounts(books):
    household, taxable, ira = books
    other = AccountFactory(household=household, cash=D("10000.00"))
    closed = AccountFactory(household=household, is_active=False)
    buy(other, "VTI", "10", "150", AS_OF - dt.timedelta(days=5))  # washes part of the VTI loss
    (result,) = harvest_scan(as_of=AS_OF, account_ids=[taxable.pk, ira.pk, closed.pk, 10**9])
    assert result.account_id == taxable.pk and result.household_id == household.pk
    (vti,) = [p for p in result.scan.proposals if p.symbol == "VTI"]
    assert sum(lot.washed_quantity for lot in vti.lots) == 10
    assert [r.account_id for r in harvest_scan(as_of=AS_OF)] == sorted([taxable.pk, other.pk])
