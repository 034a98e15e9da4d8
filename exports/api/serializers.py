"""API shapes of the exports: the export's filters and an export job."""

from __future__ import annotations

import datetime as dt

from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.models import Cdr
from exports.models import ExportJob
from exports.selectors import CdrFilter
from exports.services import export_job_progress
from tenants.models import Client


@extend_schema_field(OpenApiTypes.DATETIME)
class MomentField(serializers.Field):
    """An ISO date (its midnight in UTC) or date-time (UTC when it has no zone)."""

    default_error_messages = {"invalid": "Use an ISO date or date-time, e.g. 2026-11-30 or 2026-11-30T08:00:00Z."}

    def to_internal_value(self, data) -> dt.datetime:
        text = str(data).strip()
        try:
            moment = parse_datetime(text)
            day = parse_date(text) if moment is None else None
        except ValueError:  # well formed but impossible, like 2026-02-30
            self.fail("invalid")
        if day is not None:
            moment = dt.datetime(day.year, day.month, day.day)
        if moment is None:
            self.fail("invalid")
        return timezone.make_aware(moment, dt.UTC) if timezone.is_naive(moment) else moment

    def to_representation(self, value) -> str:
        return value.isoformat()


class ExportQuerySerializer(serializers.Serializer):
    since = MomentField(required=False, help_text="Called from (included): ISO date (midnight UTC) or date-time.")
    until = MomentField(required=False, help_text="Called until (excluded): ISO date (midnight UTC) or date-time.")
    client = serializers.IntegerField(required=False, min_value=1, help_text="A company's id (provider and brands).")
    service = serializers.ChoiceField(choices=Cdr.Service.choices, required=False)
    direction = serializers.ChoiceField(choices=Cdr.Direction.choices, required=False)
    bom = serializers.BooleanField(required=False, default=False, help_text="Start with a UTF-8 BOM (spreadsheets).")

    def validate_client(self, value: int) -> int:
        if not Client.objects.restrict(self.context["request"].user).filter(pk=value).exists():
            raise serializers.ValidationError("No such company in your scope.")
        return value

    def validate(self, data: dict) -> dict:
        if data.get("since") and data.get("until") and data["until"] <= data["since"]:
            raise serializers.ValidationError({"until": ["Until must come after since."]})
        return data

    def filters(self) -> CdrFilter:
        data = self.validated_data
        return CdrFilter(since=data.get("since"), until=data.get("until"), client=data.get("client"),
                         service=data.get("service", ""), direction=data.get("direction", ""))  # fmt: skip


class ExportJobSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField(help_text="Per cent written.")
    download = serializers.SerializerMethodField(help_text="The file, once done.")

    class Meta:
        model = ExportJob
        fields = ["id", "status", "progress", "total", "rows", "size", "filters", "bom", "error", "created_at",
                  "started_at", "finished_at", "download"]  # fmt: skip
        read_only_fields = fields

    def get_progress(self, job: ExportJob) -> int:
        return export_job_progress(job)

    def get_download(self, job: ExportJob) -> str | None:
        return reverse("cdr-export-download", args=[job.pk]) if job.status == ExportJob.Status.DONE else None
