"""The agents' side of chats through the API: conversations (`chat/conversations/`: the client's
operators every one, a user those they answered; searched by `q` (text said in it), `visitor`,
`agent`, `from` and `to` (days in the client's time zone), `state`; a conversation's detail has its
messages) and canned answers (`chat/canned/`: the client's operators). Another client's rows answer 404."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers

from chat.agents import canned_delete, canned_save
from chat.models import CannedAnswer, Conversation, Message
from chat.selectors import conversation_search
from tenants.api.base import ClientRowViewSet, ScopedViewSet
from tenants.dates import zone_named
from tenants.models import Role


class ChatMessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = ["id", "sender", "author_name", "body", "created_at"]


class ChatConversationSerializer(serializers.ModelSerializer):
    queue = serializers.CharField(source="queue.name", default="", read_only=True)

    class Meta:
        model = Conversation
        fields = ["id", "uuid", "state", "outcome", "queue", "visitor_name", "visitor_email", "visitor_ref",
                  "verified", "origin", "page", "agent_name", "created_at", "answered_at", "first_response_at",
                  "closed_at", "closed_by"]  # fmt: skip
        read_only_fields = fields


class ChatConversationDetailSerializer(ChatConversationSerializer):
    messages = ChatMessageSerializer(many=True, read_only=True)

    class Meta(ChatConversationSerializer.Meta):
        fields = [*ChatConversationSerializer.Meta.fields, "messages"]
        read_only_fields = fields


SEARCH = [
    OpenApiParameter("q", str, description="Text said in the conversation."),
    OpenApiParameter("visitor", str, description="The visitor's name, e-mail or id on the client's site."),
    OpenApiParameter("agent", str, description="The agent's name."),
    OpenApiParameter("from", dt.date, description="First day (YYYY-MM-DD, the client's time zone)."),
    OpenApiParameter("to", dt.date, description="Last day, included."),
    OpenApiParameter("state", str, enum=[c for c, _ in Conversation.State.choices]),
]


def search_arguments(params, client) -> dict:
    """The search's arguments from query parameters; a bad one is a field error (400)."""
    found, errors = {}, {}
    for name in ("q", "visitor", "agent"):
        value = str(params.get(name) or "").replace("\x00", "")[:200]
        if value:
            found["text" if name == "q" else name] = value
    zone = zone_named(client.timezone)
    for name, key, shift in (("from", "since", 0), ("to", "until", 1)):
        value = params.get(name)
        if value:
            try:
                day = dt.date.fromisoformat(str(value)) + dt.timedelta(days=shift)
                found[key] = dt.datetime(day.year, day.month, day.day, tzinfo=zone)
            except (ValueError, OverflowError):
                errors[name] = ["A day, YYYY-MM-DD."]
    state = params.get("state")
    if state:
        if state not in Conversation.State.values:
            errors["state"] = ["One of: " + ", ".join(Conversation.State.values)]
        found["state"] = state
    if errors:
        raise ValidationError(errors)
    return found


class ConversationViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Web chats: who waited and who answered, and (one of them) what was said."""

    model = Conversation

    def get_serializer_class(self):
        return ChatConversationDetailSerializer if self.action == "retrieve" else ChatConversationSerializer

    def get_queryset(self):
        tenant = getattr(self.request, "tenant", None)
        user = self.request.user
        if tenant is None or user.role not in (Role.CLIENT, Role.USER) or user.client_id != tenant.pk:
            return Conversation.objects.none()
        rows = super().get_queryset().select_related("queue")
        if self.action == "list":
            rows = conversation_search(rows, **search_arguments(self.request.query_params, tenant))
        return rows.prefetch_related("messages") if self.action == "retrieve" else rows

    @extend_schema(parameters=SEARCH)
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)


class ChatCannedAnswerSerializer(serializers.ModelSerializer):
    class Meta:
        model = CannedAnswer
        fields = ["id", "title", "shortcut", "body", "created_at"]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {"title": {"validators": []}}  # (the service says it, with the other fields)


class CannedAnswerViewSet(ClientRowViewSet, mixins.CreateModelMixin, mixins.UpdateModelMixin,
                          mixins.DestroyModelMixin):  # fmt: skip
    """Canned answers the client's agents insert in chats (a picker, or /shortcut); its operators'."""

    model = CannedAnswer
    serializer_class = ChatCannedAnswerSerializer
    save_row = staticmethod(canned_save)
    delete_row = staticmethod(canned_delete)
    row = "canned"
