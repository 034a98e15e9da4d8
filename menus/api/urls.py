from rest_framework.routers import SimpleRouter

from menus.api import views

router = SimpleRouter(trailing_slash="/?")
router.register("menus", views.MenuViewSet, basename="menu")
router.register("routes", views.RuleSetViewSet, basename="route")

urlpatterns = router.urls
