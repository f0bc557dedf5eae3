"""A backtest run as a report: an HTML page with Plotly charts and the metrics table, or JSON.

The standalone report (``manage.py backtest --report FILE.html``) is one file that works offline:
plotly.js from the plotly package is embedded once. In the advisor workspace the same report is
a page of the site and loads plotly.js as a static file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone

from backtests.core.config import strategy_title
from backtests.core.schedule import DECISION_TIME, EXECUTION_TIME
from backtests.models import BacktestResult, BacktestRun, ResultRole, ResultStatus, RunKind
from backtests.services import TABLE_METRICS

STATIC = Path(__file__).resolve().parent / "static" / "backtests"
PALETTE = (
    "#1f5f8b",
    "#b3261e",
    "#2e7d32",
    "#8e44ad",
    "#e67e22",
    "#00838f",
    "#6d4c41",
    "#546e7a",
)

#: How each measure is shown: label and format ("pct", "ratio", "money", "count").
METRIC_FORMATS: dict[str, tuple[str, str]] = {
    "cagr": ("CAGR", "pct"),
    "volatility": ("Volatility", "pct"),
    "sharpe": ("Sharpe", "ratio"),
    "sortino": ("Sortino", "ratio"),
    "calmar": ("Calmar", "ratio"),
    "max_drawdown": ("Max drawdown", "pct"),
    "turnover": ("Turnover / yr", "pct"),
    "trading_costs": ("Trading costs", "money"),
    "taxes_paid": ("Taxes paid", "money"),
    "liquidation_tax": ("Tax at liquidation", "money"),
    "loss_carryforward_end": ("Loss left to carry", "money"),
    "after_tax_cagr": ("After-tax CAGR", "pct"),
    "tracking_error": ("Tracking error", "pct"),
    "harvests": ("Harvests", "count"),
    "realised_short": ("Realised short-term", "money"),
    "realised_long": ("Realised long-term", "money"),
}

CONVENTIONS = (
    f"Decisions are taken after each day's close ({DECISION_TIME:%H:%M} New York) with data up "
    f"to that close; approved trades execute the next trading day at {EXECUTION_TIME:%H:%M} "
    "New York on the simulated exchange (that day's close, with spread, square-root impact and "
    "fees). No decision sees a price after its day.",
    "Every decision runs through the platform's own services: recommendations, proposals with "
    "tax-aware bands, harvest scans with wash-sale blocks, approval (by the system user "
    "'backtest'), pre-trade checks, execution and the ledger's lots.",
    "After-tax: each year's tax (Schedule D netting at the household's rates, the $3,000 loss "
    "limit and carryforwards) is paid out of the account pro rata at the year's last trading "
    "day; at the end the account is liquidated and the tax on its unrealised gains is paid too.",
    "Turnover excludes the opening investment. Trading costs are fees plus each fill's distance "
    "from its day's close. Regimes are the benchmark's volatility regime at the previous close.",
)


def _fmt(value: Any, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "pct":
        return f"{float(value):.2%}"
    if kind == "ratio":
        return f"{float(value):.2f}"
    if kind == "money":
        amount = float(value)
        return f"−${-amount:,.0f}" if amount < 0 else f"${amount:,.0f}"
    return f"{int(value):,}"


def _layout(title: str, *, y_format: str = "", height: int = 360) -> dict[str, Any]:
    return {
        "title": {"text": title, "x": 0, "font": {"size": 15}},
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 40, "b": 40},
        "legend": {"orientation": "h", "y": -0.15},
        "yaxis": {"tickformat": y_format} if y_format else {},
        "hovermode": "x unified",
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
    }


def _name(result: BacktestResult) -> str:
    """How a result is called in tables and legends: the strategy, or a test window's dates
    and chosen parameters."""
    if result.role == ResultRole.TEST:
        return f"{result.start:%Y-%m-%d} to {result.end:%Y-%m-%d} ({strategy_title(result.label)})"
    return strategy_title(result.label)


def _reported(run: BacktestRun) -> list[BacktestResult]:
    role = ResultRole.TEST if run.kind == RunKind.WALK_FORWARD else ResultRole.FULL
    return list(run.results.filter(role=role, status=ResultStatus.DONE).order_by("id"))


def figures(run: BacktestRun, results: Sequence[BacktestResult]) -> dict[str, dict[str, Any]]:
    """The report's charts as Plotly figure dicts (data and layout)."""
    out: dict[str, dict[str, Any]] = {}
    if run.kind == RunKind.WALK_FORWARD:
        oos = (run.summary or {}).get("out_of_sample") or {}
        series = oos.get("series")
        if series:
            out["equity"] = {
                "data": [
                    {
                        "type": "scatter",
                        "mode": "lines",
                        "name": "Out of sample, pre-tax",
                        "x": series["days"],
                        "y": series["value"],
                        "line": {"color": PALETTE[0]},
                    },
                    {
                        "type": "scatter",
                        "mode": "lines",
                        "name": "Out of sample, after tax",
                        "x": series["days"],
                        "y": series["after_tax"],
                        "line": {"color": PALETTE[1], "dash": "dot"},
                    },
                ],
                "layout": _layout("Out-of-sample growth of 1 (test windows chained)"),
            }
    else:
        data = []
        for i, r in enumerate(results):
            color = PALETTE[i % len(PALETTE)]
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": _name(r),
                    "x": r.series["days"],
                    "y": r.series["value"],
                    "line": {"color": color},
                }
            )
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": f"{_name(r)} after tax",
                    "x": r.series["days"],
                    "y": r.series["after_tax"],
                    "line": {"color": color, "dash": "dot"},
                    "visible": "legendonly",
                }
            )
        if results and any(v is not None for v in results[0].series.get("benchmark", [])):
            first = results[0]
            bench = first.series["benchmark"]
            base = next(v for v in bench if v is not None)
            start_value = first.series["value"][0]
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": f"Benchmark ({first.series.get('benchmark_name', 'index')})",
                    "x": first.series["days"],
                    "y": [None if v is None else v / base * start_value for v in bench],
                    "line": {"color": "#999", "width": 1},
                }
            )
        layout = _layout("Account value (log scale)", y_format="$,.0f")
        layout["yaxis"]["type"] = "log"
        out["equity"] = {"data": data, "layout": layout}
    out["drawdown"] = {
        "data": [
            {
                "type": "scatter",
                "mode": "lines",
                "name": _name(r),
                "x": r.series["days"],
                "y": r.series["drawdown"],
                "line": {"color": PALETTE[i % len(PALETTE)]},
            }
            for i, r in enumerate(results)
        ],
        "layout": _layout("Drawdown from the running peak", y_format=".0%", height=300),
    }
    taxes = []
    for i, r in enumerate(results):
        years = r.details.get("years", [])
        taxes.append(
            {
                "type": "bar",
                "name": _name(r),
                "x": [str(y["year"]) for y in years],
                "y": [round(y["tax"], 2) for y in years],
                "marker": {"color": PALETTE[i % len(PALETTE)]},
            }
        )
    out["taxes"] = {
        "data": taxes,
        "layout": {
            **_layout(
                "Tax paid each year (negative: the loss deduction's saving)",
                y_format="$,.0f",
                height=300,
            ),
            "barmode": "group",
        },
    }
    harvest_data = []
    for i, r in enumerate(results):
        events = r.details.get("harvests", [])
        if not events:
            continue
        harvest_data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": _name(r),
                "x": [e["day"] for e in events],
                "y": [-e.get("realised", 0.0) for e in events],
                "text": [f"sold {e['sold']}, bought {e['bought'] or 'nothing'}" for e in events],
                "marker": {"color": PALETTE[i % len(PALETTE)], "size": 9},
            }
        )
    if harvest_data:
        layout = _layout("Harvests: loss realised at each sale", y_format="$,.0f", height=300)
        # over the whole window and from $0: a lone harvest would otherwise set both axes' scales
        # to its own point (milliseconds and cents apart)
        layout["yaxis"]["rangemode"] = "tozero"
        days = results[0].series.get("days") or []
        if days:
            layout["xaxis"] = {"type": "date", "range": [days[0], days[-1]]}
        out["harvests"] = {"data": harvest_data, "layout": layout}
    for i, r in enumerate(results):
        allocation = r.details.get("allocation") or {}
        weights = allocation.get("weights") or {}
        if not weights:
            continue
        ordered = sorted(weights, key=lambda s: (s == "cash", -max(weights[s])))
        out[f"allocation-{i}"] = {
            "data": [
                {
                    "type": "scatter",
                    "mode": "lines",
                    "stackgroup": "one",
                    "name": s,
                    "x": allocation["days"],
                    "y": weights[s],
                    "line": {"width": 0.5},
                }
                for s in ordered
            ],
            "layout": _layout(f"Allocation through time: {_name(r)}", y_format=".0%", height=320),
        }
    return out


