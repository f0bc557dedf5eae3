from django.apps import AppConfig


class PortfoliosConfig(AppConfig):
    verbose_name = "Portfolios and ledger"
    name = "portfolios"
    default_auto_field = "django.db.models.BigAutoField"
