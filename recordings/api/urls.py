from django.urls import path
from rest_framework.routers import SimpleRouter

from recordings.api import views

router = SimpleRouter(trailing_slash="/?")
router.register("recordings", views.RecordingViewSet, basename="recording")

urlpatterns = [
    path("recording-policy/", views.RecordingPolicyView.as_view(), name="recording-policy"),
    path("me/recording/", views.MyRecordingView.as_view(), name="me-recording"),
    *router.urls,
]
