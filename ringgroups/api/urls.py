from rest_framework.routers import SimpleRouter

from ringgroups.api import views

router = SimpleRouter(trailing_slash="/?")
router.register("ring-groups", views.RingGroupViewSet, basename="ring-group")

urlpatterns = router.urls
