from django.apps import AppConfig


class RingGroupsConfig(AppConfig):
    """Ring groups of a client (client schema): members (colleagues, external numbers) rung at once or
    one after the other, and where the call goes when none answers."""

    name = "ringgroups"

    def ready(self) -> None:
        from ringgroups import destinations  # noqa: F401  (registers the "group" destination kind)
