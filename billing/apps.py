from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Call records and their rating: carriers, rate decks, pricing plans, ratings, statements (public schema)."""

    name = "billing"
