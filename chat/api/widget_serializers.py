"""Chat widgets' API shape: the widget's fields as the service takes them; its public key read-only;
its identity secret only in the answer that made or rotated it."""

from __future__ import annotations

from rest_framework import serializers

from chat.models import ChatWidget
from tenants.api.base import RefuseUnchangeable

LIMITS = ("max_sessions_per_visitor", "messages_per_minute", "max_message_length")


class ChatWidgetSerializer(RefuseUnchangeable, serializers.ModelSerializer):
    queue = serializers.IntegerField(source="queue_id", required=False, allow_null=True,
                                     help_text="The id of the queue whose agents answer the chats.")  # fmt: skip

    class Meta:
        model = ChatWidget
        fields = ["id", "name", "queue", "origins", "enabled", "title", "greeting", "colour", "offline_email",
                  *LIMITS, "key", "created_at"]  # fmt: skip
        read_only_fields = ["id", "key", "created_at"]
        # The service checks them with the other fields, so every bad one is said at once.
        extra_kwargs = {name: {"min_value": None, "max_value": None, "validators": []} for name in LIMITS}
        extra_kwargs["name"] = {"validators": [], "required": False, "allow_blank": True}
        extra_kwargs["colour"] = {"validators": []}
        extra_kwargs["offline_email"] = {"validators": []}
        extra_kwargs["origins"] = {"help_text": "Exact origins allowed to open the chat, one a line."}


class ChatWidgetSecretSerializer(ChatWidgetSerializer):
    identity_secret = serializers.CharField(read_only=True, help_text="Shown here once: it signs visitors' identity.")

    class Meta(ChatWidgetSerializer.Meta):
        fields = [*ChatWidgetSerializer.Meta.fields, "identity_secret"]
        read_only_fields = [*ChatWidgetSerializer.Meta.read_only_fields, "identity_secret"]


class SecretSerializer(serializers.Serializer):
    identity_secret = serializers.CharField(read_only=True)
