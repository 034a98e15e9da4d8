from django.apps import AppConfig


class TelephonyConfig(AppConfig):
    """Per-client telephony (client schema): extensions and their SIP credentials."""

    name = "telephony"
