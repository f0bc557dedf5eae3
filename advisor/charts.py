"""Plotly figures of the client portal, built on the server from selector data.

Each builder returns a :class:`Chart`: the figure as JSON that is safe to place inside a
``<script type="application/json">`` element (the page renders it with ``Plotly.newPlot``; the
plotly.js bundle is served as a static file), and a sentence that says what the chart shows, for
screen readers and for anyone who cannot see it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.core.cache import cache
from django.utils.safestring import SafeString, mark_safe

from advisor.portal_selectors import CASH_KEY, Allocation, Frontier, GoalOutlook
from advisor.services.performance import Performance

INK = "#14213d"
MUTED = "#5f6b7f"
GRID = "#e3e8ef"
BRAND = "#1f5f8b"
ACCENT = "#c77d12"
POS = "#13795b"
NEG = "#b3261e"
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'

#: One colour per asset class (and uninvested cash), stable across charts.
CLASS_COLOURS = {
    "us_equity": "#1f5f8b",
    "intl_equity": "#3f8fc4",
    "em_equity": "#7db6de",
    "bond": "#2f7d5b",
    "tips": "#6bb08c",
    "real_estate": "#b5651d",
    "commodity": "#c9a227",
    "cash": "#8a94a6",
    CASH_KEY: "#c3c9d4",
}
#: Most funds the drift chart shows (the largest gaps; the table has them all).
DRIFT_BARS = 14
#: Most points a time-series chart draws; longer series are shown at weekly closes.
MAX_POINTS = 750


@dataclass(frozen=True)
class Chart:
    figure_json: SafeString
    summary: str


#: How long a built figure is kept; figures are cached by a digest of what they show.
CHART_CACHE_SECONDS = 60 * 60 * 24


def _digest(*parts: Any) -> str:
    """A digest of a chart's inputs: numpy arrays by their bytes, anything else by its repr."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(np.ascontiguousarray(part).tobytes())
        elif isinstance(part, pd.Series):
            h.update(np.ascontiguousarray(part.to_numpy(dtype=float)).tobytes())
            h.update(
                repr((part.index[0], part.index[-1], len(part))).encode() if len(part) else b""
            )
        else:
            h.update(repr(part).encode())
        h.update(b"|")
    return h.hexdigest()


def _memo(name: str, parts: tuple[Any, ...], build: Callable[[], Chart | None]) -> Chart | None:
    """Build a chart once per distinct input: figures are the costly part of a page."""
    key = f"portal:chart:v4:{name}:{_digest(*parts)}"
    cached = cache.get(key)
    if isinstance(cached, tuple) and len(cached) == 2:
        return Chart(mark_safe(cached[0]), cached[1])  # noqa: S308 - stored escaped, see safe_json
    chart = build()
    if chart is not None:
        cache.set(key, (str(chart.figure_json), chart.summary), CHART_CACHE_SECONDS)
    return chart


