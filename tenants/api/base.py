"""Shared API plumbing: every viewset reads through `Model.objects.restrict(actor)`."""

from __future__ import annotations

from rest_framework import serializers, viewsets


class ScopedViewSet(viewsets.GenericViewSet):
    """Rows come from the model's `restrict(actor)`; anything else is a 404 on detail routes."""

    model = None
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        return self.model.objects.restrict(self.request.user)

    def service_kwargs(self) -> dict:
        return {"actor": self.request.user}


class ScopedRelatedField(serializers.PrimaryKeyRelatedField):
    """A foreign key the caller may only point at rows in their own scope."""

    def __init__(self, model, **kwargs):
        self.model = model
        super().__init__(**kwargs)

    def get_queryset(self):
        return self.model.objects.restrict(self.context["request"].user)


def changed_fields(serializer) -> dict:
    """Validated fields that a PATCH/PUT actually sent."""
    return {key: value for key, value in serializer.validated_data.items() if key in serializer.initial_data}
