"""Speed of the portfolio engine's recommendations next to PyPortfolioOpt, on the same data.

Run from the repository root: ``.venv/bin/python benchmarks/optimize.py``.

For 20, 100 and 500 assets (synthetic returns with a 10-factor structure, seeded) it prints the
time of one ESG-constrained recommendation on the fast path (a compiled
:class:`~portfolios.core.optimize.RecommendationProblem`; dense covariance at 20 and 100, a
10-factor model at 500) next to ``EfficientFrontier(mu, S, solver="CLARABEL").max_sharpe()``,
the difference between the factor and dense answers at 500, and the recommendations per second
for 1,000 clients of varied profiles sharing a 40-asset universe, served by one process and by
two worker processes (one per core). The last line is
``RESULT n500_ratio_vs_pypfopt=<ours / pypfopt> clients_per_s=<number>``.

Times are wall-clock medians; ours and PyPortfolioOpt's are measured alternately so that both
see the same machine load. "build s" is the one-off cost of a universe: estimating the factor
model (at 500 assets), compiling the problem and its first solve.
"""

from __future__ import annotations

import multiprocessing
import statistics
import sys
import time
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from portfolios.core import estimate  # noqa: E402
from portfolios.core.errors import InfeasibleProblem  # noqa: E402
from portfolios.core.optimize import Constraints, RecommendationProblem  # noqa: E402

SEED = 20240611
PERIODS = 1260  # five years of daily returns
N_FACTORS = 10
SECTORS = ["Energy", "Tech", "Health", "Financials", "Consumer", "Industrials", "Utilities"]


def synthetic_market(n: int, seed: int) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    """Daily returns with a 10-factor structure; expected returns from a CAPM-style prior."""
    rng = np.random.default_rng(seed)
    symbols = [f"A{i:03d}" for i in range(n)]
    factor_vol = np.linspace(0.012, 0.003, N_FACTORS)
    loadings = rng.normal(0.0, 1.0, (n, N_FACTORS))
    loadings[:, 0] = rng.uniform(0.5, 1.5, n)  # a market factor everyone is exposed to
    factors = rng.normal(0.0003, factor_vol, (PERIODS, N_FACTORS))
    specific = rng.normal(0.0, rng.uniform(0.008, 0.02, n), (PERIODS, n))
    returns = pd.DataFrame(factors @ loadings.T + specific, columns=symbols)
    mu = estimate.capm_return(returns, returns_data=True, risk_free_rate=0.02)
    mu = mu + rng.normal(0.0, 0.02, n)  # each asset's own view on top of the prior
    info = pd.DataFrame(
        {
            "esg": rng.uniform(10.0, 95.0, n).round(1),
            "sector": rng.choice(SECTORS, n),
        },
        index=symbols,
    )
    return mu, returns, info


def pypfopt_max_sharpe(mu: pd.Series, cov: pd.DataFrame) -> float:
    """Seconds for one ``EfficientFrontier(...).max_sharpe()`` with Clarabel, set-up included."""
    from pypfopt import EfficientFrontier

    started = time.perf_counter()
    ef = EfficientFrontier(mu, cov, solver="CLARABEL")
    ef.max_sharpe(risk_free_rate=0.0)
    return time.perf_counter() - started


def interleaved_times(
    problem: RecommendationProblem,
    mu: pd.Series,
    cov: pd.DataFrame,
    info: pd.DataFrame,
    repeats: int,
) -> tuple[float, float]:
    """Median seconds of one distinct ESG-constrained recommendation (no cache hit) and of
    PyPortfolioOpt's max_sharpe, measured alternately so both see the same machine load."""
    rng = np.random.default_rng(SEED + 1)
    energy = list(info.index[info["sector"] == "Energy"])
    ours, theirs = [], []
    for i in range(repeats):
        theirs.append(pypfopt_max_sharpe(mu, cov))
        constraints = Constraints(
            max_weight=float(rng.choice([0.1, 0.15])),
            esg_floor=50.0 + i,
            excluded=energy if i % 2 else [],
        )
        started = time.perf_counter()
        problem.recommend(risk_aversion=1.0 + i, constraints=constraints)
        ours.append(time.perf_counter() - started)
    return statistics.median(ours), statistics.median(theirs)


