from __future__ import annotations

from rest_framework import serializers

from conferencing.live import ACTIONS
from conferencing.models import Room
from conferencing.selectors import ROOM_FIELDS, dial_code
from tenants.models import Role, User

GENERATED = "Empty: generated (6 digits)."


class ModeratorField(serializers.PrimaryKeyRelatedField):
    """A user of the caller's client (by account id); operators choose, a user is their own rooms' moderator."""

    default_error_messages = {
        "does_not_exist": "Choose one of the client's users as the moderator.",
        "incorrect_type": "Choose one of the client's users as the moderator (their account id).",
    }

    def get_queryset(self):
        actor = self.context["request"].user
        if actor.client_id is None:
            return User.objects.none()
        return User.objects.filter(client_id=actor.client_id, role=Role.USER)


class RoomSerializer(serializers.ModelSerializer):
    """A conference room: dialled as *88<conference ID> (or its access number), PINs for participants
    and the moderator, schedule, limits and options."""

    moderator = ModeratorField(required=False, help_text="The moderator's account id (operators only; a user's "
                               "rooms are moderated by the user).")  # fmt: skip
    dial_code = serializers.SerializerMethodField(help_text="What the client's phones dial to reach the room.")

    class Meta:
        model = Room
        fields = ["id", "moderator", *ROOM_FIELDS, "dial_code", "created_at"]
        read_only_fields = ["created_at"]
        validators = []  # clashes (conference ID, access number vs rooms and extensions) are checked by the services
        extra_kwargs = {
            "conference_id": {"required": False, "allow_blank": True, "validators": [], "help_text": GENERATED},
            "participant_pin": {"required": False, "allow_blank": True, "help_text": GENERATED},
            "moderator_pin": {"required": False, "allow_blank": True, "help_text": GENERATED},
            "access_number": {"validators": []},
        }

    def get_dial_code(self, room: Room) -> str:
        return dial_code(room)


class ParticipantSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The participant's id in the conference (its call's id).")
    number = serializers.CharField()
    name = serializers.CharField()
    role = serializers.ChoiceField(choices=["moderator", "participant"])
    direction = serializers.CharField(required=False, help_text="dial-in, or dial-out when the conference called.")
    joined_at = serializers.DateTimeField()
    muted = serializers.BooleanField()
    talking = serializers.BooleanField()
    waiting = serializers.BooleanField(required=False, help_text="Hearing music until the moderator joins.")


class LiveSerializer(serializers.Serializer):
    """The room's conference as it is now; `running` is false (and the rest empty) when nobody is in it."""

    running = serializers.BooleanField()
    conference = serializers.CharField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    locked = serializers.BooleanField()
    recording = serializers.BooleanField()
    participants = ParticipantSerializer(many=True)
    callout = serializers.JSONField(allow_null=True, help_text="A hot conference's call-out to the room's list.")


class LiveActionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=[a for a in ACTIONS if a != "show"])
    participant = serializers.CharField(required=False, default="", allow_blank=True,
                                        help_text="mute, unmute, kick: the participant's id.")  # fmt: skip
    number = serializers.CharField(required=False, default="", allow_blank=True,
                                   help_text="dial-out: the extension called into the conference.")  # fmt: skip
