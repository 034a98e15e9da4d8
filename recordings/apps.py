from django.apps import AppConfig


class RecordingsConfig(AppConfig):
    """Call recording: each client's policy, its recordings and their files (client schema)."""

    name = "recordings"
