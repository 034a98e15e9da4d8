"""Client portal pages of call recording."""

from django.urls import path

from recordings import views

urlpatterns = [
    path("recordings/", views.recording_list, name="recording_list"),
    path("recordings/<int:pk>/audio/", views.recording_audio, name="recording_audio"),
    path("recordings/settings/", views.recording_settings, name="recording_settings"),
    path("phone/recording/", views.my_recording, name="my_recording"),
    path("users/<int:pk>/recording/", views.user_recording, name="user_recording"),
]
