from django.urls import path
from rest_framework.routers import SimpleRouter

from conferencing.api import views

router = SimpleRouter(trailing_slash="/?")
router.register("rooms", views.RoomViewSet, basename="room")
router.register("messages", views.MessageViewSet, basename="message")
router.register("campaigns", views.CampaignViewSet, basename="campaign")

urlpatterns = [
    *router.urls,
    # A file's name, so no trailing slash.
    path("campaigns/<int:pk>/report.csv", views.CampaignViewSet.as_view({"get": "report"}), name="campaign-report"),
    path("reports/conference-usage/", views.ConferenceUsageView.as_view(), name="report-conference-usage"),
    path("reports/conference-detail/", views.ConferenceDetailView.as_view(), name="report-conference-detail"),
]
