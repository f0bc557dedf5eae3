"""What the feeds hand to the services, before anything is stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class IncomingNews:
    """A headline as a feed delivers it, before deduplication."""

    source: str
    headline: str
    published_at: datetime
    symbols: tuple[str, ...] = ()
    summary: str = ""
    url: str = ""
    external_id: str = ""
    is_demo: bool = False
    ingested_at: datetime | None = None
    """When a backfill knows better than "now" (a replayed history), the original arrival time."""
