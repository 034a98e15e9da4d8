"""Ring groups' API shapes: a group with its members nested (`members`, all of them, in order: a PATCH
that sends `members` replaces them). Values are passed to the service as sent, which names every bad
one at once (a member's as `members.<row>.<field>`)."""

from __future__ import annotations

from rest_framework import serializers

from ringgroups.models import RingGroup
from tenants.api.base import RefuseUnchangeable

DESTINATION = "A destination kind (user, voicemail, menu, group, external, hangup...) and its target; empty: 480."


class GroupMemberSerializer(serializers.Serializer):
    kind = serializers.CharField(allow_blank=True, help_text="user (an extension: its devices) or external.")
    target = serializers.CharField(allow_blank=True, required=False, default="",
                                   help_text="The extension, or the external number.")  # fmt: skip


class RingGroupSerializer(RefuseUnchangeable, serializers.ModelSerializer):
    # (a strategy the model lacks is the service's field error, with the others)
    strategy = serializers.CharField(required=False, help_text="simultaneous, in_order or rotating.")
    members = GroupMemberSerializer(many=True, required=False, help_text="The members, in the order they ring.")

    class Meta:
        model = RingGroup
        fields = ["id", "name", "strategy", "ring_time", "no_answer_kind", "no_answer_target", "members",
                  "created_at", "updated_at"]  # fmt: skip
        read_only_fields = ["id", "created_at", "updated_at"]
        # The service checks them with the other fields, so every bad one is said at once.
        extra_kwargs = {"name": {"validators": [], "required": False, "allow_blank": True},
                        "ring_time": {"min_value": None, "max_value": None},
                        "no_answer_kind": {"help_text": DESTINATION}}  # fmt: skip

    def to_representation(self, group):
        data = super().to_representation(group)
        data["members"] = [{"kind": m.kind, "target": m.target} for m in group.members.all()]
        return data
