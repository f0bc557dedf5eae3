"""Loss harvesting: benefit, thresholds, wash-aware allowed loss, replacements and blocks."""

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portfolios.core.errors import InvalidInput
from portfolios.core.tax import (
    AccountType,
    HarvestPolicy,
    PendingPurchase,
    RealisedLot,
    ReplacementCandidate,
    ReplacementMenu,
    TaxLot,
    TaxRates,
    Term,
    is_blocked,
    open_lot,
    scan_harvest,
    screen_harvest_lots,
    wash_sale_block,
)

D = Decimal
d = dt.date
AS_OF = d(2024, 6, 3)
RATES = TaxRates(short_term=D("0.37"), long_term=D("0.20"))
TYPES = {"T": AccountType.TAXABLE, "T2": AccountType.TAXABLE, "IRA": AccountType.IRA}
IDENTITY = {"VOO": "sp500", "IVV": "sp500"}
REPLACEMENT_GROUPS = {
    "VOO": "us_large",
    "IVV": "us_large",
    "SCHX": "us_large",
    "SPLG": "us_large",
    "XYZ": "xyz_like",
    "XYZB": "xyz_like",
}
CANDIDATES = [
    ReplacementCandidate("IVV", D("460.00")),
    ReplacementCandidate("SCHX", D("50.00")),
    ReplacementCandidate("SPLG", D("40.00")),
    ReplacementCandidate("XYZB", D("20.00")),
]
SPREADS = {"XYZ": D(2), "XYZB": D(3), "VOO": D(1), "SCHX": D(2), "SPLG": D(2), "IVV": D(1)}


def lot(lot_id, quantity, price, acquired, symbol="XYZ", account="T"):
    return open_lot(
        lot_id=lot_id,
        account_id=account,
        symbol=symbol,
        quantity=D(quantity),
        price=D(price),
        acquired_on=acquired,
    )


def scan(lots, *, prices=None, policy=None, **kwargs):
    kwargs.setdefault("candidates", CANDIDATES)
    return scan_harvest(
        account_id="T",
        household_lots=lots,
        prices=prices or {"XYZ": D(80), "VOO": D(450)},
        as_of=AS_OF,
        rates=RATES,
        account_types=TYPES,
        replacement_groups=REPLACEMENT_GROUPS,
        policy=policy or HarvestPolicy(commission_per_trade=D(5)),
        half_spread_bps=SPREADS,
        identity_groups=IDENTITY,
        **kwargs,
    )


def test_benefit_arithmetic_of_one_short_term_lot():
    result = scan([lot("b1", 100, 100, d(2024, 1, 2))])
    (proposal,) = result.proposals
    (harvest,) = proposal.lots
    assert harvest.market_value == D("8000.00")
    assert harvest.unrealised_loss == D("2000.00")
    assert harvest.term is Term.SHORT
    assert harvest.tax_benefit == D("740.00")  # 2,000 * 37 %
    # Two commissions of $5 and (2 + 3) bps of half-spread on $8,000 both ways.
    assert harvest.trading_cost == D("14.00")
    assert harvest.net_benefit == D("726.00")
    assert (proposal.replacement_symbol, proposal.replacement_quantity) == ("XYZB", D(400))
    assert proposal.net_benefit == D("726.00")
    assert proposal.quantity == D(100)


def test_long_term_lot_uses_the_long_term_rate():
    (proposal,) = scan([lot("b1", 100, 100, d(2023, 1, 2))]).proposals
    (harvest,) = proposal.lots
    assert harvest.term is Term.LONG
    assert harvest.tax_benefit == D("400.00")
    assert harvest.net_benefit == D("386.00")


