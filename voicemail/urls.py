"""Client portal pages for voicemail (voicemail/views.py). The names start with `vm_` (the portal's
menu marks its entry by that prefix; `message_` is the message library's)."""

from django.urls import path

from voicemail import views

urlpatterns = [
    path("voicemail/", views.box_list, name="vm_list"),
    path("voicemail/new/", views.box_create, name="vm_box_create"),
    path("voicemail/options/", views.options, name="vm_options"),
    path("voicemail/<int:pk>/", views.box_detail, name="vm_box"),
    path("voicemail/<int:pk>/settings/", views.box_settings, name="vm_box_settings"),
    path("voicemail/<int:pk>/delete/", views.box_delete, name="vm_box_delete"),
    path("voicemail/<int:pk>/greetings/<str:kind>.wav", views.greeting_audio, name="vm_greeting_audio"),
    path("voicemail/<int:pk>/greetings/<str:kind>/", views.greeting_upload, name="vm_greeting_upload"),
    path("voicemail/<int:pk>/greetings/<str:kind>/remove/", views.greeting_remove, name="vm_greeting_remove"),
    path("voicemail/messages/<int:pk>/", views.message_detail, name="vm_message"),
    path("voicemail/messages/<int:pk>/audio.wav", views.message_audio, name="vm_message_audio"),
]
