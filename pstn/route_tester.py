"""The route tester, in the brand and god portals and the API: for a number (dialled as people of a
country dial it), which of a brand's carriers would be tried now, in which order, and why (price,
health, limits). It reads what the engine reads: the routes and decks (pstn/routing.py), the
carriers' health and call counts in Redis (pstn/health.py); it never claims a trial call.

A brand operator tests its own brand only (another brand's id answers 404); god names the brand.
"""

from __future__ import annotations

from dataclasses import asdict

import phonenumbers
import redis.asyncio as aioredis
from asgiref.sync import async_to_sync
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from pstn import health
from pstn.models import OutboundRoute
from pstn.numbering import classify
from pstn.routing import Explanation, Router
from tenants.models import Brand, Role
from tenants.views.common import role_required

PROVIDERS = (Role.GOD, Role.BRAND)
# What the page shows for the number's kind and a carrier's health (the API gives the codes).
KIND_SHOWN = {
    "emergency": _("emergency"),
    "national": _("national"),
    "mobile": _("mobile"),
    "international": _("international"),
    "premium": _("premium"),
    "tollfree": _("toll-free"),
    "other": _("other"),
}
STATE_SHOWN = {
    health.IN: _("in service"),
    health.DOWN: _("moved last"),
    health.OUT: _("out of service"),
    health.TRIAL: _("trial call"),
}


class RouteTestForm(forms.Form):
    number = forms.CharField(
        max_length=40,
        label=_("Number"),
        help_text=_("As a user dials it: national, with the international prefix, or +."),
    )
    country = forms.CharField(max_length=2, required=False, initial="US", label=_("Country"),
                              help_text=_("Whose way of dialling (ISO 3166, such as DE; empty: US)."))  # fmt: skip
    brand = forms.IntegerField(required=False, min_value=1, label=_("Brand"),
                               help_text=_("God: the brand whose routes are tested."))  # fmt: skip

    def clean_country(self) -> str:
        country = self.cleaned_data["country"].strip().upper() or "US"
        if not phonenumbers.country_code_for_region(country):
            raise ValidationError(gettext("Use a two-letter country code such as DE or US."))
        return country

    def clean(self):
        data = super().clean()
        if "number" in data and "country" in data and classify(data["number"], data["country"]) is None:
            self.add_error("number", gettext("Not a phone number of that country (nor an emergency number)."))
        return data


def tested_brand(actor, brand_id: int | None) -> Brand:
    """The brand whose routes are tested: a brand operator's own (another brand's id: 404), or the
    one god names."""
    if actor.role == Role.BRAND:
        if brand_id is not None and brand_id != actor.brand_id:
            raise Http404("No such brand.")
        return Brand.objects.get_for(actor, pk=actor.brand_id)
    if actor.role == Role.GOD:
        if brand_id is None:
            raise ValidationError({"brand": [gettext("Name the brand whose routes are tested.")]})
        return Brand.objects.get_for(actor, pk=brand_id)
    raise Http404("No such page.")


async def _live(prefix: str, carrier_ids: list[int], thresholds: health.Thresholds):
    redis = aioredis.Redis.from_url(settings.REDIS_URL)
    try:
        found = await health.snapshot(redis, prefix, carrier_ids, thresholds=thresholds, trials=False)
        return found, await health.in_use(redis, prefix, carrier_ids)
    finally:
        await redis.aclose()


def route_test(*, brand: Brand, number: str, country: str) -> tuple[str, Explanation]:
    """(the number's kind, the carriers considered for it now)."""
    dialled = classify(number, country)
    if dialled is None:
        raise ValidationError({"number": [gettext("Not a phone number of that country (nor an emergency number).")]})
    router = Router.load(brand.pk)
    ids = list(router.carriers)
    found, counts = async_to_sync(_live)(settings.OCX_REDIS_PREFIX, ids, router.thresholds)
    limits = router.limits()
    busy = {cid for cid, count in counts.items() if limits.get(cid) and count >= limits[cid]}
    return dialled.kind, router.explain(dialled.e164, found, busy, emergency=dialled.emergency, in_use=counts)


def _rows(explanation: Explanation) -> list[dict]:
    return [{**asdict(row), "cost": None if row.cost is None else str(row.cost)} for row in explanation.carriers]


@role_required(*PROVIDERS)
def tester_page(request: HttpRequest) -> HttpResponse:
    form = RouteTestForm(request.GET or None)
    if request.user.role != Role.GOD:
        form.fields["brand"].widget = forms.HiddenInput()
    context = {"title": gettext("Route tester"), "form": form, "is_god": request.user.role == Role.GOD}
    if form.is_valid():
        try:
            brand = tested_brand(request.user, form.cleaned_data.get("brand"))
            kind, explanation = route_test(brand=brand, **{k: form.cleaned_data[k] for k in ("number", "country")})
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, messages)
        else:
            rows = [{**row, "state_shown": STATE_SHOWN.get(row["state"], row["state"])} for row in _rows(explanation)]
            mode = dict(OutboundRoute.Mode.choices).get(explanation.mode, explanation.mode)
            context.update(brand=brand, kind=KIND_SHOWN.get(kind, kind), explanation=explanation, rows=rows, mode=mode)
    elif request.GET and "brand" not in form.errors:  # the brand's error with the others' (form_valid's way)
        try:
            tested_brand(request.user, form.cleaned_data.get("brand"))  # another brand's id: 404 as for a valid query
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, messages)
    return render(request, "pstn/route_tester.html", context)


class RouteTestView(APIView):
    """For a number (`number`, dialled as people of `country` dial it), the carriers a brand's
    outbound routes would try now, in order (`place`; null: not tried) and why: price per minute,
    health (state "in", "down", "out", "trial"), calls in use against the carrier's limit. Brand
    operators test their own brand; god names it (`brand`)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("number", OpenApiTypes.STR, required=True),
            OpenApiParameter("country", OpenApiTypes.STR, description="ISO 3166 code; default US."),
            OpenApiParameter("brand", OpenApiTypes.INT, description="God: required; a brand operator: its own."),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        if request.user.role not in PROVIDERS:
            raise Http404("No such page.")
        form = RouteTestForm({"country": "US", **request.query_params.dict()})
        if not form.is_valid():
            raise ValidationError({field: list(errors) for field, errors in form.errors.items()})
        brand = tested_brand(request.user, form.cleaned_data.get("brand"))
        kind, explanation = route_test(brand=brand, number=form.cleaned_data["number"],
                                       country=form.cleaned_data["country"])  # fmt: skip
        return Response({"brand": brand.pk, "number": explanation.number, "kind": kind, "route": explanation.route,
                         "mode": explanation.mode, "carriers": _rows(explanation)})  # fmt: skip
