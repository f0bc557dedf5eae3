"""Recommendations from risk profile, ESG preferences, firm limits and signal views."""

import datetime as dt
from decimal import Decimal

import pytest

from advisor.services.clients import esg_preference_save
from advisor.services.recommendations import (
    market_inputs,
    plain_limit,
    recommendations_refresh,
)
from portfolios.models import AuditEvent, FirmSettings, PriceBar, Recommendation
from signals.models import ViewSnapshot
from tests.advisor.services.market import build_market
from tests.factories import ClientFactory, RiskProfileFactory

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2025, 6, 30)


@pytest.fixture
def market():
    return build_market()


@pytest.fixture
def client_profile(market):
    profile = RiskProfileFactory(
        score=6,
        equity_weight=Decimal("0.60"),
        bond_weight=Decimal("0.36"),
        cash_weight=Decimal("0.04"),
    )
    esg_preference_save(
        client=profile.client, min_esg_score=60, excluded_categories=["fossil_fuels"]
    )
    return profile


def current(household):
    return Recommendation.objects.get(household=household, is_current=True)


def test_recommendation_respects_every_constraint(client_profile):
    report = recommendations_refresh(as_of=AS_OF)
    assert report.created == 1 and report.failed == {}
    rec = current(client_profile.client.household)
    weights = rec.weights
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-6)
    assert "OILX" not in weights  # excluded: fossil fuels
    assert not ({"USA1", "USA2"} <= set(weights))  # one fund per slot
    assert not ({"BOND", "BND2"} <= set(weights))
    firm = FirmSettings.current()
    assert all(w >= float(firm.min_position_weight) - 1e-9 for w in weights.values())
    assert all(w <= float(firm.max_fund_weight) + 1e-6 for w in weights.values())
    equity = sum(w for s, w in weights.items() if s in {"USA1", "USA2", "INTL", "OILX"})
    assert 0.55 - 1e-6 <= equity <= 0.65 + 1e-6
    assert rec.esg_score >= 60 - 1e-6
    assert rec.explanation[0].startswith("Built for a risk score of 6/10")
    assert any(
        "Excluded for your preferences: OILX (fossil fuels)" in line for line in rec.explanation
    )
    assert rec.diagnostics["status"] == "optimal" and rec.fallback == ""
    (limits,) = [line for line in rec.explanation if line.startswith("These limits shaped")]
    assert rec.diagnostics["binding_constraints"]
    assert ">=" not in limits and "<=" not in limits  # in words, not the optimiser's labels


@pytest.mark.parametrize(
    ("label", "words"),
    [
        ("asset class equity >= 0.65", "equity at least 65% of the portfolio"),
        ("asset class cash <= 0.08", "cash at most 8% of the portfolio"),
        ("sector Energy <= 0.25", "the Energy sector at most 25% of the portfolio"),
        ("volatility <= 0.12", "volatility at most 12%"),
        ("turnover <= 0.3", "turnover at most 30%"),
        ("cap 0.1 on ZSTT", "ZSTT capped at 10% of the portfolio"),
        ("minimum 0.02 on AGG", "AGG at least 2% of the portfolio"),
        ("ESG floor 65", "a portfolio ESG score of at least 65"),
        ("something new", "something new"),
    ],
)
def test_limits_are_explained_in_words(label, words):
    assert plain_limit(label) == words


def test_an_impossible_esg_floor_fails_loudly_and_keeps_the_previous(client_profile):
    recommendations_refresh(as_of=AS_OF)
    before = current(client_profile.client.household)
    esg_preference_save(client=client_profile.client, min_esg_score=95, excluded_categories=[])
    report = recommendations_refresh(as_of=AS_OF)
    household_id = client_profile.client.household_id
    assert "ESG" in report.failed[household_id]
    assert current(client_profile.client.household).pk == before.pk
    assert AuditEvent.objects.filter(
        action="recommendation.failed", object_id=str(household_id)
    ).exists()


def test_views_tilt_the_weights_and_are_explained(client_profile):
    recommendations_refresh(as_of=AS_OF)
    plain = current(client_profile.client.household).weights
    inputs = market_inputs(as_of=AS_OF)
    symbols = inputs.symbols
    ViewSnapshot.objects.create(
        as_of=dt.datetime(2025, 6, 30, 12, tzinfo=dt.UTC),
        symbols=symbols,
        views=[
            {
                "p": [1.0 if s == "INTL" else 0.0 for s in symbols],
                "tilt": 0.02,
                "confidence": 0.8,
                "explanation": "positive news sentiment divergence on INTL tilted +2.0%",
                "kinds": ["divergence"],
            }
        ],
    )
    recommendations_refresh(as_of=AS_OF)
    tilted = current(client_profile.client.household)
    assert tilted.weights.get("INTL", 0) > plain.get("INTL", 0)
    assert tilted.method == "mean_variance_bl"
    assert any("sentiment divergence on INTL" in line for line in tilted.explanation)
    assert tilted.views[0]["tilts"] == {"INTL": 0.02}


def test_prices_after_as_of_are_not_read(client_profile):
    recommendations_refresh(as_of=dt.date(2025, 5, 31))
    first = current(client_profile.client.household).weights
    PriceBar.objects.filter(date__gt=dt.date(2025, 5, 31)).update(close=Decimal("1.0000"))
    recommendations_refresh(as_of=dt.date(2025, 5, 31))
    assert current(client_profile.client.household).weights == first


def test_households_without_a_profile_are_skipped(market):
    ClientFactory()
    assert recommendations_refresh(as_of=AS_OF).created == 0
