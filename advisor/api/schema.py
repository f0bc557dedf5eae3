"""The error answers every operation can give, documented in the schema in the one error shape.

drf-spectacular documents what each view declares; the answers common to all of them (bad
input, no or wrong credentials, not allowed, not found, throttled, an Idempotency-Key conflict)
are added here, after generation, unless the view documented that status itself.
"""

from __future__ import annotations

from typing import Any

ERROR_COMPONENT = "Error"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error answer: what went wrong, and the request field it concerns.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "Machine-readable, e.g. invalid_input"},
                "message": {"type": "string", "description": "Readable, naming the field"},
                "field": {"type": "string", "description": "The field or parameter at fault"},
                "details": {
                    "description": "Every field error ({field, message} items), or a 429's "
                    "retry_after_seconds"
                },
            },
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
}

_WRITES = {"post", "put", "patch", "delete"}


def _content() -> dict[str, Any]:
    """A fresh object each time: shared ones would become YAML anchors in the schema file."""
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _content()}


def _errors_of(path: str, method: str, operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    parameters = operation.get("parameters", [])
    errors: dict[str, dict[str, Any]] = {}
    if method in _WRITES or any(p.get("in") == "query" for p in parameters):
        errors["400"] = _error("Bad input: the message and `field` name what is wrong")
    if operation.get("security") != [] and "security" in operation:
        errors["401"] = _error("No credentials, or a wrong or inactive token")
        errors["403"] = _error("Signed in, but this role may not do this")
    if "{" in path:
        errors["404"] = _error("Not found, or not in your scope")
    if any(p.get("in") == "header" and p.get("name") == "Idempotency-Key" for p in parameters):
        errors["409"] = _error("Conflict: the object's state forbids it, or the same key runs")
        errors["422"] = _error("This Idempotency-Key was used with a different request")
    errors["429"] = _error("Throttled: retry after the `Retry-After` header's seconds")
    return errors


def document_errors(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    """A drf-spectacular postprocessing hook: the common error answers on every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for code, response in _errors_of(path, method, operation).items():
                responses.setdefault(code, response)
            for code, response in responses.items():
                if code.startswith(("4", "5")) and "content" not in response:
                    response["content"] = _content()  # on a view's own description
    return result
