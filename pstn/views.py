"""Portal pages of the phone-network side: carriers' gateways (god, brands), numbers (god: all; a
brand: its inventory, added one at a time or many at once, assigned to its clients; a client's
operators: where their numbers go), the brands' outbound routes and routing policy, and clients'
outbound policies. Rows come through restrict(): anything outside the scope answers 404."""

from __future__ import annotations

from copy import copy

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from billing.models import Carrier
from pstn import services
from pstn.forms import (
    GatewayForm,
    NumberBulkForm,
    NumberForm,
    NumberRouteForm,
    OutboundPolicyForm,
    RouteCarrierForm,
    RouteForm,
    RoutingPolicyForm,
)
from pstn.models import Gateway, OutboundRoute, RouteCarrier
from pstn.selectors import number_row, numbers_of, routes_of
from tenants.models import Brand, Client, Role
from tenants.views.common import confirm_then, form_valid, own_client, paginated, role_required, service_call

PROVIDERS = (Role.GOD, Role.BRAND)

# Gateways --------------------------------------------------------------------------------------


@role_required(*PROVIDERS)
def gateway_create(request: HttpRequest, pk: int) -> HttpResponse:
    carrier = Carrier.objects.get_for(request.user, pk=pk)
    form = GatewayForm(request.POST or None)

    def check(data: dict) -> None:  # a dry run on the fields the form accepted (form_valid)
        services.gateway_create(
            actor=request.user, carrier=carrier, **{"name": "", "host": "", **form.service_kwargs()}
        )

    if request.method == "POST" and form_valid(form, check):
        with service_call(request, form) as call:
            gateway = services.gateway_create(actor=request.user, carrier=carrier, **form.service_kwargs())
        if call.ok:
            messages.success(
                request, _("Gateway %(name)s added to %(carrier)s.") % {"name": gateway.name, "carrier": carrier.name}
            )
            return redirect("rating_carrier_update", pk=carrier.pk)
    title = _("New gateway of %(carrier)s") % {"carrier": carrier.name}
    context = {"title": title, "form": form, "submit": _("Add gateway"),
               "cancel_url": reverse("rating_carrier_update", args=[carrier.pk])}  # fmt: skip
    return render(request, "portal/form_page.html", context)


@role_required(*PROVIDERS)
def gateway_update(request: HttpRequest, pk: int) -> HttpResponse:
    gateway = Gateway.objects.select_related("carrier").get_for(request.user, pk=pk)
    names = [name for name in GatewayForm.base_fields if name not in ("password", "clear_password")]
    form = GatewayForm(request.POST or None, password_set=bool(gateway.password),
                       initial={name: getattr(gateway, name) for name in names})  # fmt: skip

    def check(data: dict) -> None:  # a dry run on the fields the form accepted (form_valid), on a copy
        services.gateway_update(actor=request.user, gateway=copy(gateway), **form.service_kwargs())

    if request.method == "POST" and form_valid(form, check):
        with service_call(request, form) as call:
            services.gateway_update(actor=request.user, gateway=gateway, **form.service_kwargs())
        if call.ok:
            messages.success(request, _("Gateway saved."))
            return redirect("rating_carrier_update", pk=gateway.carrier_id)
    title = _("Gateway %(name)s of %(carrier)s") % {"name": gateway.name, "carrier": gateway.carrier.name}
    context = {"title": title, "form": form, "gateway": gateway,
               "cancel_url": reverse("rating_carrier_update", args=[gateway.carrier_id])}  # fmt: skip
    return render(request, "pstn/gateway_form.html", context)


@role_required(*PROVIDERS)
def gateway_delete(request: HttpRequest, pk: int) -> HttpResponse:
    gateway = Gateway.objects.select_related("carrier").get_for(request.user, pk=pk)
    back = reverse("rating_carrier_update", args=[gateway.carrier_id])
    return confirm_then(
        request,
        lambda: services.gateway_delete(actor=request.user, gateway=gateway),
        question=_("Delete the gateway %(name)s of %(carrier)s?")
        % {"name": gateway.name, "carrier": gateway.carrier.name},
        submit=_("Delete gateway"),
        done=_("Gateway %(name)s deleted.") % {"name": gateway.name},
        done_url=back,
        back_url=reverse("pstn_gateway_update", args=[pk]),
        title=_("Delete %(name)s") % {"name": gateway.name},
    )


# Numbers ---------------------------------------------------------------------------------------


NUMBER_SORT = {"number": "e164", "brand": "brand__name", "carrier": "carrier__name", "client": "client__name",
               "cost": "monthly_cost", "goes_to": ("destination_kind", "destination_target")}  # fmt: skip


