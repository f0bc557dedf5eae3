"""Real-browser fixtures: an ASGI server (daphne) in its own process on the test database, and
Debian's Chromium driven by Playwright. Data must be committed (transactional tests) for the
server process to see it."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.live_server import serving_on_a_free_port
from tests.conftest import ARTIFACTS, shared_database_url

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ARTIFACTS / "screenshots"


@contextlib.contextmanager
def running_asgi_server(database_url: str, redis_url: str, **extra_env: str) -> Iterator[str]:
    """daphne serving the project (HTTP and websockets) on the given database, until exit."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_HTTPS": "false",
        "DJANGO_STATIC_MANIFEST": "false",
        "DATABASE_CONN_MAX_AGE": "0",
        **extra_env,
    }

    def command(port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "advisor.asgi:application",
        ]

    with serving_on_a_free_port(command, env, name="asgi-server") as base:
        yield base


@pytest.fixture(scope="module")
def asgi_server(django_db_setup, django_db_blocker, redis_url) -> Iterator[str]:
    """Serve the project with daphne (HTTP and websockets) against the test database."""
    with django_db_blocker.unblock():
        database_url = shared_database_url()
    with running_asgi_server(database_url, redis_url) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def server_password(username: str, password: str) -> None:
    """Store a password hash the server process can verify (the suite hashes with fast MD5)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    get_user_model().objects.filter(username=username).update(
        password=make_password(password, hasher="pbkdf2_sha256")
    )


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot as a test artefact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def login(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture(scope="module")
def demo_data(django_db_setup, django_db_blocker):
    """The demo households and market, committed for the server process; flushed afterwards."""
    from django.core.management import call_command
    from django.test import override_settings
    from django.utils import timezone

    from advisor.services.demo import DEMO_PASSWORD, demo_load

    with django_db_blocker.unblock(), override_settings(DEMO_MODE=True):
        summary = demo_load(seed=7, today=timezone.localdate(), now=timezone.now())
        for username in ("demo-client", "demo-advisor"):
            server_password(username, DEMO_PASSWORD)
    yield summary
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)
