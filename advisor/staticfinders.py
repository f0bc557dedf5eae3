"""Serves the plotly.js bundle that ships inside the plotly package as a static file.

Pages load it from ``/static/vendor/plotly.min.js`` (no CDN, works offline) instead of inlining the
4.8 MB bundle into every page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PUBLIC_NAME = "vendor/plotly.min.js"


def plotly_bundle_path() -> Path:
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


class PlotlyFinder(BaseFinder):
    """A staticfiles finder exposing exactly one file: plotly.min.js from the installed package."""

    def check(self, **kwargs: Any) -> list[Any]:
        return []

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> Any:  # type: ignore[override]
        if path == PUBLIC_NAME:
            found = str(plotly_bundle_path())
            return [found] if find_all else found
        return [] if find_all else ""

    def list(self, ignore_patterns: Any) -> Any:
        bundle = plotly_bundle_path()
        storage = FileSystemStorage(location=str(bundle.parent))
        storage.prefix = "vendor"  # type: ignore[attr-defined]
        yield bundle.name, storage