@role_required(Role.GOD, Role.BRAND, Role.CLIENT)
def number_list(request: HttpRequest) -> HttpResponse:
    context = {
        "title": _("Numbers"),
        **paginated(request, numbers_of(request.user), ["e164", "client__name"], sort=NUMBER_SORT),
    }
    context["rows"] = [number_row(number) for number in context["rows"]]
    return render(request, "pstn/number_list.html", context)


@role_required(*PROVIDERS)
def number_create(request: HttpRequest) -> HttpResponse:
    brand = Brand.objects.get_for(request.user, pk=request.user.brand_id) if request.user.role == Role.BRAND else None
    form = NumberForm(request.POST or None, actor=request.user, brand=brand, creating=True)

    def check(data: dict) -> None:  # a dry run on the fields the form accepted (form_valid)
        chosen = data.pop("brand", None) or brand
        if chosen is not None:
            services.number_create(actor=request.user, brand=chosen, **{"e164": "", "carrier": None, **data})

    if request.method == "POST" and form_valid(form, check):
        data = dict(form.cleaned_data)
        brand = data.pop("brand", None) or brand
        with service_call(request, form) as call:
            number = services.number_create(actor=request.user, brand=brand, **data)
        if call.ok:
            messages.success(request, _("Number %(number)s added.") % {"number": number.e164})
            return redirect("pstn_number_list")
    context = {
        "title": _("New number"),
        "form": form,
        "submit": _("Add number"),
        "cancel_url": reverse("pstn_number_list"),
    }
    return render(request, "portal/form_page.html", context)


@role_required(*PROVIDERS)
def number_bulk(request: HttpRequest) -> HttpResponse:
    """Many numbers at once: every bad line is listed and nothing is added, or all are."""
    brand = Brand.objects.get_for(request.user, pk=request.user.brand_id) if request.user.role == Role.BRAND else None
    form = NumberBulkForm(request.POST or None, request.FILES or None, actor=request.user, brand=brand)

    def check(data: dict) -> None:  # a dry run on the fields the form accepted (form_valid)
        chosen = data.pop("brand", None) or brand
        if chosen is not None and data.get("carrier") is not None and "numbers" in data:  # (a bad file: no lines)
            services.number_bulk_add(actor=request.user, brand=chosen, **data)

    if request.method == "POST" and form_valid(form, check):
        data = dict(form.cleaned_data)
        brand = data.pop("brand", None) or brand
        with service_call(request, form) as call:
            added = services.number_bulk_add(actor=request.user, brand=brand, **data)
        if call.ok:
            messages.success(
                request,
                ngettext("%(count)s number added.", "%(count)s numbers added.", len(added)) % {"count": len(added)},
            )
            return redirect("pstn_number_list")
    context = {
        "title": _("Add numbers"),
        "form": form,
        "submit": _("Add numbers"),
        "cancel_url": reverse("pstn_number_list"),
    }
    return render(request, "portal/form_page.html", context)


@role_required(Role.GOD, Role.BRAND, Role.CLIENT)
def number_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The brand: carrier, costs and client; the client's operators: where the number goes."""
    number = numbers_of(request.user).get_for(request.user, pk=pk)
    user = request.user
    route_names = services.NUMBER_ROUTE_FIELDS
    if user.role == Role.CLIENT:
        form = NumberRouteForm(request.POST or None, initial={n: getattr(number, n) for n in route_names})
    else:
        initial = {"carrier": number.carrier, "monthly_cost": number.monthly_cost,
                   "monthly_price": number.monthly_price, "client": number.client}  # fmt: skip
        form = NumberForm(request.POST or None, actor=user, brand=number.brand, creating=False, initial=initial)

    def check(data: dict) -> None:  # a dry run on the fields the form accepted (form_valid), on a copy
        services.number_update(actor=user, number=copy(number), **data)

    if request.method == "POST" and form_valid(form, check):
        with service_call(request, form) as call:
            services.number_update(actor=user, number=number, **form.cleaned_data)
        if call.ok:
            messages.success(request, _("Number %(number)s saved.") % {"number": number.e164})
            return redirect("pstn_number_list")
        number.refresh_from_db()
    context = {"title": _("Number %(number)s") % {"number": number.e164}, "form": form, "number": number_row(number),
               "cancel_url": reverse("pstn_number_list")}  # fmt: skip
    return render(request, "pstn/number_form.html", context)


