"""Instant messages and presence through the API, for a client's users and operators on its host:
their conversations (list with unread counts, start, read one), a conversation's messages (history
paged backwards with `before`, send), read pointers, a message to colleagues by id, the colleagues'
directory with presence, their own presence. A conversation that is not the caller's (another
client's, or colleagues' they are not in) answers 404."""

from __future__ import annotations

from django.db import transaction
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from im import presence, selectors, services
from im.api import serializers as s
from im.models import Conversation
from tenants.api.base import ScopedViewSet
from tenants.api.schema import error_answers
from tenants.errors import NotAllowed
from tenants.models import Role


def _client(request):
    """The client whose host is called, for its own people only (other hosts: 404)."""
    client = getattr(request, "tenant", None)
    if client is None:
        raise Http404
    if request.user.role not in (Role.USER, Role.CLIENT) or request.user.client_id != client.pk:
        raise NotAllowed("Only the company's people send each other messages.")
    return client


def _conversation_shown(conversation) -> dict:
    return {"id": conversation.pk, "kind": conversation.kind, "title": conversation.title,
            "name": selectors.conversation_name(conversation),
            "members": [{"id": p.pk, "name": p.name} for p in conversation.people],
            "unread": conversation.unread, "last_message_at": conversation.last_message_at}  # fmt: skip


class ConversationViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """The caller's conversations, latest first, with their unread counts."""

    model = Conversation
    serializer_class = s.ImConversationSerializer
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self.request, "tenant", None) is None:
            return Conversation.objects.none()
        return super().get_queryset()

    def list(self, request):
        if getattr(request, "tenant", None) is None:  # other portals' hosts: none (like every client row)
            return self.get_paginated_response(self.paginate_queryset([]))
        _client(request)
        page = self.paginate_queryset(selectors.conversations_of(request.user))
        return self.get_paginated_response([_conversation_shown(c) for c in page])

    def retrieve(self, request, pk=None):
        _client(request)
        return Response(_conversation_shown(selectors.conversation_view(request.user, self.get_object())))

    @extend_schema(request=s.ImConversationStartSerializer, responses={201: s.ImConversationSerializer,
                                                                     **error_answers(429)})  # fmt: skip
    def create(self, request):
        """Start a conversation with colleagues (one: your one-to-one with them, the same one again),
        with a first message when `body` is sent."""
        client = _client(request)
        data = request.data if isinstance(request.data, dict) else {}
        with transaction.atomic():  # a conversation whose first message is refused is not kept either
            conversation = self._start(client, request, data)
        shown = _conversation_shown(selectors.conversation_view(request.user, conversation))
        return Response(shown, status=status.HTTP_201_CREATED)

    def _start(self, client, request, data: dict):
        conversation = services.conversation_start(client=client, actor=request.user, to_users=data.get("to"),
                                                   title=data.get("title") or "")  # fmt: skip
        if data.get("body") is not None:
            services.message_send(client=client, sender=request.user, conversation=conversation, body=data["body"],
                                  via="api")  # fmt: skip
        return conversation

    @extend_schema(methods=["GET"], request=None, responses=s.ImMessageSerializer(many=True), parameters=[
        OpenApiParameter("before", int, description="Messages before this message id (default: the latest)."),
        OpenApiParameter("limit", int, description="How many (default 50, at most 200)."),
    ])  # fmt: skip
    @extend_schema(methods=["POST"], request=s.ImMessageBodySerializer, responses={201: s.ImMessageSerializer,
                                                                                 **error_answers(429)})  # fmt: skip
    @action(detail=True, methods=["get", "post"])
    def messages(self, request, pk=None):
        """GET: the history, oldest first, `limit` messages before `before`. POST: send one."""
        client = _client(request)
        conversation = self.get_object()
        if request.method == "POST":
            body = request.data.get("body") if isinstance(request.data, dict) else None
            message = services.message_send(client=client, sender=request.user, conversation=conversation,
                                            body=body, via="api")  # fmt: skip
            return Response(selectors.message_shown(message, selectors.senders([message])), status=201)
        errors = {}
        numbers = {}
        for name in ("before", "limit"):
            raw = request.query_params.get(name)
            if raw not in (None, ""):
                numbers[name] = services.row_id(raw) if raw.isdigit() else None
                if numbers[name] is None:
                    errors[name] = ["A whole number from 1."]
        if errors:
            return Response({"code": "invalid", "detail": "Check the fields.", "fields": errors}, status=400)
        page = selectors.history(conversation, before=numbers.get("before"),
                                 limit=numbers.get("limit", selectors.HISTORY_PAGE))  # fmt: skip
        names = selectors.senders(page)
        return Response([selectors.message_shown(m, names) for m in page])

    @extend_schema(request=s.ImReadSerializer, responses=s.ImUnreadSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        """You read the conversation (up to `up_to`, or all): your unread total now."""
        client = _client(request)
        conversation = self.get_object()
        serializer = s.ImReadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        total = services.conversation_read(client=client, actor=request.user, conversation=conversation,
                                           up_to=serializer.validated_data.get("up_to"))  # fmt: skip
        return Response({"unread": total})


class MessageToView(APIView):
    """Send a message to colleagues by id: into your one-to-one with one of them, or a new group."""

    @extend_schema(request=s.ImMessageToSerializer, responses={201: s.ImMessageSerializer, **error_answers(429)})
    def post(self, request):
        client = _client(request)
        data = request.data if isinstance(request.data, dict) else {}
        to = data.get("to")
        message = services.message_send(client=client, sender=request.user, to_users=to if to is not None else [],
                                        body=data.get("body"), via="api")  # fmt: skip
        return Response(selectors.message_shown(message, selectors.senders([message])), status=201)


class UnreadView(APIView):
    @extend_schema(responses=s.ImUnreadSerializer)
    def get(self, request):
        """Your unread messages across your conversations."""
        _client(request)
        return Response({"unread": selectors.unread_total(request.user.pk)})


class ColleagueView(APIView):
    @extend_schema(responses=s.ImColleagueSerializer(many=True))
    def get(self, request):
        """The company's people with their extension and presence, by name."""
        return Response(presence.colleagues(_client(request)))


class PresenceView(APIView):
    @extend_schema(responses=s.ImPresenceSerializer)
    def get(self, request):
        """Your presence as your colleagues see it."""
        client = _client(request)
        return Response({"state": presence.presence_of(client, request.user.pk)})

    @extend_schema(request=s.ImPresenceSerializer, responses=s.ImPresenceSerializer)
    def put(self, request):
        """Choose available, away or dnd (do-not-disturb: your line's, as on your call handling page)."""
        client = _client(request)
        state = request.data.get("state") if isinstance(request.data, dict) else None
        presence.presence_set(client=client, actor=request.user, state=state)
        return Response({"state": presence.presence_of(client, request.user.pk)})

    @extend_schema(request=s.ImPresenceSerializer, responses=s.ImPresenceSerializer)
    def patch(self, request):
        """The same as PUT (one field)."""
        return self.put(request)
