"""API for a client's employees (on the client's host): users with extensions and SIP credentials."""

from __future__ import annotations

from django.db import transaction
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.csvio import csv_response
from recordings.api.serializers import LineRecordingSerializer, UserRecordingSerializer
from recordings.api.views import user_recording_answer
from records.models import Cdr
from telephony import prompts, services, widgets
from telephony.api import serializers as s
from telephony.control import (
    call_hangup,
    call_hold,
    call_join,
    call_originate,
    call_park,
    call_record,
    call_resume,
    call_retrieve,
    call_supervise,
    call_transfer,
)
from telephony.models import Block, Extension, Forwarding, Schedule, Widget
from telephony.selectors import acting_line, sip_credentials
from telephony.users_csv import COLUMNS as USER_COLUMNS
from telephony.users_csv import UsersInvalid, users_csv_rows
from tenants.api.base import ClientRowViewSet, OperatorsOnly, ScopedViewSet, changed_fields
from tenants.api.downloads import csv_invalid_answer
from tenants.api.schema import error_answers
from tenants.models import Role
from tenants.services import account_set_password, account_unlock, account_update
from tenants.views.files import ranged_file

# Call handling: do-not-disturb, forwarding and find-me, a user's own and their operators' --------------

FORWARDING_DEFAULTS = {name: Forwarding._meta.get_field(name).get_default() for name in services.FORWARDING_FIELDS}