@role_required(*PROVIDERS)
def number_delete(request: HttpRequest, pk: int) -> HttpResponse:
    number = numbers_of(request.user).get_for(request.user, pk=pk)
    return confirm_then(
        request,
        lambda: services.number_delete(actor=request.user, number=number),
        question=_("Remove %(number)s from the inventory? Calls to it will be refused.") % {"number": number.e164},
        submit=_("Remove number"),
        done=_("Number %(number)s removed.") % {"number": number.e164},
        done_url=reverse("pstn_number_list"),
        back_url=reverse("pstn_number_detail", args=[pk]),
        title=_("Remove %(number)s") % {"number": number.e164},
    )


# Outbound routes and the routing policy ---------------------------------------------------------


@role_required(*PROVIDERS)
def route_list(request: HttpRequest) -> HttpResponse:
    context = {"title": _("Outbound routes"), **paginated(request, routes_of(request.user), ["name", "pattern"])}
    return render(request, "pstn/route_list.html", context)


def _route_fields(form) -> dict:
    return {name: form.cleaned_data[name] for name in services.ROUTE_FIELDS}


@role_required(*PROVIDERS)
def route_create(request: HttpRequest) -> HttpResponse:
    form = RouteForm(request.POST or None, actor=request.user, creating=True)

    def check(data: dict) -> None:  # a dry run on the fields the form accepted (form_valid)
        own = request.user.brand_id and Brand.objects.get_for(request.user, pk=request.user.brand_id)
        brand = data.get("brand") or own
        fields = {name: data[name] for name in services.ROUTE_FIELDS if name in data}
        if brand:
            services.outbound_route_create(actor=request.user, brand=brand, **fields)

    if request.method == "POST" and form_valid(form, check):
        brand = form.cleaned_data.get("brand") or Brand.objects.get_for(request.user, pk=request.user.brand_id)
        with service_call(request, form) as call:
            route = services.outbound_route_create(actor=request.user, brand=brand, **_route_fields(form))
        if call.ok:
            messages.success(request, _("Route %(name)s created; add its carriers.") % {"name": route.name})
            return redirect("pstn_route_detail", pk=route.pk)
    context = {"title": _("New outbound route"), "form": form, "submit": _("Create route"),
               "cancel_url": reverse("pstn_route_list")}  # fmt: skip
    return render(request, "portal/form_page.html", context)


@role_required(*PROVIDERS)
def route_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A route's pattern and mode, and its carriers (added and removed one at a time)."""
    route = routes_of(request.user).get_for(request.user, pk=pk)
    form = RouteForm(request.POST or None, instance=route, actor=request.user, creating=False)

    def check(data: dict) -> None:  # a dry run on the fields the form accepted (form_valid)
        fields = {name: data[name] for name in services.ROUTE_FIELDS if name in data}
        services.outbound_route_update(actor=request.user, route=OutboundRoute.objects.get(pk=route.pk), **fields)

    if request.method == "POST" and form_valid(form, check):
        route = OutboundRoute.objects.get(pk=route.pk)  # the form wrote its values on the instance
        with service_call(request, form) as call:
            services.outbound_route_update(actor=request.user, route=route, **_route_fields(form))
        if call.ok:
            messages.success(request, _("Route saved."))
            return redirect("pstn_route_detail", pk=route.pk)
    context = {"title": _("Outbound route %(name)s") % {"name": route.name}, "form": form, "route": route,
               "members": route.members.select_related("carrier"),
               "member_form": RouteCarrierForm(brand_id=route.brand_id),
               "cancel_url": reverse("pstn_route_list")}  # fmt: skip
    return render(request, "pstn/route_form.html", context)


def _members(route: OutboundRoute) -> list[dict]:
    return [{"carrier": m.carrier, "priority": m.priority, "weight": m.weight} for m in route.members.all()]


@require_POST
@role_required(*PROVIDERS)
def route_carrier_add(request: HttpRequest, pk: int) -> HttpResponse:
    route = routes_of(request.user).get_for(request.user, pk=pk)
    form = RouteCarrierForm(request.POST, brand_id=route.brand_id)
    if not form.is_valid():
        for field, errors in form.errors.items():
            label = (form.fields[field].label if field in form.fields else None) or field.capitalize()
            messages.error(request, f"{label}: {' '.join(errors)}")
        return redirect("pstn_route_detail", pk=route.pk)
    members = [m for m in _members(route) if m["carrier"].pk != form.cleaned_data["carrier"].pk]
    with service_call(request) as call:
        services.outbound_route_update(actor=request.user, route=route, carriers=[*members, form.cleaned_data])
    if call.ok:
        messages.success(request, _("%(carrier)s is in the route.") % {"carrier": form.cleaned_data["carrier"].name})
    return redirect("pstn_route_detail", pk=route.pk)


