"""JSON errors with a stable `code`, field messages under `fields`; never an HTML 500 page."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from tenants.errors import PlatformError


def _fields(detail) -> dict:
    if isinstance(detail, dict):
        return {key: [str(m) for m in (value if isinstance(value, list) else [value])] for key, value in detail.items()}
    return {"non_field_errors": [str(m) for m in (detail if isinstance(detail, list) else [detail])]}


def exception_handler(exc, context):
    if isinstance(exc, PlatformError):
        return Response({"code": exc.code, "detail": exc.message}, status=exc.status)
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        fields = {("non_field_errors" if key == "__all__" else key): value for key, value in fields.items()}
        return Response(
            {"code": "invalid", "detail": "Check the fields.", "fields": fields}, status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, exceptions.ValidationError):
        return Response(
            {"code": "invalid", "detail": "Check the fields.", "fields": _fields(exc.detail)},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.APIException):
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
        response.data = {"code": str(exc.default_code).replace("_", "-"), "detail": str(detail)}
    return response


class ApiNotFoundMiddleware:
    """A 404 under /api/ is JSON like every other API error, whoever answered it: a path no view
    serves, a host the platform does not serve, or Django's own page (DEBUG's included)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code == 404
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return JsonResponse({"code": "not-found", "detail": "Not found."}, status=404)
        return response
