"""Throughput of the REST API under a bounded load on loopback, against a bare Django view.

Run from the repository root with ``DATABASE_URL`` and ``REDIS_URL`` set (as ``make test`` sets
them): ``.venv/bin/python benchmarks/api.py``.

It creates a database of its own (``bench_api_<pid>``, dropped at the end) holding one household
of 24 positions in 72 tax lots across two accounts with a year of closes and a current
recommendation, and serves the project with gunicorn the way production does (WSGI; the README
routes only ``/ws/`` to the ASGI server), with persistent database connections (60 s) and the
per-user rate limit lifted so that it does not cap the load. The same server also serves two
bare Django views, routed only in this script's own URL conf (``BENCH_API_SERVER`` set: this
module is the server's ``ROOT_URLCONF``, with the product's URLs included under it): plain
functions returning a ``JsonResponse`` of the same data read by the same selectors, with no DRF,
no authentication and no throttling. The ratio therefore isolates what the API layer adds: token
authentication, the household scope, throttling (one Redis round trip), content negotiation and
rendering.

A load generator in its own process (asyncio over raw HTTP/1.1 sockets, reusing connections when
the server allows: no third-party client, little CPU) keeps :data:`CONCURRENCY` requests in
flight, alternating the household's positions and recommendation, for :data:`SECONDS` seconds
on each side split into :data:`ROUNDS` alternating API and bare phases (so a change in the
machine's load hits both alike), after a short warm-up of each; then each endpoint alone. The
server's CPU time per request (from ``/proc``) is printed too: it does not depend on how busy
the machine is.

The last line is ``RESULT rps=<API requests/s> p99_ms=<API p99> ratio_vs_bare=<API rps / bare
rps>``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "advisor.settings")

N_POSITIONS = 24
LOTS_PER_POSITION = 3
CONCURRENCY = 8
SECONDS = 12.0  # per side, split over ROUNDS alternating phases
ROUNDS = 4
WARMUP_SECONDS = 2.0
# Chosen by measurement on 2 cores: 3 sync workers matched 2 x 4 gthread workers in throughput
# with a lower p99 (the README's production line uses sync workers too).
WORKERS = int(os.environ.get("BENCH_API_WORKERS", "3"))
THREADS = int(os.environ.get("BENCH_API_THREADS", "1"))  # more than 1: gthread workers
SEED = 20250101


# -- the bare views and this module as the server's URL conf ------------------------------------------


def bare_positions(request: Any, pk: int) -> Any:
    """The household's positions, as the API returns them, from a plain Django view."""
    from django.http import Http404, JsonResponse

    from advisor.api.views.households import positions_payload
    from portfolios.models import Household

    household = Household.objects.filter(pk=pk).first()
    if household is None:
        raise Http404
    return JsonResponse(positions_payload(household_id=household.pk), safe=False)


def bare_recommendation(request: Any, pk: int) -> Any:
    """The household's current recommendation, from a plain Django view."""
    from django.http import Http404, JsonResponse

    from advisor.api.views.households import (
        recommendation_current_or_compute,
        recommendation_payload,
    )
    from portfolios.models import Household

    household = Household.objects.filter(pk=pk).first()
    if household is None:
        raise Http404
    current = recommendation_current_or_compute(household=household)
    return JsonResponse(recommendation_payload(current))


def __getattr__(name: str) -> Any:
    """``urlpatterns``, built when Django first resolves a URL (after setup)."""
    if name != "urlpatterns":
        raise AttributeError(name)
    from django.urls import include, path

    return [
        path("bench/bare/households/<int:pk>/positions/", bare_positions),
        path("bench/bare/households/<int:pk>/recommendation/", bare_recommendation),
        path("", include("advisor.urls")),
    ]


if os.environ.get("BENCH_API_SERVER"):  # imported by gunicorn as the WSGI application
    from django.conf import settings as _settings
    from django.core.wsgi import get_wsgi_application

    _settings.ROOT_URLCONF = __name__
    application = get_wsgi_application()


# -- the data ---------------------------------------------------------------------------------------------


