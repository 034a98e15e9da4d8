from __future__ import annotations

from django.core.validators import ProhibitNullCharactersValidator
from django.utils.functional import lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.csvio import upload_within
from recordings.selectors import recordings_of_calls
from records.models import Cdr
from telephony.models import Block, CallerBlocking, Extension, Forwarding, Schedule, Widget
from telephony.selectors import supervisions_seen_by
from telephony.users_csv import MAX_BYTES as USERS_MAX_BYTES
from tenants.api.base import PeriodSerializer, RefuseUnchangeable
from tenants.signin import signin_locks


class ExtensionUserSerializer(RefuseUnchangeable, serializers.ModelSerializer):
    """An employee: login account and extension in one object."""

    email = serializers.EmailField(source="account.email")
    name = serializers.CharField(source="account.name", max_length=100)
    is_active = serializers.BooleanField(source="account.is_active", required=False)
    password = serializers.CharField(write_only=True, required=False, style={"input_type": "password"})
    display_name = serializers.CharField(required=False, max_length=100)
    sip_username = serializers.CharField(required=False, max_length=64)
    sip_secret = serializers.SerializerMethodField(
        help_text="The SIP secret: returned once, when the user is created or the secret reset."
    )
    signin_locked_seconds = serializers.SerializerMethodField(
        help_text="Seconds the account stays locked out of signing in after wrong passwords (0: not locked); "
        "POST unlock lifts it."
    )

    class Meta:
        model = Extension
        fields = [
            "id",
            "account_id",
            "email",
            "name",
            "is_active",
            "password",
            "number",
            "display_name",
            "may_intercept",
            "may_barge",
            "supervision_exempt",
            "sip_username",
            "sip_secret",
            "signin_locked_seconds",
            "secret_changed_at",
            "created_at",
        ]
        read_only_fields = ["account_id", "secret_changed_at", "created_at"]
        validators = []  # unique number and SIP user name are checked by the services, per field
        extra_kwargs = {"number": {"validators": []}}

    def get_sip_secret(self, extension: Extension) -> str | None:
        return self.context.get("sip_secret")

    def get_signin_locked_seconds(self, extension: Extension) -> int:
        return signin_locks([extension.account.email]).get(extension.account.email, 0)


class SecretResetSerializer(serializers.Serializer):
    sip_username = serializers.CharField(required=False, max_length=64)


class SipCredentialsSerializer(serializers.Serializer):
    number = serializers.CharField()
    display_name = serializers.CharField()
    username = serializers.CharField()
    domain = serializers.CharField()
    proxy = serializers.CharField()
    secret_changed_at = serializers.DateTimeField()


class CallSegmentSerializer(serializers.Serializer):
    """Who talked with whom, from when to when: a call has one segment per change of parties."""

    reason = serializers.ChoiceField(
        choices=["answer", "pickup", "transfer", "attended-transfer", "park", "retrieve"],
        help_text="Why the segment began; `park`: one side is empty, the other party waits in a park slot.",
    )
    caller = serializers.CharField(help_text="The number on the caller's side (empty: nobody).")
    caller_account = serializers.IntegerField(allow_null=True, help_text="Its user, when it is a user's line.")
    callee = serializers.CharField(help_text="The number on the callee's side (empty: nobody).")
    callee_account = serializers.IntegerField(allow_null=True)
    began_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True, help_text="Empty while the segment goes on.")
    seconds = serializers.IntegerField()


class CallSupervisionSerializer(serializers.Serializer):
    """A supervisor in the call: who, how, with which party, from when to when."""

    supervisor = serializers.CharField(help_text="The supervisor's line.")
    supervisor_account = serializers.IntegerField(allow_null=True)
    mode = serializers.ChoiceField(choices=["monitor", "whisper", "barge"])
    agent = serializers.ChoiceField(choices=["caller", "callee"], help_text="whisper: the side that hears it")
    agent_number = serializers.CharField(help_text="The number on the agent's side then.")
    began_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True, help_text="Empty while the supervisor is in the call.")
    seconds = serializers.IntegerField()


