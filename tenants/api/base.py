"""Shared API plumbing: every viewset reads through `Model.objects.restrict(actor)`."""

from __future__ import annotations

from django.http import Http404, QueryDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

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


class ClientRowViewSet(ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Rows of the client whose host is called, written only by two services of their app: `save_row`
    creates a row or changes the fields sent (PUT and PATCH alike), `delete_row` removes one (refused,
    400, while something points at it); both take the row by its name (`row`: schedule=, menu=...; the
    model's name unless said). A row may carry rows of its own (a menu's keys, a group's members:
    `rows`, prefetched with `prefetch`), all replaced when sent; `renamed` maps validated names to the
    services' (and the request's) names. Answers read the row again. Other hosts have none."""

    save_row = delete_row = None  # staticmethod(services.<row>_save), staticmethod(services.<row>_delete)
    row = ""
    rows = ""
    prefetch: tuple[str, ...] = ()
    renamed: dict[str, str] = {}

    def get_queryset(self):
        if getattr(self.request, "tenant", None) is None:
            return self.model.objects.none()
        return super().get_queryset().prefetch_related(*self.prefetch)

    def _scope(self) -> dict:
        if getattr(self.request, "tenant", None) is None:
            raise Http404
        return {"actor": self.request.user, "client": self.request.tenant}

    def _fields(self, serializer, *, sent_only: bool) -> dict:
        """The validated values as the services take them (on a change: only those the request sent)."""
        fields = {}
        for key, value in serializer.validated_data.items():
            name = self.renamed.get(key, key)
            if not sent_only or name in serializer.initial_data:
                fields[name] = [dict(row) for row in value] if name == self.rows else value
        return fields

    def create(self, request):
        scope = self._scope()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        row = self.save_row(**scope, **self._fields(serializer, sent_only=False))
        return Response(self.get_serializer(row).data, status=status.HTTP_201_CREATED)

    def update(self, request, pk=None):
        row = self.get_object()
        serializer = self.get_serializer(row, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fresh = self.model.objects.get(pk=row.pk)  # (without the rows read before the change)
        row = self.save_row(**self._scope(), **{self.row or self.model._meta.model_name: fresh},
                            **self._fields(serializer, sent_only=True))  # fmt: skip
        return Response(self.get_serializer(row).data)

    def partial_update(self, request, pk=None):
        return self.update(request, pk)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        self.delete_row(**self._scope(), **{self.row or self.model._meta.model_name: self.get_object()})
        return Response(status=status.HTTP_204_NO_CONTENT)


PATCH_ONLY = ["get", "post", "patch", "delete", "head", "options"]  # rows with rows: no PUT


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