@require_POST
@role_required(*PROVIDERS)
def route_carrier_remove(request: HttpRequest, pk: int, member: int) -> HttpResponse:
    route = routes_of(request.user).get_for(request.user, pk=pk)
    if not RouteCarrier.objects.filter(route=route, pk=member).exists():
        raise Http404("No such carrier in this route.")
    members = [
        {"carrier": m.carrier, "priority": m.priority, "weight": m.weight}
        for m in route.members.exclude(pk=member).select_related("carrier")
    ]
    with service_call(request) as call:
        services.outbound_route_update(actor=request.user, route=route, carriers=members)
    if call.ok:
        messages.success(request, _("Carrier removed from the route."))
    return redirect("pstn_route_detail", pk=route.pk)


@role_required(*PROVIDERS)
def route_delete(request: HttpRequest, pk: int) -> HttpResponse:
    route = routes_of(request.user).get_for(request.user, pk=pk)
    return confirm_then(
        request,
        lambda: services.outbound_route_delete(actor=request.user, route=route),
        question=_("Delete the outbound route %(name)s?") % {"name": route.name},
        submit=_("Delete route"),
        done=_("Route %(name)s deleted.") % {"name": route.name},
        done_url=reverse("pstn_route_list"),
        back_url=reverse("pstn_route_detail", args=[pk]),
        title=_("Delete %(name)s") % {"name": route.name},
    )


@role_required(Role.BRAND)
def routing_policy(request: HttpRequest) -> HttpResponse:
    """The brand's carrier health thresholds."""
    brand = Brand.objects.get_for(request.user, pk=request.user.brand_id)
    policy = services.routing_policy_of(brand)
    form = RoutingPolicyForm(request.POST or None, instance=policy)

    def check(data: dict) -> None:  # a dry run on the fields the form accepted (form_valid)
        services.routing_policy_update(actor=request.user, brand=brand, **data)

    if request.method == "POST" and form_valid(form, check):
        with service_call(request, form) as call:
            services.routing_policy_update(actor=request.user, brand=brand, **form.cleaned_data)
        if call.ok:
            messages.success(request, _("Routing policy saved."))
            return redirect("pstn_routing_policy")
    context = {"title": _("Routing policy"), "form": form, "submit": _("Save policy"),
               "intro": _("A carrier below these over its recent calls is tried last, then not at all, until it "
                          "recovers."), "tab": "policy"}  # fmt: skip
    return render(request, "pstn/policy_form.html", context)


# Clients' outbound policies --------------------------------------------------------------------


def _outbound_policy_page(request: HttpRequest, client: Client, done_url: str) -> HttpResponse:
    policy = services.outbound_policy_of(client)
    form = OutboundPolicyForm(request.POST or None, instance=policy, client=client, actor=request.user)

    def check(data: dict) -> None:  # a dry run on the fields the form accepted (form_valid)
        changes = {name: value for name, value in data.items() if not form.fields[name].disabled}
        services.outbound_policy_update(actor=request.user, client=client, **changes)

    if request.method == "POST" and form_valid(form, check):
        with service_call(request, form) as call:
            services.outbound_policy_update(actor=request.user, client=client, **form.changes())
        if call.ok:
            messages.success(request, _("Outbound policy saved."))
            return redirect(done_url)
    intro = _(
        "What the company's users may dial outside the platform and who they are shown as. Emergency numbers "
        "are always allowed."
    )
    if request.user.role == Role.CLIENT:
        intro += " " + _("Your brand sets the rest; you choose the caller ID and the main number.")
    title = _("Outbound policy of %(name)s") % {"name": client.name}
    context = {"title": title, "form": form, "submit": _("Save policy"), "intro": intro,
               "tab": "policy" if request.user.role == Role.CLIENT else ""}  # fmt: skip
    return render(request, "pstn/policy_form.html", context)


@role_required(*PROVIDERS)
def client_outbound_policy(request: HttpRequest, pk: int) -> HttpResponse:
    client = Client.objects.get_for(request.user, pk=pk)
    return _outbound_policy_page(request, client, reverse("pstn_client_policy", args=[client.pk]))


@role_required(Role.CLIENT)
def own_outbound_policy(request: HttpRequest) -> HttpResponse:
    return _outbound_policy_page(request, own_client(request), reverse("pstn_own_policy"))
