"""REST API views, one module per area. Each parses input, calls one selector or service and
shapes the output; visibility comes from ``advisor.api.scoping`` (404 outside a user's scope)."""
