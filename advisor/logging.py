"""Logging filters: secrets and tokens never reach a log line."""

from __future__ import annotations

import logging
import re

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
