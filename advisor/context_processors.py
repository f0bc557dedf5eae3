"""Template context shared by every page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def platform(request: HttpRequest) -> dict[str, Any]:
    """Runtime mode and demo flag, so pages can label demo data as such."""
    return {"DEMO_MODE": settings.DEMO_MODE, "RUNTIME_MODE": settings.RUNTIME_MODE}
