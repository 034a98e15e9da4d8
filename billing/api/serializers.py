from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.csvio import upload_within
from billing.decks import MAX_BYTES
from billing.models import MONEY, Carrier, PricingPlan, Rate, RateDeck
from billing.usage import GROUPS, SERVICES
from tenants.api.base import PeriodSerializer, ScopedRelatedField
from tenants.models import Brand, Client


def money(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(**MONEY, **kwargs)


class CarrierSerializer(serializers.ModelSerializer):
    brand = ScopedRelatedField(
        Brand,
        required=False,
        allow_null=True,
        help_text="Whose carrier: null, the platform's (god only); a brand operator's carriers are its own.",
    )
    deck = serializers.SerializerMethodField(help_text="The id of the carrier's cost deck.")

    class Meta:
        model = Carrier
        fields = ["id", "name", "brand", "priority", "enabled", "max_calls", "number_format", "country", "codecs",
                  "deck", "created_at"]  # fmt: skip
        read_only_fields = ["created_at"]
        validators = []
        extra_kwargs = {"name": {"validators": []}}  # the service names a clash

    def get_deck(self, carrier: Carrier) -> int | None:
        deck = carrier.decks.first()
        return deck.pk if deck else None


class GatewayStateSerializer(serializers.Serializer):
    """A gateway's state as the edge that keeps it last found it (times in UTC)."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    service = serializers.ChoiceField(["in service", "out of service", "not checked yet", "disabled"])
    since = serializers.DateTimeField(allow_null=True, help_text="When it went in or out of service (to a minute).")
    checked_at = serializers.DateTimeField(allow_null=True, help_text="The last OPTIONS ping's answer or timeout.")
    missed = serializers.IntegerField(help_text="Pings unanswered in a row.")
    last_answer = serializers.CharField(allow_null=True, help_text="The last answer to OPTIONS, such as 200 OK.")
    rtt_ms = serializers.FloatField(allow_null=True, help_text="Its round trip, in milliseconds.")
    registration = serializers.ChoiceField(["not registering", "registered", "failing", "not registered yet"])
    registration_answer = serializers.CharField(allow_null=True, help_text="The registrar's last answer.")
    registered_until = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class HealthFiguresSerializer(serializers.Serializer):
    state = serializers.ChoiceField(["in", "down", "out", "trial"],
                                    help_text="in: tried in its place; down: tried last; out: not tried.")  # fmt: skip
    calls = serializers.IntegerField(help_text="Calls in the window judged.")
    asr = serializers.FloatField(allow_null=True, help_text="Answer-seizure ratio, percent.")
    acd = serializers.FloatField(allow_null=True, help_text="Average call duration, seconds.")
    pdd = serializers.FloatField(allow_null=True, help_text="Average post-dial delay, seconds.")
    server_errors = serializers.FloatField(allow_null=True, help_text="5xx answers and timeouts, percent.")


class HealthNowSerializer(HealthFiguresSerializer):
    streak = serializers.IntegerField(help_text="Failures in a row.")
    reason = serializers.CharField(help_text="Why routing treats it so.")


class HealthSampleSerializer(HealthFiguresSerializer):
    at = serializers.IntegerField(help_text="When (Unix time); one sample a minute, the last 24 hours.")


class CarrierDetailSerializer(CarrierSerializer):
    gateway_states = serializers.SerializerMethodField(help_text="Each gateway's state now.")
    health = serializers.SerializerMethodField(help_text="The carrier's health now, as routing judges it.")
    health_history = serializers.SerializerMethodField(help_text="Samples of its health, oldest first.")

    class Meta(CarrierSerializer.Meta):
        fields = [*CarrierSerializer.Meta.fields, "gateway_states", "health", "health_history"]

    @extend_schema_field(GatewayStateSerializer(many=True))
    def get_gateway_states(self, carrier: Carrier) -> list[dict]:
        from pstn.carrier_health import gateway_status, gateway_status_json

        return [gateway_status_json(row) for row in gateway_status(carrier.gateways.all())]

    @extend_schema_field(HealthNowSerializer)
    def get_health(self, carrier: Carrier) -> dict:
        from pstn.carrier_health import carrier_health_now, health_dict

        return health_dict(carrier_health_now([carrier])[carrier.pk])

    @extend_schema_field(HealthSampleSerializer(many=True))
    def get_health_history(self, carrier: Carrier) -> list[dict]:
        from pstn.carrier_health import carrier_health_history

        return carrier_health_history(carrier.pk)


class RateDeckSerializer(serializers.ModelSerializer):
    brand = ScopedRelatedField(
        Brand,
        required=False,
        allow_null=True,
        help_text="God names the brand; a brand's decks are its own. Null: a carrier's cost deck.",
    )
    rate_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = RateDeck
        fields = ["id", "name", "brand", "carrier", "currency", "rate_count", "created_at", "updated_at"]
        read_only_fields = ["carrier", "created_at", "updated_at"]
        validators = []  # a name clash within the brand is the service's field error
        extra_kwargs = {"currency": {"validators": []}}  # checked by the service once upper-cased


class DeckQuerySerializer(serializers.Serializer):
    brand = serializers.IntegerField(required=False, min_value=1, help_text="Only this brand's decks.")
    carrier = serializers.IntegerField(required=False, min_value=1, help_text="Only this carrier's deck (god).")


class RateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Rate
        fields = [
            "prefix",
            "description",
            "price_per_minute",
            "connection_fee",
            "initial_seconds",
            "increment_seconds",
            "effective_from",
            "effective_to",
        ]


class DeckImportSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV: prefix, description, price_per_minute and optionally connection_fee, "
        "initial_seconds, increment_seconds, effective_from, effective_to."
    )

    def validate_file(self, upload):
        return upload_within(upload, MAX_BYTES)


class DeckImportResultSerializer(serializers.Serializer):
    imported = serializers.IntegerField()


class PricingPlanSerializer(serializers.ModelSerializer):
    client = ScopedRelatedField(Client)
    deck = ScopedRelatedField(RateDeck, help_text="One of the client's brand's decks.")
    monthly_fee = money(min_value=0, required=False, help_text="Flat plans only.")
    conference_rate = money(
        min_value=0,
        required=False,
        allow_null=True,
        help_text="Per started minute of a conference join; null: joins are unrated.",
    )

    class Meta:
        model = PricingPlan
        fields = ["id", "client", "kind", "deck", "monthly_fee", "included_minutes", "conference_rate", "updated_at"]
        read_only_fields = ["updated_at"]
        validators = []
        extra_kwargs = {"client": {"validators": []}}


class MonthQuerySerializer(serializers.Serializer):
    month = serializers.RegexField(
        r"^\d{4}-(0[1-9]|1[0-2])$",
        required=False,
        error_messages={"invalid": "Give a month as YYYY-MM, such as 2026-11."},
        help_text="A calendar month in UTC; the current one by default.",
    )


@extend_schema_field({"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])$", "example": "2026-11"})
class MonthField(serializers.DateField):
    """A calendar month as YYYY-MM."""

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m", **kwargs)


class StatementSummarySerializer(serializers.Serializer):
    client_id = serializers.IntegerField()
    company = serializers.CharField()
    brand = serializers.CharField()
    month = serializers.CharField()
    plan = serializers.CharField()
    rated_calls = serializers.IntegerField()
    unrated_calls = serializers.IntegerField()
    usage_total = money()
    monthly_fee = money()
    total = money()
    currency = serializers.CharField()


class StatementListSerializer(serializers.Serializer):
    """The statements of a month: one line per client in scope."""

    month = serializers.CharField(help_text="YYYY-MM")
    results = StatementSummarySerializer(many=True)


class UsageLineSerializer(serializers.Serializer):
    service = serializers.CharField()
    direction = serializers.CharField()
    calls = serializers.IntegerField()
    answered = serializers.IntegerField()
    minutes = serializers.DecimalField(max_digits=14, decimal_places=2)


class ChargeLineSerializer(serializers.Serializer):
    service = serializers.CharField()
    description = serializers.CharField()
    calls = serializers.IntegerField()
    minutes = serializers.DecimalField(max_digits=14, decimal_places=2)
    included_minutes = serializers.DecimalField(max_digits=14, decimal_places=2)
    amount = money()


class PlanSummarySerializer(serializers.Serializer):
    kind = serializers.CharField()
    deck = serializers.IntegerField(source="deck_id")
    deck_name = serializers.CharField(source="deck.name")
    monthly_fee = money()
    included_minutes = serializers.IntegerField()
    conference_rate = money(allow_null=True)


class StatementSerializer(serializers.Serializer):
    client = serializers.IntegerField(source="client.pk")
    company = serializers.CharField(source="client.name")
    month = MonthField()
    currency = serializers.CharField()
    plan = PlanSummarySerializer(allow_null=True)
    usage = UsageLineSerializer(many=True)
    charges = ChargeLineSerializer(many=True)
    included_minutes = serializers.IntegerField()
    included_minutes_used = serializers.DecimalField(max_digits=14, decimal_places=2)
    usage_total = money()
    monthly_fee = money()
    total = money()
    unrated_calls = serializers.IntegerField(source="unrated")


class UnratedSerializer(serializers.Serializer):
    call_id = serializers.IntegerField()
    call_uuid = serializers.UUIDField()
    company = serializers.CharField()
    client_id = serializers.IntegerField()
    service = serializers.CharField()
    direction = serializers.CharField()
    caller_number = serializers.CharField()
    callee_number = serializers.CharField()
    started_at = serializers.DateTimeField()
    seconds = serializers.IntegerField()
    reason = serializers.CharField()


class RetryResultSerializer(serializers.Serializer):
    rated = serializers.IntegerField()
    unrated = serializers.IntegerField()


# Usage across services (billing/usage.py) ---------------------------------------------------------


class UsageQuerySerializer(PeriodSerializer):
    service = serializers.ChoiceField(choices=SERVICES, required=False, default="all")
    group = serializers.ChoiceField(
        choices=list(GROUPS), required=False, help_text="person, company (god, brands) or brand (god); by role."
    )
    client = serializers.IntegerField(required=False, min_value=1, help_text="A company's id.")
    person = serializers.IntegerField(required=False, min_value=1, help_text="A person's account id.")


class UsageRowSerializer(serializers.Serializer):
    brand = serializers.CharField(required=False)
    brand_id = serializers.IntegerField(required=False)
    company = serializers.CharField(required=False)
    client_id = serializers.IntegerField(required=False)
    person = serializers.CharField(required=False)
    person_id = serializers.IntegerField(required=False, allow_null=True)
    service = serializers.CharField(required=False)
    events = serializers.IntegerField()
    minutes = serializers.FloatField()
    price = money(allow_null=True)


class UsageTotalsSerializer(serializers.Serializer):
    events = serializers.IntegerField()
    minutes = serializers.FloatField()
    price = money(allow_null=True)


class DayMinutesSerializer(serializers.Serializer):
    day = serializers.DateField()
    minutes = serializers.FloatField()


class HourCallsSerializer(serializers.Serializer):
    hour = serializers.IntegerField()
    calls = serializers.IntegerField()


class UsageSerializer(serializers.Serializer):
    since = serializers.DateTimeField(allow_null=True)
    until = serializers.DateTimeField(allow_null=True)
    service = serializers.CharField()
    group = serializers.CharField()
    results = UsageRowSerializer(many=True)
    totals = UsageTotalsSerializer()
    minutes_per_day = DayMinutesSerializer(many=True)
    calls_per_hour = HourCallsSerializer(many=True)
