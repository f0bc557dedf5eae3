"""The Alpaca adapter against a fake Alpaca server: orders, errors, faults, fills and the stream."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

import trading.brokers.alpaca as alpaca_module
from portfolios.core.errors import Conflict, InvalidInput, NotFound
from tests.trading.fake_alpaca import FakeAlpaca, running_fake_alpaca
from trading.brokers.alpaca import (
    LIVE_BASE_URL,
    PAPER_BASE_URL,
    AlpacaBroker,
    alpaca_broker_from_settings,
    broker_order_status,
    execution_id_for,
    map_api_error,
    stream_url_for,
)
from trading.brokers.alpaca_stream import FillStream, trade_update_to_fill
from trading.brokers.base import (
    Broker,
    BrokerError,
    BrokerFill,
    BrokerOrderStatus,
    BrokerRejected,
    BrokerTimeout,
)
from trading.core.orders import OrderIntent, OrderSide, OrderType

NOW = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)


@pytest.fixture
def fake_alpaca() -> Iterator[FakeAlpaca]:
    with running_fake_alpaca() as fake:
        fake.set_time(NOW)
        yield fake


def make_broker(fake: FakeAlpaca, **options: object) -> AlpacaBroker:
    return AlpacaBroker(
        api_key=fake.api_key,
        secret_key=fake.secret_key,
        paper=True,
        base_url=fake.base_url,
        **{"timeout": 5.0, **options},  # type: ignore[arg-type]
    )


@pytest.fixture
def broker(fake_alpaca: FakeAlpaca) -> AlpacaBroker:
    return make_broker(fake_alpaca)


def intent(
    client_order_id: str = "prop-17-acct-3-AAPL-buy",
    *,
    symbol: str = "AAPL",
    side: OrderSide = OrderSide.BUY,
    qty: str = "10",
    limit: str | None = None,
) -> OrderIntent:
    return OrderIntent(
        client_order_id=client_order_id,
        account_key="acct-3",
        symbol=symbol,
        side=side,
        quantity=Decimal(qty),
        order_type=OrderType.LIMIT if limit else OrderType.MARKET,
        limit_price=Decimal(limit) if limit else None,
    )


# -- configuration ------------------------------------------------------------------------------


def test_paper_unless_live_is_asked_for() -> None:
    assert AlpacaBroker(api_key="k", secret_key="s").base_url == PAPER_BASE_URL
    assert AlpacaBroker(api_key="k", secret_key="s", paper=False).base_url == LIVE_BASE_URL
    custom = AlpacaBroker(api_key="k", secret_key="s", base_url="https://proxy.example/v2/")
    assert custom.base_url == "https://proxy.example"
    assert isinstance(custom, Broker)
    with pytest.raises(InvalidInput, match="live endpoint"):
        AlpacaBroker(api_key="k", secret_key="s", paper=True, base_url=LIVE_BASE_URL)
    with pytest.raises(InvalidInput, match="paper endpoint"):
        AlpacaBroker(api_key="k", secret_key="s", paper=False, base_url=PAPER_BASE_URL)
    with pytest.raises(InvalidInput, match="secret key"):
        AlpacaBroker(api_key="k", secret_key="")
    assert stream_url_for(paper=True, base_url=None) == "wss://paper-api.alpaca.markets/stream"
    assert stream_url_for(paper=False, base_url=None) == "wss://api.alpaca.markets/stream"
    assert stream_url_for(paper=True, base_url="http://127.0.0.1:9") == "ws://127.0.0.1:9/stream"


def test_broker_from_settings(settings, fake_alpaca: FakeAlpaca) -> None:
    settings.ALPACA_API_KEY = fake_alpaca.api_key
    settings.ALPACA_SECRET_KEY = fake_alpaca.secret_key
    settings.ALPACA_BASE_URL = ""
    settings.TRADING_MODE = "live"
    live = alpaca_broker_from_settings()
    assert (live.paper, live.base_url) == (False, LIVE_BASE_URL)

    settings.TRADING_MODE = "paper"
    settings.ALPACA_BASE_URL = fake_alpaca.base_url
    paper = alpaca_broker_from_settings(timeout=5.0)
    assert paper.paper
    assert paper.account().cash == Decimal("100000.00")

    settings.ALPACA_BASE_URL = LIVE_BASE_URL
    with pytest.raises(ImproperlyConfigured, match="live endpoint"):
        alpaca_broker_from_settings()
    settings.ALPACA_SECRET_KEY = ""
    with pytest.raises(ImproperlyConfigured, match="ALPACA_SECRET_KEY"):
        alpaca_broker_from_settings()


def test_keys_are_never_logged(
    caplog: pytest.LogCaptureFixture, fake_alpaca: FakeAlpaca, broker: AlpacaBroker
) -> None:
    caplog.set_level(logging.DEBUG)
    raised: list[Exception] = []
    broker.submit_order(intent(), now=NOW)
    broker.submit_order(intent(), now=NOW)
    broker.get_order("prop-17-acct-3-AAPL-buy")
    fake_alpaca.fail_next(1, 429, retry_after=1)
    with pytest.raises(BrokerError) as rate_limited:
        broker.account()
    raised.append(rate_limited.value)
    wrong = AlpacaBroker(
        api_key=fake_alpaca.api_key, secret_key="wrong-secret", base_url=fake_alpaca.base_url
    )
    with pytest.raises(BrokerRejected) as refused:
        wrong.account()
    raised.append(refused.value)
    assert refused.value.code == "forbidden"
    stream = FillStream(
        api_key=fake_alpaca.api_key,
        secret_key=fake_alpaca.secret_key,
        base_url=fake_alpaca.base_url,
        on_fill=lambda fill: None,
    )

    assert caplog.records, "the adapter logs its submissions"
    for text in [caplog.text, repr(broker), repr(wrong), repr(stream), *map(str, raised)]:
        assert fake_alpaca.api_key not in text
        assert fake_alpaca.secret_key not in text


# -- submission ---------------------------------------------------------------------------------


def test_submit_market_order(fake_alpaca: FakeAlpaca, broker: AlpacaBroker) -> None:
    order = broker.submit_order(intent(), now=NOW)

    assert order.client_order_id == "prop-17-acct-3-AAPL-buy"
    assert uuid.UUID(order.broker_order_id)
    assert (order.symbol, order.side, order.quantity) == ("AAPL", OrderSide.BUY, Decimal("10"))
    assert order.status is BrokerOrderStatus.ACCEPTED
    assert order.filled_quantity == 0 and order.average_fill_price is None
    assert order.submitted_at == NOW
    assert fake_alpaca.submissions == [
        {
            "symbol": "AAPL",
            "qty": "10",
            "side": "buy",
            "type": "market",
            "time_in_force": "day",
            "client_order_id": "prop-17-acct-3-AAPL-buy",
        }
    ]


def test_submit_fractional_limit_order_keeps_every_digit(
    fake_alpaca: FakeAlpaca, broker: AlpacaBroker
) -> None:
    order = broker.submit_order(
        intent("prop-17-MSFT-buy", symbol="MSFT", qty="123456.123456789", limit="0.5"), now=NOW
    )

    assert order.quantity == Decimal("123456.123456789")
    assert fake_alpaca.submissions[0]["qty"] == "123456.123456789"
    assert fake_alpaca.submissions[0]["limit_price"] == "0.5"
    held = fake_alpaca.order("prop-17-MSFT-buy")
    assert (held.order_type, held.limit_price, held.qty) == (
        "limit",
        Decimal("0.5"),
        Decimal("123456.123456789"),
    )


def test_same_client_order_id_twice_is_one_order(
    fake_alpaca: FakeAlpaca, broker: AlpacaBroker
) -> None:
    first = broker.submit_order(intent(), now=NOW)
    second = broker.submit_order(intent(), now=NOW + timedelta(seconds=5))

    assert second == first
    assert fake_alpaca.order_count == 1
    assert fake_alpaca.count_requests("POST", "/v2/orders") == 2
    assert fake_alpaca.count_requests("GET", "/v2/orders:by_client_order_id") == 1


def test_same_client_order_id_for_another_order_is_a_conflict(broker: AlpacaBroker) -> None:
    broker.submit_order(intent(qty="10"), now=NOW)
    with pytest.raises(Conflict, match="qty 10 != 11"):
        broker.submit_order(intent(qty="11"), now=NOW)


def test_client_order_id_longer_than_alpaca_accepts(
    fake_alpaca: FakeAlpaca, broker: AlpacaBroker
) -> None:
    with pytest.raises(InvalidInput, match="49 characters"):
        broker.submit_order(intent("x" * 49), now=NOW)
    assert fake_alpaca.requests == []
    assert broker.submit_order(intent("x" * 48), now=NOW).client_order_id == "x" * 48


def test_insufficient_buying_power(fake_alpaca: FakeAlpaca, broker: AlpacaBroker) -> None:
    with pytest.raises(BrokerRejected, match="insufficient buying power") as rejected:
        broker.submit_order(intent(qty="1000"), now=NOW)  # 1000 x 190 > 100 000
    assert rejected.value.code == "insufficient_buying_power"
    assert fake_alpaca.order_count == 0


def test_fractional_quantity_of_whole_share_asset(
    fake_alpaca: FakeAlpaca, broker: AlpacaBroker
) -> None:
    fake_alpaca.add_asset("BRK.A", Decimal("600"), fractionable=False)
    with pytest.raises(BrokerRejected, match="not fractionable") as rejected:
        broker.submit_order(intent("prop-1-BRK", symbol="BRK.A", qty="0.5"), now=NOW)
    assert rejected.value.code == "invalid_quantity"
    assert fake_alpaca.order_count == 0


def test_selling_more_than_held(broker: AlpacaBroker) -> None:
    with pytest.raises(BrokerRejected, match="insufficient qty") as rejected:
        broker.submit_order(intent("prop-1-sell", side=OrderSide.SELL, qty="1"), now=NOW)
    assert rejected.value.code == "insufficient_quantity"


@pytest.mark.parametrize(
    ("status", "message", "code"),
    [
        (403, "insufficient buying power", "insufficient_buying_power"),
        (403, "insufficient day trading buying power", "insufficient_buying_power"),
        (403, "potential wash trade detected. use complex orders", "wash_trade"),
        (422, "potential wash trade detected. use complex orders", "wash_trade"),
        (422, "qty must be > 0", "invalid_quantity"),
        (422, "invalid qty", "invalid_quantity"),
        (422, 'asset "BRK.A" is not fractionable', "invalid_quantity"),
        (
            403,
            "insufficient qty available for order (requested: 5, available: 1)",
            "insufficient_quantity",
        ),
        (422, 'asset "ZZZZ" not found', "not_tradable"),
        (422, "asset XYZ is not tradable", "not_tradable"),
        (
            422,
            "invalid limit_price 1.234. sub-penny increment does not fulfill minimum pricing criteria",
            "invalid_price",
        ),
        (403, "trade denied due to pattern day trading protection", "forbidden"),
        (401, "unauthorized.", "forbidden"),
        (422, "something new", "unknown"),
    ],
)
def test_error_mapping(status: int, message: str, code: str) -> None:
    error = map_api_error(
        status, {"code": 40310000, "message": message}, message, action="submit order"
    )
    assert isinstance(error, BrokerRejected)
    assert error.code == code
    assert message in str(error)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_transient(status: int) -> None:
    error = map_api_error(status, {}, "boom", action="submit order")
    assert type(error) is BrokerError


def test_rate_limit_carries_retry_after_and_is_not_retried_silently(
    fake_alpaca: FakeAlpaca, broker: AlpacaBroker
) -> None:
    fake_alpaca.fail_next(1, 429, retry_after=7)
    with pytest.raises(BrokerError, match="rate-limited") as limited:
        broker.submit_order(intent(), now=NOW)
    assert limited.value.retry_after == 7.0
    assert not isinstance(limited.value, BrokerTimeout)
    assert fake_alpaca.count_requests("POST", "/v2/orders") == 1
    assert fake_alpaca.order_count == 0

    fake_alpaca.fail_next(1, 429)
    with pytest.raises(BrokerError) as without_header:
        broker.account()
    assert without_header.value.retry_after is None

    assert broker.submit_order(intent(), now=NOW).status is BrokerOrderStatus.ACCEPTED


@pytest.mark.parametrize("status", [500, 503, 504])
def test_5xx_is_a_broker_error_without_hidden_retries(
    fake_alpaca: FakeAlpaca, broker: AlpacaBroker, status: int
) -> None:
    fake_alpaca.fail_next(1, status)
    with pytest.raises(BrokerError, match=f"HTTP {status}") as failed:
        broker.positions()
    assert type(failed.value) is BrokerError
    assert fake_alpaca.count_requests("GET", "/v2/positions") == 1
    assert broker.positions() == {}


def test_wash_trade_reject_is_distinguishable(
    fake_alpaca: FakeAlpaca, broker: AlpacaBroker
) -> None:
    fake_alpaca.fill(broker.submit_order(intent("seed"), now=NOW).client_order_id, "10", "190")
    broker.submit_order(intent("buy-more", qty="5"), now=NOW)

    with pytest.raises(BrokerRejected, match="wash trade") as rejected:
        broker.submit_order(intent("sell-some", side=OrderSide.SELL, qty="3"), now=NOW)
    assert rejected.value.code == "wash_trade"
    assert fake_alpaca.order_count == 2

    # Once the opposite order has finished, the same order goes through.
    fake_alpaca.fill("buy-more", "5", "190")
    sold = broker.submit_order(intent("sell-some", side=OrderSide.SELL, qty="3"), now=NOW)
    assert sold.status is BrokerOrderStatus.ACCEPTED


def test_limit_orders_that_cannot_cross_are_no_wash_trade(
    fake_alpaca: FakeAlpaca, broker: AlpacaBroker
) -> None:
    fake_alpaca.fill(broker.submit_order(intent("seed"), now=NOW).client_order_id, "10", "190")
    broker.submit_order(intent("bid", qty="1", limit="180"), now=NOW)
    broker.submit_order(intent("ask", side=OrderSide.SELL, qty="1", limit="200"), now=NOW)
    with pytest.raises(BrokerRejected) as rejected:
        broker.submit_order(intent("lift", qty="1", limit="200"), now=NOW)
    assert rejected.value.code == "wash_trade"


def test_timeout_after_the_broker_accepted(fake_alpaca: FakeAlpaca, broker: AlpacaBroker) -> None:
    impatient = make_broker(fake_alpaca, timeout=0.3)
    fake_alpaca.delay_next_submission(30)

    with pytest.raises(BrokerTimeout):
        impatient.submit_order(intent(), now=NOW)

    assert fake_alpaca.order_count == 1
    found = broker.get_order("prop-17-acct-3-AAPL-buy")
    assert found is not None
    assert (found.symbol, found.quantity) == ("AAPL", Decimal("10"))
    # A retry after the lookup, or instead of it, still leaves one order at the broker.
    assert broker.submit_order(intent(), now=NOW) == found
    assert fake_alpaca.order_count == 1


def test_server_down_then_back(fake_alpaca: FakeAlpaca, broker: AlpacaBroker) -> None:
    broker.submit_order(intent(), now=NOW)
    port = fake_alpaca.port
    fake_alpaca.stop()

    with pytest.raises(BrokerError, match="could not reach Alpaca") as down:
        broker.submit_order(intent("prop-2"), now=NOW)
    assert not isinstance(down.value, BrokerTimeout)
    with pytest.raises(BrokerError):
        broker.get_order("prop-17-acct-3-AAPL-buy")

    fake_alpaca.restart()
    assert fake_alpaca.port == port
    assert broker.get_order("prop-17-acct-3-AAPL-buy") is not None
    assert broker.submit_order(intent("prop-2"), now=NOW).client_order_id == "prop-2"
    assert fake_alpaca.order_count == 2


def test_unknown_order_is_none(broker: AlpacaBroker) -> None:
    assert broker.get_order("never-sent") is None


# -- orders after submission --------------------------------------------------------------------


def test_cancel_order(fake_alpaca: FakeAlpaca, broker: AlpacaBroker) -> None:
    broker.submit_order(intent("bid", qty="2", limit="150"), now=NOW)

    broker.cancel_order("bid")

    canceled = broker.get_order("bid")
    assert canceled is not None and canceled.status is BrokerOrderStatus.CANCELED
    assert fake_alpaca.order("bid").status == "canceled"
    broker.cancel_order("bid")  # canceling twice is harmless
    assert fake_alpaca.count_requests("DELETE", f"/v2/orders/{canceled.broker_order_id}") == 1

    fake_alpaca.auto_fill_market = True
    broker.submit_order(intent("done", qty="1"), now=NOW)
    with pytest.raises(Conflict, match="filled"):
        broker.cancel_order("done")
    with pytest.raises(NotFound):
        broker.cancel_order("never-sent")


def test_cancel_races_a_fill(fake_alpaca: FakeAlpaca, broker: AlpacaBroker) -> None:
    order = broker.submit_order(intent("racing", qty="1"), now=NOW)
    real_cancel = broker._client.cancel_order_by_id

    def fill_first(order_id: object) -> None:
        fake_alpaca.fill("racing", "1", "190")
        real_cancel(order_id)  # type: ignore[arg-type]

    broker._client.cancel_order_by_id = fill_first  # type: ignore[method-assign]
    with pytest.raises(Conflict, match="filled"):
        broker.cancel_order("racing")
    assert fake_alpaca.order("racing").status == "filled"
    assert order.status is BrokerOrderStatus.ACCEPTED


def test_open_orders(fake_alpaca: FakeAlpaca, broker: AlpacaBroker) -> None:
    broker.submit_order(intent("a", qty="4"), now=NOW)
    fake_alpaca.advance(timedelta(seconds=1))
    broker.submit_order(intent("b", symbol="MSFT", qty="2"), now=NOW)
    fake_alpaca.advance(timedelta(seconds=1))
    broker.submit_order(intent("c", symbol="MSFT", qty="1", limit="300"), now=NOW)
    fake_alpaca.fill("a", "1", "190")
    fake_alpaca.fill("b", "2", "410")
    broker.cancel_order("c")

    open_orders = broker.open_orders()

    assert [(o.client_order_id, o.status) for o in open_orders] == [
        ("a", BrokerOrderStatus.PARTIALLY_FILLED)
    ]
    assert open_orders[0].filled_quantity == Decimal("1")
    assert open_orders[0].average_fill_price == Decimal("190")


def test_open_orders_across_pages(
    monkeypatch: pytest.MonkeyPatch, fake_alpaca: FakeAlpaca, broker: AlpacaBroker
) -> None:
    monkeypatch.setattr(alpaca_module, "ORDERS_PAGE_SIZE", 2)
    # o1 and o2 share an instant that falls on the first page's edge: paging must not skip o2.
    for index, second in enumerate([0, 1, 1, 2, 3]):
        fake_alpaca.set_time(NOW + timedelta(seconds=second))
        broker.submit_order(intent(f"o{index}", qty="1"), now=NOW)

    assert [o.client_order_id for o in broker.open_orders()] == ["o0", "o1", "o2", "o3", "o4"]
    assert fake_alpaca.count_requests("GET", "/v2/orders") >= 3


def test_positions_and_account_are_decimal(fake_alpaca: FakeAlpaca, broker: AlpacaBroker) -> None:
    assert broker.positions() == {}
    start = broker.account()
    assert (start.cash, start.buying_power, start.equity) == (Decimal("100000.00"),) * 3

    broker.submit_order(intent(qty="4.5"), now=NOW)
    fake_alpaca.fill("prop-17-acct-3-AAPL-buy", "4.5", "100.25")
    broker.submit_order(intent("bid", symbol="MSFT", qty="1", limit="400"), now=NOW)

    positions = broker.positions()
    assert positions == {"AAPL": Decimal("4.5")}
    assert isinstance(positions["AAPL"], Decimal)
    account = broker.account()
    assert account.cash == Decimal("99548.88")  # 100 000 - 4.5 x 100.25 = 99 548.875
    assert account.buying_power == Decimal("99148.88")  # less the open 400 bid
    assert account.equity == Decimal("100000.00")
    assert all(isinstance(v, Decimal) for v in (account.cash, account.buying_power, account.equity))


def test_order_status_mapping() -> None:
    assert broker_order_status("pending_new", Decimal(0)) is BrokerOrderStatus.NEW
    assert broker_order_status("new", Decimal(0)) is BrokerOrderStatus.ACCEPTED
    assert broker_order_status("accepted", Decimal(0)) is BrokerOrderStatus.ACCEPTED
    assert broker_order_status("new", Decimal(1)) is BrokerOrderStatus.PARTIALLY_FILLED
    assert broker_order_status("pending_cancel", Decimal(1)) is BrokerOrderStatus.PARTIALLY_FILLED
    assert broker_order_status("filled", Decimal(3)) is BrokerOrderStatus.FILLED
    assert broker_order_status("canceled", Decimal(1)) is BrokerOrderStatus.CANCELED
    assert broker_order_status("replaced", Decimal(0)) is BrokerOrderStatus.CANCELED
    assert broker_order_status("expired", Decimal(0)) is BrokerOrderStatus.EXPIRED
    assert broker_order_status("rejected", Decimal(0)) is BrokerOrderStatus.REJECTED


# -- fills from REST ----------------------------------------------------------------------------


def test_partial_then_full_fill_from_rest(fake_alpaca: FakeAlpaca, broker: AlpacaBroker) -> None:
    order = broker.submit_order(intent(), now=NOW)
    assert broker.fills_since(None, now=NOW) == []

    t1 = fake_alpaca.advance(timedelta(minutes=1))
    fake_alpaca.fill(order.client_order_id, "4", "100.50")
    first_poll = broker.fills_since(None, now=t1)
    t2 = fake_alpaca.advance(timedelta(minutes=1))
    fake_alpaca.fill(order.client_order_id, "6", "101.25")
    fills = broker.fills_since(None, now=t2)

    assert fills[:1] == first_poll
    assert [(f.execution_id, f.quantity, f.price, f.executed_at) for f in fills] == [
        (f"{order.broker_order_id}:4.000000000", Decimal("4"), Decimal("100.50"), t1),
        (f"{order.broker_order_id}:10.000000000", Decimal("6"), Decimal("101.25"), t2),
    ]
    assert all(
        (f.client_order_id, f.symbol, f.side, f.fee)
        == (order.client_order_id, "AAPL", OrderSide.BUY, 0)
        for f in fills
    )
    assert sum(f.quantity * f.price for f in fills) == Decimal("1009.50")
    # Polling again finds nothing new: the same fills under the same ids, none after the last.
    assert broker.fills_since(None, now=t2) == fills
    assert broker.fills_since(fills[-1].executed_at, now=t2) == []
    assert broker.fills_since(t1, now=t2) == fills[1:]


def test_rest_fill_price_when_the_average_does_not_terminate(
    fake_alpaca: FakeAlpaca, broker: AlpacaBroker
) -> None:
    order = broker.submit_order(intent(qty="3"), now=NOW)
    fake_alpaca.fill(order.client_order_id, "1", "100")
    broker.fills_since(None, now=NOW)
    fake_alpaca.fill(order.client_order_id, "2", "101")
    assert fake_alpaca.order(order.client_order_id).to_json()["filled_avg_price"] == "100.666666667"

    second = broker.fills_since(None, now=NOW)[-1]

    assert (second.quantity, second.price) == (Decimal("2"), Decimal("101.000000"))


def test_fresh_process_continues_from_remembered_fills(
    fake_alpaca: FakeAlpaca, broker: AlpacaBroker
) -> None:
    order = broker.submit_order(intent(), now=NOW)
    fake_alpaca.fill(order.client_order_id, "4", "100.50")
    booked = broker.fills_since(None, now=NOW)
    fake_alpaca.advance(timedelta(minutes=1))
    fake_alpaca.fill(order.client_order_id, "6", "101.25")
    expected = broker.fills_since(None, now=NOW)[1:]

    restarted = make_broker(fake_alpaca)
    restarted.remember_fills(booked)
    assert restarted.fills_since(None, now=NOW) == expected

    # Without that memory the first poll reports the whole filled quantity under the final id,
    # which the platform books as the step from what it already holds (see the module docstring).
    amnesiac = make_broker(fake_alpaca)
    [whole] = amnesiac.fills_since(None, now=NOW)
    assert (whole.execution_id, whole.quantity, whole.price) == (
        expected[0].execution_id,
        Decimal("10"),
        Decimal("100.950000"),
    )


def test_fills_since_looks_back_for_orders_submitted_earlier(
    fake_alpaca: FakeAlpaca, broker: AlpacaBroker
) -> None:
    order = broker.submit_order(intent(), now=NOW)
    later = fake_alpaca.advance(timedelta(days=3))
    fake_alpaca.fill(order.client_order_id, "10", "190")

    fills = broker.fills_since(later - timedelta(hours=1), now=later)

    assert [f.quantity for f in fills] == [Decimal("10")]
    short_memory = make_broker(fake_alpaca, order_lookback=timedelta(hours=1))
    assert short_memory.fills_since(later - timedelta(hours=1), now=later) == []


def test_fills_since_needs_aware_times(broker: AlpacaBroker) -> None:
    with pytest.raises(InvalidInput, match="now"):
        broker.fills_since(None, now=datetime(2024, 3, 4, 15, 0))  # noqa: DTZ001 - on purpose
    with pytest.raises(InvalidInput, match="since"):
        broker.fills_since(datetime(2024, 3, 4, 15, 0), now=NOW)  # noqa: DTZ001 - on purpose


# -- fills from the trade_updates stream --------------------------------------------------------

PARTIAL_FILL_EVENT = {
    "stream": "trade_updates",
    "data": {
        "event": "partial_fill",
        "execution_id": "2f63ea93-423d-4169-b3f6-3fdafc10c418",
        "order": {
            "asset_class": "us_equity",
            "asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415",
            "cancel_requested_at": None,
            "canceled_at": None,
            "client_order_id": "prop-17-acct-3-AAPL-buy",
            "created_at": "2024-03-04T10:00:00.981350886-05:00",
            "expired_at": None,
            "extended_hours": False,
            "failed_at": None,
            "filled_at": None,
            "filled_avg_price": "189.995",
            "filled_qty": "2.5",
            "hwm": None,
            "id": "a5be8f5e-fdfa-41f5-a644-7a74fe947a8f",
            "legs": None,
            "limit_price": None,
            "notional": None,
            "order_class": "",
            "order_type": "market",
            "qty": "10",
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "side": "buy",
            "status": "partially_filled",
            "stop_price": None,
            "submitted_at": "2024-03-04T10:00:00.980944666-05:00",
            "symbol": "AAPL",
            "time_in_force": "day",
            "trail_percent": None,
            "trail_price": None,
            "type": "market",
            "updated_at": "2024-03-04T10:00:01.027690731-05:00",
        },
        "position_qty": "2.5",
        "price": "189.995",
        "qty": "2.5",
        "timestamp": "2024-03-04T15:00:01.024916716Z",
    },
}


def fill_event(**changes: object) -> dict:
    data = {**PARTIAL_FILL_EVENT["data"], **changes}  # type: ignore[dict-item]
    return {"stream": "trade_updates", "data": data}


def test_partial_fill_event_becomes_a_broker_fill() -> None:
    fill = trade_update_to_fill(PARTIAL_FILL_EVENT)

    assert fill == BrokerFill(
        execution_id="a5be8f5e-fdfa-41f5-a644-7a74fe947a8f:2.500000000",
        client_order_id="prop-17-acct-3-AAPL-buy",
        symbol="AAPL",
        side=OrderSide.BUY,
        quantity=Decimal("2.5"),
        price=Decimal("189.995"),
        fee=Decimal(0),
        executed_at=datetime(2024, 3, 4, 15, 0, 1, 24916, tzinfo=UTC),
    )
    assert isinstance(fill.price, Decimal) and isinstance(fill.quantity, Decimal)
    # The data object alone converts the same way.
    assert trade_update_to_fill(PARTIAL_FILL_EVENT["data"]) == fill  # type: ignore[arg-type]


def test_fill_event_after_partial_fills_uses_the_cumulative_id() -> None:
    order = {
        **PARTIAL_FILL_EVENT["data"]["order"],  # type: ignore[index]
        "status": "filled",
        "filled_qty": "10",
        "filled_avg_price": "190.00375",
        "filled_at": "2024-03-04T15:00:02.5Z",
    }
    fill = trade_update_to_fill(
        fill_event(
            event="fill",
            order=order,
            qty="7.5",
            price="190.0066666666666",
            timestamp="2024-03-04T15:00:02.5Z",
        )
    )

    assert fill is not None
    assert fill.execution_id == execution_id_for(
        "a5be8f5e-fdfa-41f5-a644-7a74fe947a8f", Decimal(10)
    )
    assert fill.execution_id.endswith(":10.000000000")
    assert (fill.quantity, fill.price) == (Decimal("7.5"), Decimal("190.0066666666666"))


@pytest.mark.parametrize(
    "event", ["new", "accepted", "canceled", "expired", "rejected", "pending_new"]
)
def test_events_that_fill_nothing(event: str) -> None:
    assert trade_update_to_fill(fill_event(event=event)) is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"qty": None}, "qty"),
        ({"price": "0"}, "price"),
        ({"qty": "3"}, "qty"),
        ({"timestamp": "soon"}, "timestamp"),
    ],
)
def test_malformed_fill_events_are_refused(changes: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        trade_update_to_fill(fill_event(**changes))
    assert refused.value.field == field


def test_stream_and_rest_name_each_fill_alike(
    fake_alpaca: FakeAlpaca, broker: AlpacaBroker
) -> None:
    order = broker.submit_order(intent(), now=NOW)
    fake_alpaca.advance(timedelta(seconds=30))
    fake_alpaca.fill(order.client_order_id, "4", "100.50")
    rest_first = broker.fills_since(None, now=NOW)
    fake_alpaca.advance(timedelta(seconds=30))
    fake_alpaca.fill(order.client_order_id, "6", "101.25")
    rest = broker.fills_since(None, now=NOW)

    streamed = [trade_update_to_fill(message) for message in fake_alpaca.trade_updates]
    stream_fills = [fill for fill in streamed if fill is not None]

    assert len(rest_first) == 1
    assert stream_fills == rest
    assert len({fill.execution_id for fill in stream_fills + rest}) == 2


def test_fill_stream_hands_fills_to_the_callback(
    fake_alpaca: FakeAlpaca, broker: AlpacaBroker
) -> None:
    received: queue.Queue[BrokerFill] = queue.Queue()
    stream = FillStream(
        api_key=fake_alpaca.api_key,
        secret_key=fake_alpaca.secret_key,
        base_url=fake_alpaca.base_url,
        stream_url=fake_alpaca.start_stream(),
        on_fill=received.put,
    )
    runner = threading.Thread(target=stream.run, daemon=True)
    runner.start()
    try:
        assert fake_alpaca.wait_for_stream_listener(timeout=10)
        order = broker.submit_order(intent(), now=NOW)
        fake_alpaca.fill(order.client_order_id, "4", "100.50")
        fake_alpaca.fill(order.client_order_id, "6", "101.25")
        got = [received.get(timeout=10), received.get(timeout=10)]
    finally:
        stream.stop()
        runner.join(timeout=10)
    assert not runner.is_alive()
    assert [(f.execution_id, f.quantity, f.price) for f in got] == [
        (f"{order.broker_order_id}:4.000000000", Decimal("4"), Decimal("100.50")),
        (f"{order.broker_order_id}:10.000000000", Decimal("6"), Decimal("101.25")),
    ]


def test_fill_stream_survives_a_failing_callback(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[BrokerFill] = []

    def book(fill: BrokerFill) -> None:
        seen.append(fill)
        raise RuntimeError("database is down")

    stream = FillStream(api_key="k", secret_key="s", on_fill=book)
    assert stream.url == "wss://paper-api.alpaca.markets/stream"

    fill = asyncio.run(stream.handle(PARTIAL_FILL_EVENT))
    assert fill is not None and seen == [fill]
    assert "booking the fill" in caplog.text
    assert asyncio.run(stream.handle(fill_event(event="new"))) is None
    assert asyncio.run(stream.handle(fill_event(qty=None))) is None
    assert "unreadable trade update" in caplog.text
    stream.stop()  # never started: returns at once
