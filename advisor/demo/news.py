"""Simulated financial news for the demo market: headlines written about simulated events.

Each :class:`~advisor.demo.events.MarketEvent` gets one to three headlines from different
(clearly simulated) sources. Their tone follows the event's direction most of the time but not
always: some headlines are neutral and a few point the other way, so a sentiment model that
reads them is informative without being perfect. About one event in seven is reported on the
trading day *before* its price move, which is what the sentiment-price divergence detector looks
for; the others come out before the open, during the session or after the close of the move day.

``NewsEvent.true_direction`` is the simulated truth, kept for tests and never shown.
"""

from __future__ import annotations

import math
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np

from advisor.demo.events import EventKind, EventScope, MarketEvent
from advisor.demo.trading_calendar import (
    new_york_moment,
    previous_trading_day,
    require_aware,
)
from advisor.demo.universe import DemoAsset
from portfolios.core.errors import InvalidInput

SOURCES: tuple[str, ...] = (
    "Demo Wire (simulated)",
    "Demo Markets Daily (simulated)",
    "Demo Business Ledger (simulated)",
    "Demo Street Journal (simulated)",
    "Demo Ticker Tape (simulated)",
)
"""Every source name says the news is simulated demo data."""

ALIGNED_SHARE = 0.70
NEUTRAL_SHARE = 0.20
"""Of the headlines about a move, 70% share its direction, 20% are neutral, 10% contrary."""
LEAD_SHARE = 0.15
"""Share of events reported on the trading day before the move."""


@dataclass(frozen=True)
class NewsEvent:
    """One simulated headline.

    ``true_direction`` is the sign of the simulated move in ``symbols`` (+1, -1 or 0); it
    exists so that tests can measure a sentiment model, and is not for display.
    """

    published_at: datetime
    source: str
    headline: str
    summary: str
    symbols: tuple[str, ...]
    true_direction: int


# --------------------------------------------------------------------------------------------
# Templates, keyed by (event kind, tone). Tone is the headline's own sentiment (+1, 0, -1).
# Slots in braces are filled by _Slots; a template with {move} or {ybp} states the size of the
# price move and is only used for a headline that agrees with the move and is not early.

_Templates = Mapping[tuple[EventKind, int], tuple[str, ...]]