def build_household() -> tuple[int, str]:
    """One household with positions, lots, prices and a recommendation; returns (id, token)."""
    import numpy as np
    from rest_framework.authtoken.models import Token

    from advisor.api.services import risk_profile_from_score
    from advisor.models import Role
    from advisor.services.clients import client_create, esg_preference_save, user_create
    from portfolios.models import Account, AccountType, Asset, Household, PriceBar, Recommendation
    from portfolios.services import holding_transfer_in

    rng = np.random.default_rng(SEED)
    end = dt.date(2025, 6, 30)
    days = [end - dt.timedelta(days=k) for k in range(260)][::-1]
    assets = Asset.objects.bulk_create(
        [
            Asset(symbol=f"BA{k:02d}", name=f"Benchmark Fund {k}", asset_class="us_equity")
            for k in range(N_POSITIONS)
        ]
    )
    bars = []
    for asset in assets:
        price = 100.0
        for day in days:
            price *= float(np.exp(rng.normal(0.0003, 0.01)))
            close = Decimal(f"{price:.4f}")
            bars.append(
                PriceBar(asset=asset, date=day, open=close, high=close, low=close, close=close)
            )
    PriceBar.objects.bulk_create(bars, batch_size=5000)
    advisor = user_create(username="bench-advisor", password=None, role=Role.ADVISOR)
    household = Household.objects.create(name="API benchmark household")
    client = client_create(
        household=household, first_name="Api", last_name="Bench", advisor=advisor
    )
    risk_profile_from_score(client=client, score=6, horizon_years=20)
    esg_preference_save(client=client, min_esg_score=0, excluded_categories=[])
    accounts = [
        Account.objects.create(household=household, name="Joint", account_type=AccountType.TAXABLE),
        Account.objects.create(household=household, name="IRA", account_type=AccountType.IRA),
    ]
    for i, asset in enumerate(assets):
        for _ in range(LOTS_PER_POSITION):
            holding_transfer_in(
                account=accounts[i % 2],
                asset=asset,
                quantity_=Decimal(int(rng.integers(10, 200))),
                cost_basis=Decimal(f"{rng.uniform(500, 9000):.2f}"),
                acquired_on=days[int(rng.integers(0, 200))],
            )
    Recommendation.objects.create(
        household=household,
        risk_score=6,
        method="mean_variance_equilibrium",
        weights={a.symbol: 1 / N_POSITIONS for a in assets},
        expected_return=0.061,
        volatility=0.118,
        explanation=["A benchmark recommendation."] * 8,
        diagnostics={"solver": "CLARABEL", "status": "optimal"},
        is_current=True,
    )
    token = Token.objects.create(user=advisor)
    return household.pk, token.key


# -- the server -------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(database_url: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    env = {
        **os.environ,
        "BENCH_API_SERVER": "1",
        "DATABASE_URL": database_url,
        "DATABASE_CONN_MAX_AGE": "60",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_HTTPS": "false",
        "DJANGO_STATIC_MANIFEST": "false",
        "DJANGO_DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        # the per-user limit (6,000 a minute by default) would cap the load itself
        "API_THROTTLE_USER": "100000000/minute",
    }
    command = [sys.executable, "-m", "gunicorn", "api:application"]
    command += ["--pythonpath", f"{ROOT / 'benchmarks'},{ROOT}", "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", str(WORKERS)]
    if THREADS > 1:
        command += ["--worker-class", "gthread", "--threads", str(THREADS)]
    command += ["--keep-alive", "30", "--log-level", "warning"]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("gunicorn exited")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process, port
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("gunicorn did not answer within 60 s")


# -- the load generator (its own process) -------------------------------------------------------------------


async def _worker(
    port: int, paths: list[str], headers: str, deadline: float, start: int, latencies: list[float]
) -> int:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    errors = 0
    i = start
    while time.perf_counter() < deadline:
        if reader is None or writer is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        path = paths[i % len(paths)]
        i += 1
        began = time.perf_counter()
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n{headers}\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        close = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - began)
        if status != 200:
            errors += 1
        if close:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()
    return errors


