"""URLs of the brand portal (chosen per request by tenants.routing.PortalMiddleware)."""

from django.urls import include, path

from billing.urls import carrier_urls, rating_urls, usage_urls
from conferencing.urls import provider_urls as conference_urls
from pstn import route_tester
from pstn import urls as pstn_urls
from telephony.urls import protection_urls
from tenants import urls as pages
from tenants.views import portal

urlpatterns = [
    path("", portal.home, name="home"),
    *pages.client_urls,
    *pages.operator_urls,
    *pages.brand_urls,
    *pages.account_urls,
    *protection_urls,
    *conference_urls,
    *rating_urls,
    *usage_urls,
    path("routing/test/", route_tester.tester_page, name="route_tester"),
    *carrier_urls,
    *pstn_urls.provider_urls,
    *pstn_urls.brand_urls,
    path("", include("exports.urls")),
    path("", include("config.urls")),
]
