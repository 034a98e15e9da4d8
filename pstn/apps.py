from django.apps import AppConfig


class PstnConfig(AppConfig):
    name = "pstn"
    verbose_name = "Phone network: carriers' gateways, numbers, outbound routes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from pstn import signals  # noqa: F401  (carriers, gateways and numbers reach the edges' directory)