@pytest.mark.parametrize(
    ("policy", "harvested"),
    [
        (HarvestPolicy(commission_per_trade=D(5), min_benefit=D("725.99")), True),
        (HarvestPolicy(commission_per_trade=D(5), min_benefit=D("726.00")), False),
        (HarvestPolicy(commission_per_trade=D(5), min_benefit_fraction=D("0.0907")), True),
        (HarvestPolicy(commission_per_trade=D(5), min_benefit_fraction=D("0.09075")), False),
        (HarvestPolicy(commission_per_trade=D(400)), False),  # costs exceed the benefit
    ],
)
def test_threshold(policy, harvested):
    result = scan([lot("b1", 100, 100, d(2024, 1, 2))], policy=policy)
    assert bool(result.proposals) is harvested
    if not harvested:
        assert [skip.symbol for skip in result.skipped] == ["XYZ"]


def test_gains_are_not_harvested():
    result = scan([lot("b1", 100, 70, d(2024, 1, 2))])
    assert result.proposals == ()
    assert result.skipped == ()


def test_recent_purchase_elsewhere_in_the_household_reduces_the_allowed_loss():
    lots = [lot("b1", 100, 100, d(2024, 1, 2)), lot("r1", 40, 85, d(2024, 5, 24), account="T2")]
    (proposal,) = scan(lots).proposals
    (harvest,) = proposal.lots
    assert harvest.washed_quantity == D(40)
    assert harvest.disallowed_loss == D("800.00")
    assert harvest.allowed_loss == D("1200.00")
    assert harvest.tax_benefit == D("444.00")


def test_purchase_older_than_30_days_does_not_wash():
    lots = [lot("b1", 100, 100, d(2024, 1, 2)), lot("r1", 40, 85, d(2024, 5, 3), account="T2")]
    (proposal,) = scan(lots).proposals
    assert proposal.lots[0].washed_quantity == 0


def test_pending_purchase_reduces_the_allowed_loss():
    pending = [PendingPurchase("o1", "IRA", "XYZ", D(25), AS_OF + dt.timedelta(days=2))]
    (proposal,) = scan([lot("b1", 100, 100, d(2024, 1, 2))], pending_purchases=pending).proposals
    assert proposal.lots[0].washed_quantity == D(25)
    assert proposal.lots[0].allowed_loss == D("1500.00")


def test_washing_falls_on_the_lot_with_the_least_benefit_per_share():
    lots = [
        lot("deep", 100, 120, d(2024, 1, 2)),  # $40/sh short-term loss
        lot("shallow", 100, 85, d(2024, 2, 1)),  # $5/sh short-term loss
        lot("recent", 50, 78, d(2024, 5, 20), account="T2"),  # bought 14 days ago
    ]
    (proposal,) = scan(lots).proposals
    assert [h.lot_id for h in proposal.lots] == ["shallow", "deep"]
    shallow, deep = proposal.lots
    assert (shallow.washed_quantity, deep.washed_quantity) == (D(50), D(0))


def test_a_lot_washed_by_another_accounts_purchase_is_not_harvested():
    lots = [
        lot("big", 100, 100, d(2024, 1, 2)),
        lot("recent", 100, 79, d(2024, 5, 20), account="T2"),
    ]
    result = scan(lots)
    assert result.proposals == ()
    assert result.skipped[0].reason == "no lot's net benefit exceeds the minimum"


def test_dropping_a_recent_lot_would_wash_the_rest_so_it_is_sold_with_them():
    policy = HarvestPolicy(commission_per_trade=D(5), min_benefit=D(30))
    old = lot("old", 100, 100, d(2024, 1, 2))  # $2,000 loss: net $726
    young = lot("young", 100, 81, d(2024, 5, 20))  # $100 loss: net $23, below the minimum
    (proposal,) = scan([old, young], policy=policy).proposals
    assert [(h.lot_id, h.qualifies, h.sold_to_avoid_wash) for h in proposal.lots] == [
        ("young", False, True),
        ("old", True, False),
    ]
    assert proposal.lots[1].washed_quantity == 0
    assert proposal.net_benefit == D("759.00")  # 740 + 37 - (2 * 5 + 16,000 * 5 bps)


