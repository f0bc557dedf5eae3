"""Requests with values out of the database's range, answered on SQLite (the embedded demo's
backend, which raises ``OverflowError`` for an integer beyond 64 bits where PostgreSQL simply
finds nothing), for ``tests/api/test_input_bounds.py`` through the SQLite probe.

Not collected by pytest: the probe imports it in a child process with its own settings.
"""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.utils import setup_test_environment

from tests.api.world import api_client, build_world

HUGE = "99999999999999999999999"


def out_of_range_answers() -> dict[str, Any]:
    """Status and error field of each out-of-range request, by name."""
    setup_test_environment()
    world = build_world()
    staff, advisor = api_client(world.staff), api_client(world.a.advisor)
    answers: dict[str, Any] = {}

    def answer(name: str, response: Any) -> None:
        answers[name] = [response.status_code, response.json().get("error", {}).get("field")]

    for who, api in (("staff", staff), ("advisor", advisor)):
        answer(f"recommendation/{who}", api.get(f"/api/v1/households/{HUGE}/recommendation/"))
    answer("fills/since", staff.get("/api/v1/fills/?since=9999-12-31T23:59:59-05:00"))
    answer("signals/until", staff.get("/api/v1/signals/?until=0001-01-01T00:00:00%2B05:00"))
    sell = (
        "date,account,account_type,symbol,side,quantity,price,fees,lot_id,amount\n"
        f"2024-03-01,Brokerage,taxable,WRLD,sell,1,95,,{HUGE},\n"
    ).encode()
    answer(
        "import/lot_id",
        advisor.post(
            "/api/v1/transactions/import/",
            {"household": world.a.household.pk, "file": SimpleUploadedFile("h.csv", sell)},
            format="multipart",
        ),
    )
    return answers
