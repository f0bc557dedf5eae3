from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portfolios.core.errors import InvalidInput
from portfolios.core.money import cash, quantity, to_decimal, weights_to_quantities


def test_rounding_is_half_even_to_cents():
    assert cash("2.345") == Decimal("2.34")
    assert cash("2.355") == Decimal("2.36")
    assert quantity("0.0000000005") == Decimal("0.000000000")
    assert to_decimal(0.1) == Decimal("0.1")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "abc", True])
def test_non_numbers_are_rejected(bad):
    with pytest.raises(InvalidInput):
        to_decimal(bad)


def test_weights_to_quantities_never_overspends():
    qty = weights_to_quantities(
        weights={"A": 0.5, "B": 0.3},
        prices={"A": Decimal("33.33"), "B": Decimal("7")},
        total_value=Decimal("1000.00"),
    )
    assert qty["A"] == Decimal("15.001500150")
    spent = qty["A"] * Decimal("33.33") + qty["B"] * Decimal("7")
    assert spent <= Decimal("800.00")


def test_whole_shares_and_bad_weights():
    qty = weights_to_quantities(
        weights={"A": 1.0},
        prices={"A": Decimal("300")},
        total_value=Decimal("1000"),
        fractional=False,
    )
    assert qty == {"A": Decimal("3")}
    with pytest.raises(InvalidInput, match="sum to"):
        weights_to_quantities(
            weights={"A": 0.7, "B": 0.7},
            prices={"A": Decimal(1), "B": Decimal(1)},
            total_value=Decimal(1),
        )
    with pytest.raises(InvalidInput, match="no price for B"):
        weights_to_quantities(weights={"B": 0.1}, prices={}, total_value=Decimal(1))


@given(
    st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=8),
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1e7"), places=2),
    st.lists(
        st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000"), places=2),
        min_size=8,
        max_size=8,
    ),
)
def test_quantities_fit_the_value(raw, total, prices):
    s = sum(raw) or 1.0
    weights = {f"S{i}": w / s * 0.999 for i, w in enumerate(raw)}
    px = {f"S{i}": prices[i] for i in range(len(raw))}
    qty = weights_to_quantities(weights=weights, prices=px, total_value=total)
    assert sum(qty[k] * px[k] for k in qty) <= total
    assert all(q >= 0 for q in qty.values())
