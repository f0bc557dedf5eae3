"""``python manage.py run_trade_stream``: book Alpaca fills as they happen.

Listens to Alpaca's trade-updates websocket (paper unless ``TRADING_MODE=live``) and books each
fill through the ledger at once. It complements the REST reconciliation that ``trading_tick``
and ``trading_reconcile`` run on a schedule: both use the same execution ids, and booking is
idempotent, so a fill seen twice is booked once. Run it as a long-lived process next to the
Celery workers when ``BROKER=alpaca``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from trading.brokers.base import BrokerFill
from trading.services import fill_apply

logger = logging.getLogger("trading.stream")


def book(fill: BrokerFill) -> None:
    """Called by the stream's thread for each fill."""
    close_old_connections()
    try:
        row = fill_apply(fill=fill)
    except Exception:  # one bad fill must not stop the stream; reconciliation retries it
        logger.exception("could not book fill %s of %s", fill.execution_id, fill.client_order_id)
        return
    if row is not None:
        logger.info(
            "booked fill %s: %s %s @ %s", fill.execution_id, fill.quantity, fill.symbol, fill.price
        )


class Command(BaseCommand):
    help = "Book Alpaca fills from the trade-updates stream as they happen (BROKER=alpaca)."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.BROKER != "alpaca":
            raise CommandError(
                "the trade-updates stream is Alpaca's; set BROKER=alpaca and the Alpaca keys"
            )
        from trading.brokers.alpaca_stream import fill_stream_from_settings

        stream = fill_stream_from_settings(book)
        self.stdout.write(
            f"Listening to Alpaca trade updates ({settings.TRADING_MODE}); Ctrl-C stops."
        )
        try:
            stream.run()
        except KeyboardInterrupt:
            stream.stop()
