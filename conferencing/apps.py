from django.apps import AppConfig


class ConferencingConfig(AppConfig):
    """Conference rooms, the message library and notification campaigns (client schema)."""

    name = "conferencing"

    def ready(self) -> None:
        from conferencing import destinations  # noqa: F401  (registers the "conference" destination kind)
