"""API for a client's conference rooms (on the client's host) and their running conferences, its message
library and mass-notification campaigns, and conference usage reports (every host, in its scope)."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from conferencing import notifications, services
from conferencing.api import serializers as s
from conferencing.live import conference_live
from conferencing.models import Campaign, Message, Room
from conferencing.reports import USAGE_COLUMNS, conference_detail, conference_usage
from conferencing.selectors import (
    TARGET_COLUMNS,
    campaigns_counted,
    detail_columns,
    join_row,
    live_state,
    target_row,
    usage_totals,
)
from tenants.api.base import ScopedViewSet, changed_fields
from tenants.api.downloads import CsvMixin
from tenants.api.schema import error_answers
from tenants.models import Role, User


class RoomViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Conference rooms: the client's operators manage every room and choose its moderator; a user
    manages the rooms they moderate. `live` shows and controls the room's running conference."""

    model = Room
    serializer_class = s.RoomSerializer
    search_fields = ["name", "conference_id", "access_number"]
    ordering_fields = ["name", "conference_id", "created_at"]

    def get_queryset(self):
        if getattr(self.request, "tenant", None) is None:  # platform and brand hosts have no rooms
            return Room.objects.none()
        return super().get_queryset()

    def service_kwargs(self) -> dict:
        return {"actor": self.request.user, "client": self.request.tenant}

    def _moderator(self, data: dict) -> User | None:
        """The moderator an operator chose; a user's own rooms keep the user (None for the services)."""
        moderator = data.pop("moderator", None)
        if self.request.user.role == Role.CLIENT or moderator is None:
            return moderator
        if moderator.pk != self.request.user.pk:
            raise ValidationError({"moderator": "Only the client's operators choose a room's moderator."})
        return None

    def create(self, request):
        if request.tenant is None:
            raise Http404
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        room = services.room_create(**self.service_kwargs(), moderator=self._moderator(data), **data)
        return Response(self.get_serializer(room).data, status=status.HTTP_201_CREATED)

    def update(self, request, pk=None):
        return self._save(request, partial=False)

    def partial_update(self, request, pk=None):
        return self._save(request, partial=True)

    def _save(self, request, *, partial: bool) -> Response:
        room = self.get_object()
        serializer = self.get_serializer(room, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        fields = changed_fields(serializer) if partial else dict(serializer.validated_data)
        room = services.room_update(**self.service_kwargs(), room=room, moderator=self._moderator(fields), **fields)
        return Response(self.get_serializer(room).data)

    def destroy(self, request, pk=None):
        services.room_delete(**self.service_kwargs(), room=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: s.LiveSerializer, **error_answers(409, 503)})
    @action(detail=True, methods=["get"])
    def live(self, request, pk=None):
        """The room's running conference: participants (mute state, talking), lock and recording."""
        conference = conference_live(**self.service_kwargs(), room=self.get_object())
        return Response(s.LiveSerializer(live_state(conference)).data)

    @extend_schema(request=s.LiveActionSerializer, responses={200: s.LiveSerializer, **error_answers(409, 503)})
    @live.mapping.post
    def live_control(self, request, pk=None):
        """Control the running conference: mute, unmute or kick a participant (by its id), mute-all,
        unmute-all, lock, unlock, record, stop-record, end; dial-out calls an extension into it and
        trigger calls the room's list (both start the conference when it does not run). Answers the
        conference as it is after the action (a kicked participant may still show for a moment)."""
        room = self.get_object()
        serializer = s.LiveActionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        conference = conference_live(**self.service_kwargs(), room=room, **serializer.validated_data)
        return Response(s.LiveSerializer(live_state(conference)).data)


class MessageViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """The company's message library (mass notification): operators see every message, a user the
    messages they made. Create with a multipart upload (`audio`: any audio file FFmpeg reads, at most
    5 minutes) or without one: its maker's phone then records it by dialling `record_code`
    (*89<id>). A message that a campaign uses cannot be deleted (409 `message-in-use`)."""

    model = Message
    serializer_class = s.MessageSerializer
    search_fields = ["name"]
    ordering_fields = ["name", "seconds", "created_at"]

    def get_queryset(self):
        if getattr(self.request, "tenant", None) is None:  # platform and brand hosts have no library
            return Message.objects.none()
        return super().get_queryset()

    def service_kwargs(self) -> dict:
        return {"actor": self.request.user, "client": self.request.tenant}

    def create(self, request):
        if request.tenant is None:
            raise Http404
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        message = notifications.message_create(**self.service_kwargs(), name=data["name"], upload=data.get("audio"))
        return Response(self.get_serializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None, **error_answers(409)})
    def destroy(self, request, pk=None):
        notifications.message_delete(**self.service_kwargs(), message=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class CampaignViewSet(CsvMixin, ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Mass-notification campaigns: operators see every campaign of the client, a user their own.
    Created as drafts; `start` starts calling. The detail carries the per-number report (`targets`),
    also as CSV: `report.csv`, or the detail with `?format=csv`."""

    model = Campaign
    serializer_class = s.CampaignSerializer
    csv_actions = {"retrieve", "report"}
    search_fields = ["name"]
    ordering_fields = ["name", "status", "created_at", "started_at"]

    def get_queryset(self):
        if getattr(self.request, "tenant", None) is None:
            return Campaign.objects.none()
        campaigns = campaigns_counted(super().get_queryset())
        return campaigns if self.action == "list" else campaigns.prefetch_related("targets")

    def get_serializer_class(self):
        return s.CampaignSerializer if self.action in ("list", "create") else s.CampaignDetailSerializer

    def service_kwargs(self) -> dict:
        return {"actor": self.request.user, "client": self.request.tenant}

    def _answer(self, campaign: Campaign, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=campaign.pk)  # with its counts and targets
        return Response(s.CampaignDetailSerializer(fresh, context=self.get_serializer_context()).data, status=code)

    def _report(self, campaign: Campaign):
        rows = (target_row(t) for t in campaign.targets.all())
        return self.csv(TARGET_COLUMNS, rows, filename=f"notification-{campaign.pk}-report.csv")

    @extend_schema(responses={201: s.CampaignDetailSerializer})
    def create(self, request):
        if request.tenant is None:
            raise Http404
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = notifications.campaign_create(**self.service_kwargs(), **serializer.validated_data)
        return self._answer(campaign, status.HTTP_201_CREATED)

    @extend_schema(responses={200: s.CampaignDetailSerializer, (200, "text/csv"): OpenApiTypes.STR})
    def retrieve(self, request, pk=None):
        campaign = self.get_object()
        if self.wants_csv():
            return self._report(campaign)
        return Response(self.get_serializer(campaign).data)

    @extend_schema(request=None, responses=s.CampaignDetailSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        """Start calling (a campaign starts once: a running or finished one answers a field error)."""
        campaign = notifications.campaign_start(**self.service_kwargs(), campaign=self.get_object())
        return self._answer(campaign)

    @extend_schema(operation_id="v1_campaigns_report_csv", responses={(200, "text/csv"): OpenApiTypes.STR})
    def report(self, request, pk=None):  # routed as campaigns/<id>/report.csv (conferencing/api/urls.py)
        """The per-number report as CSV: number, state, attempts, last called, answered, confirmed, cause."""
        return self._report(self.get_object())


class ConferenceUsageView(CsvMixin, APIView):
    """Conference usage in the caller's scope (the provider: every company, a brand: its companies,
    an operator: the company, a moderator: their rooms), per company and moderator: joins (events),
    distinct conferences, minutes; with totals. `?format=csv` for CSV."""

    @extend_schema(parameters=[s.PeriodSerializer],
                   responses={200: s.ConferenceUsageSerializer, (200, "text/csv"): OpenApiTypes.STR})  # fmt: skip
    def get(self, request):
        query = s.PeriodSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        period = {"since": None, "until": None, **query.validated_data}
        rows = conference_usage(request.user, **period)
        if self.wants_csv():
            return self.csv(USAGE_COLUMNS, rows, filename="conference-usage.csv")
        return Response(s.ConferenceUsageSerializer({**period, "results": rows, "totals": usage_totals(rows)}).data)


class ConferenceDetailView(CsvMixin, GenericAPIView):
    """The joins of conferences in the caller's scope, newest first (one row per participant: called
    at, joined, disconnected, minutes), narrowed by conference ID, company, moderator and period.
    `?format=csv` for CSV (every row, not a page; with the company for the provider and brands)."""

    filter_backends: list = []
    serializer_class = s.ConferenceJoinSerializer

    @extend_schema(
        parameters=[s.DetailQuerySerializer],
        responses={200: s.ConferenceJoinSerializer(many=True), (200, "text/csv"): OpenApiTypes.STR},
    )
    def get(self, request):
        query = s.DetailQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        joins = conference_detail(
            request.user, conference=q.get("conference", ""), client_id=q.get("client"),
            moderator_id=q.get("moderator"), since=q.get("since"), until=q.get("until"),
        ).select_related("client")  # fmt: skip
        if self.wants_csv():
            rows = (join_row(c) for c in joins.iterator())
            return self.csv(detail_columns(request.user), rows, filename="conference-detail.csv")
        page = self.paginate_queryset(joins)
        return self.get_paginated_response(self.get_serializer([join_row(c) for c in page], many=True).data)
