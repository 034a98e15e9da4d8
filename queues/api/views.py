"""Queues through the API. The client's operators, as in the portal: list, read, create, PATCH (fields
and, when sent, all the members), DELETE (refused, 400, while something points at the queue).
Agents (`queues/agents/`, by the line's id): a user sees and changes their own state only (log in or
out of one queue or all, pause with a reason, unpause, their web chat settings); the client's operators
anyone's. Another
client's queue or line answers 404."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from queues import services, supervision
from queues.api.serializers import (
    AgentActionSerializer,
    AgentChatSerializer,
    AgentSerializer,
    AgentStatsSerializer,
    AllStatsSerializer,
    QueueSerializer,
    StatsQuerySerializer,
    StatsSerializer,
    SuperviseCallSerializer,
    SupervisedCallSerializer,
)
from queues.models import Queue
from queues.stats import AGENT_COLUMNS, QUEUE_COLUMNS, queue_stats
from telephony.models import Extension
from tenants.api.base import PATCH_ONLY, ClientRowViewSet, ScopedViewSet
from tenants.api.downloads import CsvMixin
from tenants.models import Role


class QueueViewSet(CsvMixin, ClientRowViewSet):
    """The client's call queues, each with its members; a queue's statistics for chosen days
    (`stats/?from=&to=`, and its agents' alone: `stats/agents/`; `&format=csv` for the rows), and every
    queue's with each agent over all of them (`queues/stats/?from=&to=`)."""

    model = Queue
    csv_actions = {"stats", "agent_stats", "all_stats"}
    serializer_class = QueueSerializer
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]
    http_method_names = PATCH_ONLY
    save_row, delete_row = staticmethod(services.queue_save), staticmethod(services.queue_delete)
    rows, prefetch = "members", ("members__extension",)

    def _stats(self, request) -> tuple[Queue, dict]:
        queue = self.get_object()
        query = StatsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        days = query.validated_data
        found = queue_stats(client=request.tenant, queues=[queue], since=days["from"], until=days["to"])
        return queue, found

    @extend_schema(parameters=[StatsQuerySerializer], responses=StatsSerializer)
    @action(detail=True, methods=["get"])
    def stats(self, request, pk=None):
        queue, found = self._stats(request)
        if self.wants_csv():
            return self.csv(QUEUE_COLUMNS, found["queues"], filename=f"queue-{queue.pk}-stats.csv")
        answer = {**found["queues"][0], "from": found["since"], "to": found["until"], "time_zone": found["time_zone"],
                  "agents": found["agents"], "days": found["days"]}  # fmt: skip
        return Response(StatsSerializer(answer).data)

    @extend_schema(parameters=[StatsQuerySerializer], responses=AllStatsSerializer, operation_id="v1_queues_stats_all")
    @action(detail=False, methods=["get"], url_path="stats")
    def all_stats(self, request):
        """Every queue of the client, and each agent over all of them (`format=csv`: the queues' rows)."""
        self._scope()  # (no client's portal: 404)
        query = StatsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        days = query.validated_data
        queues = list(self.get_queryset().order_by("name"))
        found = queue_stats(client=request.tenant, queues=queues, since=days["from"], until=days["to"])
        if self.wants_csv():
            return self.csv(QUEUE_COLUMNS, found["queues"], filename="queues-stats.csv")
        answer = {"from": found["since"], "to": found["until"], "time_zone": found["time_zone"],
                  "queues": found["queues"], "agents": found["agents"], "days": found["days"]}  # fmt: skip
        return Response(AllStatsSerializer(answer).data)

    @extend_schema(parameters=[StatsQuerySerializer], responses=AgentStatsSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="stats/agents")
    def agent_stats(self, request, pk=None):
        queue, found = self._stats(request)
        if self.wants_csv():
            return self.csv(AGENT_COLUMNS, found["agents"], filename=f"queue-{queue.pk}-agents.csv")
        return Response(AgentStatsSerializer(found["agents"], many=True).data)


CALL_ID = OpenApiParameter("id", str, OpenApiParameter.PATH, description="The call's id.")


