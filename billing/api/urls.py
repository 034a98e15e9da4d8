from django.urls import path
from rest_framework.routers import SimpleRouter

from billing.api import views

router = SimpleRouter(trailing_slash="/?")
router.register("carriers", views.CarrierViewSet, basename="carrier")
router.register("rate-decks", views.RateDeckViewSet, basename="rate-deck")
router.register("pricing-plans", views.PricingPlanViewSet, basename="pricing-plan")
router.register("statements", views.StatementViewSet, basename="statement")
router.register("unrated", views.UnratedViewSet, basename="unrated")

urlpatterns = [
    path("reports/usage/", views.UsageView.as_view(), name="report-usage"),
    *router.urls,
]
