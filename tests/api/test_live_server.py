"""The live-server helper: a server whose free port was taken before it bound is started again
on another port; any other early exit fails with the server's own output."""

from __future__ import annotations

import socket
import sys
import urllib.request

import pytest

from tests.api import live_server

#: A minimal server: answers /healthz on the port it is given, or exits as a taken port makes
#: any server exit ("[Errno 98] Address already in use").
HEALTHZ_SERVER = """
import http.server, sys

class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""


def command(port: int) -> list[str]:
    return [sys.executable, "-c", HEALTHZ_SERVER, str(port)]


def test_a_server_whose_port_was_taken_starts_again_on_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()  # accepts connections, never answers them
        taken = int(squatter.getsockname()[1])
        free = live_server.free_port()
        ports = iter([taken, free])
        monkeypatch.setattr(live_server, "free_port", lambda: next(ports))
        with live_server.serving_on_a_free_port(command, {}, name="healthz-server") as base:
            assert base == f"http://127.0.0.1:{free}"
            with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
                assert response.status == 200
    log = (live_server.ARTIFACTS / f"healthz-server-{taken}.log").read_text()
    assert "Address already in use" in log


def test_a_reply_from_another_server_on_the_port_is_not_taken_for_this_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """gunicorn stays up for a while, retrying the bind, after reporting its port taken; the
    server that holds the port meanwhile answers /healthz."""
    other_port, free = live_server.free_port(), live_server.free_port()
    ports = iter([other_port, other_port, free])  # the other server's, taken, then a free one
    monkeypatch.setattr(live_server, "free_port", lambda: next(ports))
    with live_server.serving_on_a_free_port(command, {}, name="other-server") as other:

        def stubborn_on_the_taken_port(port: int) -> list[str]:
            if port != other_port:
                return command(port)
            script = "import time; print('Connection in use', flush=True); time.sleep(60)"
            return [sys.executable, "-c", script]

        with live_server.serving_on_a_free_port(
            stubborn_on_the_taken_port, {}, name="retrying-server"
        ) as base:
            assert other == f"http://127.0.0.1:{other_port}"
            assert base == f"http://127.0.0.1:{free}"


def test_a_server_that_exits_for_another_reason_fails_with_its_output() -> None:
    def broken(port: int) -> list[str]:
        return [sys.executable, "-c", "raise SystemExit('no settings module: cannot start')"]

    with (
        pytest.raises(pytest.fail.Exception, match="no settings module: cannot start"),
        live_server.serving_on_a_free_port(broken, {}, name="broken-server"),
    ):
        pass  # pragma: no cover - the server never answers
