from django.apps import AppConfig


class RecordsConfig(AppConfig):
    """Call records (public schema): the Cdr model, the engine's writer and its spool, the reads that
    billing, exports and the conference reports share."""

    name = "records"
