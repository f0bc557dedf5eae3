"""The captions under the dashboard's charts read as sentences."""

from decimal import Decimal

import pytest

from advisor.charts import allocation_chart
from advisor.portal_selectors import Allocation, AllocationRow, ClassRow


def _allocation(label: str, asset_class: str) -> Allocation:
    row = AllocationRow(
        symbol="ZZZ",
        name="A fund",
        asset_class=asset_class,
        asset_class_label=label,
        value=Decimal("540"),
        weight=0.54,
        target=0.34,
    )
    cash = AllocationRow(
        symbol="cash",
        name="Uninvested cash",
        asset_class="cash",
        asset_class_label="Uninvested cash",
        value=Decimal("460"),
        weight=0.46,
        target=0.66,
    )
    return Allocation(
        rows=(row, cash),
        by_class=(
            ClassRow(asset_class=asset_class, label=label, weight=0.54, target=0.34),
            ClassRow(asset_class="cash", label="Uninvested cash", weight=0.46, target=0.66),
        ),
        total_value=Decimal("1000"),
        has_target=True,
    )


@pytest.mark.parametrize(
    ("label", "asset_class", "in_sentence"),
    [
        ("US equity", "us_equity", "US equity"),  # an acronym keeps its capitals
        ("Bonds", "bond", "bonds"),
        ("Inflation-protected bonds", "tips", "inflation-protected bonds"),
    ],
)
def test_allocation_caption_names_the_largest_class_as_a_sentence_would(
    label, asset_class, in_sentence
):
    chart = allocation_chart(_allocation(label, asset_class))
    assert chart is not None
    assert chart.summary == (
        f"The largest part of your portfolio is {in_sentence} at 54% (target 34%)."
    )
