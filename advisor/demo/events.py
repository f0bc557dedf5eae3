"""Simulated market events: the shocks that move demo prices and that demo news reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class EventKind(StrEnum):
    EARNINGS = "earnings"
    GUIDANCE = "guidance"
    ANALYST_RATING = "analyst_rating"
    PRODUCT = "product"
    LEGAL = "legal"
    MERGER = "merger"
    DIVIDEND = "dividend"
    ROUTINE = "routine"
    SECTOR = "sector"
    MACRO = "macro"
    RATE_DECISION = "rate_decision"
    MARKET_STRESS = "market_stress"


class EventScope(StrEnum):
    COMPANY = "company"
    SECTOR = "sector"
    MARKET = "market"
    RATES = "rates"


COMPANY_KINDS: frozenset[EventKind] = frozenset(
    {
        EventKind.EARNINGS,
        EventKind.GUIDANCE,
        EventKind.ANALYST_RATING,
        EventKind.PRODUCT,
        EventKind.LEGAL,
        EventKind.MERGER,
        EventKind.DIVIDEND,
        EventKind.ROUTINE,
    }
)


@dataclass(frozen=True)
class MarketEvent:
    """One simulated shock and the instruments it moves.

    ``day`` is the trading day whose bar carries the move (news about it may come out the day
    before, the same day or after). ``subject`` is the symbol for company events and the factor
    name otherwise. ``direction`` is the sign of the move in ``symbols`` (+1 up, -1 down, 0 none:
    a rate hike is -1 for the bond funds it names). ``impact`` is the shock itself: a log return
    of the stock or factor, or a yield change for rate decisions. ``detail`` qualifies the kind
    ("hike", "cut", "hold", the name of a data release, ...).
    """

    day: date
    kind: EventKind
    scope: EventScope
    subject: str
    symbols: tuple[str, ...]
    direction: int
    impact: float
    detail: str = ""
