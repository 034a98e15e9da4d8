"""Portal pages of the agents' side of chats (chat/agent_views.py)."""

from django.urls import path

from chat import agent_views

urlpatterns = [
    path("chat/", agent_views.chat_console, name="chat_console"),
    path("chat/conversations/", agent_views.conversation_list, name="chat_conversation_list"),
    path("chat/conversations.csv", agent_views.conversation_csv, name="chat_conversation_csv"),
    path("chat/conversations/<int:pk>/", agent_views.conversation_detail, name="chat_conversation_detail"),
    path("chat/canned/", agent_views.canned_list, name="chat_canned_list"),
    path("chat/canned/new/", agent_views.canned_edit, name="chat_canned_create"),
    path("chat/canned/<int:pk>/", agent_views.canned_edit, name="chat_canned_edit"),
    path("chat/canned/<int:pk>/delete/", agent_views.canned_remove, name="chat_canned_delete"),
    path("chat/agents/", agent_views.chat_agents, name="chat_agents"),
]
