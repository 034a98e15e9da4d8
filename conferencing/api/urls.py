from rest_framework.routers import SimpleRouter

from conferencing.api import views

router = SimpleRouter(trailing_slash="/?")
router.register("rooms", views.RoomViewSet, basename="room")

urlpatterns = router.urls
