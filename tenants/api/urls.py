from django.urls import path
from rest_framework.routers import SimpleRouter

from tenants.api import views

router = SimpleRouter(trailing_slash="/?")
router.register("brands", views.BrandViewSet, basename="brand")
router.register("clients", views.ClientViewSet, basename="client")
router.register("operators", views.OperatorViewSet, basename="operator")
router.register("tokens", views.TokenViewSet, basename="token")

urlpatterns = [
    path("me/", views.MeView.as_view(), name="me"),
    path("me/password/", views.PasswordView.as_view(), name="me-password"),
    *router.urls,
]
