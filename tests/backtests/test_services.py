"""Studies in the product's database: creation, walk-forward choice and gathering, reports, and
the workspace page (replays themselves are covered by the replay tests)."""

import json
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
import pytest
from django.urls import include, path

from backtests.core.config import STRATEGIES, AccountSetup, strategy_named
from backtests.core.regimes import EQUAL_WEIGHT_NAME, equal_weight_index
from backtests.core.walkforward import WalkForwardSpec
from backtests.market import MarketSource
from backtests.models import BacktestResult, ResultRole, ResultStatus, RunKind, RunStatus
from backtests.report import figures, report_html, report_json
from backtests.services import (
    backtest_market_forget,
    backtest_run_create,
    backtest_run_finish,
    backtest_walk_forward_select,
)
from portfolios.core.errors import Conflict, InvalidInput
from tests.conftest import SHARED_DATA
from tests.factories import AdvisorUserFactory, AssetFactory, PriceBarFactory, UserFactory

pytestmark = pytest.mark.django_db

PRICES = MarketSource(kind="file", path=str(SHARED_DATA / "prices" / "stock_prices.csv"))

# The lead includes the page under /workspace/backtests/; until then the test mounts it there.
urlpatterns = [
    path("workspace/backtests/", include("backtests.urls")),
    path("", include("advisor.urls")),
]


def _series(start: date, values: list[float]) -> dict:
    days = [start + timedelta(days=i) for i in range(len(values))]
    return {
        "days": [d.isoformat() for d in days],
        "value": values,
        "after_tax": [v * 0.99 for v in values],
        "drawdown": [0.0] * len(values),
        "benchmark": [None] * len(values),
    }


def _finish(result: BacktestResult, score: float, values: list[float]) -> None:
    result.status = ResultStatus.DONE
    result.metrics = {
        "after_tax_cagr": score,
        "cagr": score,
        "volatility": 0.1,
        "max_drawdown": 0.1,
        "sharpe": 1.0,
        "taxes_paid": 0.0,
    }
    result.series = _series(result.start, values)
    result.details = {"years": [], "regimes": [], "harvests": [], "notes": []}
    result.save()


def test_create_validates_the_study():
    common = {"source": PRICES, "start": date(2010, 1, 1), "end": date(2011, 1, 1)}
    with pytest.raises(InvalidInput):
        backtest_run_create(name="", strategies=[], **common)
    with pytest.raises(InvalidInput):
        backtest_run_create(name="", strategies=[STRATEGIES["drift"]] * 2, **common)
    with pytest.raises(InvalidInput):
        backtest_run_create(
            name="",
            strategies=[STRATEGIES["drift"], STRATEGIES["equal_weight"]],
            walk_forward=WalkForwardSpec(),
            **common,
        )
    with pytest.raises(InvalidInput, match="no prices"):
        backtest_run_create(
            name="",
            strategies=[STRATEGIES["drift"]],
            source=PRICES,
            start=date(2030, 1, 1),
            end=date(2031, 1, 1),
        )
    run = backtest_run_create(
        name="Compare",
        strategies=[STRATEGIES["drift"], STRATEGIES["drift_harvest"]],
        account=AccountSetup(account_value=Decimal("500000")),
        **common,
    )
    assert run.kind == RunKind.COMPARE and run.status == RunStatus.QUEUED
    assert run.start == date(2010, 1, 4) and run.end == date(2010, 12, 31)
    assert [r.key for r in run.results.order_by("id")] == ["drift", "drift_harvest"]
    assert run.account["account_value"] == "500000"