def test_several_lots_of_one_asset_form_one_proposal_paying_commissions_once():
    lots = [lot("a", 100, 100, d(2024, 1, 2)), lot("b", 50, 90, d(2024, 2, 1))]
    (proposal,) = scan(lots).proposals
    assert proposal.quantity == D(150)
    assert proposal.market_value == D("12000.00")
    assert proposal.allowed_loss == D("2500.00")
    assert proposal.tax_benefit == D("925.00")
    assert proposal.trading_cost == D("16.00")  # 2 * 5 + 12,000 * 5 bps
    assert proposal.net_benefit == D("909.00")
    assert sum(h.net_benefit for h in proposal.lots) < proposal.net_benefit


def test_replacement_is_not_identical_blocked_excluded_or_itself_being_sold():
    prices = {"VOO": D(450), "SCHX": D(50), "XYZ": D(80)}
    voo = lot("v", 10, 500, d(2024, 1, 2), symbol="VOO")
    # IVV is identical to VOO (same identity group): skipped; SCHX is next.
    assert scan([voo], prices=prices).proposals[0].replacement_symbol == "SCHX"
    # SCHX excluded by the client: SPLG.
    assert scan([voo], prices=prices, excluded={"SCHX"}).proposals[0].replacement_symbol == "SPLG"
    # SCHX blocked by an earlier harvest: SPLG.
    block = wash_sale_block("SCHX", sold_on=AS_OF - dt.timedelta(days=10))
    assert scan([voo], prices=prices, blocks=[block]).proposals[0].replacement_symbol == "SPLG"
    # SCHX also held at a loss in the account (a potential sale): SPLG.
    schx = lot("s", 10, 60, d(2024, 1, 2), symbol="SCHX")
    assert scan([voo, schx], prices=prices).proposals[0].replacement_symbol == "SPLG"
    # SCHX sold at a loss 5 days ago: buying it would wash that loss.
    recent = RealisedLot(
        record_id="s9#1",
        sale_id="s9",
        lot_id="x",
        acquisition_id="x",
        account_id="T2",
        symbol="SCHX",
        quantity=D(1),
        acquired_on=d(2024, 1, 2),
        holding_acquired_on=d(2024, 1, 2),
        sold_on=AS_OF - dt.timedelta(days=5),
        proceeds=D(50),
        cost_basis=D(60),
        term=Term.SHORT,
    )
    assert (
        scan([voo], prices=prices, recent_realised=[recent]).proposals[0].replacement_symbol
        == "SPLG"
    )
    # Nothing eligible: skipped with the reason.
    result = scan([voo], prices=prices, excluded={"SCHX", "SPLG"})
    assert result.proposals == ()
    assert "no eligible replacement" in result.skipped[0].reason


def test_blocks_cover_the_identity_group_for_30_days_inclusive():
    (proposal,) = scan([lot("v", 10, 500, d(2024, 1, 2), symbol="VOO")]).proposals
    block = proposal.block
    assert (block.symbol, block.identity_group) == ("VOO", "sp500")
    assert block.blocked_until == d(2024, 7, 3)
    blocks = [block]
    assert is_blocked("VOO", AS_OF, blocks, IDENTITY)
    assert is_blocked("IVV", d(2024, 7, 3), blocks, IDENTITY)
    assert not is_blocked("IVV", d(2024, 7, 4), blocks, IDENTITY)
    assert not is_blocked("VOO", AS_OF - dt.timedelta(days=1), blocks, IDENTITY)
    assert not is_blocked("SCHX", AS_OF, blocks, IDENTITY)


def test_ira_accounts_are_not_harvested():
    with pytest.raises(InvalidInput, match="not taxable"):
        scan_harvest(
            account_id="IRA",
            household_lots=[],
            prices={},
            as_of=AS_OF,
            rates=RATES,
            account_types=TYPES,
            replacement_groups={},
            candidates=[],
        )


def test_missing_price_is_an_error():
    with pytest.raises(InvalidInput, match="XYZ"):
        scan([lot("b1", 100, 100, d(2024, 1, 2))], prices={"VOO": D(1)})


