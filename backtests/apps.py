from django.apps import AppConfig


class BacktestsConfig(AppConfig):
    verbose_name = "Backtests"
    name = "backtests"
    default_auto_field = "django.db.models.BigAutoField"
