"""The signal pipeline's output (detected signals) and sentiment scoring on demand."""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from advisor.api import filters
from advisor.api.pagination import ApiPagination
from advisor.api.permissions import IsAdvisorOrStaff
from advisor.api.scoping import signals_visible
from advisor.api.serializers import SentimentInput, SentimentResponse, SignalSerializer
from advisor.api.throttling import ApiUserRateThrottle, SentimentRateThrottle
from advisor.api.views.base import ApiDefaults
from signals.sentiment.registry import scorer_for
from signals.sentiment.types import SentimentScorer


class SignalList(ApiDefaults, generics.ListAPIView):
    """Signals the pipeline detected (divergence, order-flow imbalance, mean reversion, pairs,
    cross-venue gaps...), newest first. Advisors and staff."""

    serializer_class = SignalSerializer
    pagination_class = ApiPagination
    permission_classes = [IsAdvisorOrStaff]

    @extend_schema(
        parameters=[
            filters.SYMBOL,
            filters.text_filter("kind", "Only this kind of signal"),
            filters.datetime_filter("since", "As of this time or later"),
            filters.datetime_filter("until", "Before this time"),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        rows = signals_visible().select_related("asset")
        symbol = filters.text_param(self.request, "symbol", max_length=16)
        if symbol:
            rows = rows.filter(asset__symbol=symbol.upper())
        kind = filters.text_param(self.request, "kind", max_length=32)
        if kind:
            rows = rows.filter(kind=kind)
        since = filters.datetime_param(self.request, "since")
        if since is not None:
            rows = rows.filter(as_of__gte=since)
        until = filters.datetime_param(self.request, "until")
        if until is not None:
            rows = rows.filter(as_of__lt=until)
        return rows.order_by("-as_of", "-pk")


_SCORER_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def _scorer(backend: str, model_dir: str) -> SentimentScorer:
    """One scorer per backend and model per process: a model loads once, on first use."""
    return scorer_for(backend, model_dir=model_dir or None)


def configured_scorer() -> SentimentScorer:
    return _scorer(settings.SENTIMENT_BACKEND, settings.SENTIMENT_MODEL_DIR)


class SentimentScoring(ApiDefaults, APIView):
    """Score texts (headlines) with the configured sentiment backend (``SENTIMENT_BACKEND``).
    Advisors and staff; rate-limited per user."""

    permission_classes = [IsAdvisorOrStaff]
    throttle_classes = [ApiUserRateThrottle, SentimentRateThrottle]

    @extend_schema(request=SentimentInput, responses=SentimentResponse)
    def post(self, request: Request) -> Response:
        body = SentimentInput(data=request.data)
        body.is_valid(raise_exception=True)
        scorer = configured_scorer()
        with _SCORER_LOCK:  # model backends are not thread-safe
            scores = scorer.score_batch(list(body.validated_data["texts"]))
        return Response({"backend": scorer.name, "scores": [score.as_dict() for score in scores]})
