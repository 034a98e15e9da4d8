from rest_framework.routers import SimpleRouter

from queues.api import views

router = SimpleRouter(trailing_slash="/?")
router.register("queues/agents", views.AgentViewSet, basename="queue-agent")
router.register("queues/supervision", views.SupervisionViewSet, basename="queue-supervision")
router.register("queues", views.QueueViewSet, basename="queue")

urlpatterns = router.urls
