"""API shapes of the exports: the export's filters and an export job."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from exports.models import ExportJob
from exports.selectors import CdrFilter
from exports.services import export_job_progress
from records.models import Cdr
from tenants.api.base import PeriodSerializer
from tenants.models import Client


class ExportQuerySerializer(PeriodSerializer):
    client = serializers.IntegerField(required=False, min_value=1, help_text="A company's id (provider and brands).")
    service = serializers.ChoiceField(choices=Cdr.Service.choices, required=False)
    direction = serializers.ChoiceField(choices=Cdr.Direction.choices, required=False)
    bom = serializers.BooleanField(required=False, default=False, help_text="Start with a UTF-8 BOM (spreadsheets).")

    def validate_client(self, value: int) -> int:
        if not Client.objects.restrict(self.context["request"].user).filter(pk=value).exists():
            raise serializers.ValidationError("No such company in your scope.")
        return value

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
