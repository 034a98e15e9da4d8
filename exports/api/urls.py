from django.urls import path
from rest_framework.routers import SimpleRouter

from exports.api import views

router = SimpleRouter(trailing_slash="/?")
router.register("cdr-exports", views.ExportJobViewSet, basename="cdr-export")

urlpatterns = [
    # Files' names, so no trailing slash.
    path("cdrs/export.csv", views.CdrExportView.as_view(), name="cdr-export-csv"),
    path(
        "cdr-exports/<int:pk>/download.csv",
        views.ExportJobViewSet.as_view({"get": "download"}),
        name="cdr-export-download",
    ),
    *router.urls,
]
