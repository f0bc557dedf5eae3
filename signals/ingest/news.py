"""News feeds: Alpaca's news API (alpaca-py ``NewsClient``) and RSS/Atom (feedparser).

Each feed turns what its source delivers into :class:`~signals.ingest.types.IncomingNews`;
:func:`signals.services.news_items_ingest` stores them, deduplicated by content. Nothing
published after ``now`` is returned: a time in the future is a clock error at the source, and the
item would otherwise be visible to no computation until then.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from time import struct_time
from typing import Any, Protocol, runtime_checkable

from portfolios.core.errors import InvalidInput
from signals.ingest.types import IncomingNews

MAX_SUMMARY = 2000
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z][A-Za-z0-9.\-]{0,9})\b")
_EXCHANGE_NOTE = re.compile(
    r"\((?:NYSE(?:\s+American|\s+Arca)?|NYSEARCA|NASDAQ|Nasdaq|AMEX|BATS|Cboe|CBOE|TSX|LSE)"
    r"\s*:\s*([A-Za-z][A-Za-z0-9.\-]{0,9})\)"
)
_SYMBOL = re.compile(r"^[A-Z][A-Z0-9.\-/]{0,15}$")


@runtime_checkable
class NewsFeed(Protocol):
    """A source of headlines."""

    @property
    def name(self) -> str:
        """The feed's name, for progress and error messages."""
        ...

    def items(self, *, since: datetime | None, now: datetime) -> list[IncomingNews]:
        """Headlines published after ``since`` (all the feed has when None) and not after
        ``now``."""
        ...


def plain_text(markup: str | None) -> str:
    """Text without HTML tags or entities, whitespace collapsed."""
    if not markup:
        return ""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", markup))).strip()


def normalise_symbols(raw: Iterable[str]) -> tuple[str, ...]:
    """Upper-case ticker symbols, in order, without duplicates or anything that is not one."""
    seen: dict[str, None] = {}
    for symbol in raw:
        text = str(symbol).strip().upper()
        if _SYMBOL.match(text):
            seen.setdefault(text, None)
    return tuple(seen)


def symbols_mentioned(text: str, *, known: frozenset[str] | None = None) -> tuple[str, ...]:
    """Tickers a text names explicitly: cashtags (``$XOM``) and exchange notes
    (``(NYSE: XOM)``); only those in ``known`` when it is given."""
    found = normalise_symbols(
        [m.group(1) for m in _CASHTAG.finditer(text)]
        + [m.group(1) for m in _EXCHANGE_NOTE.finditer(text)]
    )
    return tuple(s for s in found if known is None or s in known)


def _aware(moment: Any) -> datetime | None:
    if isinstance(moment, datetime):
        return moment if moment.utcoffset() is not None else None
    if isinstance(moment, struct_time):
        return datetime(*moment[:6], tzinfo=UTC)
    return None


def incoming_from_alpaca_news(articles: Iterable[Any], *, now: datetime) -> list[IncomingNews]:
    """Headlines from alpaca-py ``News`` objects (``NewsClient.get_news(...).data["news"]``).

    The article's ``created_at`` is its publication time; articles created after ``now`` and
    articles without a headline are left out.
    """
    items = []
    for article in articles:
        headline = plain_text(getattr(article, "headline", ""))
        published = _aware(getattr(article, "created_at", None))
        if not headline or published is None or published > now:
            continue
        items.append(
            IncomingNews(
                source=str(getattr(article, "source", "") or "alpaca")[:100],
                headline=headline,
                summary=plain_text(getattr(article, "summary", ""))[:MAX_SUMMARY],
                url=str(getattr(article, "url", "") or "")[:500],
                published_at=published.astimezone(UTC),
                symbols=normalise_symbols(getattr(article, "symbols", None) or ()),
                external_id=f"alpaca:{getattr(article, 'id', '')}",
            )
        )
    return items


