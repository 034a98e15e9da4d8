"""The public end of click-to-call widgets (telephony/widgets.py), on the client's own portal host:
`POST /c2c/<key>/call/` with `{"number": "..."}` from a page of one of the widget's web sites (CORS
for those origins only; a preflight `OPTIONS` likewise). Anybody may ask; nobody signs in. Answers
are JSON: 202 `{"call": id}`, else `{"code", "detail"}` (and `fields` for a bad number)."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from telephony import widgets
from tenants.errors import PlatformError
from tenants.signin import client_address


def _cors(response: HttpResponse, origin: str) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = "Content-Type"
    response["Access-Control-Max-Age"] = "600"
    response["Vary"] = "Origin"
    return response


def _error(error: PlatformError) -> JsonResponse:
    return JsonResponse({"code": error.code, "detail": error.message}, status=error.status)


@csrf_exempt
def widget_call(request: HttpRequest, key: str) -> HttpResponse:
    client = getattr(request, "tenant", None)
    origin = request.headers.get("Origin", "")
    if client is None:
        return JsonResponse({"code": "not-found", "detail": "No such widget."}, status=404)
    if request.method not in ("POST", "OPTIONS"):
        return JsonResponse({"code": "method-not-allowed", "detail": "POST only."}, status=405)
    try:
        widgets.widget_allows(client=client, key=key, origin=origin)
    except PlatformError as error:  # (no CORS headers: the page learns nothing)
        return _error(error)
    if request.method == "OPTIONS":
        return _cors(HttpResponse(status=204), origin)
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        return _cors(JsonResponse({"code": "invalid", "detail": "Send JSON: {\"number\": \"...\"}."}, status=400),
                     origin)  # fmt: skip
    try:
        call = widgets.widget_call(client=client, key=key, origin=origin, number=body.get("number"),
                                   address=client_address(request))  # fmt: skip
    except ValidationError as error:
        answer = JsonResponse({"code": "invalid", "detail": " ".join(error.messages), "fields": error.message_dict},
                              status=400)  # fmt: skip
        return _cors(answer, origin)
    except PlatformError as error:
        return _cors(_error(error), origin)
    return _cors(JsonResponse({"call": call}, status=202), origin)
