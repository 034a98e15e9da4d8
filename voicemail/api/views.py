"""Voicemail through the API, in the same scope as the portal (`restrict(actor)`: a client's operators
every box of the client, a user their own): boxes (operators create and delete shared ones), their
greetings (GET the audio, PUT an upload, DELETE: the platform's prompt again), messages (list with
filters, PATCH folder and heard, DELETE, the audio with byte ranges), and /me/voicemail/ for the
calling user's own box. Another scope's box or message answers 404."""

from __future__ import annotations

from django.db.models import Count, Q
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.api.base import ScopedViewSet, changed_fields
from tenants.api.parsers import JSONParser
from tenants.models import Role
from tenants.views.files import ranged_file
from voicemail import services
from voicemail.api import serializers as s
from voicemail.models import GREETINGS, Mailbox, Message


def _counted(boxes):
    return boxes.select_related("extension").annotate(
        new=Count("messages", filter=Q(messages__heard=False)), total=Count("messages")).order_by("number")  # fmt: skip


class TenantScoped(ScopedViewSet):
    """Voicemail lives in a client's schema: other portal hosts (platform, brand) have none."""

    def get_queryset(self):
        if getattr(self.request, "tenant", None) is None:
            return self.model.objects.none()
        return super().get_queryset()

    def service_kwargs(self) -> dict:
        if getattr(self.request, "tenant", None) is None:
            raise Http404
        return {"actor": self.request.user, "client": self.request.tenant}


class BoxViewSet(TenantScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Voicemail boxes. Operators create shared boxes (number, name, PIN, limits, operator destination,
    mail) and change any box; a user changes their own box's PIN, operator destination and mail options.
    Every refused field is reported at once."""

    model = Mailbox
    serializer_class = s.VoicemailBoxSerializer
    search_fields = ["number", "name"]
    ordering_fields = ["number", "name"]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_queryset(self):
        return _counted(super().get_queryset())

    def _answer(self, box: Mailbox, code: int = status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=box.pk)).data, status=code)

    def create(self, request):
        scope = self.service_kwargs()  # first: another portal's host has no boxes (nor extensions to check)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        box = services.mailbox_save(**scope, **serializer.validated_data)
        return self._answer(box, status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        box = self.get_object()
        serializer = self.get_serializer(box, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.mailbox_save(**self.service_kwargs(), mailbox=Mailbox.objects.get(pk=box.pk),
                              **changed_fields(serializer))  # fmt: skip
        return self._answer(box)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        services.mailbox_delete(**self.service_kwargs(), mailbox=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request={"multipart/form-data": s.VoicemailGreetingSerializer},
        responses={200: s.VoicemailBoxSerializer},
        parameters=[OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=list(GREETINGS))],
    )
    @action(detail=True, methods=["get", "put", "delete"], url_path=r"greetings/(?P<kind>[a-z]+)")
    def greeting(self, request, pk=None, kind=""):
        """GET: the greeting's WAV (byte ranges); PUT: upload one (multipart `audio`); DELETE: remove it."""
        box = self.get_object()
        if kind not in GREETINGS:
            raise Http404
        if request.method == "GET":
            if not box.has_greeting(kind):
                raise Http404
            return ranged_file(request, box.greeting(kind), "audio/wav")
        if request.method == "DELETE":
            services.mailbox_greeting_remove(**self.service_kwargs(), mailbox=box, kind=kind)
            return self._answer(box)
        upload = s.VoicemailGreetingSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        services.mailbox_greeting_upload(**self.service_kwargs(), mailbox=box, kind=kind,
                                         upload=upload.validated_data["audio"])  # fmt: skip
        return self._answer(box)


class MessageViewSet(TenantScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Voicemail messages, newest first: ?box=, ?folder=, ?heard= filter the list; PATCH `folder` and
    `heard`; DELETE removes it and its audio; audio.wav is the WAV with byte ranges (206)."""

    model = Message
    serializer_class = s.VoicemailMessageSerializer
    search_fields = ["caller_number", "caller_name"]
    ordering_fields = ["received_at", "seconds"]

    @extend_schema(parameters=[s.VoicemailMessageQuerySerializer])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        messages = super().get_queryset()
        if self.action != "list":
            return messages
        query = s.VoicemailMessageQuerySerializer(data={k: v for k, v in self.request.query_params.items() if v != ""})
        query.is_valid(raise_exception=True)
        q = query.validated_data
        if q.get("box") is not None:
            messages = messages.filter(mailbox_id=q["box"])
        if q.get("folder"):
            messages = messages.filter(folder=q["folder"])
        if q.get("heard") is not None:
            messages = messages.filter(heard=q["heard"])
        return messages

    def partial_update(self, request, pk=None):
        message = self.get_object()
        serializer = self.get_serializer(message, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changed = changed_fields(serializer)
        if "folder" in changed:
            services.message_move(**self.service_kwargs(), message=message, folder=changed["folder"])
        if "heard" in changed:
            services.message_mark(**self.service_kwargs(), message=message, heard=changed["heard"])
        return Response(self.get_serializer(self.get_queryset().get(pk=message.pk)).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        services.message_delete(**self.service_kwargs(), message=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={(200, "audio/wav"): bytes, (206, "audio/wav"): bytes})
    def audio(self, request, pk=None):
        """The message's WAV, whole or the byte range asked for (206)."""
        response = ranged_file(request, self.get_object().path, "audio/wav")
        response["Cache-Control"] = "private, no-cache"
        return response


class MyVoicemailView(APIView):
    """The calling user's own box (GET; PATCH its PIN, operator destination and mail options); its
    messages are /api/v1/me/voicemail/messages/ (the same as /api/v1/voicemail/messages/ for a user)."""

    serializer_class = s.VoicemailBoxSerializer

    def _box(self, request) -> Mailbox:
        if request.user.role != Role.USER or getattr(request, "tenant", None) is None:
            raise Http404
        box = _counted(Mailbox.objects.restrict(request.user)).first()
        if box is None:
            raise Http404
        return box

    def get(self, request):
        return Response(s.VoicemailBoxSerializer(self._box(request), context={"request": request}).data)

    def patch(self, request):
        box = self._box(request)
        serializer = s.VoicemailBoxSerializer(box, data=request.data, partial=True, context={"request": request})
        serializer.is_valid(raise_exception=True)
        services.mailbox_save(actor=request.user, client=request.tenant, mailbox=Mailbox.objects.get(pk=box.pk),
                              **changed_fields(serializer))  # fmt: skip
        return Response(s.VoicemailBoxSerializer(self._box(request), context={"request": request}).data)
