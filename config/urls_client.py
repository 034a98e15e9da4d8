"""URLs of the client portal (chosen per request by tenants.routing.PortalMiddleware).

Operators and employees share the host; the views tell them apart by role.
"""

from django.urls import include, path

from billing.urls import statement_urls, usage_urls
from pstn import urls as pstn_urls
from tenants import urls as pages
from tenants.views import portal

urlpatterns = [
    path("", portal.home, name="home"),
    path("", include("telephony.urls")),
    path("", include("conferencing.urls")),
    path("", include("recordings.urls")),
    path("", include("voicemail.urls")),
    path("", include("menus.urls")),
    path("", include("queues.urls")),
    path("", include("chat.agent_urls")),
    path("", include("ringgroups.urls")),
    path("", include("webhooks.urls")),
    path("", include("im.urls")),
    path("", include("chat.widget_urls")),
    *pages.operator_urls,
    *pages.client_portal_urls,
    *statement_urls,
    *usage_urls,
    *pages.account_urls,
    *pstn_urls.client_urls,
    path("", include("exports.urls")),
    path("", include("config.urls")),
]