class NewSipSecretSerializer(SipCredentialsSerializer):
    secret = serializers.CharField(help_text="The new SIP secret, shown this once.")


class CallRecordingLinkSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField(help_text="The recording (recordings/<id>/).")
    audio = serializers.CharField(help_text="Its WAV file (byte ranges).")


class CallListSerializer(serializers.ListSerializer):
    """A page of calls: their recordings the caller may hear are read in one query for the page."""

    def to_representation(self, data):
        calls = list(data.all() if hasattr(data, "all") else data)
        request = self.context.get("request")
        if request is not None:
            self.child.heard = recordings_of_calls(actor=request.user, client=getattr(request, "tenant", None),
                                                   call_uuids=[call.call_uuid for call in calls])  # fmt: skip
        return super().to_representation(calls)


class CallSerializer(serializers.ModelSerializer):
    """A call's record: in progress while `ended_at` is empty. `callee_number` is who was dialled,
    `answered_by` the line that answered (another one after a pickup); `segments` say who talked with
    whom and for how long (transfers, park, retrieve), `supervisions` who listened in; `recordings`
    the call's recordings the caller may hear (the client's operators all; a user their own calls'
    where the client lets users listen; on the client's host only)."""

    id = serializers.UUIDField(source="call_uuid", read_only=True)
    active = serializers.SerializerMethodField()
    segments = CallSegmentSerializer(many=True, read_only=True)
    supervisions = CallSupervisionSerializer(many=True, read_only=True)
    recordings = serializers.SerializerMethodField()

    class Meta:
        model = Cdr
        fields = ["id", "active", "direction", "disposition", "caller_number", "caller_name", "callee_number",
                  "callee_name", "answered_by", "started_at", "answered_at", "ended_at", "duration", "billsec",
                  "hangup_cause", "hangup_side", "engine", "quality", "segments", "supervisions",
                  "recordings"]  # fmt: skip
        read_only_fields = fields
        list_serializer_class = CallListSerializer

    def get_active(self, cdr: Cdr) -> bool:
        return cdr.ended_at is None

    @extend_schema_field(CallRecordingLinkSerializer(many=True))
    def get_recordings(self, cdr: Cdr) -> list[dict]:
        heard = getattr(self, "heard", None)
        if heard is None:  # one call (its detail)
            request = self.context.get("request")
            if request is None:
                return []
            heard = recordings_of_calls(actor=request.user, client=getattr(request, "tenant", None),
                                        call_uuids=[cdr.call_uuid])  # fmt: skip
        return [{"id": r.pk, "url": f"/api/v1/recordings/{r.pk}/", "audio": f"/api/v1/recordings/{r.pk}/audio/"}
                for r in heard.get(cdr.call_uuid, [])]  # fmt: skip

    def to_representation(self, cdr: Cdr) -> dict:
        data = super().to_representation(cdr)
        request = self.context.get("request")
        if request is not None:
            data["supervisions"] = supervisions_seen_by(request.user, data["supervisions"])
        return data


class CallQuerySerializer(PeriodSerializer):
    """The filters of the calls list (an empty one is no filter)."""

    active = serializers.BooleanField(required=False, help_text="1 or true: only the calls in progress.")
    disposition = serializers.ChoiceField(choices=Cdr.Disposition.choices, required=False)
    direction = serializers.ChoiceField(choices=Cdr.Direction.choices, required=False)


class CallActionAnswerSerializer(serializers.Serializer):
    """What a call action answers: a sentence, and what the action chose when it chose."""

    detail = serializers.CharField()
    id = serializers.CharField(required=False, help_text="Click-to-call: the new call's id.")
    held = serializers.ChoiceField(choices=["caller", "callee"], required=False, help_text="hold: who is held.")
    leaving = serializers.ChoiceField(choices=["caller", "callee"], required=False, help_text="transfer: who left.")
    slot = serializers.IntegerField(required=False, help_text="park: the park slot.")


class RecordSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["start", "pause", "resume", "stop"],
                                     help_text="pause: silence in the file until resume (a card number).")  # fmt: skip


class HoldSerializer(serializers.Serializer):
    held = serializers.ChoiceField(choices=["caller", "callee"], required=False)


