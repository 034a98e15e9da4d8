from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from conferencing.live import ACTIONS
from conferencing.models import Campaign, Message, Room, Target
from conferencing.selectors import ROOM_FIELDS, TARGET_COLUMNS, dial_code, record_code
from tenants.api.base import PeriodSerializer, ScopedRelatedField
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


class MessageSerializer(serializers.ModelSerializer):
    """A message of the company's library: uploaded audio (any format, stored as 8 kHz mono WAV), or
    none yet: then its maker records it by phone, dialling `record_code`."""

    audio = serializers.FileField(
        write_only=True,
        required=False,
        help_text="An audio file (multipart upload): WAV, MP3, Ogg, FLAC...; without it the message waits to be "
        "recorded by phone.",
    )
    created_by = serializers.IntegerField(source="created_by_id", read_only=True, help_text="Its maker's account id.")
    record_code = serializers.SerializerMethodField(help_text="What its maker's phone dials to record it (again).")

    class Meta:
        model = Message
        fields = ["id", "name", "audio", "seconds", "recorded", "created_by", "record_code", "created_at"]
        read_only_fields = ["seconds", "recorded", "created_at"]

    def get_record_code(self, message: Message) -> str:
        return record_code(message)


@extend_schema_field({"oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]})
class NumbersField(serializers.Field):
    """The numbers to call: a list, or text with one number a line (commas and spaces separate too)."""

    default_error_messages = {"invalid": "Send the numbers as a list, or as text with one number a line."}

    def to_internal_value(self, data) -> str:
        if isinstance(data, list) and all(isinstance(n, str | int) and not isinstance(n, bool) for n in data):
            return "\n".join(str(n) for n in data)
        if isinstance(data, str):
            return data
        self.fail("invalid")

    def to_representation(self, value) -> str:
        return value


class CountsSerializer(serializers.Serializer):
    numbers = serializers.IntegerField(source="numbers_count", help_text="Numbers the campaign calls.")
    confirmed = serializers.IntegerField(source="confirmed_count", help_text="Confirmed by the key.")
    answered = serializers.IntegerField(source="answered_count", help_text="Answered at least once.")
    waiting = serializers.IntegerField(source="waiting_count", help_text="Not called yet, or ringing now.")


class TargetSerializer(serializers.ModelSerializer):
    """One number of a campaign and how it went."""

    class Meta:
        model = Target
        fields = TARGET_COLUMNS


class CampaignSerializer(serializers.ModelSerializer):
    """A mass notification: call every number, play the message, ask for the confirming key, call
    again who did not confirm (`retries` times, `retry_seconds` apart). Created as a draft; `start`
    starts calling."""

    message = ScopedRelatedField(Message, help_text="A message of the library, with audio.")
    numbers = NumbersField(
        write_only=True, help_text="The company's extensions or outside numbers to call: a list, or one a line."
    )
    counts = CountsSerializer(source="*", read_only=True)
    created_by = serializers.IntegerField(source="created_by_id", read_only=True, help_text="Its maker's account id.")

    class Meta:
        model = Campaign
        fields = ["id", "name", "message", "numbers", "confirm_digit", "retries", "retry_seconds", "status", "counts",
                  "created_by", "created_at", "started_at", "finished_at"]  # fmt: skip
        read_only_fields = ["status", "created_at", "started_at", "finished_at"]


class CampaignDetailSerializer(CampaignSerializer):
    """A campaign with its per-number report."""

    targets = TargetSerializer(many=True, read_only=True)

    class Meta(CampaignSerializer.Meta):
        fields = [*CampaignSerializer.Meta.fields, "targets"]


class DetailQuerySerializer(PeriodSerializer):
    conference = serializers.CharField(required=False, allow_blank=True, max_length=9, help_text="A conference ID.")
    client = serializers.IntegerField(required=False, min_value=1, help_text="A company's id (provider and brands).")
    moderator = serializers.IntegerField(required=False, min_value=1, help_text="A moderator's account id.")


class ConferenceUsageRowSerializer(serializers.Serializer):
    company = serializers.CharField()
    client_id = serializers.IntegerField()
    moderator = serializers.CharField()
    moderator_id = serializers.IntegerField(allow_null=True)
    service = serializers.CharField()
    events = serializers.IntegerField(help_text="Joins (dial-in or dial-out).")
    conferences = serializers.IntegerField(help_text="Distinct conference IDs.")
    minutes = serializers.FloatField()


class ConferenceUsageTotalsSerializer(serializers.Serializer):
    events = serializers.IntegerField()
    conferences = serializers.IntegerField()
    minutes = serializers.FloatField()


class ConferenceUsageSerializer(serializers.Serializer):
    since = serializers.DateTimeField(allow_null=True)
    until = serializers.DateTimeField(allow_null=True)
    results = ConferenceUsageRowSerializer(many=True)
    totals = ConferenceUsageTotalsSerializer()


class ConferenceJoinSerializer(serializers.Serializer):
    """One join of a conference (a call record)."""

    company = serializers.CharField()
    client_id = serializers.IntegerField()
    conference = serializers.CharField()
    caller_number = serializers.CharField()
    caller_name = serializers.CharField()
    direction = serializers.ChoiceField(choices=["dial-in", "dial-out"])
    called_at = serializers.DateTimeField()
    joined_at = serializers.DateTimeField(allow_null=True)
    disconnected_at = serializers.DateTimeField()
    minutes = serializers.FloatField()
    engine = serializers.CharField()
