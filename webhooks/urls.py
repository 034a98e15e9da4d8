"""Client portal pages for webhooks (webhooks/views.py); the names start with `webhook_` (the portal's
menu marks its entry by that prefix)."""

from django.urls import path

from webhooks import views

urlpatterns = [
    path("webhooks/", views.webhook_list, name="webhook_list"),
    path("webhooks/new/", views.webhook_edit, name="webhook_create"),
    path("webhooks/<int:pk>/", views.webhook_edit, name="webhook_edit"),
    path("webhooks/<int:pk>/delete/", views.webhook_delete, name="webhook_delete"),
    path("webhooks/<int:pk>/secret/", views.webhook_rotate, name="webhook_rotate"),
    path("webhooks/<int:pk>/deliveries/", views.webhook_deliveries, name="webhook_deliveries"),
    path("webhooks/deliveries/<int:pk>/replay/", views.webhook_replay, name="webhook_replay"),
    path("webhooks/routing/new/", views.webhook_routing_edit, name="webhook_routing_create"),
    path("webhooks/routing/<int:pk>/", views.webhook_routing_edit, name="webhook_routing_edit"),
    path("webhooks/routing/<int:pk>/delete/", views.webhook_routing_delete, name="webhook_routing_delete"),
]
