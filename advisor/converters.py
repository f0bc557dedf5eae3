"""The ``<id:...>`` path converter: a database id, at most 2**63 - 1.

Django's ``<int:...>`` takes any run of digits, and an id beyond 64 bits then reaches the database
driver, which raises (``OverflowError`` on SQLite): a 500 where a 404 belongs. Importing this
module registers ``id`` once; every URL map that takes ids imports it.
"""

from __future__ import annotations

from django.urls import register_converter

from advisor.api.filters import MAX_ID


class IdConverter:
    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValueError(f"{value} is beyond the largest id")  # no match: a 404
        return number

    def to_url(self, value: int | str) -> str:
        return str(value)


register_converter(IdConverter, "id")
