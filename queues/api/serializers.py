"""Queues' API shapes: a queue with its members nested (`members`, all of them: a PATCH that sends
`members` replaces them), and an agent's state. Values are passed to the service as sent, which names
every bad one at once (a row's as `members.<row>.<field>`)."""

from __future__ import annotations

from rest_framework import serializers

from queues.models import Queue
from queues.services import FIELDS
from tenants.api.base import RefuseUnchangeable

DESTINATION = "A destination kind (user, voicemail, menu, queue, external, hangup...) and its target."


class SupervisedCallSerializer(serializers.Serializer):
    """A live call of an agent of the supervisor's queues."""

    call = serializers.CharField(help_text="The call's id.")
    agent = serializers.CharField(help_text="The agent's extension.")
    agent_side = serializers.CharField(help_text="caller or callee: the agent's side.")
    other = serializers.CharField(help_text="The number the agent talks with.")
    started_at = serializers.DateTimeField()
    answered_at = serializers.DateTimeField(allow_null=True)


class SuperviseCallSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(
        choices=["monitor", "whisper", "barge"],
        default="monitor",
        help_text="monitor: listen; whisper: talk to the agent only; barge: talk with both. Keys switch it "
        "during the session: 1 monitor, 2 whisper, 3 barge.",
    )


class QueueMemberSerializer(serializers.Serializer):
    extension = serializers.CharField(allow_blank=True, help_text="The agent's extension number.")
    penalty = serializers.IntegerField(required=False, default=0, help_text="0-99: lower tiers are offered first.")
    order = serializers.IntegerField(required=False, default=0, help_text="The place for the in_order strategy.")
    logged_in = serializers.BooleanField(read_only=True)


