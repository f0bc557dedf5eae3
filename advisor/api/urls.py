"""REST API v1 routes (mounted at ``/api/v1/``). Anything else under it is a 404 in the one
error shape."""

from django.urls import path, re_path

import advisor.converters  # noqa: F401  (registers <id:...>)
from advisor.api.exceptions import api_not_found
from advisor.api.views import auth, clients, households, ledger, proposals, signals, webhooks

urlpatterns = [
    path("auth/token/", auth.TokenCreate.as_view(), name="api-auth-token"),
    path("households/", households.HouseholdList.as_view(), name="api-households"),
    path("households/<id:pk>/", households.HouseholdDetail.as_view(), name="api-household"),
    path(
        "households/<id:pk>/positions/",
        households.HouseholdPositions.as_view(),
        name="api-household-positions",
    ),
    path(
        "households/<id:pk>/recommendation/",
        households.HouseholdRecommendation.as_view(),
        name="api-household-recommendation",
    ),
    path(
        "households/<id:pk>/tax-report/<int:year>/",
        households.HouseholdTaxReport.as_view(),
        name="api-household-tax-report",
    ),
    path("clients/", clients.ClientList.as_view(), name="api-clients"),
    path("clients/<id:pk>/", clients.ClientDetail.as_view(), name="api-client"),
    path(
        "clients/<id:pk>/risk-profile/",
        clients.ClientRiskProfile.as_view(),
        name="api-client-risk-profile",
    ),
    path(
        "clients/<id:pk>/esg-preference/",
        clients.ClientESGPreference.as_view(),
        name="api-client-esg-preference",
    ),
    path("accounts/", ledger.AccountList.as_view(), name="api-accounts"),
    path("accounts/<id:pk>/", ledger.AccountDetail.as_view(), name="api-account"),
    path("lots/", ledger.LotList.as_view(), name="api-lots"),
    path("transactions/", ledger.TransactionList.as_view(), name="api-transactions"),
    path(
        "transactions/import/",
        ledger.TransactionImport.as_view(),
        name="api-transactions-import",
    ),
    path("recommendations/", proposals.RecommendationList.as_view(), name="api-recommendations"),
    path("proposals/", proposals.ProposalList.as_view(), name="api-proposals"),
    path("proposals/<id:pk>/", proposals.ProposalDetail.as_view(), name="api-proposal"),
    path(
        "proposals/<id:pk>/approve/",
        proposals.ProposalApprove.as_view(),
        name="api-proposal-approve",
    ),
    path(
        "proposals/<id:pk>/reject/",
        proposals.ProposalReject.as_view(),
        name="api-proposal-reject",
    ),
    path("orders/", proposals.OrderList.as_view(), name="api-orders"),
    path("orders/<id:pk>/", proposals.OrderDetail.as_view(), name="api-order"),
    path("fills/", proposals.FillList.as_view(), name="api-fills"),
    path("signals/", signals.SignalList.as_view(), name="api-signals"),
    path("sentiment/", signals.SentimentScoring.as_view(), name="api-sentiment"),
    path("webhooks/", webhooks.WebhookList.as_view(), name="api-webhooks"),
    path("webhooks/<id:pk>/", webhooks.WebhookDetail.as_view(), name="api-webhook"),
    path(
        "webhooks/<id:pk>/deliveries/",
        webhooks.WebhookDeliveryList.as_view(),
        name="api-webhook-deliveries",
    ),
    re_path(r"^.*$", api_not_found, name="api-not-found"),
]
