"""Ring groups through the API (the client's operators, as in the portal): list, read, create, PATCH
(fields and, when sent, all the members), DELETE (refused, 400, while something points at the group).
Another client's group answers 404; users and other portal hosts see none."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.response import Response

from ringgroups import services
from ringgroups.api.serializers import RingGroupSerializer, service_fields
from ringgroups.models import RingGroup
from tenants.api.base import ScopedViewSet


class RingGroupViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """The client's ring groups, each with its members (`members`, in order)."""

    model = RingGroup
    serializer_class = RingGroupSerializer
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]

    def get_queryset(self):
        if getattr(self.request, "tenant", None) is None:
            return RingGroup.objects.none()
        return super().get_queryset().prefetch_related("members")

    def _scope(self) -> dict:
        if getattr(self.request, "tenant", None) is None:
            raise Http404
        return {"actor": self.request.user, "client": self.request.tenant}

    def create(self, request):
        scope = self._scope()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        group = services.ring_group_save(**scope, **service_fields(serializer.validated_data))
        return Response(self.get_serializer(self.get_queryset().get(pk=group.pk)).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        group = self.get_object()
        serializer = self.get_serializer(group, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        sent = {k: v for k, v in serializer.validated_data.items() if k in request.data}
        services.ring_group_save(**self._scope(), group=RingGroup.objects.get(pk=group.pk), **service_fields(sent))
        return Response(self.get_serializer(self.get_queryset().get(pk=group.pk)).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        services.ring_group_delete(**self._scope(), group=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
