"""Logging: secrets and tokens never reach a log line; timestamps are UTC."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

_PATTERNS = [
    # Authorization headers, API tokens, passwords and keys in key=value or JSON form.
    re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(token|bearer|basic)?\s*[^\s\"',}]+"),
    re.compile(
        r"(?i)((?:password|passwd|secret|api[_-]?key|secret[_-]?key|token|apca-api-[a-z-]+)"
        r"[\"']?\s*[:=]\s*[\"']?)[^\s\"',}&]+"
    ),
    re.compile(r"(?i)(redis|postgres(?:ql)?)://([^:/@\s]+):[^@\s]+@"),
]


def redact(text: str) -> str:
    """Replace the secret part of anything that looks like a credential with ``***``."""
    text = _PATTERNS[0].sub(lambda m: f"{m.group(1)}***", text)
    text = _PATTERNS[1].sub(lambda m: f"{m.group(1)}***", text)
    return _PATTERNS[2].sub(lambda m: f"{m.group(1)}://{m.group(2)}:***@", text)


class RedactSecretsFilter(logging.Filter):
    """Rewrites each record's message with :func:`redact` applied."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


class RepeatedErrorFilter(logging.Filter):
    """Lets a recurring error through once a ``window`` instead of on every repetition.

    channels-redis' pub/sub receiver logs "Unexpected exception in receive task" with a full
    traceback every second while Redis is unreachable. The first occurrence passes as it is;
    the repetitions within ``window`` seconds of the last one let through are counted, and the
    next one after the window passes without its traceback, saying how many were held back.
    A message that has been quiet for a whole window starts over (traceback included).
    Attach it to the noisy logger only: it keys on the message, so one failure repeating is
    one entry.
    """

    def __init__(self, window: float = 60.0) -> None:
        super().__init__()
        self.window = window
        # per message: when it was last seen, when one last passed, how many held back since
        self._state: dict[str, tuple[float, float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = f"{record.name}:{record.msg}"
        now = record.created
        seen, passed, held = self._state.get(key, (float("-inf"), now, 0))
        if now - seen >= self.window:  # new, or quiet for a whole window
            self._state[key] = (now, now, 0)
            return True
        if now - passed < self.window:
            self._state[key] = (now, passed, held + 1)
            return False
        self._state[key] = (now, now, 0)
        record.msg = (
            f"{record.getMessage()} (again; {held} more like it in the last {self.window:.0f} s)"
        )
        record.args = None
        record.exc_info = None
        record.exc_text = None
        return True


class UtcFormatter(logging.Formatter):
    """Timestamps in UTC, ISO 8601 with a ``Z`` (``2024-06-04T00:30:00.123Z``), whatever the
    process's zone: Django sets it to the firm's ``TIME_ZONE``, and log lines from several
    machines must sort together."""

    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.converter = time.gmtime
