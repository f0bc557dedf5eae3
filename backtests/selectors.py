"""Read-side queries: the platform's prices as a backtest market, and the runs a user may see."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
from django.db.models import QuerySet

from backtests.market import AssetSpec, MarketData
from backtests.models import BacktestResult, BacktestRun, ResultRole
from portfolios.core.errors import InvalidInput, NotFound, PermissionDenied
from portfolios.models import Asset, FirmSettings, PriceBar


def market_from_database(
    *, symbols: Iterable[str] = (), demo_only: bool = False, name: str = ""
) -> MarketData:
    """The platform's active assets and their daily bars as a market (the demo universe only
    with ``demo_only``; only ``symbols`` when given). The firm's benchmark symbol, when it has
    prices, is the benchmark."""
    assets = Asset.objects.filter(is_active=True)
    if demo_only:
        assets = assets.filter(is_demo=True)
    wanted = [s.upper() for s in symbols]
    if wanted:
        assets = assets.filter(symbol__in=wanted)
    rows = list(assets.order_by("symbol"))
    if not rows:
        raise InvalidInput(
            "no assets to backtest: load the demo (manage.py demo --load-only) or import prices",
            field="market",
        )
    bars = list(
        PriceBar.objects.filter(asset__in=rows)
        .order_by("date")
        .values_list("date", "asset__symbol", "close", "volume")
    )
    if not bars:
        raise InvalidInput("the platform has no prices for these assets", field="market")
    frame = pd.DataFrame.from_records(bars, columns=["date", "symbol", "close", "volume"])
    frame["close"] = frame["close"].astype(float)
    frame["volume"] = frame["volume"].astype(float)
    closes = frame.pivot(index="date", columns="symbol", values="close").sort_index()
    volumes = frame.pivot(index="date", columns="symbol", values="volume").sort_index()
    specs = {
        a.symbol: AssetSpec(
            symbol=a.symbol,
            name=a.name,
            security_type=a.security_type,
            asset_class=a.asset_class,
            sector=a.sector,
            esg_score=a.esg_score,
            exclusion_tags=tuple(a.exclusion_tags or ()),
            identity_group=a.identity_group,
            replacement_group=a.replacement_group,
            fractionable=a.fractionable,
        )
        for a in rows
        if a.symbol in closes.columns
    }
    benchmark_symbol = FirmSettings.current().benchmark_symbol.strip().upper()
    benchmark = closes[benchmark_symbol] if benchmark_symbol in closes.columns else None
    if benchmark is not None:
        benchmark = benchmark.rename(benchmark_symbol)
    return MarketData(
        name=name or ("demo market" if demo_only else "platform prices"),
        closes=closes,
        assets=specs,
        volumes=volumes,
        benchmark=benchmark,
    )


def _can_see_backtests(user: Any) -> None:
    from advisor.models import Role

    if not getattr(user, "is_authenticated", False) or getattr(user, "role", None) not in (
        Role.ADVISOR,
        Role.STAFF,
    ):
        raise PermissionDenied("backtests are for advisors and staff")


def runs_for_user(*, user: Any) -> QuerySet[BacktestRun]:
    """The runs a user may see: every run, for advisors and staff (a backtest holds no client's
    data: its household is simulated)."""
    _can_see_backtests(user)
    return BacktestRun.objects.order_by("-created_at", "-id")


def run_for_user(*, user: Any, run_id: int) -> BacktestRun:
    run = runs_for_user(user=user).filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"backtest {run_id} not found")
    return run


def run_results(run: BacktestRun, *, role: str | None = None) -> list[BacktestResult]:
    results = run.results.all()
    if role is not None:
        results = results.filter(role=role)
    return list(results.order_by("id"))


def run_progress(run: BacktestRun) -> dict[str, int]:
    """Replays done, failed and in all (training and test windows included)."""
    counts = {"done": 0, "failed": 0, "pending": 0}
    for status in run.results.values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    total = sum(counts.values())
    if run.kind == "walk_forward" and not run.results.filter(role=ResultRole.TEST).exists():
        folds = len({f for f in run.results.values_list("fold", flat=True) if f is not None})
        total += folds  # the test windows still to come
    return {**counts, "total": total}
