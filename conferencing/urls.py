"""Client portal pages for conference rooms, and the providers' list of running conferences."""

from django.urls import path

from conferencing import views

urlpatterns = [
    path("conferences/", views.room_list, name="room_list"),
    path("conferences/new/", views.room_create, name="room_create"),
    path("conferences/<int:pk>/", views.room_detail, name="room_detail"),
    path("conferences/<int:pk>/live/", views.room_live, name="room_live"),
    path("conferences/<int:pk>/edit/", views.room_update, name="room_update"),
    path("conferences/<int:pk>/delete/", views.room_delete, name="room_delete"),
]

# The god and brand portals: conferences running in their scope.
provider_urls = [
    path("conferences/", views.conference_list, name="conference_list"),
]
