from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """A client's webhooks (client schema): endpoints told of its calls' events, their deliveries, and
    routing webhooks (destination kind "webhook": the client's server decides where a call goes)."""

    name = "webhooks"

    def ready(self) -> None:
        from webhooks import destinations  # noqa: F401  (registers the "webhook" destination kind)
