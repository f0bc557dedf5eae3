"""Content negotiation that names an unknown ``?format=`` instead of answering 404."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer


class ApiContentNegotiation(DefaultContentNegotiation):
    def filter_renderers(self, renderers: Iterable[BaseRenderer], format: str) -> Any:
        offers = list(renderers)
        chosen = [renderer for renderer in offers if renderer.format == format]
        if not chosen:
            offered = ", ".join(sorted({str(r.format) for r in offers}))
            raise ValidationError({"format": [f"unknown format {format!r}; this offers {offered}"]})
        return chosen
