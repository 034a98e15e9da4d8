from django.urls import path
from rest_framework.routers import SimpleRouter

from voicemail.api import views

router = SimpleRouter(trailing_slash="/?")
router.register("voicemail/boxes", views.BoxViewSet, basename="voicemail-box")
router.register("voicemail/messages", views.MessageViewSet, basename="voicemail-message")

urlpatterns = [
    path("me/voicemail/", views.MyVoicemailView.as_view(), name="me-voicemail"),
    path("me/voicemail/messages/", views.MessageViewSet.as_view({"get": "list"}), name="me-voicemail-messages"),
    # A file's name, so no trailing slash.
    path(
        "voicemail/messages/<int:pk>/audio.wav",
        views.MessageViewSet.as_view({"get": "audio"}),
        name="voicemail-message-audio",
    ),
    *router.urls,
]
