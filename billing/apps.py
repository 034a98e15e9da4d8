from django.apps import AppConfig


class BillingConfig(AppConfig):
    """The rating of call records (records.Cdr): carriers, rate decks, pricing plans, ratings, statements, usage
    (public schema)."""

    name = "billing"
