"""The OpenAPI 3 schema generates cleanly and documents every endpoint; the docs are served."""

import pytest
import yaml
from django.core.management import call_command

from tests.api.test_authorisation_matrix import api_endpoints


def test_the_schema_validates_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = yaml.safe_load(target.read_text())
    assert schema["openapi"].startswith("3.")
    documented = {
        (path, method) for path, operations in schema["paths"].items() for method in operations
    }
    assert len(documented) == len(
        [e for e in api_endpoints() if e[0] not in ("api-schema", "api-docs", "api-not-found")]
    )
    schemes = schema["components"]["securitySchemes"]
    assert schemes["tokenAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": 'Token-based authentication with required prefix "Token"',
    }
    approve = schema["paths"]["/api/v1/proposals/{id}/approve/"]["post"]
    assert any(
        p["name"] == "Idempotency-Key" and p["in"] == "header" for p in approve["parameters"]
    )
    assert {"tokenAuth": []} in approve["security"] and {"cookieAuth": []} in approve["security"]
    assert "security" not in schema["paths"]["/api/v1/auth/token/"]["post"]  # no auth needed


@pytest.mark.django_db
def test_the_interactive_docs_are_served(client):
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    assert "/api/v1/clients/" in schema.json()["paths"]
