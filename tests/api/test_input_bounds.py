"""Values past what Python or the database can hold are a 400 (or a 404 for an id) naming the
input, never a 500: ids past 64 bits, times past year 9999 in UTC, bodies nested too deeply."""

import pytest

from tests.api.world import api_client, build_world
from tests.portfolios.sqlite_probe import run_on_sqlite

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999999"


@pytest.fixture
def world():
    return build_world()


def test_a_household_id_past_64_bits_is_not_found(world):
    for user in (world.staff, world.a.advisor, world.a.user):
        response = api_client(user).get(f"/api/v1/households/{HUGE}/recommendation/")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_out_of_range_values_are_refused_on_sqlite_too():
    # The embedded demo's SQLite raises OverflowError binding an integer past 64 bits, where
    # PostgreSQL finds nothing: the checks must come before the query.
    answers = run_on_sqlite(
        "tests.api.overflow_cases", "out_of_range_answers", "out_of_range_answers()"
    )
    assert answers == {
        "recommendation/staff": [404, None],
        "recommendation/advisor": [404, None],
        "fills/since": [400, "since"],
        "signals/until": [400, "until"],
        "import/lot_id": [400, "file"],
    }


def test_times_at_the_edges_of_the_range_still_filter(world):
    staff = api_client(world.staff)
    late = staff.get("/api/v1/fills/?since=9999-12-31T23:59:59%2B05:00")
    assert late.status_code == 200 and late.json()["results"] == []
    early = staff.get("/api/v1/signals/?since=0001-01-01T00:00:00")
    assert early.status_code == 200
    assert early.json()["results"] == staff.get("/api/v1/signals/").json()["results"] != []


@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_a_json_body_nested_too_deeply_is_a_parse_error(world, depth):
    body = b"[" * depth + b"]" * depth
    for path, headers in (
        ("/api/v1/clients/", {}),
        ("/api/v1/sentiment/", {}),
        ("/api/v1/clients/", {"HTTP_IDEMPOTENCY_KEY": f"deep-{depth}"}),  # hashed first
    ):
        response = api_client(world.a.advisor).post(
            path, body, content_type="application/json", **headers
        )
        assert response.status_code == 400, response.content
        assert response.json()["error"]["code"] == "parse_error"
        assert "nested too deeply" in response.json()["error"]["message"]