HEADLINES: _Templates = {
    (EventKind.EARNINGS, 1): (
        "{company} beats {quarter} estimates as revenue climbs {growth}%",
        "{company} tops forecasts with {quarter} profit of ${eps} a share",
        "{company} shares jump {move}% after earnings beat",
        "{company} posts record {quarter} profit as margins widen",
        "Strong demand lifts {company} results above expectations",
    ),
    (EventKind.EARNINGS, -1): (
        "{company} misses {quarter} profit estimates as costs rise",
        "{company} shares slide {move}% after disappointing quarter",
        "{company} {quarter} revenue falls short of expectations",
        "Weak margins weigh on {company} {quarter} earnings",
        "{company} reports surprise drop in {quarter} profit",
    ),
    (EventKind.EARNINGS, 0): (
        "{company} to report {quarter} results on {weekday}",
        "{company} {quarter} results come in line with estimates",
        "What to watch when {company} reports {quarter} earnings",
    ),
    (EventKind.GUIDANCE, 1): (
        "{company} raises full-year outlook on strong orders",
        "{company} lifts {year} revenue guidance",
        "{company} boosts forecast, citing resilient demand",
        "{company} shares rise {move}% after guidance increase",
    ),
    (EventKind.GUIDANCE, -1): (
        "{company} cuts {year} outlook, citing softer demand",
        "{company} warns on full-year profit",
        "{company} lowers guidance as input costs climb",
        "{company} shares drop {move}% on profit warning",
    ),
    (EventKind.GUIDANCE, 0): (
        "{company} reaffirms {year} guidance",
        "{company} keeps full-year outlook unchanged",
    ),
    (EventKind.ANALYST_RATING, 1): (
        "{firm} upgrades {company} to buy, sees {upside}% upside",
        "{firm} raises {company} price target to ${target}",
        "{company} upgraded to outperform at {firm}",
        "{firm} initiates {company} at overweight, citing strong growth",
    ),
    (EventKind.ANALYST_RATING, -1): (
        "{firm} downgrades {company} to sell on valuation",
        "{company} cut to underperform at {firm}",
        "{firm} slashes {company} price target to ${target}",
        "{firm} turns bearish on {company}, warns of slowing growth",
    ),
    (EventKind.ANALYST_RATING, 0): (
        "{firm} reiterates neutral rating on {company}",
        "{firm} starts coverage of {company} at hold",
        "{firm} keeps {company} at equal-weight",
    ),
    (EventKind.PRODUCT, 1): (
        "{company} unveils {product}, expanding its lineup",
        "{company} launches {product} ahead of schedule",
        "Early reviews praise {company}'s {product}",
        "{company} wins regulatory approval for {product}",
    ),
    (EventKind.PRODUCT, -1): (
        "{company} recalls {product} over safety concerns",
        "{company} delays {product} launch",
        "Regulators reject {company}'s {product} application",
        "Supply problems hit {company}'s {product} rollout",
    ),
    (EventKind.PRODUCT, 0): (
        "{company} to showcase {product} at industry conference",
        "{company} updates {product} roadmap",
    ),
    (EventKind.LEGAL, 1): (
        "Court dismisses lawsuit against {company}",
        "{company} settles dispute for less than feared",
        "{company} wins patent case against rival",
        "Regulator closes probe into {company} without action",
    ),
    (EventKind.LEGAL, -1): (
        "{company} hit with class-action lawsuit over disclosures",
        "Regulators open investigation into {company}",
        "{company} ordered to pay ${fine} million in patent case",
        "Government sues {company} over business practices",
    ),
    (EventKind.LEGAL, 0): (
        "{company} says it will contest lawsuit",
        "Hearing in {company} case postponed to next month",
    ),
    (EventKind.MERGER, 1): (
        "{company} draws takeover interest, sources say",
        "{company} in talks to buy rival in ${deal} billion deal",
        "Activist investor builds stake in {company}",
        "{company} shares soar {move}% on buyout report",
    ),
    (EventKind.MERGER, -1): (
        "{company} takeover talks collapse",
        "Antitrust regulators move to block {company} deal",
        "{company} overpays in ${deal} billion acquisition, critics say",
        "{company} abandons merger plan",
    ),
    (EventKind.MERGER, 0): (
        "{company} declines to comment on deal speculation",
        "{company} completes previously announced acquisition",
    ),
    (EventKind.DIVIDEND, 1): (
        "{company} raises quarterly dividend by {divpct}%",
        "{company} announces ${buyback} billion share buyback",
        "{company} boosts payout, signalling confidence",
    ),
    (EventKind.DIVIDEND, -1): (
        "{company} cuts dividend to preserve cash",
        "{company} suspends share buyback",
        "{company} slashes payout by {divpct}%",
    ),
    (EventKind.DIVIDEND, 0): (
        "{company} declares regular quarterly dividend",
        "{company} maintains dividend at ${div} a share",
    ),
    (EventKind.ROUTINE, 1): (
        "{company} expands partnership with {partner}",
        "{company} opens new research center in {city}",
    ),
    (EventKind.ROUTINE, -1): (
        "{company} chief operating officer to step down",
        "{company} closes plant in {city}, cutting jobs",
    ),
    (EventKind.ROUTINE, 0): (
        "{company} to present at {conference}",
        "{company} names new chief financial officer",
        "{company} schedules {quarter} earnings call",
        "{company} moves regional office to {city}",
        "{company} publishes annual sustainability report",
        "{company} appoints {analyst} to its board",
    ),
    (EventKind.SECTOR, 1): (
        "{sector} {noun} climb as {driver}",
        "{sector} {noun} lead the market higher as {driver}",
        "Investors pile into {sector_lower} {noun} as {driver}",
        "{sector} {noun} jump {move}% as {driver}",
    ),
    (EventKind.SECTOR, -1): (
        "{sector} {noun} fall as {driver}",
        "{sector} {noun} slide {move}% as {driver}",
        "Investors dump {sector_lower} {noun} as {driver}",
        "{sector} sell-off deepens as {driver}",
    ),
    (EventKind.SECTOR, 0): (
        "{sector} {noun} mixed ahead of industry data",
        "Analysts split on the outlook for {sector_lower} {noun}",
        "{sector} {noun} drift as investors await catalysts",
    ),
    (EventKind.MACRO, 1): (
        "Stocks rally as {macro_good}",
        "Wall Street climbs after upbeat {release}",
        "Equities rise as {release} eases rate worries",
        "Stocks jump {move}% as {macro_good}",
    ),
    (EventKind.MACRO, -1): (
        "Stocks slide as {macro_bad}",
        "Wall Street falls after hot {release}",
        "Equities drop as {release} stokes rate fears",
        "Stocks tumble {move}% as {macro_bad}",
    ),
    (EventKind.MACRO, 0): (
        "{release_title} comes in line with expectations",
        "Markets steady ahead of the {release}",
        "Traders shrug off mixed {release}",
    ),
    (EventKind.RATE_DECISION, 1): (
        "Treasuries rally as central bank {decision}",
        "Bond yields fall {ybp} basis points after dovish policy decision",
        "Central bank signals easier policy ahead; bonds climb",
        "Bond funds gain as policymakers {decision}",
    ),
    (EventKind.RATE_DECISION, -1): (
        "Treasury yields jump {ybp} basis points after hawkish policy decision",
        "Bonds sell off as central bank {decision}",
        "Central bank signals more tightening; bond prices slide",
        "Rate worries hit bond funds as policymakers {decision}",
    ),
    (EventKind.RATE_DECISION, 0): (
        "Central bank {decision}, as expected",
        "Policymakers stress patience; bond market little changed",
        "What the central bank's decision means for bond investors",
    ),
    (EventKind.MARKET_STRESS, 1): (
        "Stocks rebound sharply as {relief}",
        "Markets claw back losses as {relief}",
        "Bargain hunters lift stocks as {relief}",
    ),
    (EventKind.MARKET_STRESS, -1): (
        "Stocks plunge as {stress}",
        "Global sell-off deepens as {stress}",
        "Markets suffer worst day in months as {stress}",
        "Stocks tumble {move}% in broad sell-off",
    ),
    (EventKind.MARKET_STRESS, 0): (
        "Investors brace for more volatility",
        "Strategists split on whether the sell-off is over",
    ),
}