def safe_json(figure: Any) -> SafeString:
    """A Plotly figure as JSON safe inside ``<script type="application/json">``: ``<``, ``>`` and
    ``&`` escaped, so no text in it (a symbol, a name) can close the tag."""
    text = figure.to_json(validate=False, pretty=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(raw, escaped)
    return mark_safe(text)  # noqa: S308 - JSON with <, > and & escaped, inside a JSON script tag


def _layout(**overrides: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "font": {"family": FONT, "size": 13, "color": INK},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "margin": {"l": 56, "r": 16, "t": 16, "b": 40},
        "hoverlabel": {"font": {"family": FONT}},
        "legend": {"orientation": "h", "y": 1.12, "x": 0, "font": {"size": 12}},
        "xaxis": {"gridcolor": GRID, "zeroline": False, "automargin": True},
        "yaxis": {"gridcolor": GRID, "zeroline": False, "automargin": True},
    }
    layout.update(overrides)
    return layout


def _pct(x: float) -> str:
    return f"{x:+.1%}" if x else "0.0%"


def _in_sentence(label: str) -> str:
    """A label inside a sentence: "Bonds" reads "bonds", but "US equity" keeps its acronym."""
    return label if label[:2].isupper() else label[:1].lower() + label[1:]


def _thin(series: pd.Series) -> pd.Series:
    if len(series) <= MAX_POINTS:
        return series
    index = pd.to_datetime(pd.Index(series.index))
    weekly = pd.Series(series.to_numpy(), index=index).resample("W-FRI").last().dropna()
    weekly.index = weekly.index.date
    last = series.index[-1]
    if weekly.index[-1] != last:
        weekly.loc[last] = series.iloc[-1]
    return weekly


def performance_chart(performance: Performance) -> Chart | None:
    """Cumulative time-weighted return against the benchmark, with the value underneath."""
    bench = performance.benchmark_return
    return _memo(
        "performance",
        (
            performance.value,
            performance.cumulative_return,
            bench if bench is not None else None,
            performance.benchmark_name,
        ),
        lambda: _performance_chart(performance),
    )


def _performance_chart(performance: Performance) -> Chart | None:
    if performance.is_empty or len(performance.value) < 2:
        return None
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figure = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.68, 0.32], vertical_spacing=0.06
    )
    mine = _thin(performance.cumulative_return)
    figure.add_trace(
        go.Scatter(
            x=list(mine.index),
            y=mine.to_numpy() * 100,
            name="Your portfolio",
            line={"color": BRAND, "width": 2.2},
            hovertemplate="%{x|%b %d, %Y}<br>Your portfolio %{y:.1f}%<extra></extra>",
        ),
        row=1,
        col=1,
    )
    if performance.benchmark_return is not None:
        bench = _thin(performance.benchmark_return.dropna())
        figure.add_trace(
            go.Scatter(
                x=list(bench.index),
                y=bench.to_numpy() * 100,
                name=f"Benchmark ({performance.benchmark_name})",
                line={"color": ACCENT, "width": 1.6, "dash": "dot"},
                hovertemplate="%{x|%b %d, %Y}<br>Benchmark %{y:.1f}%<extra></extra>",
            ),
            row=1,
            col=1,
        )
    value = _thin(performance.value)
    figure.add_trace(
        go.Scatter(
            x=list(value.index),
            y=value.to_numpy(),
            name="Value",
            fill="tozeroy",
            line={"color": "#7aa7c7", "width": 1.2},
            fillcolor="rgba(31, 95, 139, 0.12)",
            hovertemplate="%{x|%b %d, %Y}<br>Value $%{y:,.0f}<extra></extra>",
            showlegend=False,
        ),
        row=2,
        col=1,
    )
    figure.update_layout(
        **_layout(height=380, hovermode="x unified", margin={"l": 64, "r": 16, "t": 28, "b": 36})
    )
    figure.update_yaxes(
        ticksuffix="%", gridcolor=GRID, zeroline=True, zerolinecolor="#c8d0dc", row=1, col=1
    )
    figure.update_yaxes(tickprefix="$", tickformat="~s", gridcolor=GRID, row=2, col=1)
    figure.update_xaxes(gridcolor=GRID)
    total = performance.total_return or 0.0
    summary = (
        f"Since {performance.start:%B %d, %Y} your portfolio's time-weighted return is "
        f"{_pct(total)}"
    )
    bench_total = performance.benchmark_total_return
    if bench_total is not None:
        summary += f", against {_pct(bench_total)} for the benchmark {performance.benchmark_name}"
        if performance.benchmark_is_blend:
            summary += " (your risk profile's split, rebalanced daily)"
    summary += f"; its value is now ${float(performance.value.iloc[-1]):,.0f}."
    return Chart(safe_json(figure), summary)


