"""The live websocket by role: advisors hear their clients' households only, staff may narrow
to any household, a deactivated or signed-out session is refused, and API tokens are not a way
in (the websocket takes the browser session only)."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client as HttpClient

from advisor.asgi import application
from portfolios.live import household_group, publish_now
from tests.api.world import api_client
from tests.factories import PASSWORD, AdvisorUserFactory, ClientFactory, StaffUserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_url")]


@pytest.fixture(autouse=True)
async def _fresh_layer_and_connections():
    """Each test's event loop gets a channel layer of its own (the layer keeps per-loop
    receive state; a consumer cancelled on one loop must not be waited for on the next), and
    the executor thread's database connection is closed afterwards."""
    from channels.layers import channel_layers
    from django.db import connections

    channel_layers.backends.clear()
    yield
    layer = channel_layers.backends.pop("default", None)
    if layer is not None:
        await layer.close_pools()
    await sync_to_async(connections.close_all)()


def _cookie(user) -> bytes:
    http = HttpClient()
    assert http.login(username=user.username, password=PASSWORD)
    return f"{settings.SESSION_COOKIE_NAME}={http.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def _connect(path: str, headers: list[tuple[bytes, bytes]]) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application,
        path,
        headers=[(b"origin", b"http://localhost"), (b"host", b"localhost"), *headers],
    )


async def test_an_advisor_hears_their_clients_households_only():
    mine = await sync_to_async(ClientFactory)()
    theirs = await sync_to_async(ClientFactory)()
    cookie = await sync_to_async(_cookie)(mine.advisor)
    socket = _connect("/ws/live/", [(b"cookie", cookie)])
    connected, _ = await socket.connect()
    assert connected
    assert (await socket.receive_json_from(timeout=5))["event"] == "subscribed"
    await sync_to_async(publish_now)(
        groups=[household_group(theirs.household_id)], event="order.filled", payload={"n": 1}
    )
    await sync_to_async(publish_now)(
        groups=[household_group(mine.household_id)], event="order.filled", payload={"n": 2}
    )
    assert await socket.receive_json_from(timeout=5) == {
        "event": "order.filled",
        "payload": {"n": 2},
    }
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


async def test_an_advisor_asking_for_another_advisors_household_is_refused():
    theirs = await sync_to_async(ClientFactory)()
    advisor = await sync_to_async(AdvisorUserFactory)()
    cookie = await sync_to_async(_cookie)(advisor)
    other = _connect(f"/ws/live/?household={theirs.household_id}", [(b"cookie", cookie)])
    connected, code = await other.connect()
    assert not connected and code == 4403


async def test_staff_may_narrow_to_any_household():
    client = await sync_to_async(ClientFactory)()
    staff = await sync_to_async(StaffUserFactory)()
    cookie = await sync_to_async(_cookie)(staff)
    socket = _connect(f"/ws/live/?household={client.household_id}", [(b"cookie", cookie)])
    connected, _ = await socket.connect()
    assert connected
    await socket.receive_json_from(timeout=5)
    await sync_to_async(publish_now)(
        groups=[household_group(client.household_id)], event="position.changed", payload={}
    )
    assert (await socket.receive_json_from(timeout=5))["event"] == "position.changed"
    await socket.disconnect()


async def test_a_malformed_household_is_refused():
    staff = await sync_to_async(StaffUserFactory)()
    cookie = await sync_to_async(_cookie)(staff)
    bad = _connect("/ws/live/?household=1;drop", [(b"cookie", cookie)])
    connected, code = await bad.connect()
    assert not connected and code == 4403


async def test_an_api_token_is_not_a_way_in():
    client = await sync_to_async(ClientFactory)()
    token_api = await sync_to_async(api_client)(client.user)
    token_header = token_api._credentials["HTTP_AUTHORIZATION"].encode()
    by_token = _connect("/ws/live/", [(b"authorization", token_header)])
    connected, code = await by_token.connect()
    assert not connected and code == 4401


async def test_a_deactivated_users_session_is_refused():
    client = await sync_to_async(ClientFactory)()
    cookie = await sync_to_async(_cookie)(client.user)
    client.user.is_active = False
    await sync_to_async(client.user.save)()
    socket = _connect("/ws/live/", [(b"cookie", cookie)])
    connected, code = await socket.connect()
    assert not connected and code == 4401


async def test_a_signed_out_session_is_refused():
    client = await sync_to_async(ClientFactory)()

    def signed_out_cookie():
        http = HttpClient()
        assert http.login(username=client.user.username, password=PASSWORD)
        value = http.cookies[settings.SESSION_COOKIE_NAME].value
        http.post("/accounts/logout/")
        return f"{settings.SESSION_COOKIE_NAME}={value}".encode()

    cookie = await sync_to_async(signed_out_cookie)()
    socket = _connect("/ws/live/", [(b"cookie", cookie)])
    connected, code = await socket.connect()
    assert not connected and code == 4401


# -- access that changes while the socket is open ----------------------------------------------------


@pytest.fixture
def quick_recheck(monkeypatch):
    from advisor import consumers

    monkeypatch.setattr(consumers, "ACCESS_RECHECK_SECONDS", 0.2)


@pytest.mark.usefixtures("quick_recheck")
async def test_a_client_moved_to_another_advisor_is_no_longer_heard():
    moved = await sync_to_async(ClientFactory)()
    advisor = moved.advisor
    stays = await sync_to_async(ClientFactory)(advisor=advisor)
    cookie = await sync_to_async(_cookie)(advisor)
    socket = _connect("/ws/live/", [(b"cookie", cookie)])
    connected, _ = await socket.connect()
    assert connected and (await socket.receive_json_from(timeout=5))["event"] == "subscribed"
    moved.advisor = await sync_to_async(AdvisorUserFactory)()
    await sync_to_async(moved.save)()
    await socket.receive_nothing(timeout=0.6)  # a recheck or two
    await sync_to_async(publish_now)(
        groups=[household_group(moved.household_id)], event="order.filled", payload={"n": 1}
    )
    await sync_to_async(publish_now)(
        groups=[household_group(stays.household_id)], event="order.filled", payload={"n": 2}
    )
    assert (await socket.receive_json_from(timeout=5))["payload"] == {"n": 2}
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


@pytest.mark.usefixtures("quick_recheck")
@pytest.mark.parametrize("ending", ["deactivated", "signed out", "password changed"])
async def test_an_open_socket_closes_when_the_session_or_the_user_ends(ending):
    client = await sync_to_async(ClientFactory)()
    http = HttpClient()
    await sync_to_async(http.login)(username=client.user.username, password=PASSWORD)
    cookie = f"{settings.SESSION_COOKIE_NAME}={http.cookies[settings.SESSION_COOKIE_NAME].value}"
    socket = _connect("/ws/live/", [(b"cookie", cookie.encode())])
    connected, _ = await socket.connect()
    assert connected and (await socket.receive_json_from(timeout=5))["event"] == "subscribed"
    if ending == "deactivated":
        client.user.is_active = False
        await sync_to_async(client.user.save)()
    elif ending == "signed out":
        await sync_to_async(http.post)("/accounts/logout/")
    else:  # elsewhere: this session's password hash no longer matches
        client.user.set_password("a-new-long-password-1")
        await sync_to_async(client.user.save)()
    closed = await socket.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4401}
