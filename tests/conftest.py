"""Shared fixtures. The suite runs against real PostgreSQL and Redis (``make test`` sets them up).

With ``CI=true`` a missing service fails the run instead of skipping anything.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from pytest_django import DjangoDbBlocker

REPO = Path(__file__).resolve().parents[1]

# Hypothesis fails any example that takes longer than 200 ms by default, and a busy CI machine
# (parallel workers, Celery, Chromium) can pause a process that long in a microsecond example: the
# test then fails as "unreliable" though nothing is wrong. Properties are checked, not speed.
hypothesis_settings.register_profile("suite", deadline=None)
hypothesis_settings.load_profile("suite")


def _shared_data_dir() -> Path:
    """The public datasets: ``$SHARED_DATA_DIR``, else ``../shared/data`` next to the checkout,
    else the workplace's ``/work/shared/data`` (a clean clone may live elsewhere)."""
    candidates = [
        Path(os.environ["SHARED_DATA_DIR"]) if os.environ.get("SHARED_DATA_DIR") else None,
        REPO / ".." / "shared" / "data",
        Path("/work/shared/data"),
    ]
    for candidate in candidates:
        if candidate is not None and candidate.is_dir():
            return candidate.resolve()
    return (REPO / ".." / "shared" / "data").resolve()


SHARED_DATA = _shared_data_dir()
ARTIFACTS = REPO / "artifacts"


def pytest_configure(config: pytest.Config) -> None:
    from django.conf import settings

    # Password hashing is deliberately slow; tests log in hundreds of times.
    # PBKDF2 stays available for users that a separate server process must verify.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]

    if os.environ.get("CI") == "true":
        engine = settings.DATABASES["default"]["ENGINE"]
        if "postgresql" not in engine:
            raise pytest.UsageError(
                f"CI=true: the suite must run on PostgreSQL, but the database engine is {engine}; "
                "set DATABASE_URL (make test does)"
            )
        if not settings.REDIS_URL:
            raise pytest.UsageError(
                "CI=true: the suite needs Redis; set REDIS_URL (make test does)"
            )


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The public datasets folder; its absence is a failure, never a skip."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the shared datasets are missing: {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis the suite runs against; fails (never skips) when it does not answer."""
    from django.conf import settings

    url = settings.REDIS_URL
    if not url:
        pytest.fail("REDIS_URL is not set: this test needs Redis (run it through make test)")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {url} does not answer: {exc}")
    return url


def shared_database_url() -> str:
    """The URL of the database this test process uses, for a second process to share it."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.fail("a second process can only share the test database on PostgreSQL")
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: DjangoDbBlocker) -> Iterator[None]:
    """pytest-django's test databases; before they are dropped, end any session that a worker
    thread of an async test still holds (its connection lives in that thread, out of reach of
    ``close_all``), so the drop never fails with "being accessed by other users"."""
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        for connection in connections.all():
            if connection.vendor != "postgresql":
                continue
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            connection.close()


@pytest.fixture(autouse=True)
def _close_thread_connections() -> Iterator[None]:
    """Close this thread's connections after each test. Connections that async tests open in
    worker threads are out of its reach: ``django_db_setup`` ends those sessions at the end."""
    yield
    from django.db import connections

    connections.close_all()
