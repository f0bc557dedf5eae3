"""``python manage.py tax_report --household NAME --year YYYY --format csv|json``."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from portfolios.core.errors import DomainError
from portfolios.models import Household
from portfolios.tax_reports import tax_report, tax_report_csv, tax_report_json


class Command(BaseCommand):
    help = (
        "Print a household's realised gains for a tax year: the Form 8949 rows of its taxable "
        "accounts (Part I short-term, Part II long-term, each split by box: A/D when the basis "
        "was reported to the IRS, B/E when not; columns (a) to (h), code W for wash sales) "
        "and the Schedule D summary: net short-term and long-term, the $3,000 limit "
        "($1,500 married filing separately), the loss deducted and the carryforward to next year "
        "split short/long. Carryovers run from the household's loss carryforwards through every "
        "earlier year with realised gains. CSV (a Form-8949-like sheet) or JSON (amounts as "
        "strings)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--household", required=True, help="The household's name")
        parser.add_argument("--year", required=True, type=int, help="Tax year, e.g. 2024")
        parser.add_argument(
            "--format", choices=["csv", "json"], default="csv", help="Output format (default csv)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name: str = options["household"]
        household_id = Household.objects.filter(name=name).values_list("pk", flat=True).first()
        if household_id is None:
            raise CommandError(f"no household named {name!r}")
        try:
            report = tax_report(household_id=household_id, year=options["year"])
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        if options["format"] == "json":
            self.stdout.write(json.dumps(tax_report_json(report), indent=2))
        else:
            self.stdout.write(tax_report_csv(report), ending="")