def test_walk_forward_chooses_on_training_and_reports_only_tests():
    spec = WalkForwardSpec(train_years=2, test_years=1, grid={"drift_threshold": [0.03, 0.1]})
    run = backtest_run_create(
        name="WF",
        strategies=[strategy_named("drift")],
        source=PRICES,
        start=date(2003, 1, 1),
        end=date(2006, 12, 31),
        walk_forward=spec,
    )
    train = list(run.results.filter(role=ResultRole.TRAIN).order_by("id"))
    folds = run.summary["folds"]
    assert len(folds) == 2 and len(train) == 4
    with pytest.raises(Conflict):
        backtest_walk_forward_select(run_id=run.pk)  # training still pending
    for result in train:
        # Fold 0 prefers the wide band, fold 1 the narrow one.
        wide = result.label == "drift_threshold=0.1"
        score = (0.08 if wide else 0.05) if result.fold == 0 else (0.02 if wide else 0.04)
        _finish(result, score, [100.0, 101.0])
    tests = backtest_walk_forward_select(run_id=run.pk)
    assert backtest_walk_forward_select(run_id=run.pk) == tests  # once per fold
    chosen = {r.fold: r.label for r in BacktestResult.objects.filter(pk__in=tests)}
    assert chosen == {0: "drift_threshold=0.1", 1: "drift_threshold=0.03"}
    for result in BacktestResult.objects.filter(pk__in=tests).order_by("fold"):
        assert result.start == date.fromisoformat(folds[result.fold]["test_start"])
        assert result.strategy["drift_threshold"] == (0.1 if result.fold == 0 else 0.03)
        _finish(result, 0.01, [100.0, 110.0] if result.fold == 0 else [200.0, 180.0])
    run = backtest_run_finish(run_id=run.pk)
    assert run.status == RunStatus.DONE
    oos = run.summary["out_of_sample"]
    assert oos["series"]["value"] == pytest.approx([1.0, 1.1, 1.1, 0.99])
    assert [w["label"] for w in oos["windows"]] == ["drift_threshold=0.1", "drift_threshold=0.03"]
    assert backtest_run_finish(run_id=run.pk).finished_at == run.finished_at  # closes once
    data = report_json(run)
    assert {r["role"] for r in data["results"]} == {"test"}
    assert "series" not in data["summary"]["out_of_sample"]


def test_compare_summary_values_harvesting_and_renders():
    run = backtest_run_create(
        name="Pair",
        strategies=[STRATEGIES["drift"], STRATEGIES["drift_harvest"]],
        source=PRICES,
        start=date(2010, 1, 1),
        end=date(2011, 12, 31),
    )
    without, with_ = run.results.order_by("id")
    _finish(without, 0.05, [100.0, 100.0])
    _finish(with_, 0.06, [100.0, 103.0])
    run = backtest_run_finish(run_id=run.pk)
    value = run.summary["harvest_value"]
    assert [(v["with"], v["without"]) for v in value] == [("drift_harvest", "drift")]
    assert value[0]["cagr"] > 0
    assert [row["strategy"] for row in run.summary["table"]] == ["drift", "drift_harvest"]
    page = report_html(run, standalone=True)
    assert page.count("Plotly") > 10 and page.count("<!doctype html>") == 1
    assert "backtest-charts" in page and "Value of harvesting" in page
    # strategies in words on the page; the JSON keeps their identifiers
    assert "Rebalance on drift, harvest losses vs Rebalance on drift" in page
    assert "<td>Rebalance on drift, harvest losses</td>" in page
    assert [r["label"] for r in report_json(run)["results"]] == ["drift", "drift_harvest"]
    inline = report_html(run, standalone=False)
    assert len(inline) < len(page) / 10  # the page version loads plotly.js as a static file


def test_a_run_without_a_name_is_named_after_its_strategies():
    run = backtest_run_create(
        name=" ",
        strategies=[STRATEGIES["buy_and_hold"], STRATEGIES["sixty_forty"]],
        source=PRICES,
        start=date(2010, 1, 1),
        end=date(2010, 12, 31),
    )
    assert run.name == "Buy and hold · 60/40 equity and bonds"


def test_a_lone_harvest_is_charted_over_the_whole_window_from_zero():
    run = backtest_run_create(
        name="One harvest",
        strategies=[STRATEGIES["drift_harvest"]],
        source=PRICES,
        start=date(2010, 1, 1),
        end=date(2010, 12, 31),
    )
    (result,) = run.results.all()
    _finish(result, 0.05, [100.0, 101.0, 99.0])
    result.details["harvests"] = [
        {"day": result.series["days"][1], "realised": -2899.0, "sold": "AAA", "bought": "BBB"}
    ]
    result.save()
    run = backtest_run_finish(run_id=run.pk)
    chart = figures(run, list(run.results.all()))["harvests"]
    assert chart["data"][0]["y"] == [2899.0]
    assert chart["layout"]["yaxis"]["rangemode"] == "tozero"
    days = result.series["days"]
    assert chart["layout"]["xaxis"]["range"] == [days[0], days[-1]] and days[0] != days[-1]


