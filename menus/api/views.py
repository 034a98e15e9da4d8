"""Voice menus (`/api/v1/menus/`) and call routing rule sets (`/api/v1/routes/`) through the API (the
client's operators, as in the portal): list, read, create, PATCH (fields and, when sent, all the keys
or rules), DELETE (refused, 400, while something points at it). Another client's answers 404; users
and other portal hosts see none."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.response import Response

from menus import routing, services
from menus.api.serializers import MenuSerializer, RuleSetSerializer, rule_set_fields, service_fields
from menus.models import Menu, RuleSet
from tenants.api.base import ScopedViewSet

SENT_AS = {"greeting_message_id": "greeting_message"}


class MenuViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """The client's voice menus, each with its keys (`options`)."""

    model = Menu
    serializer_class = MenuSerializer
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]

    def get_queryset(self):
        if getattr(self.request, "tenant", None) is None:
            return Menu.objects.none()
        return super().get_queryset().prefetch_related("options")

    def _scope(self) -> dict:
        if getattr(self.request, "tenant", None) is None:
            raise Http404
        return {"actor": self.request.user, "client": self.request.tenant}

    def create(self, request):
        scope = self._scope()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        menu = services.menu_save(**scope, **service_fields(serializer.validated_data))
        return Response(self.get_serializer(self.get_queryset().get(pk=menu.pk)).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        menu = self.get_object()
        serializer = self.get_serializer(menu, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        sent = {k: v for k, v in serializer.validated_data.items() if SENT_AS.get(k, k) in request.data}
        services.menu_save(**self._scope(), menu=Menu.objects.get(pk=menu.pk), **service_fields(sent))
        return Response(self.get_serializer(self.get_queryset().get(pk=menu.pk)).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        services.menu_delete(**self._scope(), menu=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class RuleSetViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """The client's call routing rule sets, each with its rules in order (`rules`)."""

    model = RuleSet
    serializer_class = RuleSetSerializer
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]

    def get_queryset(self):
        if getattr(self.request, "tenant", None) is None:
            return RuleSet.objects.none()
        return super().get_queryset().prefetch_related("rules")

    def _scope(self) -> dict:
        if getattr(self.request, "tenant", None) is None:
            raise Http404
        return {"actor": self.request.user, "client": self.request.tenant}

    def create(self, request):
        scope = self._scope()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rule_set = routing.route_save(**scope, **rule_set_fields(serializer.validated_data))
        data = self.get_serializer(self.get_queryset().get(pk=rule_set.pk)).data
        return Response(data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        rule_set = self.get_object()
        serializer = self.get_serializer(rule_set, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        sent = {k: v for k, v in serializer.validated_data.items() if k in request.data}
        routing.route_save(**self._scope(), rule_set=RuleSet.objects.get(pk=rule_set.pk), **rule_set_fields(sent))
        return Response(self.get_serializer(self.get_queryset().get(pk=rule_set.pk)).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        routing.route_delete(**self._scope(), rule_set=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
