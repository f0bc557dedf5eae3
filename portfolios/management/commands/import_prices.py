"""``python manage.py import_prices FILE.csv``: load daily prices, all or nothing."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from portfolios.clock import firm_today
from portfolios.core.errors import DomainError
from portfolios.core.price_import import parse_price_csv
from portfolios.models import AssetClass
from portfolios.services import price_bars_import

MAX_ERRORS_SHOWN = 200


class Command(BaseCommand):
    help = (
        "Import daily prices from a CSV file, wide (date, then a column of closes per symbol; blank "
        "cells are missing data) or long (date, symbol, open, high, low, close, volume). Every row is "
        "validated first; if any row is bad nothing is written and every bad row is listed."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", type=Path, help="CSV file to import")
        parser.add_argument(
            "--create-missing",
            action="store_true",
            help="Create unknown symbols as unrated assets (classify them in the admin afterwards)",
        )
        parser.add_argument(
            "--asset-class",
            default=AssetClass.US_EQUITY,
            choices=AssetClass.values,
            help="Asset class of assets created by --create-missing (default us_equity)",
        )
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bars")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        show = not options["no_progress"]
        size = path.stat().st_size
        with (
            path.open(newline="", encoding="utf-8-sig") as handle,
            tqdm(
                total=size,
                unit="B",
                unit_scale=True,
                desc="Validating",
                disable=not show or size < 200_000,
            ) as bar,
        ):

            def lines():  # type: ignore[no-untyped-def]
                for line in handle:
                    bar.update(len(line.encode()))
                    yield line

            try:
                parsed = parse_price_csv(lines(), today=firm_today())
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
        with tqdm(total=len(parsed.bars), unit="bar", desc="Writing", disable=not show) as bar:
            written = 0

            def progress(done: int) -> None:
                nonlocal written
                bar.update(done - written)
                written = done

            try:
                result = price_bars_import(
                    parsed=parsed,
                    create_missing_assets=options["create_missing"],
                    asset_class=options["asset_class"],
                    progress=progress,
                )
            except DomainError as exc:
                raise CommandError(exc.message) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {result.bars_written} bars for {len(result.symbols)} symbols "
                f"({result.first_date} to {result.last_date}, {parsed.layout} layout; "
                f"{result.missing_cells} blank cells left as missing data)."
            )
        )
        if result.assets_created:
            self.stdout.write(
                f"Created {len(result.assets_created)} unrated assets: {', '.join(result.assets_created)}. "
                "Set their class, sector and ESG score in the admin."
            )