def forwarding_answer(request, extension: Extension) -> Response:
    """GET the line's call handling; PUT all of it (what is not sent takes its default), PATCH the
    fields sent. forwarding_save checks who may and every field."""
    current = services.forwarding_of(request.tenant, extension)
    if request.method == "GET":
        return Response(s.ForwardingSerializer(current).data)
    partial = request.method == "PATCH"
    serializer = s.ForwardingSerializer(current, data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    fields = changed_fields(serializer) if partial else {**FORWARDING_DEFAULTS, **changed_fields(serializer)}
    saved = services.forwarding_save(actor=request.user, client=request.tenant, extension=extension, **fields)
    return Response(s.ForwardingSerializer(saved).data)


def _with_forwarding_schema(view):
    """The document's GET, PUT and PATCH of a line's call handling."""
    view = extend_schema(methods=["GET"], request=None, responses=s.ForwardingSerializer)(view)
    return extend_schema(methods=["PUT", "PATCH"], request=s.ForwardingSerializer, responses=s.ForwardingSerializer)(
        view
    )


class UserViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Employees of the client whose host is called; the client's operators manage them."""

    model = Extension
    serializer_class = s.ExtensionUserSerializer
    search_fields = ["number", "display_name", "sip_username", "account__email", "account__name"]
    ordering_fields = ["number", "display_name", "created_at"]

    def get_queryset(self):
        if self.request.tenant is None:  # platform and brand hosts have no employees
            return Extension.objects.none()
        return super().get_queryset().select_related("account")

    def service_kwargs(self) -> dict:
        return {"actor": self.request.user, "client": self.request.tenant}

    def create(self, request):
        if request.tenant is None:
            raise Http404
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        extension, secret = services.extension_create(
            **self.service_kwargs(),
            email=data["account"]["email"],
            name=data["account"]["name"],
            password=data.get("password", ""),
            number=data["number"],
            display_name=data.get("display_name", ""),
            sip_username=data.get("sip_username", ""),
        )
        return Response(
            s.ExtensionUserSerializer(extension, context={"sip_secret": secret}).data, status=status.HTTP_201_CREATED
        )

    def partial_update(self, request, pk=None):
        extension = self.get_object()
        serializer = self.get_serializer(extension, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = changed_fields(serializer)
        fields.pop("account", None)
        # e-mail, name and active flag have sources under `account`: all of them that were sent.
        account_fields = serializer.validated_data.get("account", {})
        fields.pop("password", None)
        if fields.get("sip_username", extension.sip_username) != extension.sip_username:
            raise ValidationError({"sip_username": "The SIP user name changes with a new secret: use reset-secret."})
        fields.pop("sip_username", None)
        with transaction.atomic():  # all of the change or none of it
            if account_fields:
                account_update(actor=request.user, account=extension.account, **account_fields)
            if "password" in serializer.validated_data:
                account_set_password(
                    actor=request.user, account=extension.account, password=serializer.validated_data["password"]
                )
            if fields:
                extension = services.extension_update(**self.service_kwargs(), extension=extension, **fields)
        return Response(self.get_serializer(extension).data)

    def destroy(self, request, pk=None):
        services.extension_delete(**self.service_kwargs(), extension=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request={"multipart/form-data": s.UsersImportSerializer},
        responses={201: s.UsersImportResultSerializer},
    )
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser, FormParser])
    def import_csv(self, request):
        """Create users from a CSV file, all or nobody (the portal's import): every bad row is named
        by line and column in `problems`; the new users come back with their SIP secrets, once."""
        if request.tenant is None or request.user.role != Role.CLIENT:
            raise Http404
        serializer = s.UsersImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            created = services.users_import(**self.service_kwargs(), data=serializer.validated_data["file"].read())
        except UsersInvalid as exc:
            return csv_invalid_answer(exc)
        users = [s.ExtensionUserSerializer(e, context={"sip_secret": secret}).data for e, secret in created]
        return Response({"imported": len(users), "users": users}, status=status.HTTP_201_CREATED)

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    @action(detail=False, methods=["get"], url_path="export")
    def export_csv(self, request):
        """The client's users as CSV, in the import's columns: no password, no SIP secret."""
        if request.tenant is None or request.user.role != Role.CLIENT:
            raise Http404
        rows = list(users_csv_rows(self.get_queryset()))
        return csv_response(request, USER_COLUMNS, rows, filename=f"users-{request.tenant.slug}.csv")

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def unlock(self, request, pk=None):
        """Lift the sign-in lock that wrong passwords put on the employee's account."""
        extension = self.get_object()
        account_unlock(actor=request.user, account=extension.account)
        return Response(self.get_serializer(extension).data)

    @_with_forwarding_schema
    @action(detail=True, methods=["get", "put", "patch"])
    def forwarding(self, request, pk=None):
        """The user's call handling, for the client's operators: do-not-disturb, forwarding and find-me."""
        if request.user.role != Role.CLIENT:
            raise Http404  # a user has their own at me/forwarding/
        return forwarding_answer(request, self.get_object())

    @extend_schema(methods=["GET"], request=None, responses=UserRecordingSerializer)
    @extend_schema(methods=["PUT", "PATCH"], request=LineRecordingSerializer, responses=UserRecordingSerializer)
    @action(detail=True, methods=["get", "put", "patch"])
    def recording(self, request, pk=None):
        """How the user's calls are recorded, for the client's operators: their own choice (where the
        client lets users choose) and what their line gets now."""
        if request.user.role != Role.CLIENT:
            raise Http404  # a user has their own at me/recording/
        return user_recording_answer(request, self.get_object())

    @extend_schema(request=s.SecretResetSerializer, responses=s.ExtensionUserSerializer)
    @action(detail=True, methods=["post"], url_path="reset-secret")
    def reset_secret(self, request, pk=None):
        extension = self.get_object()
        serializer = s.SecretResetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        secret = services.extension_reset_secret(
            **self.service_kwargs(), extension=extension, sip_username=serializer.validated_data.get("sip_username")
        )
        return Response(s.ExtensionUserSerializer(extension, context={"sip_secret": secret}).data)


class OwnLine:
    """An API view about the calling employee's own line (any other role: 404)."""

    def _extension(self, request) -> Extension:
        if request.user.role != Role.USER or request.tenant is None:
            raise Http404
        return Extension.objects.restrict(request.user).get(account_id=request.user.pk)