SUMMARIES: _Templates = {
    (EventKind.EARNINGS, 1): (
        "{company} reported {quarter} earnings of ${eps} a share, above the ${est} analysts "
        "expected.",
        "Revenue rose {growth}% from a year earlier and management said demand stayed strong.",
    ),
    (EventKind.EARNINGS, -1): (
        "{company} earned ${eps} a share in the {quarter}, short of the ${est} consensus.",
        "Management blamed higher costs and softer demand for the shortfall.",
    ),
    (EventKind.EARNINGS, 0): (
        "Analysts expect {quarter} earnings of about ${est} a share.",
        "Results were broadly in line with the ${est} a share analysts had forecast.",
    ),
    (EventKind.GUIDANCE, 1): (
        "{company} now expects {year} revenue growth of about {growth}%, above its earlier "
        "forecast.",
    ),
    (EventKind.GUIDANCE, -1): (
        "{company} now sees {year} revenue growth of only {growth}%, below its previous outlook.",
    ),
    (EventKind.GUIDANCE, 0): (
        "Management reiterated its {year} targets and said trends were in line with plan.",
    ),
    (EventKind.ANALYST_RATING, 1): (
        "{analyst} of {firm} set a ${target} price target, citing stronger margins.",
    ),
    (EventKind.ANALYST_RATING, -1): (
        "{analyst} of {firm} set a ${target} price target, citing slowing growth.",
    ),
    (EventKind.ANALYST_RATING, 0): (
        "{analyst} of {firm} kept the rating and a ${target} price target.",
    ),
    (EventKind.PRODUCT, 1): ("{company} said the {product} should add to sales next year.",),
    (EventKind.PRODUCT, -1): ("{company} said it was working with regulators on the {product}.",),
    (EventKind.PRODUCT, 0): ("{company} gave an update on the {product} at an investor event.",),
    (EventKind.LEGAL, 1): ("The outcome removes an overhang that had weighed on {company}.",),
    (EventKind.LEGAL, -1): ("{company} said it would defend itself vigorously.",),
    (EventKind.LEGAL, 0): ("{company} said the matter would not affect its operations.",),
    (EventKind.MERGER, 1): (
        "People familiar with the matter said talks involving {company} were at an early stage.",
    ),
    (EventKind.MERGER, -1): ("{company} did not comment on the reports.",),
    (EventKind.MERGER, 0): ("{company} said it does not comment on market rumours.",),
    (EventKind.DIVIDEND, 1): ("The board of {company} cited strong cash generation.",),
    (EventKind.DIVIDEND, -1): ("{company} said it would use the cash to reduce debt.",),
    (EventKind.DIVIDEND, 0): ("The dividend is payable next month to shareholders of record.",),
    (EventKind.ROUTINE, 1): ("{company} made the announcement in a statement.",),
    (EventKind.ROUTINE, -1): ("{company} made the announcement in a statement.",),
    (EventKind.ROUTINE, 0): ("{company} made the announcement in a statement.",),
    (EventKind.SECTOR, 1): ("Shares of {names} were among the most active.",),
    (EventKind.SECTOR, -1): ("Shares of {names} were among the most active.",),
    (EventKind.SECTOR, 0): ("Shares of {names} traded in a narrow range.",),
    (EventKind.MACRO, 1): ("The {release} shifted expectations for the next rate decision.",),
    (EventKind.MACRO, -1): ("The {release} shifted expectations for the next rate decision.",),
    (EventKind.MACRO, 0): ("Economists said the {release} changed little.",),
    (EventKind.RATE_DECISION, 1): (
        "Policymakers said future decisions would depend on incoming data.",
    ),
    (EventKind.RATE_DECISION, -1): ("Policymakers said inflation remained too high for comfort.",),
    (EventKind.RATE_DECISION, 0): ("The decision was widely expected.",),
    (EventKind.MARKET_STRESS, 1): ("Volatility eased as buyers returned.",),
    (EventKind.MARKET_STRESS, -1): (
        "Volatility jumped as investors rushed into government bonds.",
    ),
    (EventKind.MARKET_STRESS, 0): ("Trading volumes stayed well above average.",),
}

