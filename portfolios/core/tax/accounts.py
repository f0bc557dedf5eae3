"""Account types and tax rates: the inputs that decide whether a sale is reported and taxed."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from portfolios.core.errors import InvalidInput
from portfolios.core.tax.holding import Term


class AccountType(StrEnum):
    """How an account is taxed.

    Sales in an IRA or a Roth IRA realise nothing that goes on Form 8949, yet a purchase in one
    still washes a loss sold in a taxable account of the household (Publication 550, "Wash
    Sales"; Rev. Rul. 2008-5), and then the disallowed loss is lost for good.
    """

    TAXABLE = "taxable"
    IRA = "ira"
    ROTH_IRA = "roth_ira"

    @property
    def is_tax_advantaged(self) -> bool:
        """True for IRA and Roth IRA accounts."""
        return self is not AccountType.TAXABLE


@dataclass(frozen=True, slots=True)
class TaxRates:
    """The client's marginal rates on short-term and long-term gains, as fractions in [0, 1]."""

    short_term: Decimal
    long_term: Decimal

    def __post_init__(self) -> None:
        for name in ("short_term", "long_term"):
            rate = getattr(self, name)
            if not isinstance(rate, Decimal) or not rate.is_finite() or not 0 <= rate <= 1:
                raise InvalidInput(
                    f"{name} rate must be a Decimal fraction in [0, 1], got {rate!r}", field=name
                )

    def rate(self, term: Term) -> Decimal:
        """The rate that applies to a gain of ``term``."""
        return self.long_term if term is Term.LONG else self.short_term
