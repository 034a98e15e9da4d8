from django.urls import path
from rest_framework.routers import SimpleRouter

from im.api import views

router = SimpleRouter(trailing_slash="/?")
router.register("im/conversations", views.ConversationViewSet, basename="im-conversation")

urlpatterns = [
    path("im/messages/", views.MessageToView.as_view(), name="im-message-to"),
    path("im/unread/", views.UnreadView.as_view(), name="im-unread"),
    path("im/colleagues/", views.ColleagueView.as_view(), name="im-colleagues"),
    path("im/presence/", views.PresenceView.as_view(), name="im-presence"),
    *router.urls,
]