ANALYSTS = (
    "Dana Whitcombe", "Priya Raman", "Marcus Feld", "Elena Sokolova", "Tomas Aguirre",
    "Hannah Lindqvist", "Kwame Mensah", "Yuki Tanabe", "Rachel Osei", "Victor Hale",
    "Ingrid Bauer", "Samir Haddad", "Laura Kimball", "Owen Castellano", "Nadia Petrova",
)  # fmt: skip
FIRMS = (
    "Halvorsen Pike", "Brightwater Securities", "Castellan Research", "Northgate Capital",
    "Ridgeline Partners", "Tamsin & Co.", "Ashgrove Brothers", "Marlowe Street Advisors",
    "Verity Lane Capital", "Oxbrook Equity Research",
)  # fmt: skip
PRODUCTS: Mapping[str, tuple[str, ...]] = {
    "technology": (
        "next-generation AI accelerator", "cloud data platform", "edge computing module",
        "security analytics suite",
    ),
    "health_care": (
        "once-weekly diabetes treatment", "cardiac monitoring device", "oncology drug candidate",
        "rapid diagnostic test",
    ),
    "financials": ("digital platform", "small-business product suite", "mobile app"),
    "energy": ("offshore drilling project", "gas export terminal", "carbon capture pilot"),
    "consumer_staples": ("premium product line", "reformulated flagship brand", "subscription"),
    "consumer_discretionary": ("loyalty program", "flagship venue concept", "online platform"),
    "industrials": ("next-generation turbine", "automated assembly line", "heavy-lift platform"),
    "utilities": ("grid-scale battery project", "transmission upgrade", "smart-meter rollout"),
}  # fmt: skip
CONFERENCES = (
    "an industry investor conference", "a global technology summit", "a health-care forum",
    "an energy and utilities conference", "a consumer growth conference",
)  # fmt: skip
CITIES = ("Denver", "Raleigh", "Columbus", "Phoenix", "Austin", "Pittsburgh", "Minneapolis")
PARTNERS = ("a major cloud provider", "a national retailer", "a European distributor",
            "a university research lab")  # fmt: skip

