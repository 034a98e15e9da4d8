"""URLs of the god portal (chosen per request by tenants.routing.PortalMiddleware)."""

from django.urls import include, path

from tenants.views import portal

urlpatterns = [
    path("", portal.home, name="home"),
    path("", include("config.urls")),
]
