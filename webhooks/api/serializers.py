"""Webhooks' API shapes. Values go to the services as sent, which name every bad field at once."""

from __future__ import annotations

from rest_framework import serializers

from tenants.api.base import RefuseUnchangeable
from webhooks.models import EVENTS, Attempt, Delivery, Endpoint, RoutingWebhook

URL = "https:// (public addresses only); checked again before every POST."


class EndpointSerializer(RefuseUnchangeable, serializers.ModelSerializer):
    url = serializers.CharField(allow_blank=True, required=False, help_text=URL)
    events = serializers.ListField(child=serializers.CharField(), required=False,
                                   help_text="Any of: " + ", ".join(EVENTS) + ".")  # fmt: skip
    secret = serializers.CharField(read_only=True, help_text="Signs each POST (README: Webhooks); rotate it with "
                                                             "POST rotate-secret/.")  # fmt: skip

    class Meta:
        model = Endpoint
        fields = ["id", "url", "description", "events", "enabled", "secret", "created_at", "updated_at"]
        read_only_fields = ["id", "secret", "created_at", "updated_at"]
        extra_kwargs = {"description": {"required": False, "allow_blank": True}}


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attempt
        fields = ["at", "status_code", "duration_ms", "error", "replay"]


class DeliverySerializer(serializers.ModelSerializer):
    attempts_log = AttemptSerializer(source="tries", many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = ["id", "endpoint", "event_id", "event_type", "status", "attempts", "payload", "attempts_log",
                  "created_at", "updated_at"]  # fmt: skip
        read_only_fields = fields


class RoutingWebhookSerializer(RefuseUnchangeable, serializers.ModelSerializer):
    url = serializers.CharField(allow_blank=True, required=False, help_text=URL)
    secret = serializers.CharField(read_only=True)

    class Meta:
        model = RoutingWebhook
        fields = ["id", "name", "url", "secret", "timeout_ms", "fallback_kind", "fallback_target", "created_at",
                  "updated_at"]  # fmt: skip
        read_only_fields = ["id", "secret", "created_at", "updated_at"]
        extra_kwargs = {"name": {"validators": [], "required": False, "allow_blank": True},
                        "timeout_ms": {"min_value": None, "max_value": None, "required": False},
                        "fallback_kind": {"required": False, "allow_blank": True},
                        "fallback_target": {"required": False, "allow_blank": True}}  # fmt: skip
