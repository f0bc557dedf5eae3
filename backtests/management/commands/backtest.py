"""``python manage.py backtest``: replay strategies through the live services and report.

Examples::

    python manage.py backtest --strategy drift --strategy drift_harvest \\
        --prices ../shared/data/prices/stock_prices.csv --start 1998-01-01 --end 2018-01-01 \\
        --report backtest.html
    python manage.py backtest --strategy drift_harvest --walk-forward --demo --json -

Without ``--prices`` the market is the platform's own prices (``--demo``: the demo universe).
Replays run here, each in a child process with a database of its own (``--workers`` at once),
or on the Celery workers with ``--celery``.
"""

from __future__ import annotations

import json
import sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backtests.core.config import STRATEGIES, AccountSetup, LotMethodChoice, strategy_named
from backtests.core.walkforward import OBJECTIVES, WalkForwardSpec
from backtests.market import MarketSource
from portfolios.core.errors import DomainError


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def _param(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise CommandError(f"--param takes name=value, got {text!r}")
    name, raw = text.split("=", 1)
    value: Any = raw
    for convert in (int, float):
        try:
            value = convert(raw)
            break
        except ValueError:
            continue
    if raw.lower() in ("true", "false"):
        value = raw.lower() == "true"
    return name.strip(), value


def _grid(text: str) -> tuple[str, tuple[float, ...]]:
    name, _, values = text.partition("=")
    try:
        parsed = tuple(float(v) for v in values.split(",") if v.strip())
    except ValueError as exc:
        raise CommandError(f"--grid takes name=v1,v2,..., got {text!r}") from exc
    if not name.strip() or not parsed:
        raise CommandError(f"--grid takes name=v1,v2,..., got {text!r}")
    return name.strip(), parsed


class Command(BaseCommand):
    help = "Backtest strategies through the live services on a simulated clock, with a report."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--strategy",
            action="append",
            required=True,
            choices=sorted(STRATEGIES),
            help="A strategy to replay (repeat to compare several)",
        )
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            type=_param,
            help="Change a strategy field for every strategy, e.g. drift_threshold=0.1",
        )
        parser.add_argument("--start", type=_date, help="First trading day (default: a year in)")
        parser.add_argument("--end", type=_date, help="Last trading day (default: the last bar)")
        parser.add_argument("--account-value", type=Decimal, default=Decimal("1000000"))
        parser.add_argument(
            "--tax-rates", default="0.32,0.15", help="Short-term and long-term rates, e.g. 0.37,0.2"
        )
        parser.add_argument(
            "--lot-method", choices=[m.value for m in LotMethodChoice], default="hifo"
        )
        parser.add_argument(
            "--cash-rate",
            type=float,
            default=0.02,
            help="Growth of the synthetic cash asset and the risk-free rate",
        )
        parser.add_argument("--prices", type=Path, help="A price file (wide or long CSV)")
        parser.add_argument("--benchmark-prices", type=Path, help="A one-symbol price file")
        parser.add_argument("--demo", action="store_true", help="The demo universe only")
        parser.add_argument("--walk-forward", action="store_true")
        parser.add_argument("--train-years", type=int, default=5)
        parser.add_argument("--test-years", type=int, default=1)
        parser.add_argument("--step-years", type=int)
        parser.add_argument("--objective", choices=OBJECTIVES, default="after_tax_cagr")
        parser.add_argument(
            "--grid",
            action="append",
            default=[],
            type=_grid,
            help="Values to try for a parameter on each training window, e.g. "
            "drift_threshold=0.03,0.1 (default: the strategy's parameters that matter)",
        )
        parser.add_argument("--workers", type=int, default=1, help="Replays run at once")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--name", default="")
        parser.add_argument("--celery", action="store_true", help="Queue on the Celery workers")
        parser.add_argument("--report", type=Path, help="Write the HTML report here")
        parser.add_argument("--json", dest="json_path", help="Write the JSON here ('-': stdout)")

    def handle(self, *args: Any, **options: Any) -> None:
        from backtests.models import BacktestRun
        from backtests.report import report_html, report_json
        from backtests.services import (
            backtest_market,
            backtest_run_create,
            backtest_run_local,
            backtest_run_start,
        )

        try:
            short, long_ = (Decimal(p) for p in str(options["tax_rates"]).split(","))
        except (ValueError, ArithmeticError) as exc:
            raise CommandError("--tax-rates takes two rates, e.g. 0.32,0.15") from exc
        try:
            changes = dict(options["param"])
            strategies = [strategy_named(n, **changes) for n in options["strategy"]]
            account = AccountSetup(
                account_value=options["account_value"],
                tax_rates=(short, long_),
                lot_method=options["lot_method"],
                cash_rate=options["cash_rate"],
            )
            if options["prices"]:
                source = MarketSource(
                    kind="file",
                    path=str(options["prices"].resolve()),
                    benchmark_path=str(options["benchmark_prices"].resolve())
                    if options["benchmark_prices"]
                    else "",
                )
            else:
                source = MarketSource(kind="database", demo_only=options["demo"])
            market = backtest_market(source)
            start = options["start"] or market.days[0] + timedelta(days=366)
            end = options["end"] or market.days[-1]
            walk_forward = (
                WalkForwardSpec(
                    train_years=options["train_years"],
                    test_years=options["test_years"],
                    step_years=options["step_years"],
                    objective=options["objective"],
                    grid=dict(options["grid"]) or None,
                )
                if options["walk_forward"]
                else None
            )
            run = backtest_run_create(
                name=options["name"] or ", ".join(options["strategy"]),
                strategies=strategies,
                source=source,
                start=start,
                end=end,
                account=account,
                walk_forward=walk_forward,
                seed=options["seed"],
            )
            self.stderr.write(
                f"Backtest {run.pk}: {run.results.count()} replay(s) on {run.market_name}, "
                f"{run.start} to {run.end}"
            )
            if options["celery"]:
                backtest_run_start(run_id=run.pk)
                run = BacktestRun.objects.get(pk=run.pk)
                self.stderr.write(f"Queued; status {run.status}.")
            else:
                run = backtest_run_local(
                    run_id=run.pk, workers=options["workers"], progress=_ProgressBar(self)
                )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        if run.error:
            self.stderr.write(self.style.WARNING(run.error))
        if options["report"]:
            options["report"].write_text(report_html(run, standalone=True))
            self.stderr.write(f"Report: {options['report']}")
        payload = report_json(run)
        if options["json_path"] == "-":
            sys.stdout.write(json.dumps(payload, indent=1, default=str) + "\n")
        elif options["json_path"]:
            Path(options["json_path"]).write_text(json.dumps(payload, indent=1, default=str))
        if options["json_path"] != "-":
            for row in payload["results"]:
                m = row["metrics"]
                self.stdout.write(
                    f"{row['label']:<40} CAGR {m['cagr']:.2%}  vol {m['volatility']:.2%}  "
                    f"max DD {m['max_drawdown']:.2%}  after-tax CAGR {m['after_tax_cagr']:.2%}  "
                    f"taxes ${m['taxes_paid']:,.0f}"
                )


class _ProgressBar:
    """One tqdm bar over every replay's trading days."""

    def __init__(self, command: BaseCommand) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=0, unit="day", file=command.stderr._out, dynamic_ncols=True)  # type: ignore[attr-defined]
        self.seen: dict[str, int] = {}

    def __call__(self, key: str, done: int, total: int) -> None:
        if key not in self.seen:
            self.seen[key] = 0
            self.bar.total += total
            self.bar.refresh()
        self.bar.update(done - self.seen[key])
        self.seen[key] = done
