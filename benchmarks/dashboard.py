"""Speed of the client dashboard and of live events, on PostgreSQL and Redis.

Run from the repository root with ``DATABASE_URL`` and ``REDIS_URL`` set (as ``make test`` sets
them): ``.venv/bin/python benchmarks/dashboard.py``.

It creates a database of its own (``bench_dashboard_<pid>``, dropped at the end), fills it with a
household of 50 positions in 200 tax lots across two accounts over five years of daily closes of
a 50-fund universe, some sales this year, a risk profile and the household's recommendation, and
measures:

1. **dashboard**: server time of ``GET /portal/`` through Django's test client (everything but
   the network): one cold render (the day's efficient frontier solved and cached, the
   performance series computed), then the median of 30 warm renders, with the number of queries;
2. **events**: the delay from a fill's commit to the event reaching each of 1,000 websocket
   clients. A real ASGI server (uvicorn, one process per core up to two) runs in a subprocess on
   the same database and Redis channel layer; 1,000 clients connect with the client's session over loopback (the
   ``websockets`` package, spread over client processes as 1,000 browsers would be, so that the
   clients' own parsing does not queue in one Python loop; ``time.monotonic`` is one clock for
   every process of the machine); each round commits a transaction that publishes
   ``order.filled`` with :func:`portfolios.live.publish_on_commit`, and every client stamps the
   arrival. The clock starts in an ``on_commit`` hook registered before the publish.

``--layer`` picks the channel layer of the event measurement: the project's settings (the
default: channels_redis' pub/sub layer) or ``list`` (channels_redis' list-based layer, which
the platform used before, with a pool of up to 4,000 connections, for comparison);
``--clients``, ``--workers`` (ASGI server processes) and ``--client-processes`` vary the load.
The server runs as the README deploys it: uvicorn without per-message compression. An event
that never arrives (a connection the server dropped) counts as infinitely late.

The last line is ``RESULT dashboard_ms=<p50> event_p99_ms=<p99>``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import os
import queue
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "advisor.settings")
# Channel groups and cache keys of their own, apart from anything else on this Redis.
os.environ.setdefault("REDIS_PREFIX", f"bench{os.getpid()}")

N_ASSETS = 50
LOTS_PER_POSITION = 4
YEARS = 5
WARM_RENDERS = 30
N_CLIENTS = 1000
ROUNDS = 20
CONNECT_BATCH = 25
ROUND_TIMEOUT_S = 10
SEED = 20241121


def _require_services() -> None:
    missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not os.environ.get(name)]
    if missing:
        print(f"set {' and '.join(missing)} (PostgreSQL and Redis): this benchmark measures them")
        sys.exit(2)


def _weekdays(end: dt.date, years: int) -> list[dt.date]:
    start = end - dt.timedelta(days=int(365.25 * years))
    days, day = [], start
    while day <= end:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def build_book() -> dict[str, Any]:
    """The universe, five years of closes, and one household of 50 positions in 200 lots."""
    import numpy as np
    from django.utils import timezone

    from advisor.models import Role
    from advisor.services.clients import (
        client_create,
        esg_preference_save,
        risk_profile_save,
        user_create,
    )
    from advisor.services.recommendations import recommendations_refresh
    from portfolios.ledger import trade_apply
    from portfolios.models import Account, AccountType, Asset, AssetClass, Household, PriceBar
    from portfolios.services import cash_deposit, holding_transfer_in

    rng = np.random.default_rng(SEED)
    today = timezone.localdate()
    days = _weekdays(today - dt.timedelta(days=1), YEARS)
    classes = [
        (AssetClass.US_EQUITY, 0.17, 14),
        (AssetClass.INTL_EQUITY, 0.18, 8),
        (AssetClass.EM_EQUITY, 0.22, 4),
        (AssetClass.BOND, 0.05, 12),
        (AssetClass.TIPS, 0.06, 4),
        (AssetClass.REAL_ESTATE, 0.20, 4),
        (AssetClass.COMMODITY, 0.22, 2),
        (AssetClass.CASH, 0.005, 2),
    ]
    assets = []
    for asset_class, _, count in classes:
        for k in range(count):
            symbol = f"{asset_class.value[:2].upper()}{k:02d}"
            assets.append(
                Asset(
                    symbol=symbol,
                    name=f"Benchmark {asset_class.label} Fund {k}",
                    asset_class=asset_class,
                    sector="Broad market",
                    esg_score=int(rng.integers(40, 90)),
                    replacement_group=symbol.lower(),
                )
            )
    Asset.objects.bulk_create(assets)
    assets = list(Asset.objects.order_by("symbol"))
    vols: dict[str, float] = {str(c): v for c, v, _ in classes}
    market = rng.standard_normal(len(days))
    bars = []
    for asset in assets:
        daily = vols[asset.asset_class] / np.sqrt(252)
        beta = 0.9 if "equity" in asset.asset_class else 0.1
        returns = daily * (beta * market + 0.6 * rng.standard_normal(len(days))) + 0.0002
        closes = 50 * np.exp(np.cumsum(returns))
        volume = int(rng.integers(100_000, 5_000_000))
        for day, close in zip(days, closes, strict=True):
            px = Decimal(f"{close:.4f}")
            bars.append(
                PriceBar(asset=asset, date=day, open=px, high=px, low=px, close=px, volume=volume)
            )
    PriceBar.objects.bulk_create(bars, batch_size=10_000)
    closes_by = {
        (b.asset_id, b.date): b.close
        for b in bars
        if b.date in (days[0], days[-1]) or b.date.year == today.year
    }

    advisor = user_create(username="bench-advisor", password=None, role=Role.ADVISOR)
    user = user_create(username="bench-client", password=None, role=Role.CLIENT)
    household = Household.objects.create(name="Benchmark household")
    client = client_create(
        household=household, first_name="Bea", last_name="Mark", user=user, advisor=advisor
    )
    risk_profile_save(
        client=client,
        answers={
            "drawdown_reaction": "hold",
            "goal": "growth",
            "outcome_range": "wide",
            "experience": "good",
            "risk_attitude": "balanced",
            "income_stability": "stable",
            "emergency_fund": "3_to_6",
            "net_worth_share": "25_to_50",
            "near_term_withdrawals": "little",
        },
        horizon_years=20,
        goal_amount=Decimal("2000000"),
        monthly_contribution=Decimal("2000"),
    )
    esg_preference_save(client=client, min_esg_score=50, excluded_categories=[])
    accounts = [
        Account.objects.create(household=household, name="Joint", account_type=AccountType.TAXABLE),
        Account.objects.create(household=household, name="IRA", account_type=AccountType.IRA),
    ]
    for account in accounts:
        cash_deposit(account=account, amount=Decimal("50000"), on=days[0])
    held = [a for a in assets if a.asset_class != AssetClass.CASH][:N_ASSETS]
    for i, asset in enumerate(held):
        account = accounts[i % 2]
        for _ in range(LOTS_PER_POSITION):
            acquired = days[int(rng.integers(0, len(days) - 300))]
            holding_transfer_in(
                account=account,
                asset=asset,
                quantity_=Decimal(int(rng.integers(10, 200))),
                cost_basis=Decimal(f"{rng.uniform(500, 9000):.2f}"),
                acquired_on=acquired,
            )
    # A few sales this year, so the realised-gains table has rows.
    this_year = [d for d in days if d.year == today.year] or days[-5:]
    for asset in held[:12:2]:
        trade_apply(
            account_id=accounts[0].pk,
            symbol=asset.symbol,
            side="sell",
            quantity=Decimal("5"),
            price=closes_by[(asset.pk, this_year[0])]
            if (asset.pk, this_year[0]) in closes_by
            else Decimal("50"),
            trade_date=this_year[0],
        )
    report = recommendations_refresh(as_of=days[-1], household_ids=[household.pk])
    if report.failed:
        raise SystemExit(f"the benchmark household got no recommendation: {report.failed}")
    return {"user": user, "household": household, "days": days}


def measure_dashboard(user: Any) -> tuple[float, float, int]:
    """(cold ms, warm p50 ms, queries of a warm render)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    browser = Client()
    browser.force_login(user)
    started = time.perf_counter()
    response = browser.get("/portal/")
    cold = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"the dashboard answered {response.status_code}")
    page = response.content.decode()
    for marker in (
        'data-testid="positions-table"',
        'id="chart-frontier"',
        'data-testid="form-8949"',
    ):
        if marker not in page:
            raise SystemExit(f"the dashboard lacks {marker}")
    times = []
    for _ in range(WARM_RENDERS):
        started = time.perf_counter()
        browser.get("/portal/")
        times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        browser.get("/portal/")
    return cold, statistics.median(times), len(queries)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: The ASGI server: uvicorn on the project's settings, in one or more processes. Each process
