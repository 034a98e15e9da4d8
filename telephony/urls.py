"""Client portal pages for employees and their lines."""

from django.urls import path

from telephony import prompt_views, views, widget_views

urlpatterns = [
    path("c2c/<str:key>/call/", widget_views.widget_call, name="widget_public_call"),
    path("widgets/", widget_views.widget_list, name="widget_list"),
    path("widgets/new/", widget_views.widget_edit, name="widget_create"),
    path("widgets/<int:pk>/", widget_views.widget_edit, name="widget_edit"),
    path("widgets/<int:pk>/delete/", widget_views.widget_delete, name="widget_delete"),
    path("users/", views.user_list, name="user_list"),
    path("users/new/", views.user_create, name="user_create"),
    path("users/export.csv", views.user_export, name="user_export"),
    path("users/import/", views.user_import, name="user_import"),
    path("users/import/done/", views.user_import_done, name="user_import_done"),
    path("users/<int:pk>/", views.user_detail, name="user_detail"),
    path("users/<int:pk>/edit/", views.user_update, name="user_update"),
    path("users/<int:pk>/reset-secret/", views.user_reset_secret, name="user_reset_secret"),
    path("users/<int:pk>/delete/", views.user_delete, name="user_delete"),
    path("users/<int:pk>/unlock/", views.user_unlock, name="user_unlock"),
    path("users/<int:pk>/forwarding/", views.user_forwarding, name="user_forwarding"),
    path("calls/", views.call_list, name="call_list"),
    path("calls/<uuid:call_uuid>/<str:action>/", views.call_action, name="call_action"),
    path("schedules/", views.schedule_list, name="schedule_list"),
    path("schedules/new/", views.schedule_edit, name="schedule_create"),
    path("schedules/<int:pk>/", views.schedule_edit, name="schedule_edit"),
    path("schedules/<int:pk>/delete/", views.schedule_delete, name="schedule_delete"),
    path("blocking/", views.blocking, name="blocking"),
    path("blocking/new/", views.block_edit, name="block_create"),
    path("blocking/<int:pk>/", views.block_edit, name="block_edit"),
    path("blocking/<int:pk>/delete/", views.block_delete, name="block_delete"),
    path("prompts/", prompt_views.prompt_list, name="prompt_list"),
    path("prompts/upload/", prompt_views.prompt_upload, name="prompt_upload"),
    path("prompts/<str:name>/remove/", prompt_views.prompt_remove, name="prompt_remove"),
    path("prompts/<str:name>/<str:version>.wav", prompt_views.prompt_audio, name="prompt_audio"),
    path("phone/", views.my_phone, name="my_phone"),
    path("phone/reset-secret/", views.my_phone_reset, name="my_phone_reset"),
    path("phone/forwarding/", views.my_forwarding, name="my_forwarding"),
]

# The god and brand portals: SIP bans in their scope.
protection_urls = [
    path("protection/", views.protection, name="protection"),
    path("protection/release/", views.protection_release, name="protection_release"),
    path("protection/rules/<int:pk>/delete/", views.protection_rule_delete, name="protection_rule_delete"),
]
