"""Portal pages of billing's rating: each portal's URL configuration picks its own list."""

from django.urls import path

from billing import statement_views, usage_views, views

# Usage across services, in every portal with its own scope.
usage_urls = [
    path("usage/", usage_views.usage_page, name="usage_page"),
    path("usage.csv", usage_views.usage_csv, name="usage_csv"),
    path("usage/calls/", usage_views.usage_calls, name="usage_calls"),
]

statement_urls = [
    path("statements/", statement_views.statement_list, name="statement_list"),
    path("statements/<int:pk>/<str:month>/", statement_views.statement_detail, name="statement_detail"),
    path("statements/<int:pk>/<str:month>.csv", statement_views.statement_csv, name="statement_csv"),
]

# The god and brand portals.
rating_urls = [
    path("rating/", views.deck_list, name="rating_deck_list"),
    path("rating/decks/new/", views.deck_create, name="rating_deck_create"),
    path("rating/decks/<int:pk>/", views.deck_detail, name="rating_deck_detail"),
    path("rating/decks/<int:pk>/import/", views.deck_import, name="rating_deck_import"),
    path("rating/decks/<int:pk>/export.csv", views.deck_export, name="rating_deck_export"),
    path("rating/decks/<int:pk>/delete/", views.deck_delete, name="rating_deck_delete"),
    path("rating/plans/", views.plan_list, name="rating_plan_list"),
    path("rating/plans/<int:pk>/", views.plan_edit, name="rating_plan_edit"),
    path("rating/plans/<int:pk>/delete/", views.plan_delete, name="rating_plan_delete"),
    path("rating/unrated/", views.unrated_list, name="rating_unrated"),
    path("rating/unrated/retry/", views.unrated_retry, name="rating_unrated_retry"),
    *statement_urls,
]

# The god and brand portals (each its own carriers).
carrier_urls = [
    path("rating/carriers/", views.carrier_list, name="rating_carrier_list"),
    path("rating/carriers/new/", views.carrier_create, name="rating_carrier_create"),
    path("rating/carriers/<int:pk>/", views.carrier_update, name="rating_carrier_update"),
    path("rating/carriers/<int:pk>/delete/", views.carrier_delete, name="rating_carrier_delete"),
]