#: imports :data:`asgi_application` below, which applies the layer named by BENCH_LAYER first.
SERVER = """
import uvicorn
uvicorn.run(
    "benchmarks.dashboard:asgi_application",
    host="127.0.0.1",
    port={port},
    log_level="warning",
    ws="websockets-sansio",
    ws_per_message_deflate=False,
    workers={workers},
)
"""


def __getattr__(name: str) -> Any:
    """``asgi_application``: the project's ASGI app on the channel layer BENCH_LAYER names."""
    if name != "asgi_application":
        raise AttributeError(name)
    _use_layer(os.environ.get("BENCH_LAYER", "settings"))
    from advisor.asgi import application

    return application


def _start_server(
    database_url: str, layer: str, workers: int
) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_HTTPS": "false",
        "DJANGO_DEBUG": "false",
        "DATABASE_CONN_MAX_AGE": "60",
        "LOG_LEVEL": "WARNING",
        "BENCH_LAYER": layer,
    }
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER.format(port=port, workers=workers)],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the ASGI server exited")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return process, base
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("the ASGI server did not answer within 60 s")


def _listen(
    url: str, cookie: str, origin: str, n: int, out: Any, stop: Any, connect_batch: int
) -> None:
    """One client process: ``n`` websocket clients on one asyncio loop, reporting each event's
    arrival (``time.monotonic()``, one clock for every process of the machine) on ``out``."""

    async def main() -> None:
        import websockets

        sockets = []

        async def connect() -> None:
            try:
                ws = await websockets.connect(
                    url,
                    additional_headers={"Cookie": cookie, "Origin": origin},
                    open_timeout=60,
                    ping_interval=None,
                    max_queue=None,
                )
                hello = json.loads(await ws.recv())
                if hello.get("event") != "subscribed":
                    raise RuntimeError(f"unexpected first message {hello}")
                sockets.append(ws)
            except Exception as exc:  # reported by the parent
                out.put(("failed", repr(exc)))

        async def read(ws: Any) -> None:
            try:
                async for message in ws:
                    arrived = time.monotonic()
                    data = json.loads(message)
                    if data.get("event") == "order.filled":
                        out.put(("arrived", int(data["payload"]["round"]), arrived))
            finally:
                if not stop.is_set():
                    out.put(("dropped", f"closed {ws.close_code} {ws.close_reason!r}"))

        # In small batches: each connection's group_add is a round trip to Redis.
        for first in range(0, n, connect_batch):
            await asyncio.gather(*(connect() for _ in range(min(connect_batch, n - first))))
        readers = [asyncio.create_task(read(ws)) for ws in sockets]
        out.put(("ready", len(sockets)))
        while not stop.is_set():
            await asyncio.sleep(0.1)
        for task in readers:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)

    asyncio.run(main())