def _sunburst_frame(
    allocation: Allocation, attribute: str
) -> tuple[list[str], list[str], list[str], list[float], list[str]]:
    """Sunburst columns: a ring of asset classes and a ring of funds (every leaf at depth 2)."""
    children: dict[str, list[tuple[str, float]]] = {}
    class_labels: dict[str, str] = {}
    for row in allocation.rows:
        weight = round(float(getattr(row, attribute)) * 100, 4)
        if weight <= 0:
            continue
        class_labels[row.asset_class] = row.asset_class_label
        members = children.setdefault(row.asset_class, [])
        members.append((row.symbol, weight))
    ids: list[str] = []
    labels: list[str] = []
    parents: list[str] = []
    values: list[float] = []
    colours: list[str] = []
    for asset_class, members in children.items():
        colour = CLASS_COLOURS.get(asset_class, MUTED)
        ids.append(asset_class)
        labels.append(class_labels[asset_class])
        parents.append("")
        values.append(sum(w for _, w in members))
        colours.append(colour)
        for symbol, weight in members:
            ids.append(f"{asset_class}/{symbol}")
            labels.append("Cash" if symbol == CASH_KEY else symbol)
            parents.append(asset_class)
            values.append(weight)
            colours.append(colour)
    return ids, labels, parents, values, colours


def _allocation_parts(allocation: Allocation) -> tuple[Any, ...]:
    return tuple(
        (r.symbol, r.asset_class, round(r.weight, 5), round(r.target, 5)) for r in allocation.rows
    )


def allocation_chart(allocation: Allocation) -> Chart | None:
    """Two sunbursts, now and target: asset classes inside, funds outside."""
    return _memo("allocation", _allocation_parts(allocation), lambda: _allocation_chart(allocation))


def _allocation_chart(allocation: Allocation) -> Chart | None:
    if not allocation.rows or allocation.total_value <= 0:
        return None
    import plotly.graph_objects as go

    figure = go.Figure()
    panels = [("weight", "Now")]
    if allocation.has_target:
        panels.append(("target", "Target"))
    width = 1.0 / len(panels)
    for i, (attribute, title) in enumerate(panels):
        ids, labels, parents, values, colours = _sunburst_frame(allocation, attribute)
        figure.add_trace(
            go.Sunburst(
                ids=ids,
                labels=labels,
                parents=parents,
                values=values,
                branchvalues="total",
                marker={"colors": colours, "line": {"color": "#ffffff", "width": 1.5}},
                insidetextorientation="horizontal",
                sort=False,
                hovertemplate="%{label}: %{value:.1f}%<extra>" + title + "</extra>",
                domain={"x": [i * width + 0.02, (i + 1) * width - 0.02], "y": [0, 0.9]},
                name=title,
            )
        )
    annotations = [
        {
            "text": f"<b>{title}</b>",
            "x": (i + 0.5) * width,
            "y": 1.0,
            "xref": "paper",
            "yref": "paper",
            "showarrow": False,
            "font": {"size": 14, "color": INK},
        }
        for i, (_, title) in enumerate(panels)
    ]
    figure.update_layout(
        **_layout(
            height=320,
            margin={"l": 4, "r": 4, "t": 28, "b": 4},
            annotations=annotations,
            uniformtext={"minsize": 10, "mode": "hide"},
            # the ring colours, for the page's live script to redraw "Now" after a tick or a fill
            meta={"colours": CLASS_COLOURS, "muted": MUTED},
        )
    )
    biggest = max(allocation.by_class, key=lambda c: c.weight)
    summary = (
        f"The largest part of your portfolio is {_in_sentence(biggest.label)} "
        f"at {biggest.weight:.0%}"
    )
    summary += f" (target {biggest.target:.0%})." if allocation.has_target else "."
    return Chart(safe_json(figure), summary)


def drift_chart(allocation: Allocation) -> Chart | None:
    """Per-fund distance from target, in percentage points (positive: over target)."""
    return _memo("drift", _allocation_parts(allocation), lambda: _drift_chart(allocation))


