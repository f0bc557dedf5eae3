"""Idempotency keys of API requests, webhook endpoints, and the log of every webhook delivery.

Models hold data and the invariants the database enforces: one stored response per user and key
(the unique constraint is what makes concurrent duplicates collapse into one outcome), and one
delivery per endpoint and event. The rules live in ``advisor.api.idempotency`` and
``advisor.webhooks``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class IdempotencyKey(models.Model):
    """The first response to a POST sent with an ``Idempotency-Key`` header.

    The row is inserted before the action runs, inside the request's transaction: a concurrent
    request with the same key waits on the unique index until the first commits, then replays
    the stored response. ``request_hash`` fingerprints the method, path and body, so the same key
    with another request is refused. Rows expire after ``expires_at`` (24 hours).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="idempotency_keys"
    )
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of method, path and body")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotencykey_unique_user_key"),
            models.CheckConstraint(condition=~Q(key=""), name="idempotencykey_key_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}] -> {self.response_status}"


class WebhookEvent(models.TextChoices):
    """The events an integration can subscribe to."""

    PROPOSAL_CREATED = "proposal.created", "A rebalance proposal was created"
    PROPOSAL_APPROVED = "proposal.approved", "A rebalance proposal was approved"
    ORDER_FILLED = "order.filled", "An order was filled completely"


class WebhookEndpoint(models.Model):
    """A URL an integration user registered to receive events of the households they may see."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=128, help_text="Key of the HMAC-SHA256 signature")
    events = models.JSONField(default=list, help_text="Event names this endpoint receives")
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["owner_id", "id"]
        indexes = [models.Index(fields=["is_active"], name="webhookendpoint_active_idx")]

    def __str__(self) -> str:
        return f"{self.url} ({', '.join(self.events)})"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    SENDING = "sending", "Being sent"
    RETRYING = "retrying", "Failed; will be retried"
    SUCCEEDED = "succeeded", "Delivered (2xx)"
    FAILED = "failed", "Gave up after the last attempt"


class WebhookDelivery(models.Model):
    """One event for one endpoint: the exact body signed and sent, and how each attempt went."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=32, choices=WebhookEvent.choices)
    event_id = models.UUIDField(default=uuid.uuid4, help_text="Same for every endpoint of an event")
    household_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    body = models.TextField(help_text="The JSON body, byte for byte as signed")
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_duration_ms = models.FloatField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event_id"], name="webhookdelivery_unique_endpoint_event"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhookdelivery_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.endpoint_id}: {self.status} after {self.attempts}"