class Listeners:
    """N websocket clients spread over client processes (as N browsers would be: the clients'
    own parsing must not queue behind one another in one Python loop), stamping each arrival."""

    def __init__(self, url: str, cookie: str, origin: str, n: int, processes: int) -> None:
        import multiprocessing

        self.n = n
        self.context = multiprocessing.get_context("spawn")
        self.out = self.context.Queue()
        self.stop = self.context.Event()
        shares = [n // processes + (1 if i < n % processes else 0) for i in range(processes)]
        self.processes = [
            self.context.Process(
                target=_listen,
                args=(url, cookie, origin, share, self.out, self.stop, CONNECT_BATCH),
                daemon=True,
            )
            for share in shares
            if share
        ]
        self.arrivals: dict[int, list[float]] = defaultdict(list)
        self.lock = threading.Lock()
        self.failed: list[str] = []
        self.dropped: list[str] = []
        self.drain = threading.Thread(target=self._drain, daemon=True)

    def start(self) -> None:
        for process in self.processes:
            process.start()
        ready, connected = 0, 0
        deadline = time.monotonic() + 180
        while ready < len(self.processes):
            if time.monotonic() > deadline:
                raise SystemExit("the websocket clients did not connect within 180 s")
            try:
                kind, *rest = self.out.get(timeout=1)
            except queue.Empty:
                continue
            if kind == "ready":
                ready += 1
                connected += rest[0]
            elif kind == "failed":
                self.failed.append(rest[0])
        if self.failed:
            raise SystemExit(f"{len(self.failed)} websocket clients failed: {self.failed[0]}")
        self.drain.start()

    def _drain(self) -> None:
        while True:
            item = self.out.get()
            if item is None:
                return
            kind, *rest = item
            with self.lock:
                if kind == "arrived":
                    self.arrivals[rest[0]].append(rest[1])
                elif kind == "dropped":
                    self.dropped.append(rest[0])

    def count(self, round_: int) -> int:
        with self.lock:
            return len(self.arrivals[round_])

    def close(self) -> None:
        self.stop.set()
        for process in self.processes:
            process.join(30)
            if process.is_alive():
                process.kill()
        self.out.put(None)
        self.drain.join(10)


def _stamp(into: list[float]) -> None:
    into.append(time.monotonic())


def measure_events(
    user: Any, household_id: int, layer: str, *, clients: int, workers: int, client_processes: int
) -> tuple[float, float, int]:
    """(p50 ms, p99 ms, samples) from commit to arrival at each of the connected clients."""
    from django.conf import settings
    from django.db import connection, transaction
    from django.test import Client

    from portfolios.live import household_group, publish_on_commit
    from portfolios.services import audit_record

    s = connection.settings_dict
    database_url = (
        f"postgres://{s['USER']}{':' + s['PASSWORD'] if s['PASSWORD'] else ''}"
        f"@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    )
    browser = Client()
    browser.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    process, base = _start_server(database_url, layer, workers)
    listeners = Listeners(
        f"ws://127.0.0.1:{base.rsplit(':', 1)[1]}/ws/live/?household={household_id}",
        cookie,
        base,
        clients,
        client_processes,
    )
    try:
        listeners.start()
        time.sleep(1.0)
        delays: list[float] = []
        lost = 0
        for round_ in range(ROUNDS):
            committed: list[float] = []
            with transaction.atomic():
                audit_record(actor_id=None, action="bench.fill", obj="bench", data={"r": round_})
                transaction.on_commit(partial(_stamp, committed))
                publish_on_commit(
                    groups=[household_group(household_id)],
                    event="order.filled",
                    payload={"round": round_, "symbol": "US00", "side": "buy", "quantity": "1"},
                )
            deadline = time.monotonic() + ROUND_TIMEOUT_S
            while time.monotonic() < deadline:
                alive = clients - len(listeners.dropped)
                if listeners.count(round_) >= alive:
                    break
                time.sleep(0.005)
            got = listeners.count(round_)
            lost += clients - got
            with listeners.lock:
                delays.extend((t - committed[0]) * 1000 for t in listeners.arrivals[round_])
            time.sleep(0.2)
    finally:
        listeners.close()
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    if listeners.dropped:
        print(
            f"{len(listeners.dropped)} of {clients} websocket connections were dropped by the "
            f"server ({listeners.dropped[0]}); {lost} arrivals never came",
            flush=True,
        )
    # An event that never arrived took forever: it counts in the percentiles as infinity.
    delays = sorted(delays + [math.inf] * lost)
    p99 = delays[min(len(delays) - 1, int(0.99 * len(delays)))]
    return statistics.median(delays), p99, len(delays) - lost


def _use_layer(layer: str) -> None:
    """Give this process the same channel layer as the server (before Django reads settings)."""
    import advisor.settings as project

    if layer == "list":
        project.CHANNEL_LAYERS["default"] = {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": project.REDIS_URL, "max_connections": 4000}],
                "prefix": "asgi" + project.REDIS_PREFIX,
            },
        }


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--layer",
        choices=["settings", "list"],
        default="settings",
        help="channel layer of the event measurement: the project's settings (default, the "
        "pub/sub layer) or channels_redis' list-based layer with a 4,000-connection pool",
    )
    parser.add_argument("--clients", type=int, default=N_CLIENTS, help="websocket clients")
    parser.add_argument(
        "--workers",
        type=int,
        default=max(1, min(2, os.cpu_count() or 1)),
        help="ASGI server processes (default: one per core, up to 2, as the README deploys "
        "uvicorn on a small machine)",
    )
    parser.add_argument(
        "--client-processes",
        type=int,
        default=max(1, min(4, os.cpu_count() or 1)),
        help="processes the websocket clients are spread over (default: the cores, up to 4)",
    )
    parser.add_argument("--skip-dashboard", action="store_true")
    args = parser.parse_args()
    _require_services()
    _use_layer(args.layer)
    import django

    django.setup()
    from django.conf import settings
    from django.test.utils import setup_databases, teardown_databases

    test_settings: dict[str, Any] = settings.DATABASES["default"].setdefault("TEST", {})
    test_settings["NAME"] = f"bench_dashboard_{os.getpid()}"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    print("Creating the benchmark database…", flush=True)
    old = setup_databases(verbosity=0, interactive=False)
    try:
        started = time.perf_counter()
        book = build_book()
        print(
            f"Built the book in {time.perf_counter() - started:.1f} s: {N_ASSETS} positions, "
            f"{N_ASSETS * LOTS_PER_POSITION} lots, {len(book['days'])} days of closes "
            f"for {N_ASSETS} funds",
            flush=True,
        )
        warm = float("nan")
        if not args.skip_dashboard:
            cold, warm, queries = measure_dashboard(book["user"])
            print(
                f"dashboard: cold {cold:.0f} ms (frontier solved and cached), warm p50 "
                f"{warm:.0f} ms over {WARM_RENDERS} renders, {queries} queries",
                flush=True,
            )
        household = book["household"]
        p50, p99, samples = measure_events(
            book["user"],
            household.pk,
            args.layer,
            clients=args.clients,
            workers=args.workers,
            client_processes=args.client_processes,
        )
        print(
            f"events ({args.layer} layer, {args.workers} server process"
            f"{'es' if args.workers > 1 else ''}): commit to arrival at {args.clients} websocket "
            f"clients in {args.client_processes} client processes, "
            f"{ROUNDS} rounds ({samples} arrivals): p50 {p50:.1f} ms, p99 {p99:.1f} ms",
            flush=True,
        )
    finally:
        from django.db import connections

        connections.close_all()
        teardown_databases(old, verbosity=0)
    print(f"RESULT dashboard_ms={warm:.0f} event_p99_ms={p99:.1f}")


if __name__ == "__main__":
    main()
