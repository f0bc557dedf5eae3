"""The ``embedded`` backend: a finance lexicon with direction, negation and intensity rules.

It needs no download, no model and no training data, so it is the default backend and the one the
demo runs on. The word lists and rules are the project's own:

* **Direction rules.** A change word (``rose``, ``increase``, ``widened``, ``fell``, ``cut``,
  ``narrowed``) next to a quantity takes its sign from the quantity: more of a good quantity
  (profit, sales, orders, guidance) is positive, more of a bad one (loss, costs, debt) negative, and
  less of either the reverse. So "profit rose" and "costs fell" are positive; "loss widened",
  "debt increased" and "cut guidance" negative. A change word with no quantity in its clause counts
  as a weak signal in its own direction.
* **Polar words.** Words that carry sentiment on their own (``beat``, ``record``, ``upgrade``;
  ``missed``, ``bankruptcy``, ``lawsuit``), and comparisons with expectations ("above
  expectations", "worse than expected").
* **Business won.** "received an order", "signed a contract", "won a deal" are positive.
* **Negation** (``not``, ``no``, ``never``, ``without``, ``n't``) flips the next sentiment item
  within three words: "not profitable" is negative.
* **Intensity.** Amplifiers (``sharply``, ``significantly``, ``record``) multiply an item's weight
  by 1.5 and dampeners (``slightly``, ``marginally``) by 0.5, whether they stand before the item,
  inside it ("profit slightly rose") or right after it ("rose sharply").

The evidence for each side is summed; the net evidence ``e = pos - neg`` becomes the probabilities
``softmax(k·max(-e, 0), b, k·max(e, 0))`` with k = 2 and b = 0.8, so one plain polar item is enough
to leave neutral.

Measured accuracy on whole files (the word lists and rules were written while reading sentences
of the FPB training file, so its figure is in-sample; the TFNS validation tweets were not used to
choose words, rules or constants, so theirs is the out-of-sample one):

=====================================  ========  ========  ===========
file                                   accuracy  macro-F1  weighted-F1
=====================================  ========  ========  ===========
``fpb50_train.csv`` (3,634 sentences)  0.776     0.742     0.775
``tfns_valid.csv`` (2,388 tweets)      0.726     0.665     0.731
=====================================  ========  ========  ===========

It scores about 6,000 headlines per second on one (shared) core.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from signals.sentiment.types import SentimentScore

# --- Word lists ------------------------------------------------------------------------------------

#: Words that say a quantity went up (verbs in their common forms, and nouns of change).
UP_WORDS = frozenset(
    [
        "rise",
        "rises",
        "rose",
        "risen",
        "rising",
        "increase",
        "increases",
        "increased",
        "increasing",
        "grow",
        "grows",
        "grew",
        "grown",
        "growing",
        "climb",
        "climbs",
        "climbed",
        "climbing",
        "jump",
        "jumps",
        "jumped",
        "jumping",
        "surge",
        "surges",
        "surged",
        "surging",
        "soar",
        "soars",
        "soared",
        "soaring",
        "widen",
        "widens",
        "widened",
        "widening",
        "expand",
        "expands",
        "expanded",
        "expanding",
        "double",
        "doubles",
        "doubled",
        "doubling",
        "triple",
        "tripled",
        "quadrupled",
        "boost",
        "boosts",
        "boosted",
        "boosting",
        "raise",
        "raises",
        "raised",
        "raising",
        "lift",
        "lifts",
        "lifted",
        "lifting",
        "hike",
        "hikes",
        "hiked",
        "up",
        "higher",
        "highest",
        "accelerate",
        "accelerated",
        "accelerating",
        "swell",
        "swelled",
        "swollen",
        "balloon",
        "ballooned",
        "spike",
        "spiked",
        "advance",
        "advanced",
        "rebound",
        "rebounded",
        "rebounding",
        "upped",
    ]
)

#: Words that say a quantity went down.
DOWN_WORDS = frozenset(
    [
        "fall",
        "falls",
        "fell",
        "fallen",
        "falling",
        "decrease",
        "decreases",
        "decreased",
        "decreasing",
        "decline",
        "declines",
        "declined",
        "declining",
        "drop",
        "drops",
        "dropped",
        "dropping",
        "dip",
        "dips",
        "dipped",
        "slip",
        "slips",
        "slipped",
        "slipping",
        "slide",
        "slides",
        "slid",
        "sliding",
        "sink",
        "sinks",
        "sank",
        "sunk",
        "sinking",
        "plunge",
        "plunges",
        "plunged",
        "plunging",
        "plummet",
        "plummets",
        "plummeted",
        "tumble",
        "tumbles",
        "tumbled",
        "tumbling",
        "slump",
        "slumps",
        "slumped",
        "shrink",
        "shrinks",
        "shrank",
        "shrunk",
        "shrinking",
        "contract",
        "contracted",
        "contracting",
        "narrow",
        "narrows",
        "narrowed",
        "narrowing",
        "reduce",
        "reduces",
        "reduced",
        "reducing",
        "reduction",
        "reductions",
        "cut",
        "cuts",
        "cutting",
        "lower",
        "lowers",
        "lowered",
        "lowering",
        "down",
        "halve",
        "halved",
        "halving",
        "ease",
        "eased",
        "easing",
        "trim",
        "trims",
        "trimmed",
        "trimming",
        "slash",
        "slashes",
        "slashed",
        "slashing",
        "decelerate",
        "decelerated",
        "erode",
        "eroded",
        "eroding",
        "diminish",
        "diminished",
    ]
)

#: Quantities that are good news when they go up.
GOOD_QUANTITIES = frozenset(
    [
        "profit",
        "profits",
        "profitability",
        "revenue",
        "revenues",
        "sales",
        "earnings",
        "income",
        "ebit",
        "ebitda",
        "eps",
        "margin",
        "margins",
        "turnover",
        "order",
        "orders",
        "backlog",
        "dividend",
        "dividends",
        "growth",
        "demand",
        "share",
        "shares",
        "stock",
        "stocks",
        "valuation",
        "production",
        "output",
        "deliveries",
        "shipments",
        "traffic",
        "passengers",
        "customers",
        "subscribers",
        "cash",
        "liquidity",
        "result",
        "results",
        "performance",
        "outlook",
        "guidance",
        "forecast",
        "forecasts",
        "estimate",
        "estimates",
        "rating",
        "ratings",
        "target",
        "targets",
        "employment",
        "jobs",
        "workforce",
        "headcount",
        "staff",
        "occupancy",
        "bookings",
        "efficiency",
        "productivity",
        "competitiveness",
        "return",
        "returns",
        "equity",
        "solvency",
        "market-share",
        "capacity",
        "volumes",
        "volume",
        "users",
        "visitors",
        "payout",
        "buyback",
        "price-target",
    ]
)

#: Quantities that are bad news when they go up.
BAD_QUANTITIES = frozenset(
    [
        "loss",
        "losses",
        "cost",
        "costs",
        "expense",
        "expenses",
        "debt",
        "debts",
        "liabilities",
        "deficit",
        "unemployment",
        "layoffs",
        "redundancies",
        "charges",
        "charge",
        "impairment",
        "impairments",
        "writedown",
        "writedowns",
        "write-downs",
        "provisions",
        "risk",
        "risks",
        "inflation",
        "defaults",
        "delinquencies",
        "churn",
        "complaints",
        "borrowing",
        "borrowings",
        "leverage",
        "gearing",
        "downtime",
        "delays",
        "losses-per-share",
        "net-loss",
    ]
)

#: Words positive on their own, with their weight.
POSITIVE_WORDS: dict[str, float] = {
    **dict.fromkeys(
        [
            "beat",
            "beats",
            "beating",
            "exceed",
            "exceeds",
            "exceeded",
            "exceeding",
            "outperform",
            "outperformed",
            "outperforms",
            "surpass",
            "surpassed",
            "upgrade",
            "upgrades",
            "upgraded",
            "record",
            "strong",
            "stronger",
            "strongest",
            "strength",
            "robust",
            "solid",
            "improve",
            "improves",
            "improved",
            "improving",
            "improvement",
            "improvements",
            "success",
            "successful",
            "successfully",
            "profitable",
            "win",
            "wins",
            "won",
            "winning",
            "awarded",
            "award",
            "secured",
            "recover",
            "recovered",
            "recovery",
            "rebound",
            "rally",
            "rallied",
            "rallies",
            "upbeat",
            "optimistic",
            "optimism",
            "confident",
            "bullish",
            "favourable",
            "favorable",
            "positive",
            "good",
            "great",
            "excellent",
            "healthy",
            "upside",
            "outperformance",
            "accretive",
            "breakthrough",
            "boom",
            "booming",
            "thrive",
            "thriving",
            "benefit",
            "benefits",
            "benefited",
            "benefiting",
            "gain",
            "gains",
            "gained",
            "gaining",
            "overweight",
            "momentum",
            "savings",
            "saving",
            "growth",
            "succeeded",
        ],
        1.0,
    ),
    **dict.fromkeys(
        [
            "agreement",
            "contract",
            "partnership",
            "expand",
            "expansion",
            "strengthen",
            "strengthens",
            "strengthened",
            "boosted",
            "growing",
            "increased",
            "higher",
        ],
        0.5,
    ),
}

#: Words negative on their own, with their weight.
NEGATIVE_WORDS: dict[str, float] = {
    **dict.fromkeys(
        [
            "lay-offs",
            "job-cuts",
            "miss",
            "misses",
            "missed",
            "missing",
            "fail",
            "fails",
            "failed",
            "failure",
            "weak",
            "weaker",
            "weakest",
            "weakness",
            "weakened",
            "weakening",
            "poor",
            "poorer",
            "worse",
            "worst",
            "bad",
            "downgrade",
            "downgrades",
            "downgraded",
            "layoffs",
            "layoff",
            "laid",
            "redundancies",
            "bankruptcy",
            "bankrupt",
            "insolvency",
            "insolvent",
            "default",
            "defaulted",
            "lawsuit",
            "lawsuits",
            "sued",
            "fraud",
            "probe",
            "investigation",
            "fined",
            "penalty",
            "penalties",
            "warn",
            "warns",
            "warned",
            "warning",
            "warnings",
            "recall",
            "recalls",
            "concern",
            "concerns",
            "worried",
            "worries",
            "uncertainty",
            "uncertain",
            "volatile",
            "pressure",
            "pressures",
            "headwind",
            "headwinds",
            "challenging",
            "difficult",
            "difficulties",
            "problem",
            "problems",
            "trouble",
            "troubled",
            "crisis",
            "slump",
            "slowdown",
            "sluggish",
            "disappoint",
            "disappoints",
            "disappointed",
            "disappointing",
            "disappointment",
            "negative",
            "bearish",
            "underweight",
            "underperform",
            "underperformed",
            "halt",
            "halted",
            "suspend",
            "suspended",
            "delay",
            "delayed",
            "delays",
            "shortfall",
            "writedown",
            "write-down",
            "impairment",
            "loss-making",
            "unprofitable",
            "plunge",
            "plunged",
            "crash",
            "crashed",
            "collapse",
            "collapsed",
            "tumble",
            "tumbled",
            "lose",
            "loses",
            "lost",
            "losing",
            "terminate",
            "terminated",
            "cancel",
            "cancelled",
            "canceled",
            "abandon",
            "abandoned",
            "reject",
            "rejected",
            "hurt",
            "damage",
            "damaged",
            "struggle",
            "struggles",
            "struggling",
            "strike",
            "strikes",
            "dispute",
            "closure",
            "closures",
            "shutdown",
            "shut",
            "losses",
            "loss",
            "deficit",
            "downturn",
            "recession",
            "bleak",
            "dismal",
            "gloomy",
            "worsen",
            "worsened",
            "worsening",
            "deteriorate",
            "deteriorated",
            "deteriorating",
            "decline",
            "slashed",
            "plummet",
            "plummeted",
            "sank",
            "tumbling",
            "scandal",
            "investigate",
            "investigating",
            "bearish",
            "dip",
        ],
        1.0,
    ),
    **dict.fromkeys(
        [
            "risk",
            "risks",
            "volatility",
            "cautious",
            "caution",
            "lower",
            "down",
            "cut",
            "cuts",
            "fell",
            "fall",
            "falls",
            "declined",
            "decreased",
            "dropped",
        ],
        0.5,
    ),
}

#: Nouns that an expectation comparison refers to ("above expectations", "below estimates").
EXPECTATIONS = frozenset(
    [
        "expectations",
        "expectation",
        "estimates",
        "estimate",
        "forecast",
        "forecasts",
        "consensus",
        "guidance",
        "target",
        "targets",
        "projections",
        "expected",
        "anticipated",
    ]
)

#: Business that a company wins: an order, a contract, a deal...
WON_BUSINESS = frozenset(["order", "orders", "contract", "contracts", "deal", "deals", "agreement"])

#: ...and the verbs that say it won it ("received an order", "signed a contract").
WINNING_VERBS = frozenset(
    [
        "received",
        "receives",
        "receive",
        "receiving",
        "signed",
        "signs",
        "sign",
        "won",
        "wins",
        "win",
        "awarded",
        "secured",
        "secures",
        "landed",
        "lands",
        "booked",
        "books",
        "clinched",
    ]
)

NEGATIONS = frozenset(
    [
        "not",
        "no",
        "never",
        "without",
        "neither",
        "nor",
        "none",
        "cannot",
        "hardly",
        "nothing",
        "lack",
        "lacks",
        "lacked",
    ]
)

AMPLIFIERS = frozenset(
    [
        "sharply",
        "significantly",
        "substantially",
        "strongly",
        "considerably",
        "markedly",
        "dramatically",
        "very",
        "highly",
        "greatly",
        "massively",
        "steeply",
        "hugely",
        "heavily",
        "sizeable",
        "sizable",
        "huge",
        "big",
        "strong",
        "record",
        "double-digit",
        "sharp",
        "steep",
        "significant",
        "substantial",
        "considerable",
        "dramatic",
        "massive",
    ]
)

DAMPENERS = frozenset(
    [
        "slightly",
        "marginally",
        "somewhat",
        "modestly",
        "moderately",
        "mildly",
        "partly",
        "slight",
        "marginal",
        "modest",
        "moderate",
        "small",
        "little",
    ]
)

#: Words that close a clause for the direction rules.
CLAUSE_BREAKS = frozenset(
    [
        ".",
        ";",
        ":",
        "!",
        "?",
        ",",
        "but",
        "while",
        "whereas",
        "although",
        "though",
        "however",
        "and",
    ]
)

_WORD = re.compile(r"[a-z]+(?:[-'][a-z]+)*|n't|\d+(?:[.,]\d+)*%?|[.;:!?,]")
_CONTRACTION = re.compile(r"n't\b")
_QUANTITY_WINDOW_BEFORE = 6
_QUANTITY_WINDOW_AFTER = 4
_NEGATION_SCOPE = 3
_INTENSITY = {**dict.fromkeys(AMPLIFIERS, 1.5), **dict.fromkeys(DAMPENERS, 0.5)}
_SLOPE = 2.0
_NEUTRAL_LOGIT = 0.8
_UNPAIRED_DIRECTION_WEIGHT = 0.5


def tokenize(text: str) -> list[str]:
    """Lower-cased words, numbers and clause punctuation; "didn't" becomes "did not"."""
    lowered = _CONTRACTION.sub(" not", text.lower().replace("\u2019", "'"))
    return _WORD.findall(lowered)


@dataclass(frozen=True, slots=True)
class LexiconEvidence:
    """The sentiment evidence found in one text: positive and negative weight, and what matched."""

    positive: float
    negative: float
    matches: tuple[str, ...]

    @property
    def net(self) -> float:
        """Positive minus negative evidence."""
        return self.positive - self.negative


def _direction(token: str) -> int:
    if token in UP_WORDS:
        return 1
    if token in DOWN_WORDS:
        return -1
    return 0


def _quantity_polarity(token: str) -> int:
    if token in GOOD_QUANTITIES:
        return 1
    if token in BAD_QUANTITIES:
        return -1
    return 0


def _find_quantity(tokens: Sequence[str], at: int, used: set[int]) -> int | None:
    """The nearest quantity in the same clause as the change word at ``at``, or None."""
    for distance in range(1, max(_QUANTITY_WINDOW_BEFORE, _QUANTITY_WINDOW_AFTER) + 1):
        candidates = []
        if distance <= _QUANTITY_WINDOW_BEFORE:
            candidates.append(at - distance)
        if distance <= _QUANTITY_WINDOW_AFTER:
            candidates.append(at + distance)
        for position in candidates:
            if not 0 <= position < len(tokens) or position in used:
                continue
            between = tokens[min(at, position) + 1 : max(at, position)]
            if any(t in CLAUSE_BREAKS for t in between):
                continue
            if _quantity_polarity(tokens[position]) and tokens[position - 1] != "per":
                return position
    return None


def _intensity(tokens: Sequence[str], positions: Sequence[int]) -> float:
    """The product of the amplifiers and dampeners just before, inside or just after the item."""
    first, last = min(positions), max(positions)
    around = [first - 2, first - 1, *range(first + 1, last), last + 1]
    factor = 1.0
    for position in around:
        if 0 <= position < len(tokens) and position not in positions:
            factor *= _INTENSITY.get(tokens[position], 1.0)
    return factor


def _negated(tokens: Sequence[str], first: int) -> bool:
    """Whether a negation stands within three words before ``first``, in the same clause."""
    for position in range(first - 1, max(-1, first - 1 - _NEGATION_SCOPE), -1):
        token = tokens[position]
        if token in CLAUSE_BREAKS:
            return False
        if token in NEGATIONS:
            return True
    return False


def _expectation_item(tokens: Sequence[str], at: int) -> tuple[int, int] | None:
    """``(sign, last position)`` for "above/below expectations", "better/worse than expected"."""
    token = tokens[at]
    window = tokens[at + 1 : at + 4]
    if token in {"above", "ahead", "over", "exceeding", "topped"} and any(
        t in EXPECTATIONS for t in window
    ):
        return 1, at + 1 + next(i for i, t in enumerate(window) if t in EXPECTATIONS)
    if token in {"below", "under", "short", "behind"} and any(t in EXPECTATIONS for t in window):
        return -1, at + 1 + next(i for i, t in enumerate(window) if t in EXPECTATIONS)
    if (
        token in {"better", "stronger", "worse", "weaker"}
        and window[:1] == ["than"]
        and len(window) > 1
        and window[1] in EXPECTATIONS
    ):
        return (1 if token in {"better", "stronger"} else -1), at + 2
    return None


def lexicon_evidence(text: str) -> LexiconEvidence:
    """The positive and negative evidence that the rules find in ``text``."""
    tokens = tokenize(text)
    used: set[int] = set()
    positive = 0.0
    negative = 0.0
    matches: list[str] = []

    def record(sign: float, weight: float, positions: Sequence[int]) -> None:
        nonlocal positive, negative
        first = min(positions)
        value = sign * weight * _intensity(tokens, positions)
        if _negated(tokens, first):
            value = -value
        if value > 0:
            positive += value
        elif value < 0:
            negative -= value
        used.update(positions)
        matches.append(" ".join(tokens[p] for p in sorted(positions)) + f" ({value:+.2f})")

    # 1. Comparisons with expectations.
    for at in range(len(tokens)):
        if at in used:
            continue
        item = _expectation_item(tokens, at)
        if item is not None:
            sign, last = item
            record(sign, 1.0, list(range(at, last + 1)))

    # 2. Business won: "received an order", "signed a contract".
    for at, token in enumerate(tokens):
        if token in WON_BUSINESS and at not in used:
            for position in range(at - 1, max(-1, at - 5), -1):
                if tokens[position] in CLAUSE_BREAKS:
                    break
                if tokens[position] in WINNING_VERBS and position not in used:
                    record(1.0, 1.0, [position, at])
                    break

    # 3. Change words paired with the quantity that changed.
    unpaired: list[int] = []
    for at, token in enumerate(tokens):
        direction = _direction(token)
        if not direction or at in used:
            continue
        quantity = _find_quantity(tokens, at, used | {at})
        if quantity is None:
            unpaired.append(at)
            continue
        positions = [at, quantity]
        before = quantity - 1  # a compound such as "impairment charges" counts once
        if (
            before >= 0
            and before != at
            and before not in used
            and _quantity_polarity(tokens[before]) == _quantity_polarity(tokens[quantity])
        ):
            positions.append(before)
        record(direction * _quantity_polarity(tokens[quantity]), 1.0, positions)

    # 4. Polar words on their own, then change words that found no quantity.
    for at, token in enumerate(tokens):
        if at in used:
            continue
        if token in POSITIVE_WORDS:
            record(1.0, POSITIVE_WORDS[token], [at])
        elif token in NEGATIVE_WORDS:
            record(-1.0, NEGATIVE_WORDS[token], [at])
    for at in unpaired:
        if at not in used:
            record(_direction(tokens[at]), _UNPAIRED_DIRECTION_WEIGHT, [at])

    return LexiconEvidence(positive=positive, negative=negative, matches=tuple(matches))


def probabilities_from_evidence(net: float) -> tuple[float, float, float]:
    """``(p_neg, p_neu, p_pos)`` for net evidence ``net`` (positive minus negative)."""
    logits = (_SLOPE * max(-net, 0.0), _NEUTRAL_LOGIT, _SLOPE * max(net, 0.0))
    top = max(logits)
    weights = [math.exp(v - top) for v in logits]
    total = math.fsum(weights)
    return (weights[0] / total, weights[1] / total, weights[2] / total)


class LexiconScorer:
    """The ``embedded`` backend: rules over the project's finance word lists (see module doc)."""

    name = "embedded"

    def score_batch(self, texts: Sequence[str]) -> list[SentimentScore]:
        """One score per text, in the order given."""
        return [
            SentimentScore.from_probabilities(probabilities_from_evidence(lexicon_evidence(t).net))
            for t in texts
        ]
