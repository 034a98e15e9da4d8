"""Client portal pages for conference rooms, the message library, notifications and conference
usage reports; the providers' list of running conferences and their usage reports."""

from django.urls import path

from conferencing import notification_views, report_views, views

# Conference usage in every portal, each in its own scope.
report_urls = [
    path("reports/", report_views.report_usage, name="report_usage"),
    path("reports/usage.csv", report_views.report_usage_csv, name="report_usage_csv"),
    path("reports/conferences/", report_views.report_detail, name="report_detail"),
    path("reports/conferences.csv", report_views.report_detail_csv, name="report_detail_csv"),
]

urlpatterns = [
    path("conferences/", views.room_list, name="room_list"),
    path("conferences/new/", views.room_create, name="room_create"),
    path("conferences/<int:pk>/", views.room_detail, name="room_detail"),
    path("conferences/<int:pk>/live/", views.room_live, name="room_live"),
    path("conferences/<int:pk>/edit/", views.room_update, name="room_update"),
    path("conferences/<int:pk>/delete/", views.room_delete, name="room_delete"),
    path("messages/", notification_views.message_list, name="message_list"),
    path("messages/new/", notification_views.message_upload, name="message_upload"),
    path("messages/record/", notification_views.message_record, name="message_record"),
    path("messages/<int:pk>/delete/", notification_views.message_delete, name="message_delete"),
    path("messages/<int:pk>/audio.wav", notification_views.message_audio, name="message_audio"),
    path("notifications/", notification_views.campaign_list, name="campaign_list"),
    path("notifications/new/", notification_views.campaign_create, name="campaign_create"),
    path("notifications/<int:pk>/", notification_views.campaign_detail, name="campaign_detail"),
    path("notifications/<int:pk>/start/", notification_views.campaign_start, name="campaign_start"),
    path("notifications/<int:pk>/report.csv", notification_views.campaign_report, name="campaign_report"),
    *report_urls,
]

# The god and brand portals: conferences running in their scope, and their usage.
provider_urls = [
    path("conferences/", views.conference_list, name="conference_list"),
    *report_urls,
]
