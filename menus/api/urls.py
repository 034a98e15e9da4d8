from rest_framework.routers import SimpleRouter

from menus.api import views

router = SimpleRouter(trailing_slash="/?")
router.register("menus", views.MenuViewSet, basename="menu")

urlpatterns = router.urls