def _table(results: Sequence[BacktestResult]) -> dict[str, Any]:
    columns = [(m, *METRIC_FORMATS[m]) for m in TABLE_METRICS]
    rows = [
        {"label": _name(r), "cells": [_fmt(r.metrics.get(m), kind) for m, _, kind in columns]}
        for r in results
    ]
    return {"headers": [label for _, label, _ in columns], "rows": rows}


def report_context(run: BacktestRun, *, standalone: bool) -> dict[str, Any]:
    """Everything the report template shows."""
    results = _reported(run)
    charts = figures(run, results)
    summary = run.summary or {}
    harvest_value = [
        {
            "pair": f"{strategy_title(h['with'])} vs {strategy_title(h['without'])}",
            "cagr": _fmt(h["cagr"], "pct"),
            "years": [(y, _fmt(v, "pct")) for y, v in sorted(h["per_year"].items())],
        }
        for h in summary.get("harvest_value", [])
    ]
    regimes = [
        {
            "label": _name(r),
            "rows": [
                {
                    "regime": row["regime"],
                    "days": row["days"],
                    "share": _fmt(row.get("share"), "pct"),
                    "annual_return": _fmt(row.get("annual_return"), "pct"),
                    "volatility": _fmt(row.get("volatility"), "pct"),
                    "sharpe": _fmt(row.get("sharpe"), "ratio"),
                }
                for row in r.details.get("regimes", [])
            ],
        }
        for r in results
    ]
    oos = summary.get("out_of_sample")
    walk_forward = None
    if run.kind == RunKind.WALK_FORWARD:
        walk_forward = {
            "spec": run.walk_forward,
            "objective": str(run.walk_forward.get("objective", "")).replace("_", " "),
            "chosen": summary.get("chosen", []),
            "out_of_sample": {
                k: _fmt(oos.get(k), METRIC_FORMATS[k][1])
                for k in ("cagr", "volatility", "sharpe", "max_drawdown", "after_tax_cagr")
            }
            if oos
            else None,
        }
    notes = sorted({n for r in results for n in r.details.get("notes", [])[:20]})
    plotly_js = report_css = report_js = ""
    if standalone:
        from advisor.staticfinders import plotly_bundle_path

        plotly_js = plotly_bundle_path().read_text()
        report_css = (STATIC / "report.css").read_text()
        report_js = (STATIC / "report.js").read_text()
    return {
        "run": run,
        "results": results,
        "table": _table(results),
        "charts": charts,
        "chart_ids": list(charts),
        "harvest_value": harvest_value,
        "regimes": regimes,
        "walk_forward": walk_forward,
        "conventions": CONVENTIONS,
        "notes": notes,
        "failed": list(run.results.filter(status=ResultStatus.FAILED).values_list("key", "error")),
        "standalone": standalone,
        "plotly_js": plotly_js,
        "report_css": report_css,
        "report_js": report_js,
        "generated_at": timezone.now(),
    }