class MySipView(OwnLine, APIView):
    """The calling employee's SIP credentials (the secret itself is never shown again)."""

    @extend_schema(responses=s.SipCredentialsSerializer)
    def get(self, request):
        return Response(sip_credentials(client=request.tenant, extension=self._extension(request)))

    @extend_schema(request=None, responses=s.NewSipSecretSerializer)
    def post(self, request):
        """Reset my SIP secret: the answer carries the new secret, once."""
        extension = self._extension(request)
        secret = services.extension_reset_secret(actor=request.user, client=request.tenant, extension=extension)
        return Response({**sip_credentials(client=request.tenant, extension=extension), "secret": secret})


class MyForwardingView(OwnLine, APIView):
    """The calling employee's call handling (see users/<id>/forwarding/ for their operators)."""

    @_with_forwarding_schema
    def get(self, request):
        return forwarding_answer(request, self._extension(request))

    @_with_forwarding_schema
    def put(self, request):
        return forwarding_answer(request, self._extension(request))

    @_with_forwarding_schema
    def patch(self, request):
        return forwarding_answer(request, self._extension(request))


ENGINE_ERRORS = error_answers(409, 503)  # the call's state, or no engine answered (telephony.control)


class CallViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Calls in the caller's scope, newest first: ?active=1 for the calls in progress; since, until
    (ISO dates or times), disposition and direction filter the history; hangup ends one."""

    model = Cdr
    serializer_class = s.CallSerializer
    lookup_field = "call_uuid"
    lookup_url_kwarg = "pk"
    lookup_value_regex = r"[0-9a-fA-F-]{36}"
    search_fields = ["caller_number", "callee_number", "caller_name", "callee_name", "answered_by"]
    ordering_fields = ["started_at", "duration", "billsec"]

    def get_queryset(self):
        calls = super().get_queryset()
        if self.action != "list":
            return calls
        query = s.CallQuerySerializer(data={k: v for k, v in self.request.query_params.items() if v != ""})
        query.is_valid(raise_exception=True)
        q = query.validated_data
        calls = calls.started_within(q.get("since"), q.get("until"))
        for name in ("disposition", "direction"):
            if q.get(name):
                calls = calls.filter(**{name: q[name]})
        return calls.active() if q.get("active") else calls

    @extend_schema(parameters=[s.CallQuerySerializer])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.OriginateSerializer, responses={202: s.CallActionAnswerSerializer, **ENGINE_ERRORS})
    def create(self, request):
        """Click-to-call: ring the line's phones, then call "to" once answered (a user's own line; an
        operator names the line)."""
        if request.tenant is None:
            raise Http404
        serializer = s.OriginateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        extension = self._line(request, data, "Name an existing extension whose phones ring first.")
        call_id = call_originate(actor=request.user, client=request.tenant, to=data["to"], extension=extension)
        return Response({"id": call_id, "detail": f"Calling {extension.number}, then {data['to']}."},
                        status=status.HTTP_202_ACCEPTED)  # fmt: skip

    @extend_schema(request=None, responses={202: s.CallActionAnswerSerializer, **ENGINE_ERRORS})
    @action(detail=True, methods=["post"])
    def hangup(self, request, pk=None):
        call_hangup(actor=request.user, cdr=self.get_object())
        return Response({"detail": "Hanging up."}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=s.HoldSerializer, responses={200: s.CallActionAnswerSerializer, **ENGINE_ERRORS})
    @action(detail=True, methods=["post"])
    def hold(self, request, pk=None):
        """Music on hold for one party ("held": caller or callee; by default the actor's other party)."""
        serializer = s.HoldSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        held = call_hold(actor=request.user, cdr=self.get_object(), held=serializer.validated_data.get("held"))
        return Response({"detail": f"The {held} is on hold.", "held": held})

    @extend_schema(request=s.TransferSerializer, responses={200: s.CallActionAnswerSerializer, **ENGINE_ERRORS})
    @action(detail=True, methods=["post"])
    def transfer(self, request, pk=None):
        """Blind transfer: "leaving" (by default the actor) goes, the other party is put through to "to".
        Attended transfer: "consultation" names the actor's other call; the line in both leaves them
        and the two other parties talk."""
        serializer = s.TransferSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data.get("consultation"):
            other = Cdr.objects.restrict(request.user).filter(call_uuid=data["consultation"]).first()
            if other is None:
                raise ValidationError({"consultation": ["No such call of yours."]})
            call_join(actor=request.user, cdr=self.get_object(), other=other)
            return Response({"detail": "Transferred: the other parties of both calls talk."})
        leaving = call_transfer(actor=request.user, cdr=self.get_object(), to=data["to"], leaving=data.get("leaving"))
        return Response({"detail": f"Transferred to {data['to']}.", "leaving": leaving})

    @extend_schema(request=s.ParkSerializer, responses={200: s.CallActionAnswerSerializer, **ENGINE_ERRORS})
    @action(detail=True, methods=["post"])
    def park(self, request, pk=None):
        """Park a party ("parked": caller or callee; by default the actor's other party) in the first free
        slot; the other party is let go. Any line takes it back by dialling *71<slot>."""
        serializer = s.ParkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        slot = call_park(actor=request.user, cdr=self.get_object(), parked=serializer.validated_data.get("parked"))
        return Response({"detail": f"Parked in slot {slot}; dial *71{slot} to take it back.", "slot": slot})

    @extend_schema(request=s.RetrieveSerializer, responses={200: s.CallActionAnswerSerializer, **ENGINE_ERRORS})
    @action(detail=True, methods=["post"], url_path="retrieve")
    def unpark(self, request, pk=None):
        """Take a parked call back: the actor's line rings (an operator names the line) and is joined to
        the parked party once answered."""
        serializer = s.RetrieveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        extension = self._line(request, serializer.validated_data, "Name an existing extension to ring.")
        call_retrieve(actor=request.user, cdr=self.get_object(), extension=extension)
        return Response({"detail": f"Retrieved to {extension.number}."})

    @extend_schema(request=s.SuperviseSerializer, responses={200: s.CallActionAnswerSerializer, **ENGINE_ERRORS})
    @action(detail=True, methods=["post"])
    def supervise(self, request, pk=None):
        """Monitor, whisper or barge: the supervisor's line rings (a user's own; an operator names the
        line), and joins the call once answered. Only lines the operators allowed to."""
        serializer = s.SuperviseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        extension = self._line(request, data, "Name an existing extension to ring.")
        call_supervise(actor=request.user, cdr=self.get_object(), extension=extension, mode=data["mode"],
                       agent=data["agent"])  # fmt: skip
        return Response({"detail": f"{extension.number} joined the call ({data['mode']})."})

    def _line(self, request, data: dict, problem: str) -> Extension:
        """The line an action rings: a user's own, or the one an operator names in "line"."""
        extension = acting_line(request.user, data.get("line", ""))
        if extension is None:
            raise ValidationError({"line": [problem]})
        return extension

    @extend_schema(request=None, responses={200: s.CallActionAnswerSerializer, **ENGINE_ERRORS})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        call_resume(actor=request.user, cdr=self.get_object())
        return Response({"detail": "Resumed."})

    @extend_schema(request=s.RecordSerializer, responses={200: s.CallActionAnswerSerializer, **ENGINE_ERRORS})
    @action(detail=True, methods=["post"])
    def record(self, request, pk=None):
        """Recording, where the client's policy lets it be started ("on demand") or paused: "action" start,
        pause (silence in the file meanwhile), resume or stop (not for a call always recorded)."""
        serializer = s.RecordSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        done = serializer.validated_data["action"]
        call_record(actor=request.user, cdr=self.get_object(), action=done)
        words = {"start": "Recording.", "pause": "Recording paused.", "resume": "Recording again.", "stop": "Stopped."}
        return Response({"detail": words[done]})


class ScheduleViewSet(ClientRowViewSet):
    """The client's office hours and holidays, which its numbers may follow (its operators only)."""

    model = Schedule
    serializer_class = s.ScheduleSerializer
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]
    save_row = staticmethod(services.schedule_save)
    delete_row = staticmethod(services.schedule_delete)


