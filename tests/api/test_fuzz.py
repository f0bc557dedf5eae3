"""Schemathesis against the OpenAPI schema of a running server: every operation, as staff and as
a client, with generated requests. No answer may be a server error (5xx) or break the schema
(a documented status whose body or content type does not match its schema).

Bounded: :data:`EXAMPLES` generated cases per operation and token, derandomised so a failure
reproduces. The case count is printed and must reach :data:`MIN_CASES`.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from tests import conftest
from tests.api.live_server import gunicorn_server
from tests.api.world import build_world

pytestmark = [pytest.mark.django_db, pytest.mark.slow, pytest.mark.xdist_group("fuzz")]

EXAMPLES = 6
MIN_CASES = 300


@pytest.fixture(scope="module")
def served(django_db_setup, django_db_blocker, redis_url):
    """A gunicorn server over a committed world (two households, staff); flushed afterwards."""
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    with django_db_blocker.unblock():
        world = build_world()
        tokens = {
            "staff": Token.objects.create(user=world.staff).key,
            "client": Token.objects.create(user=world.a.user).key,
        }
        database_url = conftest.shared_database_url()
    with gunicorn_server(database_url, redis_url, threads=2) as base:
        yield base, tokens
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


def test_generated_requests_never_break_the_server_or_the_schema(served):
    import requests
    import schemathesis
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_schema_conformance,
    )

    base, tokens = served
    schema = schemathesis.openapi.from_url(f"{base}/api/schema/?format=json")
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    counter = {"cases": 0}
    failures: list[str] = []
    session = requests.Session()

    def fuzz(operation, headers):
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case):
            counter["cases"] += 1
            response = case.call(base_url=base, session=session, headers=headers, timeout=60)
            case.validate_response(response, checks=checks)

        return run

    for role, token in tokens.items():
        headers = {"Authorization": f"Token {token}"}
        for operation in operations:
            try:
                fuzz(operation, headers)()
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # every operation runs; failures are reported together
                failures.append(f"{role} {operation.label}: {type(exc).__name__}: {str(exc)[:800]}")
    cases = counter["cases"]
    print(
        f"schemathesis ran {cases} cases over {len(operations)} operations x {len(tokens)} tokens"
    )
    assert not failures, "\n\n".join(failures[:10])
    assert cases >= MIN_CASES
