from django.apps import AppConfig


class ImConfig(AppConfig):
    """Messages between a client's people (client schema): conversations one-to-one and in small groups,
    with each member's last-read pointer, and each person's chosen presence."""

    name = "im"
    verbose_name = "Instant messages and presence"
