"""URLs every portal host serves: sign-in, the API and its documentation, theme assets."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from pstn import route_tester
from tenants.views import auth, reset

urlpatterns = [
    path("login/", auth.LoginView.as_view(), name="login"),
    path("login/code/", auth.code_view, name="login_code"),
    path("login/reset/", reset.reset_request, name="password_reset"),
    path("login/reset/<uidb64>/<token>/", reset.ResetConfirmView.as_view(), name="password_reset_confirm"),
    path("logout/", auth.logout_view, name="logout"),
    path("theme/logo", auth.logo, name="theme-logo"),
    path("healthz", auth.healthz, name="healthz"),
    path("api/v1/", include("tenants.api.urls")),
    path("api/v1/", include("telephony.api.urls")),
    path("api/v1/", include("conferencing.api.urls")),
    path("api/v1/", include("recordings.api.urls")),
    path("api/v1/", include("billing.api.urls")),
    path("api/v1/", include("exports.api.urls")),
    path("api/v1/route-test/", route_tester.RouteTestView.as_view(), name="route-test"),
    path("api/v1/", include("pstn.api.urls")),
    path("api/v1/", include("voicemail.api.urls")),
    path("api/v1/", include("menus.api.urls")),
    path("api/v1/", include("queues.api.urls")),
    path("api/v1/", include("chat.api.agent_urls")),
    path("api/v1/", include("ringgroups.api.urls")),
    path("api/v1/", include("webhooks.api.urls")),
    path("api/v1/", include("im.api.urls")),
    path("api/v1/", include("chat.api.widget_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Split: the start-up script is a file, so the docs keep to the portals' Content-Security-Policy.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="portal/api_docs.html"),
        name="api-docs",
    ),
]
