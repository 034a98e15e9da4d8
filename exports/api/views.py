"""API of the exports: `GET /api/v1/cdrs/export.csv` (streamed, or a job when too big) and the export
jobs at `/api/v1/cdr-exports/` (create, list, status with progress, download)."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from config.downloads import download, file_chunks
from exports import services
from exports.api import serializers as s
from exports.models import ExportJob
from exports.selectors import cdr_csv, cdr_export_records, count_upto
from tenants.api.base import ScopedViewSet


class JsonAnswers:
    """Errors and job answers are JSON whatever the Accept header asked (the CSV is streamed apart)."""

    renderer_classes = [JSONRenderer]

    def perform_content_negotiation(self, request, force=False):
        return super().perform_content_negotiation(request, force=True)


class CdrExportView(JsonAnswers, APIView):
    """The finished calls in the caller's scope as CSV (columns as the portal's export), oldest first,
    filtered by `since`/`until` (called at), `client`, `service`, `direction`. Up to
    OCX_EXPORT_STREAM_MAX_ROWS rows stream at once; beyond, the answer is 202 with an export job
    (`/api/v1/cdr-exports/<id>/`) whose `download` link appears when it is done."""

    @extend_schema(parameters=[s.ExportQuerySerializer],
                   responses={(200, "text/csv"): OpenApiTypes.STR, 202: s.ExportJobSerializer})  # fmt: skip
    def get(self, request):
        query = s.ExportQuerySerializer(data=request.query_params, context={"request": request})
        query.is_valid(raise_exception=True)
        filters, bom = query.filters(), query.validated_data["bom"]
        records = cdr_export_records(actor=request.user, filters=filters)
        limit = settings.OCX_EXPORTS["stream_max_rows"]
        if count_upto(records, limit) <= limit:
            return download(request, cdr_csv(records, bom=bom), filename="cdr-export.csv")
        job = services.cdr_export_start(actor=request.user, filters=filters, bom=bom)
        return Response(s.ExportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ExportJobViewSet(JsonAnswers, ScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Export jobs in the caller's scope (a user: their own). POST with the export's filters starts one."""

    model = ExportJob
    serializer_class = s.ExportJobSerializer
    filter_backends: list = []

    @extend_schema(request=s.ExportQuerySerializer, responses={202: s.ExportJobSerializer})
    def create(self, request):
        query = s.ExportQuerySerializer(data=request.data, context={"request": request})
        query.is_valid(raise_exception=True)
        job = services.cdr_export_start(actor=request.user, filters=query.filters(), bom=query.validated_data["bom"])
        return Response(self.get_serializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def download(self, request, pk=None):  # routed as cdr-exports/<id>/download.csv (exports/api/urls.py)
        job = self.get_object()
        path = services.export_job_path(job) if job.file else None
        if job.status != ExportJob.Status.DONE or path is None or not path.exists():
            raise Http404
        return download(request, file_chunks(path), filename=f"cdr-export-{job.pk}.csv")
