"""Instant messages' and presence's API shapes. Text is passed to the services as sent: they name every
bad value (binary or control characters, length) as a field error."""

from __future__ import annotations

from rest_framework import serializers

from im.presence import CHOICES, STATES


class ImPersonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ImConversationSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    kind = serializers.CharField(read_only=True, help_text="direct (two people) or group.")
    title = serializers.CharField(read_only=True, help_text="A group's title (empty: the members' names).")
    name = serializers.CharField(read_only=True, help_text="The title, or the other members' names.")
    members = ImPersonSerializer(many=True, read_only=True)
    unread = serializers.IntegerField(read_only=True, help_text="Messages you have not read.")
    last_message_at = serializers.DateTimeField(read_only=True, allow_null=True)


class ImConversationStartSerializer(serializers.Serializer):
    to = serializers.ListField(child=serializers.JSONField(), help_text="The colleagues' ids (one: one-to-one).")
    title = serializers.JSONField(required=False, help_text="A group's title (optional).")
    body = serializers.JSONField(required=False, help_text="A first message (optional).")


class ImMessageSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    conversation = serializers.IntegerField(read_only=True)
    sender = serializers.IntegerField(read_only=True)
    sender_name = serializers.CharField(read_only=True)
    body = serializers.CharField(read_only=True, help_text="Plain text: show it as text, never as HTML.")
    via = serializers.CharField(read_only=True, help_text="portal, api or sip (a phone).")
    sent_at = serializers.DateTimeField(read_only=True)


class ImMessageBodySerializer(serializers.Serializer):
    body = serializers.JSONField(help_text="The text (at most OCX_IM_MAX_LENGTH characters).")


class ImMessageToSerializer(ImMessageBodySerializer):
    to = serializers.ListField(child=serializers.JSONField(), help_text="The colleagues' ids: their conversation.")


class ImReadSerializer(serializers.Serializer):
    up_to = serializers.IntegerField(required=False, help_text="The last message read (default: all).")


class ImUnreadSerializer(serializers.Serializer):
    unread = serializers.IntegerField()


class ImColleagueSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    role = serializers.CharField(help_text="user or client (an operator).")
    extension = serializers.CharField(help_text="Their extension (empty: no line).")
    presence = serializers.ChoiceField(choices=STATES)


class ImPresenceSerializer(serializers.Serializer):
    state = serializers.JSONField(help_text=f"Yours to choose: {', '.join(CHOICES)}. Shown: {', '.join(STATES)}.")
