from django.apps import AppConfig


class MenusConfig(AppConfig):
    """Voice menus (IVR) of a client (client schema): a greeting, keys to destinations, and what a
    caller who presses nothing or a wrong key gets."""

    name = "menus"

    def ready(self) -> None:
        from menus import destinations  # noqa: F401  (registers the "menu" destination kind)
