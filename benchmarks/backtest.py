"""Speed of a backtest on the live code path: 20 years of daily prices, 20 stocks, one taxable
account with weekly harvest scans, monthly drift checks and a quarterly recommendation refresh.

Run from the repository root: ``.venv/bin/python benchmarks/backtest.py`` (``make benchmarks``).
It needs no database of the product: the replay runs in a child process on a fresh in-memory
SQLite database (``backtests.isolation``), as every backtest does. The market is the shared file
``prices/stock_prices.csv`` (20 US stocks, adjusted closes), from 1 April 1998 to 10 April 2018;
the strategy is the ``drift_harvest`` preset (recommendation target, drift bands, harvesting) on
a $1,000,000 account.

It prints where the replay's time went (by service, with call counts), the replay's headline
figures, and last ``RESULT backtest_s=<wall-clock seconds, process start to result>
days_per_s=<trading days replayed per second>``. Target: under 30 s on 2 cores.

``--profile`` replays in this process instead (same fresh in-memory database) under cProfile and
prints the 40 most expensive functions by cumulative time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _shared_prices() -> Path:
    candidates = [
        Path(os.environ["SHARED_DATA_DIR"]) if os.environ.get("SHARED_DATA_DIR") else None,
        ROOT.parent / "shared" / "data",
        Path("/work/shared/data"),
    ]
    for folder in candidates:
        if folder is not None and (folder / "prices" / "stock_prices.csv").is_file():
            return folder / "prices" / "stock_prices.csv"
    raise SystemExit("the shared price file prices/stock_prices.csv was not found")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", default="drift_harvest")
    parser.add_argument("--start", default="1998-04-01")
    parser.add_argument("--end", default="2018-04-10")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    if args.profile:
        from backtests.isolation import child_environment

        os.environ.update(child_environment(seed=0))
    else:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "advisor.settings")
    import django

    django.setup()
    from backtests.core.config import BacktestJob, strategy_named
    from backtests.isolation import run_isolated
    from backtests.market import market_from_file

    started = time.perf_counter()
    market = market_from_file(_shared_prices(), today=datetime.now(UTC).date())
    job = BacktestJob(
        key="benchmark",
        strategy=strategy_named(args.strategy),
        start=date.fromisoformat(args.start),
        end=date.fromisoformat(args.end),
    )
    days = len(market.trading_days(job.start, job.end))
    if args.profile:
        import cProfile
        import pstats

        from backtests.runner import run_job

        profile = cProfile.Profile()
        profile.enable()
        outcome = run_job(job.as_dict(), market, keep_record=False)
        profile.disable()
        pstats.Stats(profile, stream=sys.stdout).sort_stats("cumulative").print_stats(40)
    else:
        outcome = run_isolated([job], market)["benchmark"]
    elapsed = time.perf_counter() - started
    if "error" in outcome:
        raise SystemExit(f"the replay failed: {outcome['error']}\n{outcome.get('trace', '')}")
    timings = outcome["log"]["timings"]
    print(f"{args.strategy} on {market.name}: {days} trading days, {job.start} to {job.end}")
    print(f"replay {timings['total_s']:.1f} s inside the child; by step (seconds, calls):")
    for name, seconds in sorted(timings["seconds"].items(), key=lambda kv: -kv[1]):
        print(f"  {name:<18} {seconds:8.2f}  {timings['calls'].get(name, 0):6d}")
    skipped = timings["calls"].get("harvest_scans_skipped", 0)
    print(f"  harvest scans skipped by the pre-screen (no lot at a loss): {skipped}")
    m = outcome["summary"]["metrics"]
    print(
        f"CAGR {m['cagr']:.2%}, volatility {m['volatility']:.2%}, max drawdown "
        f"{m['max_drawdown']:.2%}, after-tax CAGR {m['after_tax_cagr']:.2%}; "
        f"{m['proposals']} proposals, {m['fills']} fills, {m['harvests']} harvests"
    )
    print(f"RESULT backtest_s={elapsed:.1f} days_per_s={days / elapsed:.1f}")


if __name__ == "__main__":
    main()
