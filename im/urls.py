"""Client portal pages for instant messages and presence (im/views.py)."""

from django.urls import path

from im import views

urlpatterns = [
    path("im/", views.im_inbox, name="im_inbox"),
    path("im/start/", views.im_start, name="im_start"),
    path("im/<int:pk>/", views.im_conversation, name="im_conversation"),
    path("colleagues/", views.colleague_list, name="colleague_list"),
]