async def _load(port: int, paths: list[str], headers: str, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + seconds
    errors = await asyncio.gather(
        *(_worker(port, paths, headers, deadline, k, latencies) for k in range(CONCURRENCY))
    )
    elapsed = time.perf_counter() - started
    part = {"latencies": latencies, "elapsed": elapsed, "errors": sum(errors)}
    return {**_combine([part]), **part}


def server_cpu_seconds(master_pid: int) -> float:
    """User + system CPU seconds used so far by the gunicorn master and its workers (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid == master_pid or ppid == master_pid:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _combine(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Several phases as one: total requests over total time; latencies pooled."""
    latencies = sorted(x for part in parts for x in part["latencies"])
    elapsed = sum(part["elapsed"] for part in parts)
    return {
        "requests": len(latencies),
        "errors": sum(part["errors"] for part in parts),
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000,
    }


def run_load(port: int, paths: list[str], token: str | None, seconds: float) -> dict[str, Any]:
    """Run the load in a separate process, so it does not share this process's interpreter."""
    spec = json.dumps({"port": port, "paths": paths, "token": token, "seconds": seconds})
    output = subprocess.run(
        [sys.executable, __file__, "--load", spec],
        check=True,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def _load_main(spec_text: str) -> None:
    spec = json.loads(spec_text)
    headers = f"Authorization: Token {spec['token']}\r\n" if spec["token"] else ""
    result = asyncio.run(_load(spec["port"], spec["paths"], headers, spec["seconds"]))
    print(json.dumps(result))


# -- main ----------------------------------------------------------------------------------------------------


def main() -> None:
    missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not os.environ.get(name)]
    if missing:
        print(f"set {' and '.join(missing)} (PostgreSQL and Redis): this benchmark measures them")
        sys.exit(2)
    os.environ["REDIS_PREFIX"] = f"benchapi{os.getpid()}"
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = f"bench_api_{os.getpid()}"
    print("Creating the benchmark database…", flush=True)
    old = setup_databases(verbosity=0, interactive=False)
    process = None
    try:
        household_id, token = build_household()
        s = connection.settings_dict
        database_url = (
            f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
        )
        process, port = start_server(database_url)
        api = [
            f"/api/v1/households/{household_id}/positions/",
            f"/api/v1/households/{household_id}/recommendation/",
        ]
        bare = [
            f"/bench/bare/households/{household_id}/positions/",
            f"/bench/bare/households/{household_id}/recommendation/",
        ]
        print(
            f"gunicorn: {WORKERS} workers x {THREADS} threads; load: {CONCURRENCY} "
            f"connections, {SECONDS:.0f} s per side in {ROUNDS} rounds; {N_POSITIONS} positions in "
            f"{N_POSITIONS * LOTS_PER_POSITION} lots",
            flush=True,
        )
        run_load(port, api, token, WARMUP_SECONDS)
        run_load(port, bare, None, WARMUP_SECONDS)
        # API and bare phases alternate, so a change in the machine's load hits both alike
        rounds: dict[str, list[dict[str, Any]]] = {"api": [], "bare": []}
        cpu = {"api": 0.0, "bare": 0.0}
        for _ in range(ROUNDS):
            for name, paths, auth in (("api", api, token), ("bare", bare, None)):
                before = server_cpu_seconds(process.pid)
                rounds[name].append(run_load(port, paths, auth, SECONDS / ROUNDS))
                cpu[name] += server_cpu_seconds(process.pid) - before
        results = {name: _combine(parts) for name, parts in rounds.items()}
        for name in results:
            results[name]["cpu_ms"] = cpu[name] * 1000 / results[name]["requests"]
        for name, r in results.items():
            print(
                f"{name:>4}: {r['rps']:.0f} requests/s, p50 {r['p50_ms']:.1f} ms, "
                f"p99 {r['p99_ms']:.1f} ms, server CPU {r['cpu_ms']:.2f} ms a request "
                f"({r['requests']} requests, {r['errors']} not 200)",
                flush=True,
            )
            if r["errors"]:
                raise SystemExit(f"{name}: {r['errors']} requests did not answer 200")
        for name, paths, auth in (
            ("api positions", api[:1], token),
            ("bare positions", bare[:1], None),
            ("api recommendation", api[1:], token),
            ("bare recommendation", bare[1:], None),
        ):
            r = run_load(port, paths, auth, SECONDS / 4)
            print(f"  {name}: {r['rps']:.0f} requests/s, p99 {r['p99_ms']:.1f} ms", flush=True)
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        from django.db import connections

        connections.close_all()
        teardown_databases(old, verbosity=0)
    ratio = results["api"]["rps"] / results["bare"]["rps"]
    print(
        f"RESULT rps={results['api']['rps']:.0f} p99_ms={results['api']['p99_ms']:.1f} "
        f"ratio_vs_bare={ratio:.2f}"
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--load":
        _load_main(sys.argv[2])
    else:
        main()
