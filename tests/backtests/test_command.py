"""``manage.py backtest`` end to end on a small price file: progress, report, JSON."""

import io
import json
from datetime import date

import pytest
from django.core.management import CommandError, call_command

from backtests.core.markets import business_days, random_walk
from backtests.models import BacktestRun, RunStatus
from backtests.services import backtest_market_forget

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def price_file(tmp_path):
    days = business_days(date(2014, 1, 1), date(2015, 4, 30))
    closes = random_walk(days, symbols=["AAA", "BBB", "CCC"], seed=4)
    path = tmp_path / "prices.csv"
    closes.rename_axis("date").to_csv(path, date_format="%Y-%m-%d", float_format="%.4f")
    backtest_market_forget()
    yield path
    backtest_market_forget()


def test_the_command_replays_and_writes_the_report(price_file, tmp_path):
    out, err = io.StringIO(), io.StringIO()
    report, data = tmp_path / "report.html", tmp_path / "report.json"
    call_command(
        "backtest",
        "--strategy", "equal_weight",
        "--strategy", "sixty_forty",
        "--prices", str(price_file),
        "--start", "2015-01-02",
        "--end", "2015-04-30",
        "--account-value", "200000",
        "--tax-rates", "0.37,0.2",
        "--workers", "2",
        "--report", str(report),
        "--json", str(data),
        stdout=out,
        stderr=err,
    )  # fmt: skip
    run = BacktestRun.objects.get()
    assert run.status == RunStatus.DONE
    payload = json.loads(data.read_text())
    assert [r["label"] for r in payload["results"]] == ["equal_weight", "sixty_forty"]
    assert payload["run"]["account"]["tax_rates"] == ["0.37", "0.2"]
    html = report.read_text()
    assert html.count("<!doctype html>") == 1 and "equal_weight" in html
    assert "equal_weight" in out.getvalue() and "CAGR" in out.getvalue()
    assert "day" in err.getvalue()  # the progress bar


def test_bad_arguments_are_reported(price_file):
    with pytest.raises(CommandError, match="tax-rates"):
        call_command(
            "backtest", "--strategy", "drift", "--prices", str(price_file), "--tax-rates", "x"
        )
    with pytest.raises(CommandError, match="no prices"):
        call_command(
            "backtest", "--strategy", "drift", "--prices", str(price_file),
            "--start", "2030-01-01", "--end", "2031-01-01",
        )  # fmt: skip
