"""The API of call recording: the recordings in the caller's scope (client operators: all of the
client's; users: their own calls', where the client lets them listen) with their audio, the client's
policy (its operators), and a user's own choice."""

from __future__ import annotations

import uuid

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from recordings import services
from recordings.api import serializers as s
from recordings.models import Recording
from recordings.selectors import line_modes
from telephony.models import Extension
from tenants.api.base import OperatorsOnly, ScopedViewSet
from tenants.models import Role
from tenants.views.files import ranged_file


class WavRenderer(BaseRenderer):
    """Lets a client ask for audio/wav; the view answers the file itself (errors stay JSON)."""

    media_type = "audio/wav"
    format = "wav"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return b""


class RecordingViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Call and conference recordings, newest first; ?call=<id> for one call's; audio/ serves the WAV
    file (HTTP byte ranges, for players that seek). Another client's or user's recording: 404."""

    model = Recording
    serializer_class = s.RecordingSerializer
    search_fields = ["caller", "callee", "conference"]
    ordering_fields = ["started_at", "seconds"]

    def get_queryset(self):
        if getattr(self.request, "tenant", None) is None:
            return Recording.objects.none()
        rows = super().get_queryset()
        call = self.request.query_params.get("call", "")
        if call and self.action == "list":
            try:
                rows = rows.filter(call_uuid=uuid.UUID(call))
            except ValueError:
                raise ValidationError({"call": ["A call's id (a UUID)."]}) from None
        return rows

    @extend_schema(responses={(200, "audio/wav"): bytes})
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, WavRenderer])
    def audio(self, request, pk=None):
        recording = self.get_object()
        response = ranged_file(request, services.recording_file(recording), "audio/wav")
        response["Cache-Control"] = "private, no-cache"
        response["Content-Disposition"] = f'inline; filename="recording-{recording.pk}.wav"'
        return response


class RecordingPolicyView(OperatorsOnly, APIView):
    """How the client's calls are recorded (its operators only). PUT or PATCH: every bad field is
    answered at once."""

    @extend_schema(responses=s.RecordingPolicySerializer)
    def get(self, request):
        return Response(s.RecordingPolicySerializer(services.policy_of(request.tenant)).data)

    @extend_schema(request=s.RecordingPolicySerializer, responses=s.RecordingPolicySerializer)
    def put(self, request):
        fields = {k: v for k, v in request.data.items() if k != "updated_at"} if hasattr(request.data, "items") else {}
        policy = services.policy_update(actor=request.user, client=request.tenant, **fields)
        return Response(s.RecordingPolicySerializer(policy).data)

    @extend_schema(request=s.RecordingPolicySerializer, responses=s.RecordingPolicySerializer)
    def patch(self, request):
        return self.put(request)


class MyRecordingView(APIView):
    """The calling user's own choice for their calls (client: as the company chose), where the client
    lets users choose."""

    def _extension(self, request) -> Extension:
        if request.user.role != Role.USER or request.tenant is None:
            raise Http404
        return Extension.objects.restrict(request.user).get(account_id=request.user.pk)

    @extend_schema(responses=s.LineRecordingSerializer)
    def get(self, request):
        return Response({"mode": services.line_choice_of(request.tenant, self._extension(request))})

    @extend_schema(request=s.LineRecordingSerializer, responses=s.LineRecordingSerializer)
    def put(self, request):
        extension = self._extension(request)
        mode = request.data.get("mode", "") if hasattr(request.data, "get") else ""
        mode = services.line_choice_update(actor=request.user, client=request.tenant, extension=extension,
                                           mode=mode)  # fmt: skip
        return Response({"mode": mode})


def user_recording_answer(request, extension: Extension) -> Response:
    """users/<id>/recording/ for the client's operators: GET the line's choice and what it gets now;
    PUT or PATCH `mode` (line_choice_update checks who may, and the client's policy)."""
    if request.user.role != Role.CLIENT or request.tenant is None:
        raise Http404  # a user has their own at me/recording/
    if request.method in ("PUT", "PATCH"):
        serializer = s.LineRecordingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.line_choice_update(actor=request.user, client=request.tenant, extension=extension,
                                    mode=serializer.validated_data["mode"])  # fmt: skip
    line = line_modes(request.tenant, [extension.pk])[extension.pk]
    return Response({"mode": line.choice, "effective": line.effective})
