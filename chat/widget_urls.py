"""Client portal pages of chat widgets (the operators')."""

from django.urls import path

from chat import widget_views

urlpatterns = [
    path("chat/widgets/", widget_views.chat_widget_list, name="chat_widget_list"),
    path("chat/widgets/new/", widget_views.chat_widget_edit, name="chat_widget_create"),
    path("chat/widgets/<int:pk>/", widget_views.chat_widget_edit, name="chat_widget_edit"),
    path("chat/widgets/<int:pk>/rotate/", widget_views.chat_widget_rotate, name="chat_widget_rotate"),
    path("chat/widgets/<int:pk>/delete/", widget_views.chat_widget_delete, name="chat_widget_delete"),
]
