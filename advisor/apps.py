from typing import Any

from django.apps import AppConfig


def _on_domain_event(sender: Any, **kwargs: Any) -> None:
    """Webhook deliveries for a domain event (imported when the first event comes: the webhooks
    module pulls in the models of several apps)."""
    from advisor.webhooks import on_domain_event

    on_domain_event(sender, **kwargs)


class AdvisorConfig(AppConfig):
    verbose_name = "Clients and advisors"
    name = "advisor"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from portfolios.live import domain_event

        domain_event.connect(_on_domain_event, dispatch_uid="advisor.webhooks")
