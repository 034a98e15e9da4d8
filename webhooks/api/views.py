"""Webhooks through the API (the client's operators, as in the portal): endpoints (list, read,
create, PATCH, DELETE, rotate-secret), their deliveries with each attempt (list, read, replay), and
routing webhooks. Another client's rows answer 404; users and other portal hosts see none."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from tenants.api.base import ScopedViewSet, changed_fields
from webhooks import services
from webhooks.api.serializers import DeliverySerializer, EndpointSerializer, RoutingWebhookSerializer
from webhooks.models import Delivery, Endpoint, RoutingWebhook


class ClientScoped(ScopedViewSet):
    def get_queryset(self):
        if getattr(self.request, "tenant", None) is None:
            return self.model.objects.none()
        return super().get_queryset()

    def _scope(self) -> dict:
        if getattr(self.request, "tenant", None) is None:
            raise Http404
        return {"actor": self.request.user, "client": self.request.tenant}


class EndpointViewSet(ClientScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """The client's webhook endpoints: the events each receives, signed with its secret."""

    model = Endpoint
    serializer_class = EndpointSerializer
    search_fields = ["url", "description"]
    ordering_fields = ["id", "url", "created_at"]

    def create(self, request):
        scope = self._scope()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.endpoint_save(**scope, **serializer.validated_data)
        return Response(self.get_serializer(endpoint).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        endpoint = self.get_object()
        serializer = self.get_serializer(endpoint, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        saved = services.endpoint_save(**self._scope(), endpoint=endpoint, **changed_fields(serializer))
        return Response(self.get_serializer(saved).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        services.endpoint_delete(**self._scope(), endpoint=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        """A new signing secret (the old one signs nothing from now on)."""
        endpoint = services.endpoint_secret_rotate(**self._scope(), endpoint=self.get_object())
        return Response(self.get_serializer(endpoint).data)


class DeliveryViewSet(ClientScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Each event sent to an endpoint, with every attempt (time, status code, duration, error)."""

    model = Delivery
    serializer_class = DeliverySerializer
    search_fields = ["event_type"]
    ordering_fields = ["id", "created_at"]

    def get_queryset(self):
        rows = super().get_queryset().prefetch_related("tries")
        endpoint = self.request.query_params.get("endpoint")
        if endpoint is not None:
            rows = rows.filter(endpoint_id=int(endpoint)) if endpoint.isdigit() else rows.none()
        return rows

    @extend_schema(request=None, responses={202: None})
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        """Send the delivery again, as it was (the same event id), once; the attempt shows in its log."""
        services.delivery_replay(**self._scope(), delivery=self.get_object())
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)


class RoutingWebhookViewSet(ClientScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Routing webhooks: destinations (kind "webhook", target the id) where the client's server chooses."""

    model = RoutingWebhook
    serializer_class = RoutingWebhookSerializer
    search_fields = ["name", "url"]
    ordering_fields = ["name", "created_at"]

    def create(self, request):
        scope = self._scope()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        webhook = services.routing_webhook_save(**scope, **serializer.validated_data)
        return Response(self.get_serializer(webhook).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        webhook = self.get_object()
        serializer = self.get_serializer(webhook, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        saved = services.routing_webhook_save(**self._scope(), webhook=webhook, **changed_fields(serializer))
        return Response(self.get_serializer(saved).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        services.routing_webhook_delete(**self._scope(), webhook=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
