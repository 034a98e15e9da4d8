"""Rebuild the SIP directory in Redis from the database (the edge authenticates from it)."""

from django.core.management.base import BaseCommand

from telephony.directory import sip_directory_sync


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        counts = sip_directory_sync()
        self.stdout.write(f"SIP directory: {counts['domains']} domains, {counts['lines']} lines")
