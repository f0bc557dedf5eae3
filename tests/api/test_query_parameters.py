"""Pagination and format parameters: a bad value is a 400 naming the parameter, never silently
replaced by a default; the schema documents the error answers in their one shape."""

import pytest
import yaml
from django.core.management import call_command

from tests.api.world import api_client, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return api_client(build_world().staff)


@pytest.mark.parametrize(
    ("query", "parameter", "says"),
    [
        ("page_size=0", "page_size", "whole number from 1"),
        ("page_size=-5", "page_size", "whole number from 1"),
        ("page_size=abc", "page_size", "whole number from 1"),
        ("page_size=100000", "page_size", "at most 500"),
        ("page=abc", "page", "whole number from 1"),
        ("page=0", "page", "whole number from 1"),
        ("page=²", "page", "whole number from 1"),  # a digit to str.isdigit, not to int
        ("page=" + "9" * 5000, "page", "whole number from 1"),  # past int's digit limit
    ],
)
def test_a_bad_page_parameter_is_a_400_naming_it(staff, query, parameter, says):
    response = staff.get(f"/api/v1/households/?{query}")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["field"] == parameter and says in error["message"]


def test_good_page_parameters_and_the_last_page(staff):
    assert len(staff.get("/api/v1/households/?page_size=500").json()["results"]) == 2
    last = staff.get("/api/v1/households/?page_size=1&page=last").json()
    assert last["next"] is None and len(last["results"]) == 1
    assert staff.get("/api/v1/households/?page=9").status_code == 404  # past the last page


def test_an_unknown_format_is_a_400_naming_it(staff):
    household = staff.get("/api/v1/households/").json()["results"][0]["id"]
    response = staff.get(f"/api/v1/households/{household}/tax-report/2025/?format=AAA")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "format" and "'AAA'" in error["message"] and "csv" in error["message"]
    csv = staff.get(f"/api/v1/households/{household}/tax-report/2025/?format=csv")
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")


def test_the_schema_documents_the_error_answers(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = yaml.safe_load(target.read_text())
    assert "error" in schema["components"]["schemas"]["Error"]["properties"]
    approve = schema["paths"]["/api/v1/proposals/{id}/approve/"]["post"]["responses"]
    assert {"400", "401", "403", "404", "409", "422", "429"} <= set(approve)
    assert approve["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    token = schema["paths"]["/api/v1/auth/token/"]["post"]["responses"]
    assert "401" not in token and token["429"]["description"] == "Too many attempts"
    assert "content" in token["429"]  # the view's own description, with the error shape
