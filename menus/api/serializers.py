"""Menus' API shapes: a menu with its keys nested (`options`, all of them: a PATCH that sends
`options` replaces the menu's keys). Values are passed to the service as sent, which names every bad
one at once (a row's as `options.<row>.<field>`)."""

from __future__ import annotations

from rest_framework import serializers

from menus.models import Menu, RuleSet
from tenants.api.base import RefuseUnchangeable

LIBRARY = "A message of the company's library that has audio (null: none; else greeting_prompt, or silence)."
DESTINATION = "A destination kind (user, voicemail, menu, conference, external, hangup...) and its target."


class MenuOptionSerializer(serializers.Serializer):
    key = serializers.CharField(allow_blank=True, help_text="0-9, * or #.")
    destination_kind = serializers.CharField(allow_blank=True, help_text=DESTINATION)
    destination_target = serializers.CharField(allow_blank=True, required=False, default="",
                                               help_text="A menu's target is its id.")  # fmt: skip


class MenuSerializer(RefuseUnchangeable, serializers.ModelSerializer):
    greeting_message = serializers.IntegerField(
        source="greeting_message_id", allow_null=True, required=False, help_text=LIBRARY
    )
    options = MenuOptionSerializer(many=True, required=False, help_text="The keys (each key once).")

    class Meta:
        model = Menu
        fields = ["id", "name", "greeting_message", "greeting_prompt", "direct_dial", "timeout", "retries",
                  "timeout_kind", "timeout_target", "invalid_kind", "invalid_target", "options", "created_at",
                  "updated_at"]  # fmt: skip
        read_only_fields = ["id", "created_at", "updated_at"]
        # The service checks them with the other fields, so every bad one is said at once.
        extra_kwargs = {"name": {"validators": [], "required": False, "allow_blank": True},
                        "timeout": {"min_value": None, "max_value": None},
                        "retries": {"min_value": None, "max_value": None}}  # fmt: skip

    def to_representation(self, menu):
        data = super().to_representation(menu)
        data["options"] = [{"key": o.key, "destination_kind": o.destination_kind,
                            "destination_target": o.destination_target} for o in menu.options.all()]  # fmt: skip
        return data


PATTERNS = "Patterns: digits, X (any digit), N (2-9), a trailing . or * for anything more, + first for E.164."


class RuleSerializer(serializers.Serializer):
    callers = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False, default=list,
                                    help_text="The caller's number matches one of these. " + PATTERNS)  # fmt: skip
    dialled = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False, default=list,
                                    help_text="The number (E.164) or extension dialled matches one.")  # fmt: skip
    schedule = serializers.IntegerField(allow_null=True, required=False, default=None,
                                        help_text="A schedule's id (null: any time).")  # fmt: skip
    when_open = serializers.BooleanField(required=False, default=True,
                                         help_text="The schedule says open (true) or closed (false).")  # fmt: skip
    destination_kind = serializers.CharField(allow_blank=True, help_text=DESTINATION)
    destination_target = serializers.CharField(allow_blank=True, required=False, default="")


class RuleSetSerializer(RefuseUnchangeable, serializers.ModelSerializer):
    rules = RuleSerializer(many=True, required=False, help_text="In order: the first that matches sends the call.")

    class Meta:
        model = RuleSet
        fields = ["id", "name", "default_kind", "default_target", "rules", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"name": {"validators": [], "required": False, "allow_blank": True}}

    def to_representation(self, rule_set):
        data = super().to_representation(rule_set)
        data["rules"] = [{"callers": r.callers, "dialled": r.dialled, "schedule": r.schedule, "when_open": r.when_open,
                          "destination_kind": r.destination_kind, "destination_target": r.destination_target}
                         for r in rule_set.rules.all()]  # fmt: skip
        return data
