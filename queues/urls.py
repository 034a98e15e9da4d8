"""Portal pages for queues (queues/views.py): the client's operators' `queue_` pages and an agent's own
`my_queues` page."""

from django.urls import path

from queues import report_views, views

urlpatterns = [
    path("queues/", views.queue_list, name="queue_list"),
    path("queues/new/", views.queue_edit, name="queue_create"),
    path("queues/<int:pk>/", views.queue_edit, name="queue_edit"),
    path("queues/<int:pk>/delete/", views.queue_delete, name="queue_delete"),
    path("queues/<int:pk>/agents/", views.queue_agent, name="queue_agent"),
    path("queues/wallboard/", report_views.wallboard, name="queue_wallboard_all"),
    path("queues/wallboard/snapshot/", report_views.wallboard_snapshot_json, name="queue_wallboard_all_snapshot"),
    path("queues/<int:pk>/wallboard/", report_views.wallboard, name="queue_wallboard"),
    path("queues/<int:pk>/wallboard/snapshot/", report_views.wallboard_snapshot_json, name="queue_wallboard_snapshot"),
    path("queues/<int:pk>/stats/", report_views.queue_stats_page, name="queue_stats"),
    path("queues/<int:pk>/stats.csv", report_views.queue_stats_csv, name="queue_stats_csv"),
    path("phone/queues/", views.my_queues, name="my_queues"),
    path("phone/supervision/", views.supervised, name="queue_supervision"),
]
