"""Query-parameter filters for the list endpoints, parsed strictly: a malformed value is a 400
naming the parameter, never silently ignored. Each parser has a matching ``OpenApiParameter`` so
the schema documents exactly what the view reads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TypeVar

from django.db.models import Model, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

MAX_ID = 2**63 - 1

M = TypeVar("M", bound=Model)


def whole_number(raw: str) -> int | None:
    """``raw`` as a whole number if it is plain ASCII digits within 64 bits (``"²".isdigit()``
    holds, and ``int`` refuses thousands of digits), else None."""
    if raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_ID)):
        value = int(raw)
        return value if value <= MAX_ID else None
    return None


def int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    value = whole_number(raw)
    if value is None:
        raise ValidationError({name: [f"must be a positive whole number, got {raw!r}"]})
    return value


def by_household_and_account(
    rows: QuerySet[M], request: Request, *, account: str = "account"
) -> QuerySet[M]:
    """``rows`` narrowed by the ``household`` and ``account`` query parameters (:data:`HOUSEHOLD`,
    :data:`ACCOUNT`); ``account`` is the path from a row to its account."""
    household_id = int_param(request, "household")
    if household_id is not None:
        rows = rows.filter(**{f"{account}__household_id": household_id})
    account_id = int_param(request, "account")
    if account_id is not None:
        rows = rows.filter(**{f"{account}_id": account_id})
    return rows


def date_param(request: Request, name: str) -> dt.date | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationError({name: [f"must be a date YYYY-MM-DD, got {raw!r}"]}) from None


def datetime_param(request: Request, name: str) -> dt.datetime | None:
    """An ISO 8601 time, returned in UTC; a date alone means its midnight UTC, a naive time is
    taken as UTC. A time whose UTC equivalent falls outside years 1 to 9999 (``0001-01-01T00:00
    +05:00``) is refused: the database would overflow converting it."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationError({name: [f"must be an ISO 8601 date or time, got {raw!r}"]}) from None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValidationError(
            {name: [f"must be a time between years 1 and 9999 in UTC, got {raw!r}"]}
        ) from None


def bool_param(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    lowered = raw.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValidationError({name: [f"must be true or false, got {raw!r}"]})


def choice_param(request: Request, name: str, choices: Sequence[str]) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if raw not in choices:
        raise ValidationError({name: [f"must be one of {', '.join(choices)}; got {raw!r}"]})
    return raw


def text_param(request: Request, name: str, *, max_length: int = 100) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw.strip() == "":
        return None
    if len(raw) > max_length or "\x00" in raw:
        raise ValidationError({name: [f"must be at most {max_length} printable characters"]})
    return raw.strip()


def id_filter(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.INT, description=f"Only {what}", required=False)


def date_filter(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.DATE, description=what, required=False)


def datetime_filter(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.DATETIME, description=what, required=False)


def bool_filter(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.BOOL, description=what, required=False)


def choice_filter(name: str, what: str, choices: Sequence[str]) -> OpenApiParameter:
    return OpenApiParameter(
        name, OpenApiTypes.STR, description=what, required=False, enum=list(choices)
    )


def text_filter(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.STR, description=what, required=False)


HOUSEHOLD = id_filter("household", "the household with this id")
ACCOUNT = id_filter("account", "the account with this id")
SYMBOL = text_filter("symbol", "Only this ticker symbol (exact, case-insensitive)")
