"""Redis restarted in the middle of a run: a Celery worker and the websocket server recover.

A Redis of its own (another port, no persistence) serves as broker and channel layer for a real
``celery worker`` and a real ASGI server (daphne), so the shared Redis is never disturbed. Before
the restart a task runs and a websocket client receives an event; Redis is then stopped and
started again (empty); a task enqueued afterwards runs, the websocket that stayed open receives
events again once the server's channel layer has resubscribed, and a client that connects afresh
receives them too.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client as HttpClient

from portfolios.models import AccountValuation
from portfolios.services import position_sync
from tests import conftest
from tests.api.live_server import free_port
from tests.celery_workers import running_celery_worker, worker_log_tail
from tests.factories import PASSWORD, ClientFactory, PriceBarFactory, TaxLotFactory
from tests.reliability.redis_server import RedisServer

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.slow,
    pytest.mark.xdist_group("celery"),
]


def spawn(command: list[str], env: dict[str, str], name: str) -> tuple[subprocess.Popen, object]:
    conftest.ARTIFACTS.mkdir(exist_ok=True)
    log = (conftest.ARTIFACTS / f"{name}.log").open("w")
    process = subprocess.Popen(
        command, cwd=conftest.REPO, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    return process, log


def stop_all(processes: list[tuple[subprocess.Popen, object]]) -> None:
    for process, log in processes:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()  # type: ignore[attr-defined]


def wait_http(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited ({process.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"{url} did not answer")


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def valuation_recorded(day: dt.date, when: str) -> None:
    """Wait until the worker has stored the valuation of ``day`` (closing this thread's
    connection afterwards, so the test database can be dropped)."""
    from django.db import connections

    try:
        wait_for(
            lambda: AccountValuation.objects.filter(date=day).exists(),
            90,
            f"the task {when}",
        )
    finally:
        if threading.current_thread() is not threading.main_thread():
            connections.close_all()


async def subscribe(ws_url: str, cookie: str, timeout: float):
    """A websocket subscribed to the client's household; retried while the server cannot
    subscribe it (Redis away)."""
    import websockets

    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            socket = await websockets.connect(
                ws_url,
                additional_headers={"Cookie": cookie, "Origin": "http://127.0.0.1"},
                open_timeout=5,
            )
            hello = json.loads(await asyncio.wait_for(socket.recv(), 5))
            if hello["event"] == "subscribed":
                return socket
            await socket.close()
        except Exception as exc:  # refused or closed while Redis is away: try again
            last_error = exc
        await asyncio.sleep(0.5)
    raise AssertionError(f"could not subscribe within {timeout} s; last error: {last_error!r}")


async def next_event(socket, timeout: float = 10) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), timeout))
        if message["event"] == "order.filled":
            return message


def test_workers_and_websockets_recover_from_a_redis_restart():
    own_redis = RedisServer()
    own_redis.start()
    prefix = f"rr{uuid.uuid4().hex[:6]}"
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": conftest.shared_database_url(),
        "REDIS_URL": own_redis.url,
        "REDIS_PREFIX": prefix,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_HTTPS": "false",
        "DJANGO_STATIC_MANIFEST": "false",
        "DATABASE_CONN_MAX_AGE": "0",
    }
    port = free_port()
    processes = []
    with contextlib.ExitStack() as stack:
        stack.callback(own_redis.stop)
        worker = stack.enter_context(
            running_celery_worker(queue=queue, redis_url=own_redis.url, name="redis-restart")
        )
        server, server_log = spawn(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
             "advisor.asgi:application"],
            env,
            f"redis-restart-asgi-{port}",
        )  # fmt: skip
        processes = [(server, server_log)]
        stack.callback(stop_all, processes)

        client = ClientFactory()
        lot = TaxLotFactory(
            account__household=client.household,
            quantity=Decimal("4"),
            original_quantity=Decimal("4"),
        )
        position_sync(account_id=lot.account_id, asset_ids=[lot.asset_id])
        PriceBarFactory(asset=lot.asset, date=dt.date(2024, 3, 1), close=Decimal("25.50"))
        PriceBarFactory(asset=lot.asset, date=dt.date(2024, 3, 4), close=Decimal("26.00"))
        http = HttpClient()
        assert http.login(username=client.user.username, password=PASSWORD)
        cookie = (
            f"{settings.SESSION_COOKIE_NAME}={http.cookies[settings.SESSION_COOKIE_NAME].value}"
        )
        wait_http(f"http://127.0.0.1:{port}/healthz", server)

        from celery import Celery

        from advisor.channel_layers import PlatformChannelLayer

        # not the current app: the rest of the suite must keep the project's (its result backend)
        sender = Celery("redis-restart", broker=own_redis.url, set_as_current=False)
        sender.conf.broker_connection_retry_on_startup = True

        def enqueue(day: str) -> None:
            sender.send_task("worker.tasks.record_valuations", kwargs={"on": day}, queue=queue)

        async def publish(payload: dict) -> None:
            layer = PlatformChannelLayer(hosts=[{"address": own_redis.url}], prefix=f"asgi{prefix}")
            await layer.group_send(
                f"household-{client.household_id}",
                {"type": "live.event", "event": "order.filled", "payload": payload},
            )
            await layer.close_pools()

        async def published_until_received(socket, payload: dict, timeout: float) -> dict:
            """Publish until the socket gets it: events sent while its server is still
            resubscribing are lost (pushes are best-effort; pages reload on reconnect)."""
            deadline = time.monotonic() + timeout
            while True:
                await publish(payload)
                try:
                    return await next_event(socket, timeout=1)
                except TimeoutError:
                    if time.monotonic() > deadline:
                        raise

        ws_url = f"ws://127.0.0.1:{port}/ws/live/"

        async def around_the_restart() -> tuple[dict, dict, dict]:

            first = await subscribe(ws_url, cookie, timeout=60)
            await publish({"n": 1})
            before = await next_event(first)
            enqueue("2024-03-01")
            await asyncio.to_thread(valuation_recorded, dt.date(2024, 3, 1), "before the restart")
            own_redis.stop()
            await asyncio.sleep(3)  # the server's layer loses its subscription
            own_redis.start()
            # the socket that stayed open hears events again: its subscription was restored
            resumed = await published_until_received(first, {"n": 2}, timeout=30)
            await first.close()
            second = await subscribe(ws_url, cookie, timeout=60)
            await publish({"n": 3})
            after = await next_event(second)
            await second.close()
            return before, resumed, after

        before, resumed, after = asyncio.run(around_the_restart())
        assert before["payload"] == {"n": 1}
        assert resumed["payload"] == {"n": 2}
        assert after["payload"] == {"n": 3}
        enqueue("2024-03-04")
        valuation_recorded(dt.date(2024, 3, 4), "enqueued after the restart")
        assert worker.poll() is None and server.poll() is None, worker_log_tail(worker)
        valuation = AccountValuation.objects.get(date=dt.date(2024, 3, 4))
        assert valuation.market_value == Decimal("104.00")
