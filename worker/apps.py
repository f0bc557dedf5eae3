from django.apps import AppConfig


class WorkerConfig(AppConfig):
    name = "worker"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the pipeline's Prometheus metrics in every process that serves /metrics.
        from worker import pipeline  # noqa: F401
