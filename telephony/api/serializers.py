from __future__ import annotations

from rest_framework import serializers

from billing.models import Cdr
from telephony.models import Extension
from tenants.api.base import PeriodSerializer


class ExtensionUserSerializer(serializers.ModelSerializer):
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
            "sip_username",
            "sip_secret",
            "secret_changed_at",
            "created_at",
        ]
        read_only_fields = ["account_id", "secret_changed_at", "created_at"]
        validators = []  # unique number and SIP user name are checked by the services, per field
        extra_kwargs = {"number": {"validators": []}}

    def get_sip_secret(self, extension: Extension) -> str | None:
        return self.context.get("sip_secret")


class SecretResetSerializer(serializers.Serializer):
    sip_username = serializers.CharField(required=False, max_length=64)


class SipCredentialsSerializer(serializers.Serializer):
    number = serializers.CharField()
    display_name = serializers.CharField()
    username = serializers.CharField()
    domain = serializers.CharField()
    proxy = serializers.CharField()
    secret_changed_at = serializers.DateTimeField()


class NewSipSecretSerializer(SipCredentialsSerializer):
    secret = serializers.CharField(help_text="The new SIP secret, shown this once.")


class CallSerializer(serializers.ModelSerializer):
    """A call's record: in progress while `ended_at` is empty."""

    id = serializers.UUIDField(source="call_uuid", read_only=True)
    active = serializers.SerializerMethodField()

    class Meta:
        model = Cdr
        fields = ["id", "active", "direction", "disposition", "caller_number", "caller_name", "callee_number",
                  "callee_name", "started_at", "answered_at", "ended_at", "duration", "billsec", "hangup_cause",
                  "hangup_side", "engine", "quality"]  # fmt: skip
        read_only_fields = fields

    def get_active(self, cdr: Cdr) -> bool:
        return cdr.ended_at is None


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
