"""Chat widgets through the API (`chat/widgets/`): the client's operators, as in the portal: list, read,
create (the answer carries the identity secret, once), PATCH, DELETE, `POST <id>/rotate-secret/` (a new
secret, once). Another client's widget answers 404."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from chat import widgets
from chat.api.widget_serializers import ChatWidgetSecretSerializer, ChatWidgetSerializer, SecretSerializer
from chat.models import ChatWidget
from tenants.api.base import PATCH_ONLY, ClientRowViewSet


class ChatWidgetViewSet(ClientRowViewSet):
    """The client's chat widgets (the web sites they serve, the queue answering, look and limits)."""

    model = ChatWidget
    serializer_class = ChatWidgetSerializer
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]
    http_method_names = PATCH_ONLY
    save_row, delete_row = staticmethod(widgets.widget_save), staticmethod(widgets.widget_delete)
    row = "widget"
    renamed = {"queue_id": "queue"}

    @extend_schema(responses={201: ChatWidgetSecretSerializer})
    def create(self, request):
        scope = self._scope()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        row = self.save_row(**scope, **self._fields(serializer, sent_only=False))
        return Response(ChatWidgetSecretSerializer(row).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=SecretSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        secret = widgets.widget_rotate_secret(**self._scope(), widget=self.get_object())
        return Response({"identity_secret": secret})
