"""Rule-made training sentences that teach the ``local`` model what a change means.

Financial news corpora mostly report good quantities (profit, sales) going up, so a model trained
on them learns "rose" = positive and "fell" = negative, and then reads "costs fell" or "the loss
widened" backwards. These sentences, built from the ``embedded`` lexicon's word lists, pair every
kind of change with both kinds of quantity, plus guidance changes, expectations and negation, each
labelled by the lexicon's rules. They are generated, seeded, at training time: no third-party text.
"""

from __future__ import annotations

import random

from signals.sentiment.data import LabelledTexts
from signals.sentiment.types import Label

_SUBJECTS = ("The company's", "The group's", "Its", "Quarterly", "Full-year", "The unit's", "")
_GOOD = (
    "operating profit",
    "net sales",
    "revenue",
    "net profit",
    "earnings per share",
    "order intake",
    "operating margin",
    "EBIT",
    "cash flow",
    "market share",
    "dividend",
    "production volume",
)
_BAD = (
    "net loss",
    "operating loss",
    "costs",
    "operating expenses",
    "net debt",
    "impairment charges",
    "production costs",
    "pre-tax loss",
    "credit losses",
    "raw material costs",
)
_UP = ("rose", "increased", "grew", "climbed", "jumped", "widened", "surged", "doubled")
_DOWN = ("fell", "decreased", "declined", "dropped", "narrowed", "shrank", "slumped", "eased")
_TAILS = (
    "by 12 %",
    "to EUR 4.2 mn",
    "from EUR 3.1 mn",
    "sharply",
    "in the third quarter",
    "year-on-year",
    "slightly",
    "",
)
_COMPANIES = ("The company", "The group", "Management", "The board", "The firm")
_OUTLOOKS = ("guidance", "outlook", "profit forecast", "sales target")


def _sentence(*parts: str) -> str:
    return " ".join(p for p in parts if p).strip() + " ."


def direction_sentences(count: int, *, seed: int) -> LabelledTexts:
    """``count`` seeded sentences with their labels (see the module docstring)."""
    rng = random.Random(seed)
    texts: list[str] = []
    labels: list[Label] = []

    def add(text: str, label: Label) -> None:
        texts.append(text[0].upper() + text[1:])
        labels.append(label)

    while len(texts) < count:
        kind = rng.random()
        company = rng.choice(_COMPANIES)
        if kind < 0.7:
            good = rng.random() < 0.5
            up = rng.random() < 0.5
            quantity = rng.choice(_GOOD if good else _BAD)
            verb = rng.choice(_UP if up else _DOWN)
            subject = rng.choice(_SUBJECTS)
            add(
                _sentence(subject, quantity, verb, rng.choice(_TAILS)),
                "positive" if good == up else "negative",
            )
        elif kind < 0.8:
            raised = rng.random() < 0.5
            verb = rng.choice(("raised", "increased", "lifted") if raised else ("cut", "lowered"))
            add(
                _sentence(company, verb, "its", rng.choice(_OUTLOOKS), "for the year"),
                "positive" if raised else "negative",
            )
        elif kind < 0.9:
            beat = rng.random() < 0.5
            verb = rng.choice(
                ("beat", "exceeded", "topped") if beat else ("missed", "fell short of")
            )
            noun = rng.choice(("expectations", "analysts' estimates", "the consensus forecast"))
            add(
                _sentence(rng.choice(("Results", "Earnings", "Quarterly sales")), verb, noun),
                "positive" if beat else "negative",
            )
        else:
            positive_word = rng.random() < 0.5
            word = rng.choice(
                ("profitable", "successful", "strong")
                if positive_word
                else ("loss-making", "weak", "in trouble")
            )
            add(
                _sentence(
                    rng.choice(("The unit", "The business", "The subsidiary")), "is not", word
                ),
                "negative" if positive_word else "positive",
            )
    return LabelledTexts(texts=tuple(texts), labels=tuple(labels))
