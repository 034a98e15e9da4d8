from django.urls import path
from rest_framework.routers import SimpleRouter

from telephony.api import views

router = SimpleRouter(trailing_slash="/?")
router.register("users", views.UserViewSet, basename="user")
router.register("calls", views.CallViewSet, basename="call")
router.register("schedules", views.ScheduleViewSet, basename="schedule")
router.register("widgets", views.WidgetViewSet, basename="widget")
router.register("blocked-numbers", views.BlockViewSet, basename="blocked-number")
router.register("prompts", views.PromptViewSet, basename="prompt")

urlpatterns = [
    path("me/sip/", views.MySipView.as_view(), name="me-sip"),
    path("me/forwarding/", views.MyForwardingView.as_view(), name="me-forwarding"),
    path("caller-blocking/", views.CallerBlockingView.as_view(), name="caller-blocking"),
    *router.urls,
]
