from django.apps import AppConfig


class ExportsConfig(AppConfig):
    """CSV exports of call records, export jobs and scheduled FTP/FTPS/SFTP pushes (public schema)."""

    name = "exports"
