from django.apps import AppConfig


class AdvisorConfig(AppConfig):
    verbose_name = "Clients and advisors"
    name = "advisor"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from advisor.webhooks import on_domain_event
        from portfolios.live import domain_event

        domain_event.connect(on_domain_event, dispatch_uid="advisor.webhooks")
