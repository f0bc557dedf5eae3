"""Forms of the client portal: sign-up and the onboarding wizard's steps.

Forms validate and clean what a browser sends and put each message at its field; the services in
:mod:`advisor.services.onboarding` do the writing.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth.forms import BaseUserCreationForm
from django.core.validators import MaxValueValidator, MinValueValidator

from advisor.core.questionnaire import QUESTIONS
from advisor.models import User
from advisor.services.onboarding import last_closes, shares_value_problem
from portfolios.clock import firm_today
from portfolios.core.money import MAX_ENTERED_CASH
from portfolios.ledger import EARLIEST_TRADE_DATE
from portfolios.models import AccountType, Asset, ExclusionTag, FilingStatus

MONEY_MAX_DIGITS = 14
MAX_UPLOAD_BYTES = 1_000_000


class SignUpForm(BaseUserCreationForm):
    """Username, name, email and a password checked by the firm's password validators."""

    first_name = forms.CharField(max_length=100, label="First name")
    last_name = forms.CharField(max_length=100, label="Last name")
    email = forms.EmailField(label="Email", help_text="For password resets and statements.")

    class Meta(BaseUserCreationForm.Meta):
        model = User
        fields = ("first_name", "last_name", "username", "email")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        autocomplete = {
            "first_name": "given-name",
            "last_name": "family-name",
            "username": "username",
            "email": "email",
            "password1": "new-password",
            "password2": "new-password",
        }
        for name, value in autocomplete.items():
            self.fields[name].widget.attrs["autocomplete"] = value
        self.fields["username"].widget.attrs.pop("autofocus", None)
        self.fields["first_name"].widget.attrs["autofocus"] = True

    def clean_username(self) -> str:
        username = str(self.cleaned_data["username"])
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("That username is taken; choose another.")
        return username

    def clean_email(self) -> str:
        return str(self.cleaned_data["email"]).strip().lower()


class MoneyField(forms.DecimalField):
    """An amount of money, cleaned to cents."""

    def clean(self, value: Any) -> Decimal | None:
        amount = super().clean(value)
        return None if amount is None else Decimal(amount).quantize(Decimal("0.01"))


def _money(label: str, *, minimum: str, required: bool = True, help_text: str = "") -> Any:
    return MoneyField(
        label=label,
        max_digits=MONEY_MAX_DIGITS,
        decimal_places=2,
        min_value=Decimal(minimum),
        required=required,
        help_text=help_text,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )


class GoalForm(forms.Form):
    horizon_years = forms.IntegerField(
        label="Years until you need the money",
        min_value=1,
        max_value=60,
        help_text="Between 1 and 60 years. A longer horizon lets you ride out falls.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    goal_amount = _money(
        "Goal amount ($)",
        minimum="1.00",
        help_text="What you would like the portfolio to be worth by then.",
    )
    monthly_contribution = _money(
        "Monthly contribution ($)",
        minimum="0.00",
        required=False,
        help_text="What you plan to add each month; 0 if nothing.",
    )

    def clean_monthly_contribution(self) -> Decimal:
        value = self.cleaned_data.get("monthly_contribution")
        return Decimal("0.00") if value is None else value


