"""The filter that keeps a recurring error (the channel layer while Redis is down) readable."""

from __future__ import annotations

import logging
import sys
from typing import Any

from advisor.logging import RepeatedErrorFilter, UtcFormatter

MESSAGE = "Unexpected exception in receive task"


def _record(at: float, *, level: int = logging.ERROR, msg: str = MESSAGE) -> logging.LogRecord:
    try:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    except ConnectionError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "channels_redis.pubsub", level, __file__, 1, msg, None, exc_info if level >= 40 else None
    )
    record.created = at
    return record


def test_an_error_repeating_every_second_passes_once_a_minute_with_a_count() -> None:
    repeats = RepeatedErrorFilter(window=60)
    records = [_record(1000.0 + second) for second in range(150)]
    passed = [r for r in records if repeats.filter(r)]
    assert [r.created for r in passed] == [1000.0, 1060.0, 1120.0]
    first, second, _ = passed
    assert first.getMessage() == MESSAGE
    assert first.exc_info is not None  # the first keeps its traceback
    assert second.getMessage() == f"{MESSAGE} (again; 59 more like it in the last 60 s)"
    assert second.exc_info is None


def test_an_error_after_a_quiet_window_starts_over_with_its_traceback() -> None:
    repeats = RepeatedErrorFilter(window=60)
    assert repeats.filter(_record(0.0))
    assert not repeats.filter(_record(1.0))
    again = _record(200.0)
    assert repeats.filter(again)
    assert again.getMessage() == MESSAGE
    assert again.exc_info is not None


def test_other_messages_and_lower_levels_are_not_held_back() -> None:
    repeats = RepeatedErrorFilter(window=60)
    assert repeats.filter(_record(0.0))
    assert repeats.filter(_record(1.0, msg="Unexpected exception while cleaning-up channel:"))
    assert all(repeats.filter(_record(2.0 + i, level=logging.INFO)) for i in range(5))


def test_the_channel_layer_logger_is_configured_with_it() -> None:
    logger = logging.getLogger("channels_redis.pubsub")
    assert any(isinstance(f, RepeatedErrorFilter) for f in logger.filters)


def test_log_lines_are_stamped_in_utc_whatever_the_process_zone() -> None:
    """Django sets the process zone to the firm's (New York); log times stay UTC, marked Z."""
    from django.conf import settings

    config: Any = settings.LOGGING
    spec = config["formatters"]["plain"]
    assert spec["()"] == "advisor.logging.UtcFormatter"
    record = _record(1717461000.25, level=logging.INFO, msg="filled")  # 2024-06-04 00:30:00.25 UTC
    record.msecs = 250.0
    line = UtcFormatter(spec["format"]).format(record)
    assert line.startswith("2024-06-04T00:30:00.250Z INFO channels_redis.pubsub: filled")