class TransferSerializer(serializers.Serializer):
    to = serializers.RegexField(r"^[0-9]{2,4}$", required=False,
                                error_messages={"invalid": "An extension number: 2 to 4 digits."})  # fmt: skip
    leaving = serializers.ChoiceField(choices=["caller", "callee"], required=False)
    consultation = serializers.UUIDField(
        required=False, help_text="Attended transfer: the consultation call whose other party this call's joins."
    )

    def validate(self, data):
        if not data.get("to") and not data.get("consultation"):
            raise serializers.ValidationError({"to": "Name the extension to transfer to, or the consultation call."})
        return data


class SuperviseSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=["monitor", "whisper", "barge"])
    agent = serializers.ChoiceField(choices=["caller", "callee"], default="callee",
                                    help_text="whisper: the party who hears the supervisor")  # fmt: skip
    line = serializers.RegexField(
        r"^[0-9]{2,4}$", required=False, help_text="The supervisor's extension, which rings (operators only)."
    )


class ParkSerializer(serializers.Serializer):
    parked = serializers.ChoiceField(choices=["caller", "callee"], required=False)


class RetrieveSerializer(serializers.Serializer):
    line = serializers.RegexField(
        r"^[0-9]{2,4}$", required=False, help_text="The extension whose phones ring to take the call (operators only)."
    )


class OriginateSerializer(serializers.Serializer):
    to = serializers.RegexField(r"^[0-9]{2,4}$", error_messages={"invalid": "An extension number: 2 to 4 digits."})
    line = serializers.RegexField(
        r"^[0-9]{2,4}$", required=False, help_text="The extension whose phones ring first (operators only)."
    )


class ScheduleSerializer(RefuseUnchangeable, serializers.ModelSerializer):
    """Office hours as lines (`mon-fri 09:00-12:30, 13:30-17:00`), holidays as dates a line; checked by
    the service, which names every bad line."""

    class Meta:
        model = Schedule
        fields = ["id", "name", "hours", "holidays", "created_at"]
        read_only_fields = ["id", "created_at"]
        # (the name's uniqueness too: the service answers every field's error at once)
        extra_kwargs = {"hours": {"required": False}, "holidays": {"required": False}, "name": {"validators": []}}


class WidgetSerializer(RefuseUnchangeable, serializers.ModelSerializer):
    """A click-to-call widget: who rings first (a user: destination_kind "user", the extension), the web
    sites allowed to use it (exact origins, one a line), on or off; its public key and the embed snippet
    to put on those sites."""

    snippet = serializers.SerializerMethodField(help_text="The <script> tag to put on the allowed web sites.")

    class Meta:
        model = Widget
        fields = ["id", "name", "destination_kind", "destination_target", "origins", "enabled", "key", "snippet",
                  "created_at"]  # fmt: skip
        read_only_fields = ["id", "key", "created_at"]
        extra_kwargs = {"name": {"validators": []}, "destination_kind": {"required": False},
                        "destination_target": {"required": False, "allow_blank": True},
                        "origins": {"required": False}}  # fmt: skip

    def get_snippet(self, widget) -> str:
        from telephony.widgets import embed_snippet

        request = self.context.get("request")
        return embed_snippet(widget, request.build_absolute_uri("/") if request is not None else "/")


class ServiceCheckedChar(serializers.CharField):
    """Text passed to the service as sent: forwarding_save names every bad value (NUL characters too)
    per field, so that one answer lists all of them."""

    def __init__(self, **kwargs):
        super().__init__(allow_blank=True, required=False, **kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)]


def _kinds_help() -> str:
    from telephony.destinations import kinds

    return "A destination kind: " + ", ".join(k.name for k in kinds()) + "; empty: not forwarded."


KIND_HELP = lazy(_kinds_help, str)()
TARGET_HELP = "Which one: an extension, a number (as the client's people dial it, or E.164), a conference id..."