class SupervisionViewSet(viewsets.ViewSet):
    """A queue supervisor's view (`queues/supervision/`): the live calls of their queues' agents, and
    `POST <call id>/supervise/` {mode}: their own line rings, then joins the call. Any other call
    answers 404."""

    def _client(self, request):
        if getattr(request, "tenant", None) is None or request.user.role != Role.USER:
            raise Http404
        return request.tenant

    @extend_schema(responses=SupervisedCallSerializer(many=True))
    def list(self, request):
        calls = supervision.supervised_calls(actor=request.user, client=self._client(request))
        return Response(SupervisedCallSerializer([c.__dict__ for c in calls], many=True).data)

    @extend_schema(parameters=[CALL_ID], responses=SupervisedCallSerializer)
    def retrieve(self, request, pk=None):
        found = supervision.supervised_call(actor=request.user, client=self._client(request), call=pk)
        return Response(SupervisedCallSerializer(found.__dict__).data)

    @extend_schema(parameters=[CALL_ID], request=SuperviseCallSerializer, responses=SupervisedCallSerializer)
    @action(detail=True, methods=["post"])
    def supervise(self, request, pk=None):
        client = self._client(request)
        serializer = SuperviseCallSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        found = supervision.supervision_start(actor=request.user, client=client, call=pk,
                                              mode=serializer.validated_data["mode"])  # fmt: skip
        return Response(SupervisedCallSerializer(found.__dict__).data)


class AgentViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Agents' state by line (id): a user's own, or (the client's operators) every member's."""

    model = Extension
    serializer_class = AgentSerializer

    def get_queryset(self):
        if getattr(self.request, "tenant", None) is None or self.request.user.role not in (Role.CLIENT, Role.USER):
            return Extension.objects.none()
        lines = super().get_queryset()
        return (
            lines.filter(queue_memberships__isnull=False).distinct() if self.request.user.role == Role.CLIENT else lines
        )

    def list(self, request):
        lines = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(lines)
        data = [services.agent_states(request.tenant, line) for line in (page if page is not None else lines)]
        return self.get_paginated_response(data) if page is not None else Response(data)

    def retrieve(self, request, pk=None):
        return Response(services.agent_states(request.tenant, self.get_object()))

    def _act(self, request, act: str):
        line = self.get_object()
        serializer = AgentActionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        scope = {"actor": request.user, "client": request.tenant, "extension": line}
        if act in ("login", "logout"):
            queue = None
            if serializer.validated_data.get("queue") is not None:
                queue = Queue.objects.filter(pk=serializer.validated_data["queue"]).first()
                if queue is None:
                    raise ValidationError({"queue": "No queue has this id."})
            (services.agent_login if act == "login" else services.agent_logout)(**scope, queue=queue)
        elif act == "pause":
            services.agent_pause(**scope, reason=serializer.validated_data["reason"])
        else:
            services.agent_unpause(**scope)
        return Response(services.agent_states(request.tenant, line))

    @extend_schema(request=AgentActionSerializer, responses=AgentSerializer)
    @action(detail=True, methods=["post"])
    def login(self, request, pk=None):
        return self._act(request, "login")

    @extend_schema(request=AgentActionSerializer, responses=AgentSerializer)
    @action(detail=True, methods=["post"])
    def logout(self, request, pk=None):
        return self._act(request, "logout")

    @extend_schema(request=AgentActionSerializer, responses=AgentSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self._act(request, "pause")

    @extend_schema(request=AgentActionSerializer, responses=AgentSerializer)
    @action(detail=True, methods=["post"])
    def unpause(self, request, pk=None):
        return self._act(request, "unpause")

    @extend_schema(request=AgentChatSerializer, responses=AgentSerializer)
    @action(detail=True, methods=["post"])
    def chat(self, request, pk=None):
        """The agent's web chats: how many at once, and whether during calls."""
        from chat.agents import agent_chat_settings

        line = self.get_object()
        serializer = AgentChatSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        agent_chat_settings(actor=request.user, client=request.tenant, extension=line, **serializer.validated_data)
        return Response(services.agent_states(request.tenant, line))
