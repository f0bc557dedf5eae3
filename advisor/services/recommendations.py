"""Recommendations: each household's target portfolio, with the reasons for it.

The market inputs are estimated once per run and shared by every client:

* covariance: Ledoit-Wolf shrinkage of daily returns over the firm's estimation window;
* expected returns: the equilibrium prior ``Pi = delta * Sigma * w_ref`` of a reference portfolio
  (global market shares of each asset class, split evenly within the class), tilted by the signal
  pipeline's latest Black-Litterman views with Idzorek confidences (no views: the prior alone).

Historical mean returns are deliberately not used: they are too noisy to optimise on and produce
corner portfolios. Each client then gets mean-variance weights from one compiled problem
(:class:`portfolios.core.optimize.RecommendationProblem`) under their constraints: the
equity / bond / cash split of their risk score (within the firm's tolerance), their risk aversion,
their ESG floor and exclusions, and the firm's caps per fund and per stock. An infeasible
combination raises :class:`~portfolios.core.errors.InfeasibleProblem` naming the conflict; the
previous recommendation stays current and nothing is stored.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.db import transaction
from django.db.models import Avg, F

from advisor.core.questionnaire import SCORE_MEANING, risk_aversion_for_score
from advisor.models import Client, ESGPreference, RiskProfile
from portfolios.core.errors import InfeasibleProblem, InvalidInput
from portfolios.models import (
    SLEEVE_OF_CLASS,
    Asset,
    AssetClass,
    ExclusionTag,
    FirmSettings,
    Household,
    PriceBar,
    Recommendation,
    SecurityType,
)
from portfolios.selectors import price_frame
from portfolios.services import audit_record
from signals.models import ViewSnapshot

#: Global market shares of each asset class: the reference ("market") portfolio of the prior.
REFERENCE_CLASS_WEIGHTS: dict[str, float] = {
    AssetClass.US_EQUITY: 0.36,
    AssetClass.INTL_EQUITY: 0.16,
    AssetClass.EM_EQUITY: 0.06,
    AssetClass.BOND: 0.30,
    AssetClass.TIPS: 0.04,
    AssetClass.REAL_ESTATE: 0.04,
    AssetClass.COMMODITY: 0.02,
    AssetClass.CASH: 0.02,
}
MARKET_RISK_AVERSION = 2.5
BL_TAU = 0.05
MIN_HISTORY_DAYS = 250
LARGE_WEIGHT = 0.08


@dataclass(frozen=True)
class AppliedView:
    explanation: str
    tilts: dict[str, float]
    confidence: float


@dataclass
class MarketInputs:
    """Everything clients share: the universe, its estimates and the views in force."""

    as_of: date
    assets: list[Asset]
    mu: pd.Series
    prior: pd.Series
    cov: pd.DataFrame
    views: list[AppliedView] = field(default_factory=list)

    @property
    def symbols(self) -> list[str]:
        return [a.symbol for a in self.assets]

    def series(self, attribute: str) -> pd.Series:
        return pd.Series({a.symbol: getattr(a, attribute) for a in self.assets})


def recommendation_universe(*, firm: FirmSettings, as_of: date) -> list[Asset]:
    """One primary asset per replacement group ("slot"): the most traded over the last 60 days.

    The other members of a group are alternates that loss harvesting buys instead; holding two
    near-identical funds in one portfolio would add nothing but wash-sale risk.
    """
    assets = Asset.objects.filter(is_active=True).order_by("symbol")
    if not firm.recommend_single_stocks:
        assets = assets.filter(security_type=SecurityType.ETF)
    candidates = list(assets)
    volume = dict(
        PriceBar.objects.filter(
            asset__in=candidates, date__gt=as_of - timedelta(days=60), date__lte=as_of
        )
        .values("asset_id")
        .annotate(v=Avg(F("volume") * F("close")))
        .values_list("asset_id", "v")
    )
    primary: dict[str, Asset] = {}
    for asset in candidates:
        slot = asset.replacement_group or f"asset:{asset.symbol}"
        best = primary.get(slot)
        if best is None or (volume.get(asset.pk) or 0) > (volume.get(best.pk) or 0):
            primary[slot] = asset
    return sorted(primary.values(), key=lambda a: a.symbol)


def _reference_weights(assets: Sequence[Asset]) -> pd.Series:
    by_class: dict[str, list[str]] = {}
    for asset in assets:
        by_class.setdefault(asset.asset_class, []).append(asset.symbol)
    weights = {
        symbol: REFERENCE_CLASS_WEIGHTS.get(cls, 0.0) / len(members)
        for cls, members in by_class.items()
        for symbol in members
    }
    series = pd.Series(weights, dtype=float)
    return series / series.sum()


def market_inputs(
    *, as_of: date, firm: FirmSettings | None = None, use_views: bool = True
) -> MarketInputs:
    """Estimate the shared inputs from prices up to ``as_of`` (nothing later is read)."""
    from portfolios.core.estimate import ledoit_wolf
    from portfolios.core.optimize import black_litterman

    firm = firm or FirmSettings.current()
    universe = recommendation_universe(firm=firm, as_of=as_of)
    if not universe:
        raise InvalidInput(
            "the recommendation universe is empty: add active ETFs in the admin", field="universe"
        )
    start = as_of - timedelta(days=int(365.25 * firm.estimation_years))
    closes = price_frame(asset_ids=[a.pk for a in universe], start=start, end=as_of)
    if closes.empty:
        raise InvalidInput(
            f"no prices on or before {as_of} for the recommendation universe", field="prices"
        )
    coverage = closes.notna().sum()
    kept = [a for a in universe if coverage.get(a.symbol, 0) >= MIN_HISTORY_DAYS]
    if len(kept) < 2:
        raise InvalidInput(
            f"fewer than two assets have {MIN_HISTORY_DAYS} days of prices before {as_of}",
            field="prices",
        )
    closes = closes[[a.symbol for a in kept]].dropna()
    cov = ledoit_wolf(closes, missing="drop")
    cov = pd.DataFrame(cov, index=closes.columns, columns=closes.columns)
    w_ref = _reference_weights(kept).reindex(cov.index).fillna(0.0)
    # Equilibrium excess returns plus the risk-free rate: a constant shift, so the optimum under
    # full investment is unchanged, but the figures an advisor reads are total returns.
    risk_free = float(firm.risk_free_rate)
    prior = pd.Series(
        MARKET_RISK_AVERSION * cov.to_numpy() @ w_ref.to_numpy() + risk_free, index=cov.index
    )
    inputs = MarketInputs(as_of=as_of, assets=kept, mu=prior, prior=prior, cov=cov)
    snapshot = _views_in_force(as_of) if use_views else None
    if snapshot is not None:
        P, Q, confidences, applied = _align_views(
            snapshot, list(cov.index), max_tilt=float(firm.view_max_tilt)
        )
        if len(Q):
            result = black_litterman(
                cov,
                w_ref,
                risk_aversion=MARKET_RISK_AVERSION,
                tau=BL_TAU,
                P=P,
                Q=Q + P @ (prior.to_numpy() - risk_free),
                confidences=confidences,
            )
            posterior = np.asarray(result.posterior_returns, dtype=float) + risk_free
            inputs.mu = pd.Series(posterior, index=cov.index)
            inputs.views = applied
    return inputs


def _views_in_force(as_of: date) -> ViewSnapshot | None:
    cutoff = datetime.combine(as_of + timedelta(days=1), time.min, tzinfo=UTC)
    return ViewSnapshot.objects.filter(as_of__lt=cutoff).order_by("-as_of").first()


def _align_views(
    snapshot: ViewSnapshot, symbols: list[str], *, max_tilt: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[AppliedView]]:
    """Views as (P, tilt, confidence) over ``symbols``; views on assets outside it are dropped."""
    index = {s: i for i, s in enumerate(symbols)}
    rows, tilts, confidences, applied = [], [], [], []
    for view in snapshot.views:
        weights = dict(zip(snapshot.symbols, view["p"], strict=True))
        if any(abs(w) > 0 and s not in index for s, w in weights.items()):
            continue
        row = np.zeros(len(symbols))
        for symbol, weight in weights.items():
            if symbol in index:
                row[index[symbol]] = weight
        if not row.any():
            continue
        tilt = float(np.clip(view["tilt"], -max_tilt, max_tilt))
        rows.append(row)
        tilts.append(tilt)
        confidences.append(float(view["confidence"]))
        applied.append(
            AppliedView(
                explanation=view["explanation"],
                tilts={s: tilt * w for s, w in weights.items() if w},
                confidence=float(view["confidence"]),
            )
        )
    if not rows:
        return np.zeros((0, len(symbols))), np.zeros(0), np.zeros(0), []
    return np.vstack(rows), np.asarray(tilts), np.asarray(confidences), applied


class Recommender:
    """One compiled optimisation problem for a run; ``recommend`` per household."""

    def __init__(self, inputs: MarketInputs, *, firm: FirmSettings) -> None:
        from portfolios.core.optimize import RecommendationProblem

        self.inputs = inputs
        self.firm = firm
        esg = inputs.series("esg_score").astype(float)
        self.sleeves = pd.Series({a.symbol: SLEEVE_OF_CLASS[a.asset_class] for a in inputs.assets})
        self.problem = RecommendationProblem(
            inputs.mu,
            inputs.cov,
            esg_scores=esg,
            asset_classes=self.sleeves,
            sectors=inputs.series("sector").replace("", "Other"),
            psd="repair",
        )
        self.caps = pd.Series(
            {
                a.symbol: float(
                    firm.max_stock_weight
                    if a.security_type == SecurityType.STOCK
                    else firm.max_fund_weight
                )
                for a in inputs.assets
            }
        )

    def constraints_for(
        self, profile: RiskProfile, esg: ESGPreference | None
    ) -> tuple[Any, list[str]]:
        from portfolios.core.optimize import Constraints

        tolerance = float(self.firm.sleeve_tolerance)
        split = {
            "equity": float(profile.equity_weight),
            "bond": float(profile.bond_weight),
            "cash": float(profile.cash_weight),
        }
        present = set(self.sleeves)
        bounds = {}
        for sleeve, target in split.items():
            if sleeve not in present:
                if target > tolerance:
                    raise InfeasibleProblem(
                        f"the universe has no {sleeve} assets for a {target:.0%} {sleeve} target",
                        field="universe",
                    )
                continue
            bounds[sleeve] = (None, max(0.0, target - tolerance), min(1.0, target + tolerance))
        excluded: list[str] = []
        categories = set(esg.excluded_categories) if esg else set()
        floor = float(esg.min_esg_score) if esg and esg.min_esg_score > 0 else None
        for asset in self.inputs.assets:
            if categories & set(asset.exclusion_tags or []) or (
                floor is not None and asset.esg_score is None
            ):
                excluded.append(asset.symbol)
        constraints = Constraints(
            max_weight=self.caps, esg_floor=floor, excluded=excluded, asset_class_bounds=bounds
        )
        return constraints, excluded

    def solve(self, profile: RiskProfile, esg: ESGPreference | None) -> tuple[Any, list[str]]:
        """Optimise, then drop positions under the firm's minimum weight and optimise again.

        The second solve keeps every constraint (a plain renormalisation could break the ESG
        floor or the split); if it is infeasible the first answer stands.
        """
        constraints, excluded = self.constraints_for(profile, esg)
        aversion = risk_aversion_for_score(profile.score)
        result = self.problem.recommend(risk_aversion=aversion, constraints=constraints)
        minimum = float(self.firm.min_position_weight)
        weights = pd.Series(result.weights)
        dust = [str(s) for s, w in weights.items() if 1e-6 < w < minimum]
        if dust:
            trimmed = dataclasses.replace(constraints, excluded=[*excluded, *dust])
            with contextlib.suppress(InfeasibleProblem):  # the first answer stands
                result = self.problem.recommend(risk_aversion=aversion, constraints=trimmed)
        return result, excluded

    def recommend(
        self, *, household: Household, profile: RiskProfile, esg: ESGPreference | None
    ) -> Recommendation:
        result, excluded = self.solve(profile, esg)
        weights = {s: round(float(w), 6) for s, w in result.weights.items() if w > 5e-5}
        total = sum(weights.values())
        weights = {s: w / total for s, w in weights.items()}
        explanation = self.explain(
            profile=profile, esg=esg, result=result, weights=weights, excluded=excluded
        )
        diagnostics = {
            "solver": result.solver,
            "status": result.status,
            "objective": result.objective,
            "binding_constraints": list(result.binding_constraints),
            "psd_repaired": result.psd_repaired,
            "solve_time_s": result.solve_time_s,
            "as_of": self.inputs.as_of.isoformat(),
            "excluded": excluded,
            "risk_aversion": risk_aversion_for_score(profile.score),
        }
        with transaction.atomic():
            Recommendation.objects.filter(household=household, is_current=True).update(
                is_current=False
            )
            return Recommendation.objects.create(
                household=household,
                risk_score=profile.score,
                method="mean_variance_bl" if self.inputs.views else "mean_variance_equilibrium",
                weights=weights,
                expected_return=float(result.expected_return or 0.0),
                volatility=float(result.volatility),
                esg_score=None
                if result.esg_score is None or math.isnan(result.esg_score)
                else float(result.esg_score),
                diagnostics=diagnostics,
                explanation=explanation,
                views=[
                    {"explanation": v.explanation, "tilts": v.tilts, "confidence": v.confidence}
                    for v in self.inputs.views
                    if any(s in weights for s in v.tilts)
                ],
                fallback=result.fallback or "",
                is_current=True,
            )

    def explain(
        self,
        *,
        profile: RiskProfile,
        esg: ESGPreference | None,
        result: Any,
        weights: dict[str, float],
        excluded: list[str],
    ) -> list[str]:
        by_symbol = {a.symbol: a for a in self.inputs.assets}
        vols = np.sqrt(np.diag(self.inputs.cov.to_numpy()))
        vol = dict(zip(self.inputs.cov.index, vols, strict=True))
        lines = [
            f"Built for a risk score of {profile.score}/10: {SCORE_MEANING[profile.score]} "
            f"Target split {float(profile.equity_weight):.0%} equity, {float(profile.bond_weight):.0%} bonds, "
            f"{float(profile.cash_weight):.0%} cash, each within {float(self.firm.sleeve_tolerance):.0%}."
        ]
        floor = esg.min_esg_score if esg else 0
        for symbol, weight in sorted(weights.items(), key=lambda kv: -kv[1]):
            if weight < LARGE_WEIGHT:
                continue
            asset = by_symbol[symbol]
            sleeve = self.sleeves[symbol]
            if weight >= self.caps[symbol] - 1e-4:
                reason = f"held at the firm's cap of {self.caps[symbol]:.0%} per {'stock' if asset.security_type == SecurityType.STOCK else 'fund'}"
            elif sleeve == "cash":
                reason = "holds the cash part of your split"
            elif (
                floor
                and asset.esg_score is not None
                and asset.esg_score >= floor + 15
                and any(c.startswith("ESG floor") for c in result.binding_constraints)
            ):
                reason = f"its ESG score of {asset.esg_score} helps meet your floor of {floor}"
            else:
                reason = (
                    f"the best expected return for its risk in the {sleeve} part "
                    f"({float(self.inputs.mu[symbol]):.1%} expected a year, volatility {vol[symbol]:.1%})"
                )
            lines.append(f"{symbol} {weight:.1%} ({asset.name}): {reason}.")
        if result.binding_constraints:
            lines.append(
                "These limits shaped the portfolio: "
                + "; ".join(plain_limit(label) for label in result.binding_constraints)
                + "."
            )
        if excluded:
            tags = {t.value: t.label.lower() for t in ExclusionTag}
            names = []
            for symbol in excluded:
                asset = by_symbol[symbol]
                hit = [
                    tags.get(t, t)
                    for t in (asset.exclusion_tags or [])
                    if esg and t in esg.excluded_categories
                ]
                names.append(f"{symbol} ({', '.join(hit) if hit else 'no ESG rating'})")
            lines.append("Excluded for your preferences: " + ", ".join(names) + ".")
        applied = [v for v in self.inputs.views if any(s in weights for s in v.tilts)]
        if applied:
            lines.append(
                "Signal views tilted expected returns: "
                + "; ".join(v.explanation for v in applied)
                + "."
            )
        else:
            lines.append(
                "No signal views were in force; expected returns are the market equilibrium."
            )
        score = (
            f", ESG score {result.esg_score:.1f}"
            if result.esg_score is not None and not math.isnan(result.esg_score)
            else ""
        )
        lines.append(
            f"Expected return {float(result.expected_return or 0):.1%} a year with volatility "
            f"{float(result.volatility):.1%}{score}."
        )
        if result.fallback:
            lines.append(
                f"Note: the optimiser used a fallback ({result.fallback}); review before trading."
            )
        return lines


def primary_client(household: Household) -> Client | None:
    """The household member whose profile drives its recommendation: the first with a profile."""
    return (
        Client.objects.filter(household=household, risk_profile__isnull=False)
        .select_related("risk_profile")
        .order_by("created_at", "id")
        .first()
    )


@dataclass(frozen=True)
class RefreshReport:
    created: int
    failed: dict[int, str]
    distinct_solves: int
    cache_hits: int


def recommendations_refresh(
    *, as_of: date, household_ids: Iterable[int] | None = None, actor_id: int | None = None
) -> RefreshReport:
    """Recompute the recommendation of each household (all with a profile by default).

    A household whose constraints are infeasible keeps its previous recommendation; the error is
    audited and returned, never hidden.
    """
    firm = FirmSettings.current()
    inputs = market_inputs(as_of=as_of, firm=firm)
    recommender = Recommender(inputs, firm=firm)
    households = Household.objects.all()
    if household_ids is not None:
        households = households.filter(pk__in=list(household_ids))
    created, failed = 0, {}
    for household in households.order_by("pk"):
        client = primary_client(household)
        if client is None:
            continue
        esg = ESGPreference.objects.filter(client=client).first()
        try:
            recommender.recommend(household=household, profile=client.risk_profile, esg=esg)
            created += 1
        except (InfeasibleProblem, InvalidInput) as exc:
            failed[household.pk] = exc.message
            audit_record(
                actor_id=actor_id,
                action="recommendation.failed",
                obj=household,
                reason=exc.message,
                data={"as_of": as_of.isoformat()},
            )
    return RefreshReport(
        created=created,
        failed=failed,
        distinct_solves=recommender.problem.distinct_solves,
        cache_hits=recommender.problem.cache_hits,
    )


def recommendation_for_household(*, household: Household, as_of: date) -> Recommendation:
    """Recompute one household now (after a profile change); raises when infeasible."""
    report = recommendations_refresh(as_of=as_of, household_ids=[household.pk])
    if household.pk in report.failed:
        raise InfeasibleProblem(report.failed[household.pk])
    current = Recommendation.objects.filter(household=household, is_current=True).first()
    if current is None:
        raise InvalidInput(f"{household} has no client with a risk profile", field="household")
    return current


_BOUND = re.compile(r"(?P<what>.+?) (?P<op><=|>=) (?P<value>[-+0-9.eE]+)")
_PER_ASSET = re.compile(r"(?P<kind>cap|minimum) (?P<value>[-+0-9.eE]+) on (?P<what>.+)")


def plain_limit(label: str) -> str:
    """An optimiser constraint's label in words for the client: ``asset class equity >= 0.65``
    reads "equity at least 65% of the portfolio", ``volatility <= 0.12`` "volatility at most 12%".
    A label of another form is returned as it is."""
    if match := _PER_ASSET.fullmatch(label):
        share = f"{float(match['value']):.0%}"
        if match["kind"] == "cap":
            return f"{match['what']} capped at {share} of the portfolio"
        return f"{match['what']} at least {share} of the portfolio"
    if match := _BOUND.fullmatch(label):
        bound = "at most" if match["op"] == "<=" else "at least"
        share = f"{float(match['value']):.0%}"
        what = match["what"]
        if what.startswith("asset class "):
            return f"{what.removeprefix('asset class ')} {bound} {share} of the portfolio"
        if what.startswith("sector "):
            return f"the {what.removeprefix('sector ')} sector {bound} {share} of the portfolio"
        return f"{what} {bound} {share}"
    if label.startswith("ESG floor "):
        return f"a portfolio ESG score of at least {label.removeprefix('ESG floor ')}"
    return label
