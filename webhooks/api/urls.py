from rest_framework.routers import SimpleRouter

from webhooks.api import views

router = SimpleRouter(trailing_slash="/?")
router.register("webhooks/deliveries", views.DeliveryViewSet, basename="webhook-delivery")
router.register("webhooks/routing", views.RoutingWebhookViewSet, basename="routing-webhook")
router.register("webhooks", views.EndpointViewSet, basename="webhook")

urlpatterns = router.urls
