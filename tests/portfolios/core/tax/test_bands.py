"""Tax-aware rebalancing bands: tax cost of selling down, the impact factor and the band."""

import datetime as dt
from decimal import Decimal

import pytest

from portfolios.core.errors import InvalidInput
from portfolios.core.tax import (
    AccountType,
    TaxRates,
    open_lot,
    rebalance_band,
    rebalance_bands,
    tax_cost_of_sale,
    tax_impact_factor,
)

D = Decimal
d = dt.date
RATES = TaxRates(short_term=D("0.37"), long_term=D("0.20"))
SALE_DATE = d(2024, 6, 3)


def lot(lot_id, quantity, price, acquired, symbol="XYZ"):
    return open_lot(
        lot_id=lot_id,
        account_id="T",
        symbol=symbol,
        quantity=D(quantity),
        price=D(price),
        acquired_on=acquired,
    )


@pytest.fixture
def lots():
    return [
        lot("gain", 50, 20, d(2020, 1, 2)),  # long-term, $30/sh gain at $50
        lot("loss", 10, 55, d(2024, 1, 2)),  # short-term, $5/sh loss at $50
        lot("small_gain", 40, 45, d(2024, 2, 1)),  # short-term, $5/sh gain at $50
    ]


def test_sale_that_realises_a_net_loss_has_factor_zero(lots):
    cost = tax_cost_of_sale(lots, quantity=D(10), price=D(50), sale_date=SALE_DATE, rates=RATES)
    assert [c.lot_id for c in cost.closures] == ["loss"]
    assert cost.tax == D("-18.50")
    assert cost.impact_factor == 0.0


def test_tax_cost_uses_the_best_lots_first(lots):
    # Loss lot (-50 short), then the short-term gain of $5/sh taxed 1.85/sh before the
    # long-term gain of $30/sh taxed 6.00/sh.
    cost = tax_cost_of_sale(lots, quantity=D(60), price=D(50), sale_date=SALE_DATE, rates=RATES)
    assert [(c.lot_id, c.quantity) for c in cost.closures] == [
        ("loss", D(10)),
        ("small_gain", D(40)),
        ("gain", D(10)),
    ]
    assert (cost.short_term_gain, cost.long_term_gain) == (D("150.00"), D("300.00"))
    assert cost.tax == D("115.50")  # 150 * 0.37 + 300 * 0.20
    assert cost.notional == D("3000.00")
    assert cost.impact_factor == pytest.approx(0.0385)
    factor = tax_impact_factor(lots, quantity=D(60), price=D(50), sale_date=SALE_DATE, rates=RATES)
    assert factor == pytest.approx(0.0385)
    assert rebalance_band(base_threshold=0.05, tax_impact_factor=factor) == pytest.approx(
        0.05 * 1.0385
    )


@pytest.mark.parametrize("account_type", [AccountType.IRA, AccountType.ROTH_IRA])
def test_tax_advantaged_accounts_have_factor_zero(lots, account_type):
    cost = tax_cost_of_sale(
        lots,
        quantity=D(100),
        price=D(50),
        sale_date=SALE_DATE,
        rates=RATES,
        account_type=account_type,
    )
    assert cost.tax == 0
    assert cost.impact_factor == 0.0
    assert rebalance_band(
        base_threshold=0.05, tax_impact_factor=0.3, account_type=account_type
    ) == pytest.approx(0.05)


def test_rebalance_bands_widen_only_for_overweight_assets_with_tax_to_pay():
    lots = [lot("x", 100, 20, d(2020, 1, 2)), lot("y", 50, 100, d(2020, 1, 2), symbol="YYY")]
    bands = rebalance_bands(
        lots=lots,
        prices={"XYZ": D(50), "YYY": D(60)},
        target_weights={"XYZ": 0.4, "YYY": 0.4, "ZZZ": 0.2},
        total_value=D(10000),
        sale_date=SALE_DATE,
        rates=RATES,
        base_threshold=0.05,
    )
    xyz, yyy, zzz = bands["XYZ"], bands["YYY"], bands["ZZZ"]
    # XYZ: 50 % against 40 %: sell $1,000 = 20 shares, long-term gain $600, tax $120.
    assert xyz.current_weight == pytest.approx(0.5)
    assert xyz.sell_quantity == D(20)
    assert xyz.tax == D("120.00")
    assert xyz.tax_impact_factor == pytest.approx(0.12)
    assert xyz.band == pytest.approx(0.05 * 1.12)
    # YYY: 30 % against 40 %, underweight. ZZZ: not held.
    assert (yyy.sell_quantity, yyy.band) == (D(0), pytest.approx(0.05))
    assert (zzz.current_weight, zzz.band) == (0.0, pytest.approx(0.05))


def test_band_inputs_are_validated():
    with pytest.raises(InvalidInput, match="base_threshold"):
        rebalance_band(base_threshold=float("nan"), tax_impact_factor=0.0)
    with pytest.raises(InvalidInput, match="tax_impact_factor"):
        rebalance_band(base_threshold=0.05, tax_impact_factor=-0.1)
