"""``python manage.py import_news FILE [--source NAME]``: load headlines, all or nothing."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from portfolios.core.errors import DomainError
from signals.ingest.files import news_file_format, parse_news_file
from signals.services import news_file_import

MAX_ERRORS_SHOWN = 200


class Command(BaseCommand):
    help = (
        "Import news from a CSV file (header: headline, published_at, symbols, and optionally "
        "summary, url, source) or a JSON Lines file (one object per line with the same fields). "
        "published_at is ISO 8601 with a timezone; symbols are separated by spaces or commas. "
        "Every row is validated first; if any is bad nothing is written and every bad row is "
        "listed. Headlines already stored (same content) are skipped."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", type=Path, help="CSV or JSONL file to import")
        parser.add_argument(
            "--source", help="Source of rows that name none (default: the file's name)"
        )
        parser.add_argument(
            "--format", choices=("csv", "jsonl"), help="File format (default: from the name)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        now = timezone.now()
        try:
            with path.open(newline="", encoding="utf-8-sig") as handle:
                first = handle.readline()
                handle.seek(0)
                parsed = parse_news_file(
                    handle,
                    format=options["format"] or news_file_format(path.name, first),
                    default_source=options["source"] or path.name,
                    now=now,
                )
        except DomainError as exc:
            raise CommandError(f"{path}: {exc.message}") from exc
        except UnicodeDecodeError as exc:
            raise CommandError(f"{path}: not a UTF-8 text file ({exc.reason})") from exc
        if parsed.errors:
            for error in parsed.errors[:MAX_ERRORS_SHOWN]:
                self.stderr.write(f"{path}:{error.line}: {error.message}")
            more = len(parsed.errors) - MAX_ERRORS_SHOWN
            if more > 0:
                self.stderr.write(f"... and {more} more")
            raise CommandError(f"{len(parsed.errors)} bad row(s) in {path}; nothing was imported")
        try:
            result = news_file_import(parsed=parsed, ingested_at=now)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {result.created} headline(s) from {path} "
                f"({result.duplicates} already stored, {parsed.format} format)."
            )
        )
        if result.unknown_symbols:
            self.stdout.write(
                f"Symbols not in the universe (kept on the items, not linked): "
                f"{', '.join(result.unknown_symbols)}"
            )