def _drift_chart(allocation: Allocation) -> Chart | None:
    if not allocation.has_target:
        return None
    import plotly.graph_objects as go

    largest = sorted(allocation.rows, key=lambda r: -abs(r.difference))[:DRIFT_BARS]
    rows = sorted(
        [r for r in largest if abs(r.difference) >= 0.0005] or largest, key=lambda r: r.difference
    )
    labels = [r.name if r.symbol == CASH_KEY else r.symbol for r in rows]
    diffs = [r.difference * 100 for r in rows]
    figure = go.Figure(
        go.Bar(
            x=diffs,
            y=labels,
            orientation="h",
            marker={"color": [NEG if d > 0 else BRAND for d in diffs]},
            customdata=[[r.weight * 100, r.target * 100] for r in rows],
            hovertemplate="%{y}: %{x:+.1f} points<br>now %{customdata[0]:.1f}%, "
            "target %{customdata[1]:.1f}%<extra></extra>",
        )
    )
    figure.update_layout(
        **_layout(
            height=max(200, 26 * len(rows) + 60),
            margin={"l": 8, "r": 16, "t": 8, "b": 36},
            xaxis={
                "ticksuffix": " pt",
                "gridcolor": GRID,
                "zeroline": True,
                "zerolinecolor": INK,
                "automargin": True,
            },
            yaxis={"automargin": True, "gridcolor": "rgba(0,0,0,0)"},
            bargap=0.35,
            # what the page's live script needs to redraw the bars after a price tick
            meta={"bars": DRIFT_BARS, "over": NEG, "under": BRAND},
        )
    )
    worst = max(allocation.rows, key=lambda r: abs(r.difference))
    direction = "over" if worst.difference > 0 else "under"
    name = worst.name if worst.symbol == CASH_KEY else worst.symbol
    summary = (
        f"Total drift is {allocation.drift:.1%} of the portfolio. The largest gap is {name}, "
        f"{abs(worst.difference) * 100:.1f} points {direction} its target."
    )
    if len(allocation.rows) > len(rows):
        summary += f" The chart shows the {len(rows)} largest gaps."
    return Chart(safe_json(figure), summary)


def frontier_chart(
    frontier: Frontier, *, volatility: float, expected_return: float
) -> Chart | None:
    """The efficient frontier, the funds it is built from, and the client's portfolio on it."""
    return _memo(
        "frontier",
        (frontier, volatility, expected_return),
        lambda: _frontier_chart(frontier, volatility=volatility, expected_return=expected_return),
    )


def _frontier_chart(
    frontier: Frontier, *, volatility: float, expected_return: float
) -> Chart | None:
    if len(frontier.points) < 2:
        return None
    import plotly.graph_objects as go

    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=[a[1] * 100 for a in frontier.assets],
            y=[a[2] * 100 for a in frontier.assets],
            mode="markers",
            name="Funds",
            text=[a[0] for a in frontier.assets],
            marker={"color": "#b7c2d3", "size": 7},
            hovertemplate="%{text}: return %{y:.1f}%, volatility %{x:.1f}%<extra></extra>",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=[p.volatility * 100 for p in frontier.points],
            y=[p.expected_return * 100 for p in frontier.points],
            mode="lines",
            name="Efficient frontier",
            line={"color": BRAND, "width": 2.5, "shape": "spline"},
            hovertemplate="return %{y:.1f}%, volatility %{x:.1f}%<extra>frontier</extra>",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=[volatility * 100],
            y=[expected_return * 100],
            mode="markers",
            name="Your recommended portfolio",
            marker={
                "color": ACCENT,
                "size": 15,
                "symbol": "star",
                "line": {"color": INK, "width": 1},
            },
            hovertemplate="Your portfolio: return %{y:.1f}%, volatility %{x:.1f}%<extra></extra>",
        )
    )
    figure.update_layout(
        **_layout(
            height=340,
            xaxis={"title": {"text": "Volatility (a year)"}, "ticksuffix": "%", "gridcolor": GRID},
            yaxis={
                "title": {"text": "Expected return (a year)"},
                "ticksuffix": "%",
                "gridcolor": GRID,
            },
            margin={"l": 64, "r": 16, "t": 36, "b": 48},
        )
    )
    low, high = frontier.points[0], frontier.points[-1]
    summary = (
        f"The frontier runs from {low.expected_return:.1%} expected return at "
        f"{low.volatility:.1%} volatility to {high.expected_return:.1%} at {high.volatility:.1%}. "
        f"Your recommended portfolio expects {expected_return:.1%} a year at "
        f"{volatility:.1%} volatility; your ESG and allocation limits keep it at or below the "
        "frontier."
    )
    return Chart(safe_json(figure), summary)


