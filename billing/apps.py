from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Call records, rating and exports (public schema); filled in by the billing issue."""

    name = "billing"
