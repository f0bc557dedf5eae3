"""``python manage.py import_transactions FILE.csv --household NAME``: a history, all or nothing."""

from __future__ import annotations

from argparse import ArgumentParser, RawDescriptionHelpFormatter
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from portfolios.clock import firm_today
from portfolios.core.errors import DomainError
from portfolios.transaction_import import FUNDING_DESCRIPTION, transaction_file_import

MAX_ERRORS_SHOWN = 200
PROGRESS_FROM_ROWS = 200

DESCRIPTION = f"""\
Import a household's transactions from a CSV file. The household and any new accounts are
created; every row is checked first and, if any row is bad, nothing is written and every bad row
is listed with its line number (the header is line 1).

Columns (header names, any order):
  date          YYYY-MM-DD, not in the future
  account       the account's name within the household
  account_type  taxable, ira or roth; needed on a row of each new account (optional column)
  symbol        a known ticker (buy, sell, dividend); empty on deposit and withdrawal rows
  side          buy, sell, deposit, withdrawal or dividend
  quantity      shares, positive (buy, sell; empty otherwise)
  price         price per share, positive (buy, sell; empty otherwise)
  fees          commissions (buy, sell; optional, empty means 0)
  lot_id        on a sell, the lots to sell, in order, separated by ';' (optional column):
                line:N names the lot opened by the buy on line N of this file (same account
                and symbol, dated no later than the sale); a plain number is the id of a lot
                the household already holds
  amount        cash amount, positive: required on deposit, withdrawal and dividend rows; on a
                buy or sell, if given, it must equal quantity x price + fees (buy) or
                quantity x price - fees (sell), sign ignored (optional column)

Rows are applied in date order (file order within a day). Sells are checked against the holdings
at that point (current holdings plus the rows before). A buy that costs more than the account's
cash is funded by an implied deposit of the shortfall on the same day, labelled
"{FUNDING_DESCRIPTION}" (a brokerage history rarely lists the transfers
that paid for its trades). Withdrawals may not exceed the cash at that point.

Every entry is keyed by the file's content hash and its line number, so importing the same file
into the same household again changes nothing (the command says "already imported").
"""


class Command(BaseCommand):
    help = "Import a household's transaction history (buys, sells, cash) from a CSV file."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.description = DESCRIPTION
        parser.formatter_class = RawDescriptionHelpFormatter
        return parser

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", type=Path, help="CSV file to import")
        parser.add_argument(
            "--household",
            required=True,
            help="Name of the household to import into (created if it does not exist)",
        )
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        content = path.read_bytes()
        rows = max(content.count(b"\n") - 1, 0)
        show = not options["no_progress"] and rows >= PROGRESS_FROM_ROWS
        with tqdm(total=rows, unit="row", desc="Importing", disable=not show) as bar:

            def progress(done: int) -> None:
                bar.update(done - bar.n)

            try:
                result = transaction_file_import(
                    content=content,
                    household_name=options["household"],
                    today=firm_today(),
                    progress=progress,
                )
            except DomainError as exc:
                self._report_rows(path, exc)
                raise CommandError(f"{path}: {exc.message}") from exc
        if result.already_imported:
            self.stdout.write(
                self.style.WARNING(
                    f"{path} was already imported into household {result.household_name!r}: "
                    "nothing changed."
                )
            )
            return
        applied = ", ".join(f"{count} {side}" for side, count in sorted(result.applied.items()))
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {result.rows_applied} transactions ({applied}) from {result.first_date} "
                f"to {result.last_date} into household {result.household_name!r}"
                f"{' (new)' if result.household_created else ''}: {result.realised_lots} "
                f"realised lots, {result.wash_sales} wash sales."
            )
        )
        if result.accounts_created:
            self.stdout.write(f"New accounts: {', '.join(result.accounts_created)}.")
        if result.funding_deposits:
            self.stdout.write(
                f"{result.funding_deposits} implied deposits totalling {result.funding_total} "
                f'("{FUNDING_DESCRIPTION}") paid for buys that exceeded the cash.'
            )

    def _report_rows(self, path: Path, exc: DomainError) -> None:
        """Every bad row as ``FILE:LINE: message`` on stderr."""
        details = exc.details if isinstance(exc.details, list) else []
        rows = [d for d in details if isinstance(d, dict) and "line" in d]
        for detail in rows[:MAX_ERRORS_SHOWN]:
            self.stderr.write(f"{path}:{detail['line']}: {detail['message']}")
        if len(rows) > MAX_ERRORS_SHOWN:
            self.stderr.write(f"... and {len(rows) - MAX_ERRORS_SHOWN} more")
