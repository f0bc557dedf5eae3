"""What integrations rely on: idempotency keys, webhook endpoints and their delivery log."""