class QueueSerializer(RefuseUnchangeable, serializers.ModelSerializer):
    strategy = serializers.CharField(
        required=False, help_text="ring_all, longest_idle, fewest_calls, least_talk, random or in_order."
    )
    members = QueueMemberSerializer(many=True, required=False, help_text="The agents (each extension once).")
    supervisors = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        write_only=True,  # (read: to_representation, from the queue's supervisor rows)
        help_text="The supervisors' extensions (all of them): they see and supervise the agents' calls.",
    )

    class Meta:
        model = Queue
        fields = ["id", *FIELDS, "members", "supervisors", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        # The service checks them with the other fields, so every bad one is said at once.
        extra_kwargs = {
            name: {"min_value": None, "max_value": None}
            for name in (
                "ring_seconds",
                "wrapup_seconds",
                "max_wait_seconds",
                "max_callers",
                "announce_every",
                "pause_after_missed",
                "sticky_minutes",
                "service_level_seconds",
                "callback_retries",
                "callback_retry_seconds",
            )
        }
        extra_kwargs["name"] = {"validators": [], "required": False, "allow_blank": True}
        extra_kwargs["number"] = {"validators": [], "required": False, "allow_blank": True}
        extra_kwargs["max_wait_kind"] = {"help_text": DESTINATION}
        extra_kwargs["full_kind"] = {"help_text": DESTINATION}

    def to_representation(self, queue):
        data = super().to_representation(queue)
        data["members"] = [
            {"extension": m.extension.number, "penalty": m.penalty, "order": m.order, "logged_in": m.logged_in}
            for m in queue.members.all()
        ]
        data["supervisors"] = [s.extension.number for s in queue.supervisors.select_related("extension")]
        return data


class AgentQueueSerializer(serializers.Serializer):
    queue = serializers.IntegerField()
    name = serializers.CharField()
    logged_in = serializers.BooleanField()


class AgentSerializer(serializers.Serializer):
    extension = serializers.CharField(read_only=True)
    paused = serializers.BooleanField(read_only=True)
    pause_reason = serializers.CharField(read_only=True)
    paused_at = serializers.DateTimeField(read_only=True, allow_null=True)
    queues = AgentQueueSerializer(many=True, read_only=True)
    chat_limit = serializers.IntegerField(read_only=True, help_text="Web chats at once (0: none).")
    chats_during_calls = serializers.BooleanField(read_only=True)


class AgentChatSerializer(serializers.Serializer):
    """An agent's web chat settings (the fields sent change)."""

    chat_limit = serializers.IntegerField(required=False, min_value=0, max_value=20, help_text="0 to 20; 0: no chats.")
    chats_during_calls = serializers.BooleanField(required=False)


class AgentActionSerializer(serializers.Serializer):
    queue = serializers.IntegerField(
        required=False, allow_null=True, help_text="Login/logout: one queue's id (none: all the agent's queues)."
    )
    reason = serializers.CharField(required=False, allow_blank=True, default="", help_text="Pause: why.")


class StatsQuerySerializer(serializers.Serializer):
    """`from` and `to`: the days (both included, in the client's time zone); at most MAX_DAYS of them."""

    def get_fields(self):
        day = {"help_text": "A day, YYYY-MM-DD, in the client's time zone."}
        return {"from": serializers.DateField(**day), "to": serializers.DateField(**day)}

    def validate(self, data):
        from queues.stats import MAX_DAYS
        from tenants.dates import DAY_OUT_OF_RANGE, FIRST_DAY, LAST_DAY

        errors = {}
        for name in ("from", "to"):
            if not FIRST_DAY <= data[name] <= LAST_DAY:
                errors[name] = [str(DAY_OUT_OF_RANGE)]
        if not errors and data["to"] < data["from"]:
            errors["to"] = ["The last day must not come before the first."]
        elif not errors and (data["to"] - data["from"]).days >= MAX_DAYS:
            errors["to"] = [f"At most {MAX_DAYS} days at once."]
        if errors:
            raise serializers.ValidationError(errors)
        return data


class QueueStatsSerializer(serializers.Serializer):
    queue = serializers.IntegerField()
    name = serializers.CharField()
    offered = serializers.IntegerField()
    answered = serializers.IntegerField()
    abandoned = serializers.IntegerField(help_text="Hung up after waiting SHORT_ABANDON (5) seconds or more.")
    abandoned_short = serializers.IntegerField(help_text="Hung up within 5 seconds.")
    timeouts = serializers.IntegerField()
    full = serializers.IntegerField()
    callbacks = serializers.IntegerField()
    average_wait = serializers.FloatField(allow_null=True)
    longest_wait = serializers.FloatField(allow_null=True)
    service_level = serializers.FloatField(allow_null=True, help_text="% of answered calls answered in time.")
    service_level_seconds = serializers.IntegerField()
    average_talk = serializers.FloatField(allow_null=True)
    average_wrapup = serializers.FloatField(allow_null=True)
    calls_offered = serializers.IntegerField(help_text="The figures of calls alone (the above count calls and chats).")
    calls_answered = serializers.IntegerField()
    calls_abandoned = serializers.IntegerField()
    calls_average_wait = serializers.FloatField(allow_null=True)
    chats_offered = serializers.IntegerField(help_text="The figures of web chats alone.")
    chats_answered = serializers.IntegerField()
    chats_abandoned = serializers.IntegerField()
    chats_timeouts = serializers.IntegerField()
    chats_average_wait = serializers.FloatField(allow_null=True)
    chats_average_duration = serializers.FloatField(allow_null=True, help_text="Seconds from the answer to the end.")
    chats_first_response = serializers.FloatField(
        allow_null=True, help_text="Average seconds from an agent's accept to their first line."
    )


class AgentStatsSerializer(serializers.Serializer):
    agent = serializers.CharField(help_text="The agent's extension.")
    offers = serializers.IntegerField()
    answered = serializers.IntegerField()
    missed = serializers.IntegerField()
    talk = serializers.FloatField(allow_null=True, help_text="Seconds in all.")
    average_talk = serializers.FloatField(allow_null=True)
    wrapup = serializers.FloatField(allow_null=True, help_text="Seconds in all.")
    chats_answered = serializers.IntegerField(help_text="Web chats among those answered.")


class DayStatsSerializer(serializers.Serializer):
    day = serializers.DateField()
    offered = serializers.IntegerField()
    answered = serializers.IntegerField()
    abandoned = serializers.IntegerField()
    average_wait = serializers.FloatField(allow_null=True)


class StatsSerializer(QueueStatsSerializer):
    time_zone = serializers.CharField()
    agents = AgentStatsSerializer(many=True)
    days = DayStatsSerializer(many=True)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"], fields["to"] = serializers.DateField(), serializers.DateField()
        return fields


class AllStatsSerializer(serializers.Serializer):
    time_zone = serializers.CharField()
    queues = QueueStatsSerializer(many=True)
    agents = AgentStatsSerializer(many=True, help_text="Each agent over all the queues.")
    days = DayStatsSerializer(many=True)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"], fields["to"] = serializers.DateField(), serializers.DateField()
        return fields