lot_values = st.tuples(
    st.decimals(min_value=D("0.001"), max_value=D(5000), places=3),  # quantity
    st.decimals(min_value=D("0.01"), max_value=D(900), places=2),  # purchase price
    st.decimals(min_value=D("0.01"), max_value=D(900), places=2),  # current price
    st.dates(min_value=d(2021, 1, 1), max_value=AS_OF),
)


@settings(max_examples=200, deadline=None)
@given(
    lots=st.lists(lot_values, min_size=1, max_size=8),
    commission=st.sampled_from([D(0), D("0.50"), D(5)]),
    min_benefit=st.sampled_from([D(0), D(1), D(20)]),
    fraction=st.sampled_from([D(0), D("0.001"), D("0.01")]),
)
def test_screen_never_drops_a_lot_the_exact_pass_keeps(lots, commission, min_benefit, fraction):
    policy = HarvestPolicy(
        commission_per_trade=commission, min_benefit=min_benefit, min_benefit_fraction=fraction
    )
    tax_lots = [
        TaxLot(f"l{i}", "T", "XYZ", q, (q * p).quantize(D("0.01")), on)
        for i, (q, p, _, on) in enumerate(lots)
    ]
    price = lots[0][2]
    result = scan(tax_lots, prices={"XYZ": price}, policy=policy)
    kept = {h.lot_id for proposal in result.proposals for h in proposal.lots if h.qualifies}
    # Every lot harvested on its own merit passed the float screen (which ignores wash sales,
    # so it can only be more generous); lots sold to avoid a wash need not have.
    mask = screen_harvest_lots(
        quantity=[float(t.quantity) for t in tax_lots],
        cost_basis=[float(t.cost_basis) for t in tax_lots],
        price=float(price),
        long_term=[t.term_on(AS_OF) is Term.LONG for t in tax_lots],
        short_term_rate=0.37,
        long_term_rate=0.20,
        commission_per_trade=float(commission),
        sell_half_spread_bps=2.0,
        buy_half_spread_bps=3.0,
        min_benefit=float(min_benefit),
        min_benefit_fraction=float(fraction),
    )
    screened = {t.lot_id for t, keep in zip(tax_lots, mask, strict=True) if keep}
    assert kept <= screened
    for proposal in result.proposals:
        assert proposal.net_benefit > min_benefit
        assert any(harvest.qualifies for harvest in proposal.lots)
        for harvest in proposal.lots:
            assert harvest.qualifies != harvest.sold_to_avoid_wash
            if harvest.qualifies:
                assert harvest.net_benefit > min_benefit
                assert harvest.net_benefit > fraction * harvest.market_value


def test_screen_is_tight_and_vectorised_over_many_lots():
    rng = np.random.default_rng(7)
    n = 10_000
    quantity = rng.uniform(1, 100, n)
    cost = quantity * rng.uniform(50, 150, n)
    price = rng.uniform(50, 150, n)
    long_term = rng.random(n) < 0.5
    mask = screen_harvest_lots(
        quantity=quantity,
        cost_basis=cost,
        price=price,
        long_term=long_term,
        short_term_rate=0.37,
        long_term_rate=0.2,
        commission_per_trade=5.0,
        min_benefit=50.0,
    )
    assert mask.shape == (n,)
    net = (cost - quantity * price) * np.where(long_term, 0.2, 0.37) - 10.0
    assert mask[net > 50.0].all()
    assert not mask[net < 49.9].any()
    assert 0 < mask.sum() < n


def test_a_prebuilt_replacement_menu_gives_the_same_scan():
    lots = [lot("v", 10, 500, d(2024, 1, 2), symbol="VOO"), lot("b1", 100, 100, d(2024, 1, 2))]
    menu = ReplacementMenu.build(CANDIDATES, REPLACEMENT_GROUPS)
    assert set(menu.by_group) == {"us_large", "xyz_like"}
    assert scan(lots, candidates=menu) == scan(lots)
