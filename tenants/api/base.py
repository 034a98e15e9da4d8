"""Shared API plumbing: every viewset reads through `Model.objects.restrict(actor)`."""

from __future__ import annotations

from django.http import Http404, QueryDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers, viewsets

from tenants.dates import BadMoment, read_moment
from tenants.models import Role


class ScopedViewSet(viewsets.GenericViewSet):
    """Rows come from the model's `restrict(actor)`; anything else is a 404 on detail routes."""

    model = None
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        return self.model.objects.restrict(self.request.user)

    def service_kwargs(self) -> dict:
        return {"actor": self.request.user}


class OperatorsOnly:
    """API view mixin: the operators of the client whose host is called only; anyone else (its users,
    other hosts) gets a 404."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.tenant is None or request.user.role != Role.CLIENT or request.user.client_id != request.tenant.pk:
            raise Http404


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


class RefuseUnchangeable:
    """Serializer mixin: on an update, a sent field that cannot change here (read-only, one of
    `Meta.frozen_fields`, or unknown) is a field error unless it repeats the current value; it is
    never silently ignored, so a 200 means every field sent was applied."""

    CANNOT_CHANGE = "This field cannot be changed here."

    def to_internal_value(self, data):
        if self.instance is None or not isinstance(data, dict | QueryDict):
            return super().to_internal_value(data)
        frozen = set(getattr(self.Meta, "frozen_fields", ()))
        current = self.to_representation(self.instance)
        refused = {}
        for name in data:
            field = self.fields.get(name)
            if field is None:
                refused[name] = ["Unknown field."]
            elif field.read_only and not _same(data[name], current.get(name)):
                refused[name] = [self.CANNOT_CHANGE]
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if refused and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **refused}) from exc
            raise
        for name in frozen & set(data):
            field = self.fields[name]
            sent = value.get(field.source)
            if not _same(None if sent is None else field.to_representation(sent), current.get(name)):
                refused[name] = [self.CANNOT_CHANGE]
        if refused:
            raise serializers.ValidationError(refused)
        return value


def _same(sent, current) -> bool:
    """A sent value repeats the current one (form posts send text: 3 and "3" are the same)."""
    return sent == current or (current is not None and str(sent).lower() == str(current).lower())


@extend_schema_field(OpenApiTypes.DATETIME)
class MomentField(serializers.Field):
    """An ISO date (its midnight in UTC, the API's zone) or date-time (tenants.dates.read_moment): one
    that cannot be read or held is a field error."""

    def to_internal_value(self, data):
        try:
            return read_moment(str(data))
        except BadMoment as exc:
            raise serializers.ValidationError(exc.message, code="invalid") from None

    def to_representation(self, value) -> str:
        return value.isoformat()


class PeriodSerializer(serializers.Serializer):
    """A period of call records for list and report queries; a bad or backwards one is a field error."""

    since = MomentField(required=False, help_text="From (included): an ISO date (midnight UTC) or date-time.")
    until = MomentField(required=False, help_text="Until (excluded): an ISO date (midnight UTC) or date-time.")

    def validate(self, data: dict) -> dict:
        if data.get("since") and data.get("until") and data["until"] <= data["since"]:
            raise serializers.ValidationError({"until": ["Until must come after since."]})
        return data
