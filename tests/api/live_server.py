"""A real WSGI server (gunicorn) in its own process on the test database, as production serves
the pages and the API. Data must be committed for it to see it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import ARTIFACTS, REPO


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: What a server prints when another process took its port first (gunicorn; daphne/Twisted).
PORT_TAKEN = ("Connection in use", "Address already in use")


@contextmanager
def serving_on_a_free_port(
    command: Callable[[int], list[str]],
    env: dict[str, str],
    *,
    name: str,
    attempts: int = 3,
) -> Iterator[str]:
    """Run ``command(port)`` on a free loopback port until it answers ``/healthz``; yields its
    base URL and stops it on exit.

    A free port is only free when it is picked: another process (a parallel test worker's
    server) can bind it before this server does. When the server then reports the port taken,
    it is started again on another port, up to ``attempts`` times; any other early exit fails
    the test with the server's log. An answer counts only once the server's own process holds
    the listening socket (gunicorn keeps running for a while, retrying the bind, after it found
    the port taken), so a reply from another process on the port is never taken for its.
    """
    ARTIFACTS.mkdir(exist_ok=True)
    for attempt in range(1, attempts + 1):
        port = free_port()
        log_path = ARTIFACTS / f"{name}-{port}.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(
                command(port), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
            )
            base = f"http://127.0.0.1:{port}"
            try:
                if _answers(process, port, log_path, name=name):
                    yield base
                    return
                output = log_path.read_text()
                if attempt == attempts or not _port_taken(output):
                    pytest.fail(f"{name} could not start: {output[-3000:]}")
            finally:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()


def _port_taken(output: str) -> bool:
    return any(taken in output for taken in PORT_TAKEN)


def _listens_on(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds a socket listening on loopback ``port`` (Linux /proc)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                listening = fields[3] == "0A"
                if listening and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    if not inodes:
        return False
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return True
    return False


def _answers(process: subprocess.Popen[bytes], port: int, log_path: Path, *, name: str) -> bool:
    """True once the server answers ``/healthz`` from its own socket; False if it exits or
    reports its port taken first."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None or _port_taken(log_path.read_text()):
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as reply:
                answered = reply.status == 200
        except OSError:
            answered = False
        if answered and _listens_on(process.pid, port):
            return True
        time.sleep(0.3)
    pytest.fail(f"{name} did not answer within 60 s: {log_path.read_text()[-3000:]}")


@contextmanager
def gunicorn_server(
    database_url: str,
    redis_url: str,
    *,
    workers: int = 1,
    threads: int = 4,
    extra_env: dict[str, str] | None = None,
) -> Iterator[str]:
    """Serve the project with gunicorn on a free loopback port; yields its base URL."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_HTTPS": "false",
        "DJANGO_STATIC_MANIFEST": "false",
        "DATABASE_CONN_MAX_AGE": "0",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY", "test-only-secret"),
        **(extra_env or {}),
    }

    def command(port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "advisor.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--timeout",
            "120",
        ]

    with serving_on_a_free_port(command, env, name="wsgi-server") as base:
        yield base
