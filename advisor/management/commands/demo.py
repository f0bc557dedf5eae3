"""``python manage.py demo``: the embedded demo, one command from a fresh checkout.

Migrates, loads the simulated market and the demo households on first run (reusing them after),
prints the logins, serves http://127.0.0.1:8000 (HTTP and websockets, one process so the
in-memory channel layer reaches every page) and keeps the market ticking in a background thread.
Ctrl-C stops everything it started.
"""

from __future__ import annotations

import logging
import threading
import time
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections, connection
from django.utils import timezone
from tqdm import tqdm

from advisor.demo import DEMO_CLIENT_USERNAME
from advisor.services.demo import (
    DEMO_ADMIN,
    DEMO_ADVISOR,
    DEMO_PASSWORD,
    demo_is_loaded,
    demo_load,
    demo_market_tick,
)
from portfolios.clock import firm_today
from trading.services import trading_tick
from worker.pipeline import run_pipeline

logger = logging.getLogger("advisor.demo")


class MarketThread(threading.Thread):
    """Ticks the demo market every ``interval`` seconds and runs the signal pipeline every
    ``pipeline_minutes`` until stopped (what Celery beat does in production)."""

    def __init__(self, interval: float, pipeline_minutes: float) -> None:
        super().__init__(name="demo-market", daemon=True)
        self.interval = interval
        self.pipeline_every = pipeline_minutes * 60
        self.stopped = threading.Event()

    def run(self) -> None:
        last_pipeline = 0.0
        while not self.stopped.is_set():
            close_old_connections()
            try:
                demo_market_tick(now=timezone.now())
                trading_tick(now=timezone.now())  # slices due and fills of approved proposals
                if self.pipeline_every and time.monotonic() - last_pipeline >= self.pipeline_every:
                    last_pipeline = time.monotonic()
                    run_pipeline(now=timezone.now(), trigger="demo")
            except Exception:  # a failed round must not kill the demo; the next one retries
                logger.exception("demo market round failed")
            self.stopped.wait(self.interval)
        connection.close()


class Command(BaseCommand):
    help = "Run the embedded demo: load the simulated market and clients once, then serve and tick."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--load-only", action="store_true", help="Load the demo data and exit")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEMO_MODE:
            raise CommandError(
                "the demo runs only with DEMO_MODE on (the default without DATABASE_URL)"
            )
        self.stdout.write("Preparing the database…")
        call_command("migrate", interactive=False, verbosity=0)
        if demo_is_loaded():
            self.stdout.write("Reusing the demo data already loaded.")
        else:
            self._load(show=not options["no_progress"])
        # Bring the market up to date before serving (a restart after days catches up quickly).
        demo_market_tick(now=timezone.now())
        self._print_logins(options["host"], options["port"])
        if options["load_only"]:
            return
        self._serve(options["host"], options["port"])

    def _load(self, *, show: bool) -> None:
        steps = ["Simulating", "Storing", "Storing", "Creating", "Building"]
        with tqdm(total=len(steps), desc="Loading the demo", unit="step", disable=not show) as bar:

            def progress(message: str) -> None:
                bar.set_postfix_str(message, refresh=False)
                bar.update(1)

            started = time.perf_counter()
            summary = demo_load(
                seed=settings.DEMO_SEED,
                today=firm_today(),
                now=timezone.now(),
                progress=progress,
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded the demo in {time.perf_counter() - started:.1f} s: {summary.assets} simulated "
                f"instruments, {summary.bars:,} daily bars ({summary.first_day} to {summary.last_day}), "
                f"{summary.news:,} headlines, {summary.households} households, {summary.accounts} accounts, "
                f"{summary.lots} tax lots."
            )
        )

    def _print_logins(self, host: str, port: int) -> None:
        url = f"http://{host}:{port}"
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING(f"Meridian Advice demo: {url}"))
        self.stdout.write(f"  client   {DEMO_CLIENT_USERNAME:<14} password {DEMO_PASSWORD}")
        self.stdout.write(f"  advisor  {DEMO_ADVISOR:<14} password {DEMO_PASSWORD}")
        self.stdout.write(f"  staff    {DEMO_ADMIN:<14} password {DEMO_PASSWORD}  ({url}/admin/)")
        self.stdout.write(
            "All prices, headlines and clients are simulated demo data. Ctrl-C stops the demo."
        )
        self.stdout.write("")

    def _serve(self, host: str, port: int) -> None:
        from daphne.cli import CommandLineInterface

        market = MarketThread(settings.DEMO_TICK_SECONDS, settings.DEMO_PIPELINE_MINUTES)
        market.start()
        try:
            CommandLineInterface().run(["-b", host, "-p", str(port), "advisor.asgi:application"])
        except KeyboardInterrupt:
            pass
        finally:
            market.stopped.set()
            market.join(timeout=10)
            self.stdout.write("Demo stopped.")
