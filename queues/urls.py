"""Portal pages for queues (queues/views.py): the client's operators' `queue_` pages and an agent's own
`my_queues` page."""

from django.urls import path

from queues import views

urlpatterns = [
    path("queues/", views.queue_list, name="queue_list"),
    path("queues/new/", views.queue_edit, name="queue_create"),
    path("queues/<int:pk>/", views.queue_edit, name="queue_edit"),
    path("queues/<int:pk>/delete/", views.queue_delete, name="queue_delete"),
    path("queues/<int:pk>/agents/", views.queue_agent, name="queue_agent"),
    path("phone/queues/", views.my_queues, name="my_queues"),
    path("phone/supervision/", views.supervised, name="queue_supervision"),
]
