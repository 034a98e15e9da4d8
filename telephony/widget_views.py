"""Click-to-call widgets (telephony/widgets.py): their pages in the client portal (operators), and
the public end, on the client's own portal host:
`POST /c2c/<key>/call/` with `{"number": "..."}` from a page of one of the widget's web sites (CORS
for those origins only; a preflight `OPTIONS` likewise). Anybody may ask; nobody signs in. Answers
are JSON: 202 `{"call": id}`, else `{"code", "detail"}` (and `fields` for a bad number)."""

from __future__ import annotations

import json
from copy import copy

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from telephony import widgets
from telephony.forms import WidgetForm
from telephony.models import Widget
from tenants.errors import PlatformError
from tenants.models import Role
from tenants.signin import client_address
from tenants.views.common import confirm_then, form_valid, own_client, paginated, role_required, service_call


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
    except (ValueError, RecursionError):  # (a UnicodeDecodeError is a ValueError; nested too deep, a RecursionError)
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


# Client portal pages (the client's operators): the list, a widget's page with its embed snippet, delete.


@role_required(Role.CLIENT)
def widget_list(request: HttpRequest) -> HttpResponse:
    context = {"title": _("Click-to-call"), **paginated(request, Widget.objects.restrict(request.user), ["name"])}
    return render(request, "telephony/widget_list.html", context)


@role_required(Role.CLIENT)
def widget_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    widget = Widget.objects.get_for(request.user, pk=pk) if pk is not None else None
    initial = {name: getattr(widget, name) for name in ("name", "destination_target", "origins", "enabled")} if widget \
        else None  # fmt: skip
    form = WidgetForm(request.POST or None, initial=initial)

    def check(data: dict) -> None:  # a dry run on the fields the form accepted (form_valid), on a copy
        widgets.widget_save(actor=request.user, client=own_client(request), widget=copy(widget),
                            destination_kind="user", **data)  # fmt: skip

    if request.method == "POST" and form_valid(form, check):
        with service_call(request, form) as call:
            saved = widgets.widget_save(actor=request.user, client=own_client(request), widget=widget,
                                        destination_kind="user", **form.cleaned_data)  # fmt: skip
        if call.ok:
            messages.success(request, _("Widget %(name)s saved.") % {"name": saved.name})
            return redirect("widget_edit", saved.pk)
    title = _("Widget %(name)s") % {"name": widget.name} if widget else _("New click-to-call widget")
    snippet = widgets.embed_snippet(widget, request.build_absolute_uri("/")) if widget else ""
    context = {"title": title, "form": form, "submit": _("Save widget"), "cancel_url": reverse("widget_list"),
               "snippet": snippet, "widget": widget}  # fmt: skip
    return render(request, "telephony/widget_form.html", context)


@role_required(Role.CLIENT)
def widget_delete(request: HttpRequest, pk: int) -> HttpResponse:
    widget = Widget.objects.get_for(request.user, pk=pk)
    return confirm_then(
        request,
        lambda: widgets.widget_delete(actor=request.user, client=own_client(request), widget=widget),
        title=_("Delete widget %(name)s") % {"name": widget.name},
        question=_("Delete the widget %(name)s? Web sites that show it can no longer ask for calls.")
        % {"name": widget.name},
        submit=_("Delete widget"),
        done=_("Widget %(name)s deleted.") % {"name": widget.name},
        done_url=reverse("widget_list"),
        back_url=reverse("widget_edit", args=[pk]),
    )
