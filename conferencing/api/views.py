"""API for a client's conference rooms (on the client's host) and their running conferences."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from conferencing import services
from conferencing.api import serializers as s
from conferencing.live import conference_live
from conferencing.models import Room
from conferencing.selectors import live_state
from tenants.api.base import ScopedViewSet, changed_fields
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

    @extend_schema(request=None, responses=s.LiveSerializer)
    @action(detail=True, methods=["get"])
    def live(self, request, pk=None):
        """The room's running conference: participants (mute state, talking), lock and recording."""
        conference = conference_live(**self.service_kwargs(), room=self.get_object())
        return Response(s.LiveSerializer(live_state(conference)).data)

    @extend_schema(request=s.LiveActionSerializer, responses=s.LiveSerializer)
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
