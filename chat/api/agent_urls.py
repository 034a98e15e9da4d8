from rest_framework.routers import SimpleRouter

from chat.api import agent_views

router = SimpleRouter(trailing_slash="/?")
router.register("chat/conversations", agent_views.ConversationViewSet, basename="chat-conversation")
router.register("chat/canned", agent_views.CannedAnswerViewSet, basename="chat-canned")

urlpatterns = router.urls
