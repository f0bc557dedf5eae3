"""The workspace's form for starting a backtest."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django import forms

from backtests.core.config import STRATEGIES, strategy_title

MARKETS = (
    ("demo", "The demo market"),
    ("platform", "All the platform's prices"),
)


def _tax_rate(label: str, initial: Decimal) -> forms.DecimalField:
    """A tax rate as a fraction in [0, 1], its help text an example from its default."""
    return forms.DecimalField(
        min_value=Decimal(0),
        max_value=Decimal(1),
        decimal_places=4,
        initial=initial,
        label=label,
        help_text=f"A fraction: {initial} is {initial:.0%}.",
    )


class BacktestForm(forms.Form):
    """What an advisor chooses: strategies, market, window, account, walk-forward or not."""

    name = forms.CharField(max_length=120, required=False, label="Name")
    strategies = forms.MultipleChoiceField(
        choices=[(name, strategy_title(name)) for name in STRATEGIES],
        widget=forms.CheckboxSelectMultiple,
        initial=["drift", "drift_harvest"],
        help_text="With walk-forward validation, choose one.",
    )
    market = forms.ChoiceField(choices=MARKETS, initial="demo")
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label="First day")
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label="Last day")
    account_value = forms.DecimalField(
        min_value=Decimal(1000),
        max_digits=14,
        decimal_places=2,
        initial=Decimal(1_000_000),
        label="Starting value ($)",
    )
    short_term_rate = _tax_rate("Short-term tax rate", Decimal("0.32"))
    long_term_rate = _tax_rate("Long-term tax rate", Decimal("0.15"))
    walk_forward = forms.BooleanField(
        required=False,
        label="Walk-forward validation",
        help_text="Fit on a training window, test on the next, and roll forward.",
    )
    train_years = forms.IntegerField(
        min_value=1, max_value=20, initial=5, label="Training window (years)"
    )
    test_years = forms.IntegerField(
        min_value=1, max_value=10, initial=1, label="Test window (years)"
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if isinstance(start, date) and isinstance(end, date) and end <= start:
            self.add_error("end", "The end must be after the start.")
        if data.get("walk_forward") and len(data.get("strategies") or []) != 1:
            self.add_error("strategies", "Walk-forward validation takes exactly one strategy.")
        return data
