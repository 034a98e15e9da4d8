from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.models import MONEY, Carrier
from pstn.models import Gateway, Number, OutboundPolicy, OutboundRoute, RouteCarrier, RoutingPolicy
from pstn.services import MAX_BULK, carriers_usable, national
from tenants.api.base import ScopedRelatedField
from tenants.models import Brand, Client, Role


@extend_schema_field(OpenApiTypes.INT)
class ScopedId(ScopedRelatedField):
    """A row in the caller's scope, by id, in a serializer without a model."""


class UsableCarrierField(serializers.PrimaryKeyRelatedField):
    """A carrier the caller's brand may use: the platform's or its own (god: any)."""

    def get_queryset(self):
        user = self.context["request"].user
        if user.role == Role.GOD:
            return Carrier.objects.all()
        if user.role == Role.BRAND:
            return carriers_usable(user.brand_id)
        return Carrier.objects.none()


class GatewaySerializer(serializers.ModelSerializer):
    carrier = ScopedRelatedField(Carrier, help_text="A carrier the caller manages.")
    password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=100, help_text="Never shown back; empty: none."
    )
    password_set = serializers.SerializerMethodField(help_text="Whether the gateway has a password.")

    class Meta:
        model = Gateway
        fields = ["id", "carrier", "name", "host", "port", "transport", "register", "username", "password",
                  "password_set", "realm", "inbound_networks", "enabled", "created_at"]  # fmt: skip
        read_only_fields = ["created_at"]
        validators = []  # the service names a clash and checks the host and the networks
        extra_kwargs = {"inbound_networks": {"help_text": "Addresses or networks (CIDR), one per line."}}

    def get_password_set(self, gateway: Gateway) -> bool:
        return bool(gateway.password)


class NumberSerializer(serializers.ModelSerializer):
    brand = ScopedRelatedField(Brand, required=False, help_text="God names the brand; a brand's numbers are its own.")
    e164 = serializers.CharField(max_length=40, help_text="E.164, such as +493012345678.")
    national = serializers.SerializerMethodField(help_text="As the client's people dial it (its country).")
    carrier = UsableCarrierField(queryset=Carrier.objects.none(), help_text="The platform's or the brand's own.")
    monthly_cost = serializers.DecimalField(**MONEY, required=False, allow_null=True, min_value=0,
                                            help_text="What it costs the brand (null for clients).")  # fmt: skip
    monthly_price = serializers.DecimalField(**MONEY, required=False, min_value=0)
    client = ScopedRelatedField(Client, required=False, allow_null=True, help_text="Null: free.")
    schedule = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**31 - 1,
                                        help_text="The client's schedule (its id); null: always open.")  # fmt: skip

    class Meta:
        model = Number
        fields = ["id", "brand", "e164", "national", "carrier", "monthly_cost", "monthly_price", "client",
                  "destination_kind", "destination_target", "schedule", "closed_kind", "closed_target",
                  "created_at"]  # fmt: skip
        read_only_fields = ["created_at"]
        validators = []

    def get_national(self, number: Number) -> str:
        country = number.client.country if number.client_id else number.carrier.country
        return national(number.e164, country)

    def to_representation(self, number: Number) -> dict:
        data = super().to_representation(number)
        if self.context["request"].user.role == Role.CLIENT:
            data["monthly_cost"] = None
        return data


class NumberBulkSerializer(serializers.Serializer):
    brand = ScopedId(Brand, required=False, help_text="God names the brand.")
    carrier = UsableCarrierField(queryset=Carrier.objects.none())
    numbers = serializers.CharField(
        max_length=200_000,
        help_text="One a line: a number or a range first-last, optionally with its monthly cost and price "
        f"(CSV). At most {MAX_BULK} numbers; every bad line is named and nothing is added.",
    )
    monthly_cost = serializers.DecimalField(**MONEY, required=False, min_value=0)
    monthly_price = serializers.DecimalField(**MONEY, required=False, min_value=0)
    client = ScopedId(Client, required=False, allow_null=True)


class NumberBulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    numbers = serializers.ListField(child=serializers.CharField())


class RouteCarrierSerializer(serializers.ModelSerializer):
    carrier = UsableCarrierField(queryset=Carrier.objects.none())
    priority = serializers.IntegerField(min_value=0, max_value=32767, required=False, default=1)
    weight = serializers.IntegerField(min_value=0, max_value=32767, required=False, default=1)

    class Meta:
        model = RouteCarrier
        fields = ["carrier", "priority", "weight"]


class OutboundRouteSerializer(serializers.ModelSerializer):
    brand = ScopedRelatedField(Brand, required=False, help_text="God names the brand.")
    pattern = serializers.CharField(
        max_length=10_000, required=False, allow_blank=True, help_text="Prefix digits, or a regular expression."
    )
    carriers = RouteCarrierSerializer(many=True, required=False, source="members",
                                      help_text="Replaced as a whole when sent.")  # fmt: skip

    class Meta:
        model = OutboundRoute
        fields = ["id", "brand", "name", "pattern_kind", "pattern", "mode", "position", "enabled", "carriers"]
        validators = []


class RoutingPolicySerializer(serializers.ModelSerializer):
    class Meta:
        model = RoutingPolicy
        fields = ["brand", "min_asr", "max_server_errors", "window"]
        read_only_fields = ["brand"]


class OutboundPolicySerializer(serializers.ModelSerializer):
    main_number = serializers.PrimaryKeyRelatedField(
        queryset=Number.objects.none(), required=False, allow_null=True, help_text="One of the client's numbers."
    )
    blocked_prefixes = serializers.CharField(max_length=20_000, required=False, allow_blank=True,
                                             help_text="E.164 prefixes never called, one per line.")  # fmt: skip

    class Meta:
        model = OutboundPolicy
        fields = ["client", "allow_national", "allow_mobile", "allow_international", "allow_premium",
                  "blocked_prefixes", "caller_id", "main_number", "international_calls_per_hour",
                  "international_minutes_per_hour"]  # fmt: skip
        read_only_fields = ["client"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        client = self.context.get("client")
        if client is not None:
            self.fields["main_number"].queryset = Number.objects.filter(client=client)
