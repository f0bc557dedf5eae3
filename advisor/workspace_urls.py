"""Advisor workspace routes: the client book, proposal review and approval."""

from django.urls import path

import advisor.converters  # noqa: F401  (registers <id:...>)
from advisor.views import workspace

urlpatterns = [
    path("", workspace.client_book, name="workspace"),
    path("proposals/approve/", workspace.bulk_approve, name="workspace-bulk-approve"),
    path("proposals/<id:proposal_id>/", workspace.proposal_detail, name="workspace-proposal"),
    path(
        "proposals/<id:proposal_id>/decide/",
        workspace.proposal_decide,
        name="workspace-proposal-decide",
    ),
]
