from rest_framework import serializers

from recordings.models import LineChoice, Mode, Recording, RecordingPolicy


class RecordingSerializer(serializers.ModelSerializer):
    """A recording: a call's (stereo, the caller on the left) or a conference's; `call` is the call's
    record (calls/<id>/), `audio` where its WAV file is served (byte ranges)."""

    call = serializers.UUIDField(source="call_uuid", read_only=True, allow_null=True)
    audio = serializers.SerializerMethodField()
    recording = serializers.SerializerMethodField(help_text="True while it is being written.")

    class Meta:
        model = Recording
        fields = ["id", "kind", "call", "conference", "caller", "callee", "started_at", "ended_at", "seconds",
                  "recording", "audio"]  # fmt: skip
        read_only_fields = fields

    def get_audio(self, recording: Recording) -> str:
        return f"/api/v1/recordings/{recording.pk}/audio/"

    def get_recording(self, recording: Recording) -> bool:
        return recording.ended_at is None


class RecordingPolicySerializer(serializers.ModelSerializer):
    """How the client records calls: mode never, always or on_demand (*1 during the call, or the calls'
    record action); announce: both parties hear that the call is recorded; users_choose: users set
    their own mode (me/recording/); users_listen: users hear their own calls' recordings;
    retention_days: recordings older are removed (1 to 3650)."""

    updated_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="Null: never changed.")

    class Meta:
        model = RecordingPolicy
        fields = ["mode", "announce", "users_choose", "users_listen", "retention_days", "updated_at"]
        extra_kwargs = {"retention_days": {"min_value": None, "max_value": None}}


class LineRecordingSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=LineChoice.choices, help_text="client: as the company chose.")


class UserRecordingSerializer(LineRecordingSerializer):
    """A user's line as their operators see it: `mode` the user's own choice (client: as the company
    chose; it applies only while the client lets users choose), `effective` how the line's calls are
    recorded now."""

    effective = serializers.ChoiceField(choices=Mode.choices, read_only=True)
