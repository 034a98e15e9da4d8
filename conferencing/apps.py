from django.apps import AppConfig


class ConferencingConfig(AppConfig):
    """Conference rooms and moderators (client schema); filled in by the conferencing issue."""

    name = "conferencing"
