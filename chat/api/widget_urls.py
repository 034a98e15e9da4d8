from rest_framework.routers import SimpleRouter

from chat.api import widget_views

router = SimpleRouter(trailing_slash="/?")
router.register("chat/widgets", widget_views.ChatWidgetViewSet, basename="chat-widget")

urlpatterns = router.urls
