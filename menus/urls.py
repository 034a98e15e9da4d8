"""Client portal pages for voice menus and rule sets (menus/views.py); the names start with `menu_` and
`route_` (the portal's menu marks its entry by that prefix)."""

from django.urls import path

from menus import views

urlpatterns = [
    path("menus/", views.menu_list, name="menu_list"),
    path("menus/new/", views.menu_edit, name="menu_create"),
    path("menus/<int:pk>/", views.menu_edit, name="menu_edit"),
    path("menus/<int:pk>/delete/", views.menu_delete, name="menu_delete"),
    path("routing/", views.route_list, name="route_list"),
    path("routing/new/", views.route_edit, name="route_create"),
    path("routing/<int:pk>/", views.route_edit, name="route_edit"),
    path("routing/<int:pk>/delete/", views.route_delete, name="route_delete"),
]