class AlpacaNewsFeed:
    """Alpaca's news API for a list of symbols (needs ``ALPACA_API_KEY``/``ALPACA_SECRET_KEY``)."""

    def __init__(
        self,
        *,
        api_key: str,
        secret_key: str,
        symbols: Sequence[str],
        client: Any = None,
    ) -> None:
        if not (api_key and secret_key):
            raise InvalidInput("the Alpaca news feed needs an API key and secret", field="api_key")
        self._api_key = api_key
        self._secret_key = secret_key
        self.symbols = tuple(symbols)
        self._client = client

    @property
    def name(self) -> str:
        return "alpaca-news"

    def _news_client(self) -> Any:
        if self._client is None:
            from alpaca.data.historical.news import NewsClient

            self._client = NewsClient(self._api_key, self._secret_key)
        return self._client

    def items(self, *, since: datetime | None, now: datetime) -> list[IncomingNews]:
        from alpaca.data.requests import NewsRequest

        request = NewsRequest(
            symbols=",".join(self.symbols) or None,
            start=since,
            end=now,
            sort="asc",
        )
        news_set = self._news_client().get_news(request)
        data = getattr(news_set, "data", None) or {}
        articles = data.get("news", []) if isinstance(data, dict) else []
        return [
            item
            for item in incoming_from_alpaca_news(articles, now=now)
            if since is None or item.published_at > since
        ]


def incoming_from_feed(
    parsed: Any,
    *,
    source: str | None,
    now: datetime,
    symbols: Sequence[str] = (),
    known: frozenset[str] | None = None,
) -> list[IncomingNews]:
    """Headlines from a feedparser result (RSS 0.9x/1.0/2.0 or Atom).

    ``source`` names the publisher (default: the feed's own title); ``symbols`` tags every entry
    (a feed about one company), and entries also carry the tickers they name explicitly (see
    :func:`symbols_mentioned`) or as categories in ``known``. An entry without a date counts as
    published ``now``, when it was first seen; one dated after ``now`` is left out.
    """
    feed = getattr(parsed, "feed", None) or {}
    publisher = (source or plain_text(feed.get("title")) or "RSS")[:100]
    fixed = normalise_symbols(symbols)
    items = []
    for entry in getattr(parsed, "entries", None) or []:
        headline = plain_text(entry.get("title"))
        if not headline:
            continue
        published = _aware(entry.get("published_parsed")) or _aware(entry.get("updated_parsed"))
        if published is None:
            published = now
        if published > now:
            continue
        summary = plain_text(entry.get("summary"))[:MAX_SUMMARY]
        tags = [t.get("term", "") for t in entry.get("tags", None) or [] if isinstance(t, dict)]
        tagged = tuple(s for s in normalise_symbols(tags) if known is not None and s in known)
        entry_id = str(entry.get("id") or entry.get("link") or "")
        items.append(
            IncomingNews(
                source=publisher,
                headline=headline,
                summary=summary,
                url=str(entry.get("link") or "")[:500],
                published_at=published,
                symbols=normalise_symbols(
                    fixed + tagged + symbols_mentioned(f"{headline} {summary}", known=known)
                ),
                external_id=f"rss:{entry_id}"[:200] if entry_id else "",
            )
        )
    return items


class RssFeed:
    """An RSS or Atom feed at a URL, optionally about fixed symbols."""

    def __init__(
        self,
        url: str,
        *,
        source: str | None = None,
        symbols: Sequence[str] = (),
        known: frozenset[str] | None = None,
    ) -> None:
        if not url.strip():
            raise InvalidInput("a feed needs a URL", field="url")
        self.url = url.strip()
        self.source = source
        self.symbols = tuple(symbols)
        self.known = known

    @property
    def name(self) -> str:
        return f"rss {self.url}"

    @classmethod
    def from_setting(cls, entry: str, *, known: frozenset[str] | None = None) -> RssFeed:
        """A feed from one ``SIGNAL_RSS_FEEDS`` entry: ``URL`` or ``URL SYM1,SYM2``."""
        url, _, symbols = entry.strip().partition(" ")
        return cls(url, symbols=[s for s in re.split(r"[,\s]+", symbols) if s], known=known)

    def items(self, *, since: datetime | None, now: datetime) -> list[IncomingNews]:
        import feedparser

        parsed = feedparser.parse(self.url)
        if getattr(parsed, "bozo", False) and not getattr(parsed, "entries", None):
            raise InvalidInput(
                f"the feed at {self.url} could not be read: {getattr(parsed, 'bozo_exception', '')}",
                field="url",
            )
        return [
            item
            for item in incoming_from_feed(
                parsed, source=self.source, now=now, symbols=self.symbols, known=self.known
            )
            if since is None or item.published_at > since
        ]
