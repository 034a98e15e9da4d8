"""Queues through the API. The client's operators, as in the portal: list, read, create, PATCH (fields
and, when sent, all the members), DELETE (refused, 400, while something points at the queue).
Agents (`queues/agents/`, by the line's id): a user sees and changes their own state only (log in or
out of one queue or all, pause with a reason, unpause); the client's operators anyone's. Another
client's queue or line answers 404."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from queues import services, supervision
from queues.api.serializers import (
    AgentActionSerializer,
    AgentSerializer,
    QueueSerializer,
    SuperviseCallSerializer,
    SupervisedCallSerializer,
    service_fields,
)
from queues.models import Queue
from telephony.models import Extension
from tenants.api.base import ScopedViewSet
from tenants.models import Role


class QueueViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """The client's call queues, each with its members."""

    model = Queue
    serializer_class = QueueSerializer
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]

    def get_queryset(self):
        if getattr(self.request, "tenant", None) is None:
            return Queue.objects.none()
        return super().get_queryset().prefetch_related("members__extension")

    def _scope(self) -> dict:
        if getattr(self.request, "tenant", None) is None:
            raise Http404
        return {"actor": self.request.user, "client": self.request.tenant}

    def create(self, request):
        scope = self._scope()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        queue = services.queue_save(**scope, **service_fields(serializer.validated_data))
        return Response(self.get_serializer(self.get_queryset().get(pk=queue.pk)).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        queue = self.get_object()
        serializer = self.get_serializer(queue, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        sent = {k: v for k, v in serializer.validated_data.items() if k in request.data}
        services.queue_save(**self._scope(), queue=Queue.objects.get(pk=queue.pk), **service_fields(sent))
        return Response(self.get_serializer(self.get_queryset().get(pk=queue.pk)).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        services.queue_delete(**self._scope(), queue=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


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