def test_the_equal_weighted_benchmark_is_named_as_such():
    days = pd.date_range("2020-01-01", periods=3)
    closes = pd.DataFrame({"A": [1.0, 2.0, 2.0], "B": [1.0, 1.0, 0.5]}, index=days)
    index = equal_weight_index(closes)
    assert index.name == EQUAL_WEIGHT_NAME == "equal-weighted index of the assets"
    assert index.tolist() == pytest.approx([100.0, 150.0, 112.5])


def test_a_failed_replay_is_reported():
    run = backtest_run_create(
        name="Fail",
        strategies=[STRATEGIES["drift"]],
        source=PRICES,
        start=date(2010, 1, 1),
        end=date(2010, 6, 30),
    )
    result = run.results.get()
    BacktestResult.objects.filter(pk=result.pk).update(status=ResultStatus.FAILED, error="boom")
    run = backtest_run_finish(run_id=run.pk)
    assert run.status == RunStatus.FAILED and "boom" in run.error


@pytest.fixture
def demo_market():
    backtest_market_forget()
    for symbol in ("VTI", "BND"):
        asset = AssetFactory(
            symbol=symbol, is_demo=True, asset_class="us_equity" if symbol == "VTI" else "bond"
        )
        start = date(2022, 1, 3)
        for i in range(320):
            PriceBarFactory(asset=asset, date=start + timedelta(days=i), close=Decimal(100 + i % 7))
    yield
    backtest_market_forget()


@pytest.mark.urls("tests.backtests.test_services")
def test_the_page_is_for_advisors_and_starts_a_run(client, demo_market, monkeypatch):
    started = []
    monkeypatch.setattr("backtests.views.backtest_run_start", lambda run_id: started.append(run_id))
    client.force_login(UserFactory())
    assert client.get("/workspace/backtests/").status_code == 403
    client.force_login(AdvisorUserFactory())
    page = client.get("/workspace/backtests/")
    assert page.status_code == 200 and b"Start a backtest" in page.content
    from backtests.forms import BacktestForm

    for field in BacktestForm.base_fields:  # the form is laid out by hand: none left out
        assert f'name="{field}"'.encode() in page.content, field
    html = page.content.decode()
    # strategies by name, not by identifier; the workspace's navigation marks where we are
    assert "Rebalance on drift, harvest losses" in html and "drift harvest" not in html
    assert '<a href="/workspace/backtests/" aria-current="page">Backtests</a>' in html
    assert '<a href="/workspace/">Client book</a>' in html
    response = client.post(
        "/workspace/backtests/",
        {
            "name": "From the page",
            "strategies": ["equal_weight"],
            "market": "demo",
            "start": "2022-06-01",
            "end": "2022-11-15",
            "account_value": "250000",
            "short_term_rate": "0.35",
            "long_term_rate": "0.15",
            "train_years": "5",
            "test_years": "1",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert len(started) == 1
    run_id = started[0]
    detail = client.get(f"/workspace/backtests/{run_id}/")
    assert detail.status_code == 200 and b"From the page" in detail.content
    data = json.loads(client.get(f"/workspace/backtests/{run_id}/report.json").content)
    assert data["run"]["account"]["tax_rates"] == ["0.35", "0.15"]
    assert data["run"]["market"] == "demo market"
    bad = client.post(
        "/workspace/backtests/",
        {
            "strategies": ["drift", "equal_weight"],
            "walk_forward": "on",
            "market": "demo",
            "start": "2022-06-01",
            "end": "2022-01-01",
        },
    )
    assert bad.status_code == 200 and b"exactly one strategy" in bad.content
    assert b"The end must be after the start." in bad.content
    assert b"Please correct the" in bad.content