SECTOR_WORDS: Mapping[str, tuple[str, str, tuple[str, ...], tuple[str, ...]]] = {
    # factor: (name, noun, drivers when up, drivers when down)
    "technology": ("Tech", "stocks",
                   ("chip orders accelerate", "cloud spending picks up",
                    "AI demand lifts forecasts"),
                   ("export curbs tighten", "cloud spending slows", "chip inventories pile up")),
    "health_care": ("Health-care", "stocks",
                    ("drug approvals speed up", "hospital volumes rebound"),
                    ("a drug-pricing proposal advances", "insurers tighten reimbursement")),
    "financials": ("Financial", "stocks",
                   ("loan growth picks up", "credit quality improves"),
                   ("deposit outflows worry investors", "loan losses climb")),
    "energy": ("Energy", "stocks",
               ("crude climbs on supply cuts", "oil inventories shrink"),
               ("crude slumps on demand worries", "producers boost output")),
    "consumer_staples": ("Consumer-staples", "stocks",
                         ("shoppers trade up again", "input costs ease"),
                         ("volumes decline", "commodity costs squeeze margins")),
    "consumer_discretionary": ("Retail and leisure", "stocks",
                               ("consumer spending beats forecasts", "travel bookings surge"),
                               ("shoppers pull back", "credit card delinquencies rise")),
    "utilities": ("Utility", "stocks",
                  ("regulators approve rate increases", "power demand hits records"),
                  ("regulators reject rate requests", "wildfire liabilities loom")),
    "industrials": ("Industrial", "stocks",
                    ("factory orders jump", "infrastructure spending accelerates"),
                    ("factory orders slump", "supply-chain snags return")),
    "real_estate": ("Real-estate", "shares",
                    ("office occupancy improves", "property values stabilise"),
                    ("commercial property values slide", "refinancing costs bite")),
    "intl_developed": ("International", "stocks",
                       ("European growth beats forecasts", "overseas earnings improve"),
                       ("euro-area activity contracts", "overseas earnings disappoint")),
    "emerging_markets": ("Emerging-market", "stocks",
                         ("the dollar weakens", "stimulus hopes build in Asia"),
                         ("the dollar strengthens", "capital outflows accelerate")),
    "commodities": ("Commodity", "prices",
                    ("supply disruptions spread", "industrial metals rally"),
                    ("global demand cools", "inventories build")),
    "credit": ("Corporate bond", "prices",
               ("credit spreads tighten", "default rates fall"),
               ("credit spreads widen", "downgrades pile up")),
    "municipal": ("Municipal bond", "prices",
                  ("state tax receipts beat forecasts", "new issuance slows"),
                  ("issuance floods the market", "budget gaps widen in several states")),
    "inflation": ("Inflation-linked", "assets",
                  ("breakeven inflation rates climb", "price pressures build"),
                  ("breakeven inflation rates fall", "price pressures ease")),
}  # fmt: skip
MACRO_GOOD: Mapping[str, tuple[str, ...]] = {
    "jobs report": ("hiring beats forecasts", "wage growth moderates as hiring holds up"),
    "inflation report": ("inflation cools more than expected", "price pressures ease"),
    "": ("consumer spending holds up", "factory activity rebounds"),
}
MACRO_BAD: Mapping[str, tuple[str, ...]] = {
    "jobs report": ("hiring slows sharply", "jobless claims jump"),
    "inflation report": ("inflation runs hotter than expected", "price pressures build"),
    "": ("consumer spending weakens", "factory activity contracts"),
}
STRESS_CAUSES = ("recession fears grip investors", "a banking scare spreads",
                 "trade tensions escalate", "credit markets seize up")  # fmt: skip
RELIEFS = ("policymakers pledge support", "credit markets calm", "trade talks resume")
DECISIONS = {
    "hike": "raises rates by a quarter point",
    "cut": "cuts rates by a quarter point",
    "hold": "holds rates steady",
}
_QUARTERS = ("first-quarter", "second-quarter", "third-quarter", "fourth-quarter")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
_MOVE_SLOTS = frozenset({"move", "ybp"})