def size_benchmark(n: int) -> dict[str, float]:
    mu, returns, info = synthetic_market(n, SEED + n)
    cov = estimate.sample_cov(returns, returns_data=True)
    out: dict[str, float] = {"n": n}
    pypfopt_max_sharpe(mu, cov)  # warm-up: imports and first compilation
    started = time.perf_counter()
    if n >= 500:
        model = estimate.factor_model(returns, n_factors=N_FACTORS, returns_data=True)
        fast = RecommendationProblem(
            mu, model, esg_scores=info["esg"], sectors=info["sector"], cache_size=0
        )
    else:
        fast = RecommendationProblem(
            mu, cov, esg_scores=info["esg"], sectors=info["sector"], cache_size=0
        )
    fast.recommend(risk_aversion=1.0, constraints=Constraints(esg_floor=55, max_weight=0.25))
    out["build_s"] = time.perf_counter() - started
    out["ours_s"], out["pypfopt_s"] = interleaved_times(fast, mu, cov, info, 7 if n >= 500 else 15)
    if n >= 500:
        client = Constraints(esg_floor=60, max_weight=0.1)
        factor_w = fast.recommend(risk_aversion=3.0, constraints=client).weights
        same_cov = RecommendationProblem(
            mu, model.covariance(), esg_scores=info["esg"], cache_size=0
        )
        started = time.perf_counter()
        same_w = same_cov.recommend(risk_aversion=3.0, constraints=client).weights
        out["dense_s"] = time.perf_counter() - started
        sample = RecommendationProblem(mu, cov, esg_scores=info["esg"], cache_size=0)
        sample_w = sample.recommend(risk_aversion=3.0, constraints=client).weights
        out["diff_same_cov"] = float(np.abs(factor_w - same_w).max())
        out["diff_sample_cov"] = float(np.abs(factor_w - sample_w).max())
    return out


# --------------------------------------------------------------------------------------------
# 1,000 clients on a 40-asset universe
# --------------------------------------------------------------------------------------------

ASSET_CLASSES = ["Equity"] * 28 + ["Bonds"] * 10 + ["Real assets"] * 2


def client_universe() -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    mu, returns, info = synthetic_market(40, SEED)
    info["asset_class"] = ASSET_CLASSES
    bonds = info["asset_class"] == "Bonds"
    # Bond funds: low volatility and return, high ESG coverage.
    returns.loc[:, bonds] = returns.loc[:, bonds] * 0.25
    mu[bonds] = 0.02 + 0.25 * (mu[bonds] - 0.02)
    info.loc[bonds, "sector"] = "Fixed income"
    info.loc[info["asset_class"] == "Real assets", "sector"] = "Real estate"
    return mu, estimate.ledoit_wolf(returns, returns_data=True), info


def risk_aversion_for(score: int) -> float:
    """Risk score 1 (most cautious) to 10 (most aggressive) mapped to lambda from 20 down to 1."""
    return float(20.0 * (1.0 / 20.0) ** ((score - 1) / 9))


@dataclass(frozen=True)
class Client:
    score: int
    constraints: Constraints
    existing: bool

    @property
    def risk_aversion(self) -> float:
        return risk_aversion_for(self.score)

    @property
    def profile(self) -> str:
        """What makes two clients' recommendations identical (used to shard the book)."""
        c = self.constraints
        return repr(
            (self.score, c.max_weight, c.esg_floor, sorted(c.excluded or ()), self.existing)
        )


def client_book(mu: pd.Series, cov: pd.DataFrame, info: pd.DataFrame, count: int) -> list[Client]:
    """Clients of varied profiles; one in ten already holds a portfolio (their earlier
    recommendation, drifted by the market) and may trade at most 20% of it."""
    rng = np.random.default_rng(SEED + 7)
    symbols = list(info.index)
    equities = [s for s in symbols if info.loc[s, "asset_class"] == "Equity"]
    energy = [s for s in equities if info.loc[s, "sector"] == "Energy"]
    tobacco, weapons = equities[:2], equities[2:4]
    exclusion_sets = [[], energy, tobacco, weapons, energy + tobacco, tobacco + weapons]
    floors = [None, 40.0, 50.0, 60.0]
    earlier = RecommendationProblem(
        mu, cov, esg_scores=info["esg"], asset_classes=info["asset_class"]
    )
    book = []
    for _ in range(count):
        score = int(rng.integers(1, 11))
        excluded = list(exclusion_sets[int(rng.integers(len(exclusion_sets)))])
        if rng.random() < 0.1:  # a personal exclusion of one company
            excluded.append(str(rng.choice(equities)))
        kwargs: dict = {
            "max_weight": 0.1 if score <= 3 else 0.15 if score <= 7 else 0.25,
            "esg_floor": floors[int(rng.integers(len(floors)))],
            "excluded": excluded,
            "asset_class_bounds": {
                "Equity": (None, max(0.0, 0.1 * score - 0.2), min(1.0, 0.1 * score + 0.1))
            },
        }
        existing = rng.random() < 0.1
        if existing:
            try:
                before = earlier.recommend(
                    risk_aversion=risk_aversion_for(max(1, score - 1)),
                    constraints=Constraints(**kwargs),
                ).weights
            except Exception:
                before = pd.Series(1.0 / len(symbols), index=symbols)
            drifted = before * np.exp(rng.normal(0.0, 0.1, len(symbols)))
            kwargs["current_weights"] = drifted / drifted.sum()
            kwargs["max_turnover"] = 0.2
        book.append(Client(score, Constraints(**kwargs), existing))
    return book