def projection_chart(outlook: GoalOutlook) -> Chart | None:
    """The fan chart: 10th to 90th percentile of wealth, the median and the goal."""
    p = outlook.projection
    return _memo(
        "projection",
        (
            p.p10,
            p.p50,
            p.p90,
            p.probability,
            outlook.goal,
            outlook.horizon_years,
            outlook.start_year,
        ),
        lambda: _projection_chart(outlook),
    )


def _projection_chart(outlook: GoalOutlook) -> Chart:
    import plotly.graph_objects as go

    p = outlook.projection
    step = max(1, len(p.times) // 240)
    years = [outlook.start_year + t for t in p.times[::step]]
    if years[-1] != outlook.start_year + p.times[-1]:
        years.append(outlook.start_year + float(p.times[-1]))
        pick = [*list(range(0, len(p.times), step)), len(p.times) - 1]
    else:
        pick = list(range(0, len(p.times), step))
    p10, p50, p90 = (list(map(float, band[pick])) for band in (p.p10, p.p50, p.p90))
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=years,
            y=p90,
            mode="lines",
            line={"width": 0, "color": BRAND},
            name="90th percentile",
            hovertemplate="%{x:.0f}: 1 in 10 above $%{y:,.0f}<extra></extra>",
            showlegend=False,
        )
    )
    figure.add_trace(
        go.Scatter(
            x=years,
            y=p10,
            mode="lines",
            line={"width": 0, "color": BRAND},
            fill="tonexty",
            fillcolor="rgba(31, 95, 139, 0.18)",
            name="10th to 90th percentile",
            hovertemplate="%{x:.0f}: 1 in 10 below $%{y:,.0f}<extra></extra>",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=years,
            y=p50,
            mode="lines",
            line={"color": BRAND, "width": 2.5},
            name="Median",
            hovertemplate="%{x:.0f}: median $%{y:,.0f}<extra></extra>",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=[years[0], years[-1]],
            y=[float(outlook.goal)] * 2,
            mode="lines",
            line={"color": ACCENT, "width": 2, "dash": "dash"},
            name=f"Goal ${float(outlook.goal):,.0f}",
            hoverinfo="skip",
        )
    )
    figure.update_layout(
        **_layout(
            height=340,
            yaxis={"tickprefix": "$", "tickformat": "~s", "gridcolor": GRID, "rangemode": "tozero"},
            xaxis={"gridcolor": GRID, "tickformat": "d"},
            hovermode="x unified",
            margin={"l": 64, "r": 16, "t": 36, "b": 36},
        )
    )
    final = p.final_wealth
    summary = (
        f"With the recommended portfolio the chance of reaching ${float(outlook.goal):,.0f} in "
        f"{outlook.horizon_years} years is {p.probability:.0%}. In {outlook.start_year + outlook.horizon_years} "
        f"the median outcome is ${final[50]:,.0f}; one outcome in ten is below ${final[10]:,.0f} "
        f"and one in ten above ${final[90]:,.0f}."
    )
    return Chart(safe_json(figure), summary)
