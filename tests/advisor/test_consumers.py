"""The live websocket: session-authenticated, origin-checked, relays only the user's own groups."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client as HttpClient

from advisor.asgi import application
from portfolios.live import household_group, publish_now
from tests.factories import PASSWORD, ClientFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_url")]


@pytest.fixture(autouse=True)
async def _fresh_layer_and_connections():
    """Each test's event loop gets a channel layer of its own (the layer keeps per-loop receive
    state, and a consumer left receiving on it must not be waited for when the loop closes);
    sync_to_async runs the factories in a shared executor thread, whose connection is closed."""
    from channels.layers import channel_layers
    from django.db import connections

    channel_layers.backends.clear()
    yield
    layer = channel_layers.backends.pop("default", None)
    if layer is not None:
        await layer.close_pools()
    await sync_to_async(connections.close_all)()


def _session_cookie(user) -> bytes:
    http = HttpClient()
    assert http.login(username=user.username, password=PASSWORD)
    return f"{settings.SESSION_COOKIE_NAME}={http.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def _communicator(
    path: str, cookie: bytes | None, origin: bytes = b"http://localhost"
) -> WebsocketCommunicator:
    headers = [(b"origin", origin), (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, path, headers=headers)


async def test_anonymous_connection_is_refused():
    communicator = _communicator("/ws/live/", None)
    connected, code = await communicator.connect()
    assert not connected and code == 4401


async def test_foreign_origin_is_refused():
    mine = await sync_to_async(ClientFactory)()
    cookie = await sync_to_async(_session_cookie)(mine.user)
    communicator = _communicator("/ws/live/", cookie, origin=b"http://evil.example")
    connected, _ = await communicator.connect()
    assert not connected


async def test_client_receives_events_for_their_household_only():
    mine = await sync_to_async(ClientFactory)()
    theirs = await sync_to_async(ClientFactory)()
    cookie = await sync_to_async(_session_cookie)(mine.user)
    communicator = _communicator("/ws/live/", cookie)
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["event"] == "subscribed"

    await sync_to_async(publish_now)(
        groups=[household_group(theirs.household_id)],
        event="order.filled",
        payload={"symbol": "NOPE"},
    )
    await sync_to_async(publish_now)(
        groups=[household_group(mine.household_id)], event="order.filled", payload={"symbol": "AAA"}
    )
    message = await communicator.receive_json_from(timeout=5)
    assert message == {"event": "order.filled", "payload": {"symbol": "AAA"}}
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_relaying_an_event_takes_no_trip_to_the_database_thread(monkeypatch):
    """Channels closes stale database connections before every handler, through the one thread
    sync code shares; relaying an event must not wait for it (1,000 sockets queued on it)."""
    import channels.consumer

    mine = await sync_to_async(ClientFactory)()
    cookie = await sync_to_async(_session_cookie)(mine.user)
    communicator = _communicator("/ws/live/", cookie)
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["event"] == "subscribed"
    calls = []

    async def counted() -> None:
        calls.append(1)

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counted)
    for n in range(3):
        await sync_to_async(publish_now)(
            groups=[household_group(mine.household_id)], event="order.filled", payload={"n": n}
        )
        message = await communicator.receive_json_from(timeout=5)
        assert message == {"event": "order.filled", "payload": {"n": n}}
    assert calls == []
    # other messages (a ping from the browser) still go through Channels' own dispatch
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from(timeout=5))["event"] == "pong"
    assert calls == [1]
    await communicator.disconnect()


async def test_asking_for_another_household_is_refused():
    mine = await sync_to_async(ClientFactory)()
    theirs = await sync_to_async(ClientFactory)()
    cookie = await sync_to_async(_session_cookie)(mine.user)
    communicator = _communicator(f"/ws/live/?household={theirs.household_id}", cookie)
    connected, code = await communicator.connect()
    assert not connected and code == 4403


@pytest.mark.parametrize("value", ["²", "1²", "99999999999999999999999", "-1", "1.0"])
async def test_a_household_that_is_not_a_plain_id_is_refused(value):
    """Refused as forbidden, never an error: "²".isdigit() holds but int() refuses it, and an id
    past the database's range would fail the query."""
    mine = await sync_to_async(ClientFactory)()
    cookie = await sync_to_async(_session_cookie)(mine.user)
    communicator = _communicator(f"/ws/live/?household={value}", cookie)
    connected, code = await communicator.connect()
    assert not connected and code == 4403