class WidgetViewSet(ClientRowViewSet):
    """The client's click-to-call widgets for its web sites (telephony/widgets.py), each with its embed snippet."""

    model = Widget
    serializer_class = s.WidgetSerializer
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]
    save_row = staticmethod(widgets.widget_save)
    delete_row = staticmethod(widgets.widget_delete)


class BlockViewSet(OperatorsOnly, ClientRowViewSet):
    """The client's blocked callers (direction inbound) and blocked destinations (outbound);
    ?direction= lists one of them."""

    model = Block
    serializer_class = s.BlockSerializer
    search_fields = ["value", "note"]
    ordering_fields = ["value", "created_at"]
    save_row = staticmethod(services.block_save)
    delete_row = staticmethod(services.block_delete)

    def get_queryset(self):
        rows = super().get_queryset()
        direction = self.request.query_params.get("direction")
        return rows.filter(direction=direction) if direction in Block.Direction.values else rows


class CallerBlockingView(OperatorsOnly, APIView):
    """What the client's blocked callers get (decline, forbidden or message)."""

    @extend_schema(responses=s.CallerBlockingSerializer)
    def get(self, request):
        return Response(s.CallerBlockingSerializer(services.caller_blocking_of(request.tenant)).data)

    @extend_schema(request=s.CallerBlockingSerializer, responses=s.CallerBlockingSerializer)
    def put(self, request, partial: bool = False):
        current = services.caller_blocking_of(request.tenant)
        serializer = s.CallerBlockingSerializer(current, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        action = serializer.validated_data.get("action", current.action)
        setting = services.caller_blocking_update(actor=request.user, client=request.tenant, action=action)
        return Response(s.CallerBlockingSerializer(setting).data)

    @extend_schema(request=s.CallerBlockingSerializer, responses=s.CallerBlockingSerializer)
    def patch(self, request):
        return self.put(request, partial=True)


class PromptViewSet(OperatorsOnly, viewsets.ViewSet):
    """The client's prompts, by name: every prompt of the platform with what it says in the client's
    language; PUT a multipart `audio` file to replace one with the client's own recording (again to
    replace that), DELETE to go back to the platform's. `audio/?version=own` (or `platform`) is the
    recording itself, with HTTP ranges. Callers hear a change from their next call."""

    lookup_field = "name"
    lookup_value_regex = r"[0-9a-z_]+"
    parser_classes = [MultiPartParser, FormParser]
    serializer_class = s.PromptSerializer

    @extend_schema(responses=s.PromptSerializer(many=True))
    def list(self, request):
        rows = prompts.prompt_list(client=request.tenant, actor=request.user)
        return Response(s.PromptSerializer(rows, many=True).data)

    @extend_schema(responses=s.PromptSerializer)
    def retrieve(self, request, name=None):
        return Response(
            s.PromptSerializer(prompts.prompt_row(client=request.tenant, actor=request.user, name=name)).data
        )

    @extend_schema(request={"multipart/form-data": s.PromptUploadSerializer}, responses=s.PromptSerializer)
    def update(self, request, name=None):
        serializer = s.PromptUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        prompts.prompt_upload(actor=request.user, client=request.tenant, name=name,
                              upload=serializer.validated_data.get("audio"))  # fmt: skip
        return Response(
            s.PromptSerializer(prompts.prompt_row(client=request.tenant, actor=request.user, name=name)).data
        )

    @extend_schema(responses={204: None})
    def destroy(self, request, name=None):
        prompts.prompt_remove(actor=request.user, client=request.tenant, name=name)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={(200, "audio/wav"): OpenApiTypes.BINARY, (206, "audio/wav"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def audio(self, request, name=None):
        version = request.query_params.get("version", "own")
        if version == "own":
            path = prompts.own_prompt_file(request.tenant, request.user, name)
        elif version == "platform":
            path = prompts.platform_prompt_file(request.tenant, name)
        else:
            raise ValidationError({"version": ["own or platform"]})
        return ranged_file(request._request, path, "audio/wav")