def report_html(run: BacktestRun, *, standalone: bool = True) -> str:
    """The report as one HTML document (standalone: plotly.js embedded, works offline)."""
    return render_to_string("backtests/report.html", report_context(run, standalone=standalone))


def report_json(run: BacktestRun) -> dict[str, Any]:
    """The run for machines: its settings, each reported result's measures, years, regimes,
    harvests, and the study's summary (comparison or walk-forward)."""
    results = _reported(run)
    return {
        "format": "backtest/v1",
        "run": {
            "id": run.pk,
            "name": run.name,
            "kind": run.kind,
            "status": run.status,
            "market": run.market_name,
            "start": run.start.isoformat(),
            "end": run.end.isoformat(),
            "account": run.account,
            "strategies": run.strategies,
            "walk_forward": run.walk_forward,
            "seed": run.seed,
        },
        "results": [
            {
                "key": r.key,
                "label": r.label,
                "role": r.role,
                "fold": r.fold,
                "start": r.start.isoformat(),
                "end": r.end.isoformat(),
                "metrics": r.metrics,
                "years": r.details.get("years", []),
                "regimes": r.details.get("regimes", []),
                "harvests": r.details.get("harvests", []),
                "timings": r.details.get("timings", {}),
            }
            for r in results
        ],
        "summary": {k: v for k, v in (run.summary or {}).items() if k != "out_of_sample"}
        | (
            {
                "out_of_sample": {
                    k: v for k, v in run.summary["out_of_sample"].items() if k != "series"
                }
            }
            if (run.summary or {}).get("out_of_sample")
            else {}
        ),
        "conventions": list(CONVENTIONS),
    }


def chart_json(charts: dict[str, Any]) -> str:
    return json.dumps(charts)
