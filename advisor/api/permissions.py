"""Who may call what. Object visibility (a client's household, an advisor's clients, staff all)
is the selectors' job (``advisor.selectors``): views scope their querysets with them and answer
404 for anything outside. These classes only decide by role."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from advisor.models import Role


def is_advisor_or_staff(user: Any) -> bool:
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.role in (Role.ADVISOR, Role.STAFF)
    )


class IsAdvisorOrStaff(BasePermission):
    """Advisors and staff: registering clients, importing files, deciding on proposals, webhooks,
    the firm's signals and sentiment scoring. Clients read their own household only."""

    message = "this needs an advisor or staff login; clients can only read their own household"

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_advisor_or_staff(request.user)
