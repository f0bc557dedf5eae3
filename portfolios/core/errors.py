"""The platform's one domain error type and its few subclasses.

Every layer raises these for problems a user can act on; the API maps them to one error shape
(``advisor.api.exception_handler``), forms and commands print their message. ``code`` is a stable
machine-readable identifier, ``field`` names the input at fault when there is one, and ``details``
carries structured context (for example every bad row of an import).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class DomainError(Exception):
    """A problem with the request or the data, described so that a person can fix it."""

    code: str = "invalid"
    status: int = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        details: Sequence[Any] | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        """The error as the API's one error shape."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.details is not None:
            body["details"] = self.details
        return body


class InvalidInput(DomainError):
    """Input that is malformed, out of range, NaN or otherwise unusable."""

    code = "invalid_input"


class InfeasibleProblem(DomainError):
    """Constraints that no portfolio (or order) can satisfy; the message names the conflict."""

    code = "infeasible"
    status = 422


class SolverFailure(DomainError):
    """A numerical solver that did not reach an optimal solution."""

    code = "solver_failure"
    status = 422


class NotFound(DomainError):
    code = "not_found"
    status = 404


class PermissionDenied(DomainError):
    code = "permission_denied"
    status = 403


class Conflict(DomainError):
    """The object is not in a state that allows the action (already approved, superseded...)."""

    code = "conflict"
    status = 409
