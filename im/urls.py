"""Client portal pages for instant messages and presence (im/views.py)."""

from django.urls import path

from im import views

urlpatterns = [
    path("chat/", views.im_inbox, name="im_inbox"),
    path("chat/start/", views.im_start, name="im_start"),
    path("chat/<int:pk>/", views.im_conversation, name="im_conversation"),
    path("colleagues/", views.colleague_list, name="colleague_list"),
]
