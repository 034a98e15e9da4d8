from rest_framework.routers import SimpleRouter

from pstn.api import views

router = SimpleRouter(trailing_slash="/?")
router.register("gateways", views.GatewayViewSet, basename="gateway")
router.register("numbers", views.NumberViewSet, basename="number")
router.register("outbound-routes", views.OutboundRouteViewSet, basename="outbound-route")
router.register("routing-policies", views.RoutingPolicyViewSet, basename="routing-policy")
router.register("outbound-policies", views.OutboundPolicyViewSet, basename="outbound-policy")

urlpatterns = router.urls
