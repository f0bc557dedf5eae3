"""Fixtures of the portal tests: two households with their clients and advisors, and staff."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from tests.factories import AdvisorUserFactory, ClientFactory, RiskProfileFactory, StaffUserFactory


@pytest.fixture(autouse=True)
def _private_cache(settings):
    """A cache of the test's own: cached frontiers and performance never leak between tests."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"portal-{uuid.uuid4()}",
        }
    }


@pytest.fixture
def people():
    """Two onboarded households (each with a client and an advisor), a new client, staff."""
    mine = RiskProfileFactory().client
    theirs = RiskProfileFactory(client__advisor=AdvisorUserFactory()).client
    newcomer = ClientFactory(advisor=mine.advisor)
    return SimpleNamespace(
        mine=mine,
        theirs=theirs,
        newcomer=newcomer,
        advisor=mine.advisor,
        other_advisor=theirs.advisor,
        staff=StaffUserFactory(),
    )
