"""Voicemail's API shapes: boxes (with their counts and which greetings they have; the PIN is
write-only) and messages (caller, time, length, folder, heard; PATCH changes folder and heard)."""

from __future__ import annotations

from rest_framework import serializers

from tenants.api.base import RefuseUnchangeable
from voicemail.models import GREETINGS, Mailbox, Message


class VoicemailBoxSerializer(RefuseUnchangeable, serializers.ModelSerializer):
    shared = serializers.BooleanField(read_only=True)
    user = serializers.IntegerField(source="extension.account_id", read_only=True, allow_null=True,
                                    help_text="The user whose box it is (null: a shared box).")  # fmt: skip
    pin = serializers.CharField(write_only=True, required=False, help_text="4 to 10 digits; stored hashed.")
    greetings = serializers.SerializerMethodField(help_text="Which greetings the box has (else the platform's).")
    new = serializers.IntegerField(read_only=True, help_text="Messages not heard yet.")
    total = serializers.IntegerField(read_only=True)

    class Meta:
        model = Mailbox
        fields = ["id", "number", "name", "shared", "user", "pin", "max_seconds", "max_messages", "operator_kind",
                  "operator_target", "email", "email_new_message", "email_attach_audio", "email_missed_call",
                  "members", "greetings", "new", "total", "created_at"]  # fmt: skip
        read_only_fields = ["created_at"]
        # The service checks numbers and limits with the other fields, so every bad one is said at once.
        extra_kwargs = {"number": {"validators": []}, "max_seconds": {"min_value": None, "max_value": None},
                        "max_messages": {"min_value": None, "max_value": None},
                        "members": {"help_text": "A shared box's members: users' ids (/api/v1/users/)."}}  # fmt: skip

    def get_greetings(self, box: Mailbox) -> dict[str, bool]:
        return {kind: box.has_greeting(kind) for kind in GREETINGS}


class VoicemailMessageSerializer(RefuseUnchangeable, serializers.ModelSerializer):
    box = serializers.IntegerField(source="mailbox_id", read_only=True)
    audio = serializers.SerializerMethodField(help_text="The WAV, served with byte ranges.")

    class Meta:
        model = Message
        fields = ["id", "box", "caller_number", "caller_name", "call_uuid", "received_at", "seconds", "folder",
                  "heard", "audio"]  # fmt: skip
        read_only_fields = ["caller_number", "caller_name", "call_uuid", "received_at", "seconds"]

    def get_audio(self, message: Message) -> str:
        return f"/api/v1/voicemail/messages/{message.pk}/audio.wav"


class VoicemailMessageQuerySerializer(serializers.Serializer):
    box = serializers.IntegerField(required=False, help_text="A box's id.")
    folder = serializers.CharField(required=False, max_length=40)
    heard = serializers.BooleanField(required=False, allow_null=True, default=None)


class VoicemailGreetingSerializer(serializers.Serializer):
    audio = serializers.FileField(help_text="Any audio file FFmpeg reads (WAV, MP3, Ogg, FLAC...), at most 2 minutes.")
