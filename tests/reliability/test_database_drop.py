"""A dropped PostgreSQL connection: the request it breaks fails cleanly (a 503 in the one error
shape), and the next request works, against a real gunicorn with persistent connections and
health checks (``CONN_MAX_AGE`` 60, ``CONN_HEALTH_CHECKS`` on)."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
import requests
from django.db import connection
from rest_framework.authtoken.models import Token

from portfolios.models import Recommendation
from tests import conftest
from tests.api.live_server import gunicorn_server
from tests.api.world import build_world

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def server_backends(database: str) -> list[int]:
    """Backend pids of the server's connections to the test database (not this process's)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'",
            [database],
        )
        return [row[0] for row in cursor.fetchall()]


def terminate(pids: list[int]) -> None:
    with connection.cursor() as cursor:
        for pid in pids:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_a_dropped_connection_fails_one_request_cleanly_and_the_next_works(redis_url):
    world = build_world()
    Recommendation.objects.filter(household=world.b.household).update(is_current=False)
    token = Token.objects.create(user=world.staff).key
    database_url = conftest.shared_database_url()
    database = connection.settings_dict["NAME"]
    headers = {"Authorization": f"Token {token}"}
    with gunicorn_server(
        database_url, redis_url, threads=1, extra_env={"DATABASE_CONN_MAX_AGE": "60"}
    ) as base:
        positions = f"{base}/api/v1/households/{world.a.household.pk}/positions/"
        assert requests.get(positions, headers=headers, timeout=30).status_code == 200

        # dropped between requests: the health check notices and reconnects
        idle = server_backends(database)
        assert idle, "the server keeps no persistent connection"
        terminate(idle)
        assert requests.get(positions, headers=headers, timeout=30).status_code == 200
        assert not set(idle) & set(server_backends(database))

        # dropped in the middle of a request: the request waits on a row lock we hold
        blocker = psycopg.connect(database_url.replace("postgres://", "postgresql://"))
        try:
            blocker.execute(
                "SELECT id FROM portfolios_household WHERE id = %s FOR UPDATE",
                [world.b.household.pk],
            )
            result: dict[str, requests.Response] = {}
            url = f"{base}/api/v1/households/{world.b.household.pk}/recommendation/"
            request = threading.Thread(
                target=lambda: result.setdefault(
                    "r", requests.get(url, headers=headers, timeout=60)
                )
            )
            request.start()
            waiting: list[int] = []
            deadline = time.monotonic() + 30
            while not waiting and time.monotonic() < deadline:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT pid FROM pg_stat_activity WHERE datname = %s "
                        "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
                        [database],
                    )
                    waiting = [row[0] for row in cursor.fetchall()]
                time.sleep(0.05)
            assert waiting, "the request never reached the lock"
            terminate(waiting)
            request.join(timeout=60)
        finally:
            blocker.rollback()
            blocker.close()
        broken = result["r"]
        assert broken.status_code == 503, broken.text
        assert broken.headers["Content-Type"] == "application/json"
        assert broken.json()["error"]["code"] == "service_unavailable"
        assert broken.headers["Retry-After"] == "5"

        # the next request on the same worker thread works
        assert requests.get(positions, headers=headers, timeout=30).status_code == 200
        health = requests.get(f"{base}/healthz", timeout=30)
        assert health.status_code == 200 and health.json()["checks"]["database"]["ok"]
