"""From a replay's raw record to the figures a report shows: series, measures, taxes, events.

The record is what :func:`backtests.replay.collect` read back from the live ledger (plain JSON
types); everything here is computed from it with the conventions of
:mod:`backtests.core.metrics`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from backtests.core import metrics
from backtests.core.regimes import EQUAL_WEIGHT_NAME, benchmark_regimes, equal_weight_index
from backtests.core.valuation import LedgerEntry, account_values, weights_by_day
from portfolios.core.errors import InvalidInput

#: Allocation snapshots kept for the chart: one every this many trading days.
ALLOCATION_EVERY = 5


def _days(record: Mapping[str, Any]) -> list[date]:
    return [date.fromisoformat(d) for d in record["days"]]


def _closes(record: Mapping[str, Any]) -> pd.DataFrame:
    table = record["closes"]
    frame = pd.DataFrame(
        [[np.nan if v is None else v for v in row] for row in table["rows"]],
        columns=table["symbols"],
        dtype=float,
    )
    frame.index = pd.DatetimeIndex(pd.to_datetime(record["days"]))
    return frame


def _entries(record: Mapping[str, Any]) -> list[LedgerEntry]:
    return [
        LedgerEntry(date.fromisoformat(day), symbol, float(shares), float(amount))
        for day, symbol, shares, amount in record["entries"]
    ]


def _rounded(series: pd.Series, places: int = 2) -> list[float]:
    return [round(float(v), places) for v in series.to_numpy()]


def yearly_taxes(record: Mapping[str, Any]) -> dict[int, float]:
    """Tax of each calendar year from the record's Schedule D nettings and the household's rates."""
    short_rate, long_rate = record["tax_rates"]
    return {
        int(year): metrics.tax_due(
            net_short_term=t["net_short_term"],
            net_long_term=t["net_long_term"],
            deductible_loss=t["deductible_loss"],
            short_rate=short_rate,
            long_rate=long_rate,
        )
        for year, t in record["taxes"].items()
    }


def summarise(
    record: Mapping[str, Any],
    *,
    benchmark: pd.Series | None = None,
    risk_free_rate: float = 0.0,
) -> dict[str, Any]:
    """The figures of one replay.

    Parameters
    ----------
    record
        The replay's raw record.
    benchmark : pd.Series, optional
        Benchmark closes by date (any span covering the window); when missing, an equal-weighted
        index of the assets in the record's closes. Its volatility regimes split the results.
    risk_free_rate
        Annual rate for Sharpe and Sortino.

    Returns
    -------
    dict
        ``metrics`` (headline measures), ``series`` (daily value, after-tax wealth, drawdown,
        benchmark), ``allocation`` (weekly weights), ``years`` (per calendar year), ``regimes``,
        ``harvests``, ``trading``.
    """
    days = _days(record)
    closes = _closes(record)
    entries = _entries(record)
    values = account_values(entries, closes, days)
    value = values["value"]
    check = record.get("ledger_check")
    if check and abs(float(value.iloc[-1]) - float(check["value"])) > 0.01 * max(
        len(closes.columns), 1
    ):
        raise InvalidInput(
            f"the computed value on {check['day']} ({value.iloc[-1]:.2f}) differs from the "
            f"ledger's valuation ({check['value']:.2f})",
            field="entries",
        )
    perf = metrics.performance(value, risk_free_rate=risk_free_rate)
    taxes = yearly_taxes(record)
    short_rate, long_rate = record["tax_rates"]
    last_year = str(days[-1].year)
    final = record["taxes"].get(last_year, {})
    liquidation = metrics.liquidation_tax(
        net_short_term=final.get("net_short_term", 0.0),
        net_long_term=final.get("net_long_term", 0.0),
        unrealised_short=record["unrealised"]["short"],
        unrealised_long=record["unrealised"]["long"],
        loss_limit=final.get("loss_limit", 3000.0),
        short_rate=short_rate,
        long_rate=long_rate,
    )
    held = metrics.after_tax_wealth(value, taxes)
    liquidated = metrics.after_tax_wealth(value, taxes, liquidation=liquidation)
    returns = value.pct_change().iloc[1:]

    days[0]
    traded: dict[date, float] = {}
    fill_costs = []
    for fill in record["fills"]:
        day = date.fromisoformat(fill["day"])
        fill_costs.append(
            metrics.FillCost(
                day=day,
                side=fill["side"],
                quantity=fill["quantity"],
                price=fill["price"],
                fee=fill["fee"],
                close=fill["close"],
            )
        )
        if fill.get("proposal") != _first_proposal(record):
            traded[day] = traded.get(day, 0.0) + fill["quantity"] * fill["price"]
    costs = metrics.execution_costs(fill_costs)
    years = perf.years
    average = float(value.mean())

    target_path = [
        (date.fromisoformat(t["day"]), {s: float(w) for s, w in t["weights"].items()})
        for t in record["targets"]
        if t.get("day")
    ]
    missing = {s for _, w in target_path for s in w} - set(closes.columns)
    tracking = None
    if target_path and not missing:
        target = metrics.target_returns(closes, target_path)
        tracking = metrics.tracking_error(returns, target)

    if benchmark is None or benchmark.dropna().empty:
        bench = equal_weight_index(closes.drop(columns=[c for c in closes if c.startswith("CASH")]))
        bench_name = EQUAL_WEIGHT_NAME
    else:
        bench = benchmark.astype(float)
        bench.index = pd.DatetimeIndex(pd.to_datetime(bench.index))
        bench_name = str(benchmark.name or "benchmark")
    regimes = benchmark_regimes(bench).reindex(returns.index)
    bench_window = bench.reindex(pd.DatetimeIndex(pd.to_datetime(days))).ffill()

    realised = record["realised"]
    year_rows = []
    pre = metrics.calendar_year_returns(value)
    post = metrics.calendar_year_returns(liquidated)
    for year in sorted(pre):
        row = realised.get(str(year), {"short": 0.0, "long": 0.0})
        year_rows.append(
            {
                "year": year,
                "return": pre[year],
                "after_tax_return": post[year],
                "realised_short": row.get("short", 0.0),
                "realised_long": row.get("long", 0.0),
                "tax": taxes.get(year, 0.0),
            }
        )

    weights = weights_by_day(entries, closes, days)
    sample = weights.iloc[::ALLOCATION_EVERY]
    if sample.index[-1] != weights.index[-1]:
        sample = pd.concat([sample, weights.iloc[[-1]]])
    allocation = {
        "days": [d.date().isoformat() for d in sample.index],
        "weights": {
            str(c): [round(float(v), 5) for v in sample[c].to_numpy()]
            for c in sample.columns
            if (sample[c].abs() > 1e-6).any()
        },
    }
    total_tax = float(sum(taxes.values()))
    summary_metrics = {
        **perf.as_dict(),
        "final_value": float(value.iloc[-1]),
        "after_tax_cagr": metrics.cagr(liquidated),
        "after_tax_cagr_held": metrics.cagr(held),
        "after_tax_final_value": float(liquidated.iloc[-1]),
        "taxes_paid": total_tax,
        "liquidation_tax": liquidation,
        "loss_carryforward_end": metrics.carryforward_after_liquidation(
            net_short_term=final.get("net_short_term", 0.0),
            net_long_term=final.get("net_long_term", 0.0),
            unrealised_short=record["unrealised"]["short"],
            unrealised_long=record["unrealised"]["long"],
            loss_limit=final.get("loss_limit", 3000.0),
        ),
        "realised_short": float(sum(r.get("short", 0.0) for r in realised.values())),
        "realised_long": float(sum(r.get("long", 0.0) for r in realised.values())),
        "turnover": metrics.turnover(traded, value),
        "trading_costs": costs,
        "trading_costs_bps_per_year": costs / average / years * 1e4 if average > 0 else 0.0,
        "tracking_error": tracking,
        "harvests": len(record["harvests"]),
        "harvested_losses": float(
            -sum(min(h.get("realised", 0.0), 0.0) for h in record["harvests"])
        ),
        "wash_sales": len(record["wash_sales"]),
        "proposals": len(record["proposals"]),
        "fills": len(record["fills"]),
    }
    return {
        "metrics": summary_metrics,
        "series": {
            "days": [d.isoformat() for d in days],
            "value": _rounded(value),
            "after_tax": _rounded(liquidated),
            "after_tax_held": _rounded(held),
            "drawdown": _rounded(metrics.drawdowns(value), 5),
            "benchmark": [None if not np.isfinite(v) else round(float(v), 4) for v in bench_window],
            "benchmark_name": bench_name,
        },
        "allocation": allocation,
        "years": year_rows,
        "regimes": metrics.regime_breakdown(returns, regimes),
        "harvests": record["harvests"],
        "blocks": record["blocks"],
        "wash_sales": record["wash_sales"],
    }


def _first_proposal(record: Mapping[str, Any]) -> int | None:
    proposals = record.get("proposals") or []
    return proposals[0]["id"] if proposals else None