_BOOK: list[Client] = []
_MARKET: tuple[pd.Series, pd.DataFrame, pd.DataFrame] | None = None


def serve(shard: int, shards: int) -> dict[str, int]:
    """Recommend for the clients of one shard, building the compiled problems first."""
    assert _MARKET is not None
    mu, cov, info = _MARKET
    groups = {"asset_classes": info["asset_class"], "sectors": info["sector"]}
    new_clients = RecommendationProblem(mu, cov, esg_scores=info["esg"], **groups)
    existing_clients = RecommendationProblem(
        mu, cov, esg_scores=info["esg"], turnover=True, **groups
    )
    served = infeasible = 0
    for client in _BOOK:
        if zlib.crc32(client.profile.encode()) % shards != shard:
            continue
        problem = existing_clients if client.existing else new_clients
        served += 1
        try:
            problem.recommend(risk_aversion=client.risk_aversion, constraints=client.constraints)
        except InfeasibleProblem:  # an infeasible profile gets its explanation: an answer too
            infeasible += 1
    return {
        "served": served,
        "infeasible": infeasible,
        "solves_new": new_clients.distinct_solves,
        "solves_existing": existing_clients.distinct_solves,
        "cache_hits": new_clients.cache_hits + existing_clients.cache_hits,
    }


def clients_benchmark(count: int = 1000) -> dict[str, dict[str, float]]:
    """Recommendations for ``count`` clients: one process, then two worker processes (one per
    core) each serving the clients of half the profiles; wall time includes building the
    compiled problems (and starting the workers)."""
    global _BOOK, _MARKET
    mu, cov, info = client_universe()
    _MARKET = (mu, cov, info)
    _BOOK = client_book(mu, cov, info, count)
    results: dict[str, dict[str, float]] = {}

    started = time.perf_counter()
    stats = serve(0, 1)
    results["one process"] = {**stats, "seconds": time.perf_counter() - started}

    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(2) as pool:
        parts = pool.starmap(serve, [(0, 2), (1, 2)])
    merged = {key: sum(part[key] for part in parts) for key in parts[0]}
    results["two processes"] = {**merged, "seconds": time.perf_counter() - started}
    for r in results.values():
        r["per_s"] = r["served"] / r["seconds"]
    results["book"] = {"existing": sum(c.existing for c in _BOOK), "clients": len(_BOOK)}
    return results


def main() -> None:
    warnings.filterwarnings("ignore")
    print("ESG-constrained recommendation (fast path) vs PyPortfolioOpt max_sharpe (Clarabel)")
    print(f"{'assets':>6} {'ours ms':>9} {'pypfopt ms':>11} {'ratio':>7} {'build s':>8}  ours uses")
    ratio_500 = float("nan")
    extra = None
    for n in (20, 100, 500):
        r = size_benchmark(n)
        ratio = r["ours_s"] / r["pypfopt_s"]
        kind = "10-factor model" if n >= 500 else "dense covariance"
        print(
            f"{n:>6} {r['ours_s'] * 1e3:>9.1f} {r['pypfopt_s'] * 1e3:>11.1f} {ratio:>7.3f} "
            f"{r['build_s']:>8.2f}  {kind}"
        )
        if n >= 500:
            ratio_500, extra = ratio, r
    assert extra is not None
    print(
        f"500 assets, same client: dense fast path {extra['dense_s'] * 1e3:.0f} ms; max |w| "
        f"difference, factor vs dense formulation of the same covariance: "
        f"{extra['diff_same_cov']:.1e}; factor model vs the dense sample covariance: "
        f"{extra['diff_sample_cov']:.4f}"
    )
    c = clients_benchmark()
    book = c.pop("book")
    print(
        f"{book['clients']:.0f} clients, one 40-asset universe: risk scores 1-10, ESG floors "
        f"none/40/50/60, six exclusion sets plus personal exclusions, equity bands and caps by "
        f"risk score, {book['existing']:.0f} holding a portfolio with a turnover limit"
    )
    for mode, r in c.items():
        print(
            f"  {mode}: {r['seconds']:.2f} s, {r['per_s']:.0f} clients/s, "
            f"{r['solves_new'] + r['solves_existing']:.0f} distinct solves "
            f"({r['solves_new']:.0f} new clients, {r['solves_existing']:.0f} with turnover), "
            f"{r['cache_hits']:.0f} cache hits, {r['infeasible']:.0f} infeasible profiles"
        )
    best = max(c, key=lambda mode: c[mode]["per_s"])
    per_s = c[best]["per_s"]
    print(f"clients_per_s below is the faster of the two ways of using the 2 cores: {best}")
    print(f"RESULT n500_ratio_vs_pypfopt={ratio_500:.3f} clients_per_s={per_s:.0f}")


if __name__ == "__main__":
    main()