def _slots_of(template: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


_MOVE_TEMPLATES: frozenset[str] = frozenset(
    template
    for templates in HEADLINES.values()
    for template in templates
    if _slots_of(template) & _MOVE_SLOTS
)


def template_count() -> int:
    """How many headline templates there are (the variety of the simulated news)."""
    return sum(len(templates) for templates in HEADLINES.values())


# --------------------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.random() * len(options))]


class _Slots(dict[str, str]):
    """Slot values for one headline, drawn only when a template asks for them."""

    def __init__(
        self,
        event: MarketEvent,
        tone: int,
        rng: np.random.Generator,
        asset: DemoAsset | None,
        names: str,
    ) -> None:
        super().__init__()
        self.event = event
        self.tone = tone
        self.rng = rng
        self.asset = asset
        self.names = names

    def __missing__(self, key: str) -> str:
        value = self._value(key)
        self[key] = value
        return value

    def _uniform(self, low: float, high: float) -> float:
        return low + (high - low) * float(self.rng.random())

    def _value(self, key: str) -> str:
        event, rng, tone = self.event, self.rng, self.tone
        reported = event.day - timedelta(days=45)
        base_price = self.asset.base_price if self.asset else 100.0
        if key == "company":
            return self.asset.short_name if self.asset else event.subject
        if key == "symbol":
            return event.subject
        if key == "names":
            return self.names
        if key == "quarter":
            return _QUARTERS[(reported.month - 1) // 3]
        if key == "year":
            return str(event.day.year)
        if key == "weekday":
            return _pick(rng, _WEEKDAYS)
        if key == "move":
            return f"{abs(math.expm1(event.impact)) * 100:.1f}"
        if key == "ybp":
            return f"{abs(event.impact) * 10_000:.0f}"
        if key == "growth":
            return f"{self._uniform(3, 14) if tone >= 0 else self._uniform(0.5, 4):.0f}"
        if key == "est":
            return f"{base_price / self._uniform(60, 90):.2f}"
        if key == "eps":
            estimate = float(self["est"])
            factor = 1 + self._uniform(0.03, 0.15) * (1 if tone >= 0 else -1)
            return f"{estimate * factor:.2f}"
        if key == "target":
            return f"{base_price * (1 + 0.25 * tone + self._uniform(-0.05, 0.05)):.0f}"
        if key == "upside":
            return f"{self._uniform(15, 35):.0f}"
        if key == "analyst":
            return _pick(rng, ANALYSTS)
        if key == "firm":
            return _pick(rng, FIRMS)
        if key == "product":
            sector = self.asset.sector if self.asset else ""
            return _pick(rng, PRODUCTS.get(sector, ("new product",)))
        if key == "fine":
            return f"{self._uniform(40, 900):.0f}"
        if key == "deal":
            return f"{self._uniform(1.5, 18):.1f}"
        if key == "divpct":
            return f"{self._uniform(4, 25):.0f}"
        if key == "buyback":
            return f"{self._uniform(0.5, 6):.1f}"
        if key == "div":
            return f"{base_price * self._uniform(0.004, 0.01):.2f}"
        if key == "conference":
            return _pick(rng, CONFERENCES)
        if key == "city":
            return _pick(rng, CITIES)
        if key == "partner":
            return _pick(rng, PARTNERS)
        if key in ("sector", "sector_lower", "noun", "driver"):
            name, noun, up, down = SECTOR_WORDS.get(
                event.subject, (event.subject.replace("_", " ").title(), "stocks", (), ())
            )
            if key == "sector":
                return name
            if key == "sector_lower":
                return name.lower() if name not in ("International",) else name
            if key == "noun":
                return noun
            drivers = up if tone >= 0 else down
            return _pick(rng, drivers or ("investors reposition",))
        if key == "macro_good":
            return _pick(rng, MACRO_GOOD.get(event.detail, MACRO_GOOD[""]))
        if key == "macro_bad":
            return _pick(rng, MACRO_BAD.get(event.detail, MACRO_BAD[""]))
        if key == "release":
            return event.detail or "economic data"
        if key == "release_title":
            release = event.detail or "economic data"
            return release[:1].upper() + release[1:]
        if key == "decision":
            return DECISIONS.get(event.detail, DECISIONS["hold"])
        if key == "stress":
            return _pick(rng, STRESS_CAUSES)
        if key == "relief":
            return _pick(rng, RELIEFS)
        raise KeyError(key)


def _tone(rng: np.random.Generator, direction: int) -> int:
    draw = float(rng.random())
    if direction == 0:
        return 0 if draw < 0.8 else (1 if draw < 0.9 else -1)
    if draw < ALIGNED_SHARE:
        return direction
    if draw < ALIGNED_SHARE + NEUTRAL_SHARE:
        return 0
    return -direction


def _base_time(event: MarketEvent, rng: np.random.Generator) -> datetime:
    """When the first headline about ``event`` comes out."""
    minute = float(rng.random())
    if event.kind is EventKind.MACRO:
        return new_york_moment(event.day, time(8, 30)) + timedelta(minutes=minute * 2)
    if event.kind is EventKind.RATE_DECISION:
        return new_york_moment(event.day, time(14, 0)) + timedelta(minutes=minute * 5)
    if event.kind is EventKind.MARKET_STRESS:
        return new_york_moment(event.day, time(10, 15)) + timedelta(minutes=minute * 300)
    draw = float(rng.random())
    if draw < LEAD_SHARE:  # reported the day before: the price follows a session later
        day, start, span = previous_trading_day(event.day), time(10, 0), 345
    elif draw < LEAD_SHARE + 0.35:  # before the open
        day, start, span = event.day, time(6, 30), 175
    elif draw < LEAD_SHARE + 0.70:  # during the session
        day, start, span = event.day, time(9, 35), 380
    else:  # after the close
        day, start, span = event.day, time(16, 5), 205
    return new_york_moment(day, start) + timedelta(minutes=minute * span)


def headlines_for_event(
    event: MarketEvent,
    *,
    assets: Mapping[str, DemoAsset],
    rng: np.random.Generator,
    published_at: datetime | None = None,
) -> list[NewsEvent]:
    """Write one to three headlines about ``event``.

    Parameters
    ----------
    event
        The simulated event.
    assets
        The demo assets by symbol (company names come from here).
    rng
        Source of randomness; the same generator state gives the same headlines.
    published_at
        When given (live ticks), every headline is stamped with it. Otherwise the first headline
        gets a time around the event's day (see the module docstring) and follow-ups come
        minutes to hours later.

    Returns
    -------
    list of NewsEvent
        In publication order.
    """
    asset: DemoAsset | None = None
    if event.scope is EventScope.COMPANY:
        asset = assets.get(event.subject)
        if asset is None:
            raise InvalidInput(f"news for unknown symbol {event.subject}", field="symbol")
    if published_at is None:
        first = _base_time(event, rng)
    else:
        first = require_aware(published_at, name="published_at")
    leads = first < new_york_moment(event.day, time(0, 0))
    draw = float(rng.random())
    count = 1 if event.kind is EventKind.ROUTINE or draw < 0.5 else (2 if draw < 0.85 else 3)
    source_order = rng.permutation(len(SOURCES))
    moment = first
    news: list[NewsEvent] = []
    for number in range(count):
        if number and published_at is None:
            moment = moment + timedelta(minutes=4 + float(rng.random()) * 176)
        tone = _tone(rng, event.direction)
        symbols = _headline_symbols(event, rng)
        names = ", ".join(symbols)
        slots = _Slots(event, tone, rng, asset, names)
        headline_options = HEADLINES[(event.kind, tone)]
        if leads or tone != event.direction or abs(event.impact) < 5e-4:
            headline_options = tuple(t for t in headline_options if t not in _MOVE_TEMPLATES)
        headline = _pick(rng, headline_options).format_map(slots)
        summary = _pick(rng, SUMMARIES[(event.kind, tone)]).format_map(slots)
        news.append(
            NewsEvent(
                published_at=moment,
                source=SOURCES[int(source_order[number])],
                headline=headline,
                summary=summary,
                symbols=symbols,
                true_direction=event.direction,
            )
        )
    return news


def _headline_symbols(event: MarketEvent, rng: np.random.Generator) -> tuple[str, ...]:
    """The symbols a headline names: the company, or one to three of the event's instruments."""
    if event.scope is EventScope.COMPANY or len(event.symbols) <= 1:
        return event.symbols
    size = min(len(event.symbols), 1 + int(rng.random() * 3))
    chosen = sorted(rng.choice(len(event.symbols), size=size, replace=False))
    return tuple(event.symbols[int(i)] for i in chosen)


def news_for_events(
    events: Iterable[MarketEvent],
    *,
    assets: Sequence[DemoAsset],
    seed: int | np.random.SeedSequence,
) -> tuple[NewsEvent, ...]:
    """Headlines for a whole simulated history, sorted by publication time.

    Deterministic: the same events and seed give the same headlines.
    """
    rng = np.random.default_rng(seed)
    by_symbol = {asset.symbol: asset for asset in assets}
    news: list[NewsEvent] = []
    for event in events:
        news.extend(headlines_for_event(event, assets=by_symbol, rng=rng))
    news.sort(key=lambda item: (item.published_at, item.source, item.headline))
    return tuple(news)


def news_on(news: Iterable[NewsEvent], day: date) -> list[NewsEvent]:
    """The headlines published on ``day`` (New York calendar date)."""
    start = new_york_moment(day, time(0, 0))
    end = new_york_moment(day + timedelta(days=1), time(0, 0))
    return [item for item in news if start <= item.published_at < end]