class RiskQuestionnaireForm(forms.Form):
    """One radio group per question of the questionnaire, in its order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for question in QUESTIONS:
            self.fields[question.key] = forms.ChoiceField(
                label=question.text,
                choices=[(c.value, c.label) for c in question.choices],
                widget=forms.RadioSelect,
                error_messages={"required": "Choose the answer that fits you best."},
            )

    def answers(self) -> dict[str, str]:
        return {q.key: str(self.cleaned_data[q.key]) for q in QUESTIONS}


class PercentField(forms.DecimalField):
    """A percentage from 0 to 100: one message for any value outside, however far (1e20 breaks
    the digit limit and the maximum at once; the client needs to read it once)."""

    def run_validators(self, value: Any) -> None:
        try:
            super().run_validators(value)
        except forms.ValidationError as exc:
            if any(e.code == "max_decimal_places" for e in exc.error_list):
                raise forms.ValidationError(
                    "Give the percentage with at most 2 decimal places.", code="decimal_places"
                ) from None
            raise forms.ValidationError(OUTSIDE_PERCENT, code="range") from None


OUTSIDE_PERCENT = "Enter a percentage between 0 and 100."


def _percent(label: str, help_text: str) -> Any:
    return PercentField(
        label=label,
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text=help_text,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
        error_messages={"max_digits": OUTSIDE_PERCENT},
    )


class TaxForm(forms.Form):
    filing_status = forms.ChoiceField(label="Filing status", choices=FilingStatus.choices)
    short_term_rate = _percent(
        "Marginal rate on short-term gains (%)",
        "Your federal income tax bracket, for example 24. Gains on shares held a year or less.",
    )
    long_term_rate = _percent(
        "Rate on long-term gains (%)", "Usually 0, 15 or 20. Gains on shares held over a year."
    )
    loss_carryforward_short = _money(
        "Short-term loss carried forward ($)",
        minimum="0.00",
        required=False,
        help_text="From last year's Schedule D, if any.",
    )
    loss_carryforward_long = _money(
        "Long-term loss carried forward ($)", minimum="0.00", required=False
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in ("loss_carryforward_short", "loss_carryforward_long"):
            if cleaned.get(name) is None and name not in self.errors:
                cleaned[name] = Decimal("0.00")
        return cleaned

    def stored_values(self) -> dict[str, Any]:
        """Rates as fractions (24% is 0.2400), the way the household stores them."""
        data = self.cleaned_data
        return {
            "filing_status": data["filing_status"],
            "short_term_rate": (data["short_term_rate"] / 100).quantize(Decimal("0.0001")),
            "long_term_rate": (data["long_term_rate"] / 100).quantize(Decimal("0.0001")),
            "loss_carryforward_short": data["loss_carryforward_short"],
            "loss_carryforward_long": data["loss_carryforward_long"],
        }

    @classmethod
    def initial_from(cls, stored: dict[str, Any]) -> dict[str, Any]:
        if not stored:
            return {"filing_status": FilingStatus.SINGLE}

        def percent(fraction: str) -> str:
            text = f"{Decimal(fraction) * 100:f}"
            return text.rstrip("0").rstrip(".") if "." in text else text

        return {
            **stored,
            "short_term_rate": percent(stored["short_term_rate"]),
            "long_term_rate": percent(stored["long_term_rate"]),
        }


class ESGForm(forms.Form):
    min_esg_score = forms.IntegerField(
        label="Lowest acceptable portfolio ESG score",
        min_value=0,
        max_value=100,
        initial=0,
        help_text="0 to 100, weighted across the portfolio. 0 means no floor; most broad funds "
        "score 50 to 70. Unrated funds are left out when you set a floor.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    excluded_categories = forms.MultipleChoiceField(
        label="Leave out companies involved in",
        choices=ExclusionTag.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )


class AccountForm(forms.Form):
    name = forms.CharField(
        label="Account name", max_length=120, help_text="For example: Joint brokerage."
    )
    account_type = forms.ChoiceField(label="Account type", choices=AccountType.choices)
    cash = _money("Cash in the account ($)", minimum="0.00", required=False)

    def __init__(self, *args: Any, existing_names: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.existing_names = {n.lower() for n in existing_names or []}

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        if name.lower() in self.existing_names:
            raise forms.ValidationError(f"You already have an account named {name}.")
        return name

    def clean_cash(self) -> Decimal:
        value = self.cleaned_data.get("cash")
        return Decimal("0.00") if value is None else value


class HoldingForm(forms.Form):
    """A lot typed in: the total cost basis, or the price per share paid."""

    account = forms.ChoiceField(label="Account")
    symbol = forms.CharField(
        label="Symbol",
        max_length=16,
        widget=forms.TextInput(attrs={"autocapitalize": "characters", "list": "universe"}),
    )
    quantity = forms.DecimalField(
        label="Shares",
        max_digits=24,
        decimal_places=9,
        min_value=Decimal("0.000000001"),
        # Django's own message prints the minimum as "1E-9"
        error_messages={"min_value": "Enter a number of shares greater than 0."},
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )
    cost_basis = _money("Total cost basis ($)", minimum="0.00", required=False)
    price = forms.DecimalField(
        label="or price per share ($)",
        max_digits=18,
        decimal_places=6,
        min_value=Decimal("0.000001"),
        error_messages={"min_value": "Enter a price per share greater than 0."},
        required=False,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )
    acquired_on = forms.DateField(
        label="Date acquired", widget=forms.DateInput(attrs={"type": "date"})
    )
    basis_reported = forms.ChoiceField(
        label="Did your previous broker report the cost basis to the IRS?",
        choices=[
            ("", "Not sure: decide by the date acquired"),
            ("yes", "Yes (a covered lot)"),
            ("no", "No"),
        ],
        required=False,
        help_text="Your transfer statement or last Form 1099-B tells you. Shares bought since "
        "2011 (fund shares since 2012) usually were; the answer decides which box of Form 8949 "
        "a sale goes in.",
    )

    def __init__(
        self, *args: Any, accounts: list[tuple[str, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].choices = accounts or []  # type: ignore[attr-defined]

    def clean_symbol(self) -> str:
        symbol = str(self.cleaned_data["symbol"]).strip().upper()
        if not Asset.objects.filter(symbol=symbol, is_active=True).exists():
            raise forms.ValidationError(
                f"{symbol} is not in the firm's universe of funds and stocks."
            )
        return symbol

    def clean_acquired_on(self) -> date:
        acquired: date = self.cleaned_data["acquired_on"]
        if acquired > firm_today():
            raise forms.ValidationError("The date acquired cannot be in the future.")
        if acquired < EARLIEST_TRADE_DATE:
            raise forms.ValidationError(
                f"The date acquired cannot be before {EARLIEST_TRADE_DATE:%B %-d, %Y}."
            )
        return acquired

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        basis, price, qty = (
            cleaned.get("cost_basis"),
            cleaned.get("price"),
            cleaned.get("quantity"),
        )
        if basis is None and price is None:
            if "cost_basis" not in self.errors and "price" not in self.errors:
                self.add_error(
                    "cost_basis", "Give the total cost basis, or the price per share paid."
                )
        elif price is not None and qty is not None:
            implied = price * qty
            if implied > MAX_ENTERED_CASH:
                self.add_error(
                    "price",
                    f"This price times {qty.normalize():f} shares is a cost basis of more than "
                    f"${MAX_ENTERED_CASH:,}; check the price and the number of shares.",
                )
            elif basis is None:
                cleaned["cost_basis"] = implied.quantize(Decimal("0.01"))
            elif implied.quantize(Decimal("0.01")) != basis:
                self.add_error(
                    "price",
                    f"This price times {qty.normalize():f} shares is not the total cost basis of "
                    f"${basis:,}; give one of the two.",
                )
        symbol = cleaned.get("symbol")
        if qty is not None and symbol and "quantity" not in self.errors:
            problem = shares_value_problem(
                symbol=symbol, shares=qty, last_price=last_closes(symbols=[symbol]).get(symbol)
            )
            if problem is not None:
                self.add_error(
                    "quantity", f"{problem[:1].upper()}{problem[1:]}; check the number of shares."
                )
        return cleaned


class HoldingsUploadForm(forms.Form):
    file = forms.FileField(
        label="Holdings file (CSV)",
        help_text="Columns: account, type (taxable, ira or roth), symbol, quantity, acquired_on "
        "(YYYY-MM-DD), and cost_basis (the lot's total) or price (per share); optionally "
        "basis_reported (yes or no).",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def clean_file(self) -> str:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError("The file is larger than 1 MB; split it.")
        raw = upload.read()
        try:
            return str(raw.decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise forms.ValidationError("The file is not UTF-8 text; save it as CSV.") from exc
