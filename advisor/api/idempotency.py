"""``Idempotency-Key`` on the POSTs that register clients, import files and decide on proposals.

How it works
------------
A request that carries an ``Idempotency-Key`` header (1-255 printable ASCII characters) runs in
one database transaction that first inserts an :class:`integrations.models.IdempotencyKey` row
for (user, key) with a SHA-256 fingerprint of the method, path and body, then runs the action,
then stores the response (status and body) on the row:

* the same key again with the same request returns the stored response, status and body, with
  an ``Idempotent-Replayed: true`` header, and the action does not run again;
* the same key with a different request (another body, path or method) is a 422 in the one
  error shape (``idempotency_key_reused``);
* concurrent duplicates: the second insert waits on the unique index until the first commits,
  then replays its response, so there is one outcome whatever the timing;
* an error the caller can act on (a domain error or invalid input) is stored like a success and
  replayed; an unexpected failure rolls everything back, key included, so a retry runs again;
* keys expire 24 hours after first use (``IDEMPOTENCY_KEY_TTL``); an expired key is a new key.

Without the header the action simply runs. Keys belong to a user: two users never share one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from advisor.api.exceptions import IdempotencyKeyReused, exception_handler
from integrations.models import IdempotencyKey
from portfolios.core.errors import DomainError

HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Makes the request safe to retry: the first response is stored for 24 hours and a "
        "repeat with the same key and body returns it (status and body) without acting again; "
        "the same key with a different body is a 422. 1-255 printable ASCII characters."
    ),
)


def request_fingerprint(request: Request) -> str:
    """SHA-256 over the method, the path and the body's content.

    JSON bodies are hashed in canonical form (sorted keys, no spacing) and multipart uploads by
    their fields and each file's SHA-256, so re-encoding the same request (a new multipart
    boundary, other key order) is still the same request.
    """
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}\n".encode())
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if content_type.startswith("multipart/") or content_type == "application/x-www-form-urlencoded":
        form: Any = request.data
        fields = sorted(
            (name, value)
            for name in form
            for value in form.getlist(name)
            if not hasattr(value, "read")
        )
        files = []
        for name in sorted(request.FILES):
            for upload in request.FILES.getlist(name):
                file_digest = hashlib.sha256()
                for chunk in upload.chunks():
                    file_digest.update(chunk)
                upload.seek(0)
                files.append((name, file_digest.hexdigest()))
        digest.update(json.dumps({"fields": fields, "files": files}, sort_keys=True).encode())
    else:
        raw = request.body
        if content_type == "application/json" or not content_type:
            # Not JSON: the parser refuses it later; the bytes are hashed as they are.
            with contextlib.suppress(ValueError, RecursionError):  # nested too deeply: likewise
                raw = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
        digest.update(raw)
    return digest.hexdigest()


def _key_from(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH or not all(33 <= ord(c) <= 126 for c in key):
        raise exceptions.ValidationError(
            {HEADER: [f"must be 1-{MAX_KEY_LENGTH} printable ASCII characters without spaces"]}
        )
    return key


def _jsonable(data: Any) -> Any:
    return json.loads(json.dumps(data, cls=JSONEncoder))


def _replay(row: IdempotencyKey, fingerprint: str) -> Response:
    if row.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            f"the Idempotency-Key {row.key!r} was used for a different request "
            f"({row.method} {row.path} with another body); use a new key for a new request"
        )
    response = Response(row.response_body, status=row.response_status)
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent(request: Request, view: Any, action: Callable[[], Response]) -> Response:
    """Run ``action`` once per (user, ``Idempotency-Key``); see the module docstring."""
    key = _key_from(request)
    if key is None:
        return action()
    user: Any = request.user
    fingerprint = request_fingerprint(request)
    now = timezone.now()
    with transaction.atomic():
        IdempotencyKey.objects.filter(user=user, key=key, expires_at__lte=now).delete()
        try:
            with transaction.atomic():
                row = IdempotencyKey.objects.create(
                    user=user,
                    key=key,
                    method=str(request.method),
                    path=request.path[:255],
                    request_hash=fingerprint,
                    created_at=now,
                    expires_at=now + IDEMPOTENCY_KEY_TTL,
                )
        except IntegrityError:
            # A request with this key committed first (we waited on the unique index for it).
            existing = IdempotencyKey.objects.get(user=user, key=key)
            return _replay(existing, fingerprint)
        try:
            response = action()
        except (DomainError, exceptions.APIException) as exc:
            handled = exception_handler(exc, {"view": view, "request": request})
            assert handled is not None
            response = handled
        row.response_status = response.status_code
        row.response_body = _jsonable(response.data)
        row.save(update_fields=["response_status", "response_body"])
    return response


def idempotency_keys_purge(*, now: Any = None) -> int:
    """Delete expired keys; returns how many."""
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
