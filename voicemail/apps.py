from django.apps import AppConfig


class VoicemailConfig(AppConfig):
    """Voicemail boxes and their messages (client schema): one box per user, plus shared boxes."""

    name = "voicemail"

    def ready(self) -> None:
        from voicemail import destinations  # noqa: F401  (registers the "voicemail" destination kind)
