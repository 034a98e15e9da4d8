"""Client portal pages for ring groups (ringgroups/views.py); the names start with `ring_group_` (the
portal's menu marks its entry by that prefix)."""

from django.urls import path

from ringgroups import views

urlpatterns = [
    path("ring-groups/", views.ring_group_list, name="ring_group_list"),
    path("ring-groups/new/", views.ring_group_edit, name="ring_group_create"),
    path("ring-groups/<int:pk>/", views.ring_group_edit, name="ring_group_edit"),
    path("ring-groups/<int:pk>/delete/", views.ring_group_delete, name="ring_group_delete"),
]
