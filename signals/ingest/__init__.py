"""Feeds that bring prices, order books and news into the signal pipeline.

Each external system sits behind a small interface (:class:`~signals.ingest.news.NewsFeed`,
:class:`~signals.ingest.books.OrderBookFeed`); the adapter modules are the only ones that import
the vendor libraries (alpaca-py, feedparser), lazily, and convert their floats and strings into
the platform's types (``Decimal`` prices and sizes, aware UTC times).
"""
