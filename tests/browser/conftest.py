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


#: Every figure on the dashboard that follows from prices and holdings, as text (with the gain
#: cells' sign classes), and the allocation and drift charts as Plotly holds them.
SNAPSHOT = """() => {
  const t = (el) => el ? el.textContent.replace(/\\s+/g, " ").trim() : null;
  const cls = (el) => el ? [...el.classList].filter((c) => c === "neg" || c === "pos").join(" ") : null;
  const out = {};
  const total = document.querySelector("[data-testid=total-value]");
  out["total"] = t(total);
  out["total data-value"] = Number(total.getAttribute("data-value"));
  const gain = document.querySelector("[data-testid=unrealised-gain]");
  out["unrealised gain"] = t(gain);
  out["unrealised gain sign"] = cls(gain);
  out["prices as of"] = t(document.querySelector("[data-testid=prices-as-of]"));
  document.querySelectorAll("#positions [data-account]").forEach((account) => {
    const id = account.getAttribute("data-account");
    out[`account ${id}`] = t(account.querySelector(".acct-value"));
    account.querySelectorAll("tr.position-row").forEach((row) => {
      const key = `${id} ${row.getAttribute("data-symbol")}`;
      out[`${key} price`] = t(row.querySelector(".px"));
      out[`${key} value`] = t(row.querySelector(".mv"));
      out[`${key} gain`] = t(row.querySelector(".gain"));
      out[`${key} gain sign`] = cls(row.querySelector(".gain"));
      const lots = row.nextElementSibling;
      if (lots && lots.classList.contains("lots-row")) {
        lots.querySelectorAll("tr.lot-row").forEach((lot, i) => {
          out[`${key} lot ${i} value`] = t(lot.querySelector(".mv"));
          out[`${key} lot ${i} gain`] = t(lot.querySelector(".gain"));
          out[`${key} lot ${i} gain sign`] = cls(lot.querySelector(".gain"));
        });
      }
    });
  });
  document.querySelectorAll("[data-testid=allocation-table] tbody tr").forEach((row, i) => {
    out[`allocation ${i}`] = t(row);
  });
  out["drift"] = t(document.querySelector("[data-testid=drift]"));
  out["drift badge"] = t(document.querySelector("[data-testid=drift-badge]"));
  out["drift rows"] = [...document.querySelectorAll("[data-testid=drift-rows] tr")].map(t);
  // the charts as Plotly holds them (numbers to 3 places: the server rounds the ring values to 4)
  const round = (v) => Array.isArray(v) ? v.map(round) : (typeof v === "number" ? Math.round(v * 1000) / 1000 : v);
  for (const name of ["allocation", "drift"]) {
    const el = document.getElementById(`chart-${name}`);
    out[`${name} chart caption`] = t(document.getElementById(`chart-${name}-caption`));
    out[`${name} chart`] = el.data.map((trace) => ({
      ids: trace.ids || null,
      labels: trace.labels || null,
      parents: trace.parents || null,
      values: round(trace.values || null),
      x: round(trace.x || null),
      y: trace.y || null,
      customdata: round(trace.customdata || null),
      colours: trace.marker ? (trace.marker.colors || trace.marker.color || null) : null,
    }));
  }
  return out;
}"""

CHARTS_DRAWN = (
    "['allocation', 'drift'].every((n) => document.getElementById(`chart-${n}`)"
    ".classList.contains('rendered'))"
)


def page_figures(page) -> dict:
    """Every figure of the open dashboard that follows from prices and holdings (see SNAPSHOT)."""
    page.wait_for_function(CHARTS_DRAWN)
    return page.evaluate(SNAPSHOT)