class ForwardingSerializer(RefuseUnchangeable, serializers.ModelSerializer):
    """A line's call handling: do-not-disturb, forwarding when unconditional (`always`), `busy`, not
    answered after `no_answer_after` seconds (5 to 120) and `unreachable`, each a destination (a kind
    and a target), and `find_me`, an external number that rings with the line's phones (it presses 1
    to take the call while `find_me_confirm`). PUT sets all of it (a field not sent takes its default:
    not forwarded), PATCH the fields sent; every bad field is named in one answer."""

    number = serializers.CharField(source="extension.number", read_only=True, help_text="The line's extension.")
    always_kind = ServiceCheckedChar(help_text=KIND_HELP)
    always_target = ServiceCheckedChar(help_text=TARGET_HELP)
    busy_kind = ServiceCheckedChar(help_text=KIND_HELP)
    busy_target = ServiceCheckedChar(help_text=TARGET_HELP)
    no_answer_kind = ServiceCheckedChar(help_text=KIND_HELP)
    no_answer_target = ServiceCheckedChar(help_text=TARGET_HELP)
    no_answer_after = serializers.IntegerField(required=False, help_text="Seconds of ringing, 5 to 120.")
    unreachable_kind = ServiceCheckedChar(help_text=KIND_HELP)
    unreachable_target = ServiceCheckedChar(help_text=TARGET_HELP)
    find_me = ServiceCheckedChar(help_text="An external number that rings with the line's phones; empty: none.")
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="Null: never set.")

    class Meta:
        model = Forwarding
        fields = ["number", "dnd", "always_kind", "always_target", "busy_kind", "busy_target", "no_answer_kind",
                  "no_answer_target", "no_answer_after", "unreachable_kind", "unreachable_target", "find_me",
                  "find_me_confirm", "updated_at"]  # fmt: skip
        read_only_fields = ["number", "updated_at"]


class BlockSerializer(RefuseUnchangeable, serializers.ModelSerializer):
    """An entry of the blocking lists: direction inbound (a blocked caller: a number, a prefix or
    anonymous) or outbound (a blocked destination: a number or a prefix). The number or prefix is
    read as the company's people write it and answered as E.164; the service names every bad field."""

    value = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False,
                                  help_text="A number or prefix: 030 1234567, 0900, +4490.")  # fmt: skip
    note = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)

    class Meta:
        model = Block
        fields = ["id", "direction", "kind", "value", "note", "created_at"]
        read_only_fields = ["id", "created_at"]
        frozen_fields = ["direction"]
        validators = []  # (duplicates: the service answers them per field)
        extra_kwargs = {"direction": {"required": False}, "kind": {"required": False}}


class CallerBlockingSerializer(serializers.ModelSerializer):
    """What blocked callers get: decline (603), forbidden (403), or message (answered, told, hung up)."""

    updated_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="Null: never changed.")

    class Meta:
        model = CallerBlocking
        fields = ["action", "updated_at"]
        extra_kwargs = {"action": {"required": True}}


class UsersImportSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV: extension, name, email and optionally caller_name, sip_username, may_intercept, "
        "may_barge (true or false). Everyone or nobody is created."
    )

    def validate_file(self, upload):
        return upload_within(upload, USERS_MAX_BYTES)


class UsersImportResultSerializer(serializers.Serializer):
    imported = serializers.IntegerField()
    users = ExtensionUserSerializer(many=True, help_text="The new users, each with its SIP secret (shown once).")


class OwnPromptSerializer(serializers.Serializer):
    seconds = serializers.FloatField()
    updated_at = serializers.DateTimeField()


class PromptSerializer(serializers.Serializer):
    """One of the platform's prompts as the client's callers hear it: what it says in the client's
    language, and the client's own recording that replaces it (null: the platform's is played)."""

    name = serializers.CharField(read_only=True)
    text = serializers.CharField(read_only=True, help_text="What the platform's prompt says, in the client's language.")
    language = serializers.CharField(read_only=True)
    own = OwnPromptSerializer(read_only=True, allow_null=True, help_text="The client's recording, if it has one.")


class PromptUploadSerializer(serializers.Serializer):
    audio = serializers.FileField(required=False, help_text="An audio file (multipart upload): WAV, MP3, Ogg, FLAC...; "
                                  "at most 2 minutes; kept as 8 kHz mono WAV.")  # fmt: skip
