"""Portal pages for rating, in the god and brand portals: rate decks (rows with search, CSV import
with its validation report, export), the clients' pricing plans, the unrated calls, and the carriers
(god: the platform's and every brand's; a brand: its own) with their gateways, whose decks give the
cost. Rows come through restrict(): another brand's deck
or client answers 404."""

from __future__ import annotations

from copy import copy

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from billing import services
from billing.csvio import csv_response
from billing.decks import COLUMNS, DeckInvalid, deck_csv_rows
from billing.forms import CarrierForm, DeckForm, DeckImportForm, PlanForm
from billing.models import Carrier, PricingPlan, RateDeck
from billing.selectors import carriers_of, deck_rates, decks_of, plan_clients, unrated_calls, unrated_row
from pstn.carrier_health import carrier_page_health
from tenants.models import Client, Role
from tenants.views.common import confirm_then, form_valid, paginated, role_required, search_text, service_call

PROVIDERS = (Role.GOD, Role.BRAND)


@role_required(*PROVIDERS)
def deck_list(request: HttpRequest) -> HttpResponse:
    context = {
        "title": _("Rate decks"),
        **paginated(request, decks_of(request.user), ["name", "brand__name", "carrier__name"]),
    }
    return render(request, "billing/deck_list.html", context)


@role_required(*PROVIDERS)
def deck_create(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = DeckForm(request.POST or None, actor=user, creating=True)

    def check(data: dict) -> None:  # a dry run on the fields the form accepted (form_valid)
        brand = data.get("brand") if user.role == Role.GOD else user.brand
        services.deck_create(actor=user, brand=brand, name=data.get("name", ""), currency=data.get("currency", ""))

    if request.method == "POST" and form_valid(form, check):
        data = form.cleaned_data
        brand = data["brand"] if user.role == Role.GOD else user.brand
        with service_call(request, form) as call:
            deck = services.deck_create(actor=user, brand=brand, name=data["name"], currency=data["currency"])
        if call.ok:
            messages.success(
                request, _("Deck %(name)s created; import its rates from a CSV file.") % {"name": deck.name}
            )
            return redirect("rating_deck_import", pk=deck.pk)
    context = {
        "title": _("New rate deck"),
        "form": form,
        "submit": _("Create deck"),
        "cancel_url": reverse("rating_deck_list"),
    }
    return render(request, "portal/form_page.html", context)


@role_required(*PROVIDERS)
def deck_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A deck's rows, searchable by prefix or description; the deck's name and currency."""
    deck = RateDeck.objects.select_related("brand", "carrier").get_for(request.user, pk=pk)
    form = DeckForm(
        request.POST or None,
        actor=request.user,
        creating=False,
        carrier=bool(deck.carrier_id),
        initial={"name": deck.name, "currency": deck.currency},
    )

    def check(data: dict) -> None:  # a dry run on the fields the form accepted (form_valid), on a copy
        services.deck_update(actor=request.user, deck=copy(deck), **data)

    if request.method == "POST" and form_valid(form, check):
        with service_call(request, form) as call:
            services.deck_update(actor=request.user, deck=deck, **form.cleaned_data)
        if call.ok:
            messages.success(request, _("Deck saved."))
            return redirect("rating_deck_detail", pk=deck.pk)
    q = search_text(request)
    rates = paginated(request, deck_rates(deck, q), [], per_page=50)
    context = {
        "title": _("Rate deck %(name)s") % {"name": deck.name},
        "deck": deck,
        "form": form,
        "plans": deck.plans.select_related("client").order_by("client__name"),
        **rates,
        "q": q,
    }
    return render(request, "billing/deck_detail.html", context)


@role_required(*PROVIDERS)
def deck_import(request: HttpRequest, pk: int) -> HttpResponse:
    """Upload a CSV file: every bad row is listed and nothing changes, or the file replaces the rates."""
    deck = RateDeck.objects.get_for(request.user, pk=pk)
    form = DeckImportForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        try:
            count = services.deck_import(actor=request.user, deck=deck, data=form.cleaned_data["file"].read())
        except DeckInvalid as exc:  # the page shows the whole report
            report = exc
        else:
            messages.success(
                request, _("%(count)s rates imported into %(name)s.") % {"count": count, "name": deck.name}
            )
            return redirect("rating_deck_detail", pk=deck.pk)
    context = {
        "title": _("Import rates into %(name)s") % {"name": deck.name},
        "deck": deck,
        "form": form,
        "report": report,
        "submit": _("Import"),
        "cancel_url": reverse("rating_deck_detail", args=[deck.pk]),
    }
    return render(request, "billing/deck_import.html", context)


@role_required(*PROVIDERS)
def deck_export(request: HttpRequest, pk: int) -> HttpResponse:
    deck = RateDeck.objects.get_for(request.user, pk=pk)
    return csv_response(request, COLUMNS, deck_csv_rows(deck), filename=f"rate-deck-{deck.pk}.csv")


@role_required(*PROVIDERS)
def deck_delete(request: HttpRequest, pk: int) -> HttpResponse:
    deck = RateDeck.objects.get_for(request.user, pk=pk)
    return confirm_then(
        request,
        lambda: services.deck_delete(actor=request.user, deck=deck),
        question=_("Delete the deck %(name)s and its rates? Calls already rated keep their price.")
        % {"name": deck.name},
        submit=_("Delete deck"),
        done=_("Deck %(name)s deleted.") % {"name": deck.name},
        done_url=reverse("rating_deck_list"),
        back_url=reverse("rating_deck_detail", args=[deck.pk]),
        title=_("Delete %(name)s") % {"name": deck.name},
    )


# Pricing plans -----------------------------------------------------------------------------------


@role_required(*PROVIDERS)
def plan_list(request: HttpRequest) -> HttpResponse:
    context = {"title": _("Pricing plans"), **paginated(request, plan_clients(request.user), ["name", "brand__name"])}
    return render(request, "billing/plan_list.html", context)


@role_required(*PROVIDERS)
def plan_edit(request: HttpRequest, pk: int) -> HttpResponse:
    client = Client.objects.select_related("brand").get_for(request.user, pk=pk)
    plan = PricingPlan.objects.filter(client=client).first()
    initial = (
        {name: getattr(plan, name) for name in ("kind", "deck", "monthly_fee", "included_minutes", "conference_rate")}
        if plan
        else {}
    )
    form = PlanForm(request.POST or None, client=client, initial=initial)
    if request.method == "POST" and form.is_valid():
        with service_call(request, form) as call:
            services.plan_set(actor=request.user, client=client, **form.plan_kwargs())
        if call.ok:
            messages.success(
                request,
                _("%(client)s's pricing plan saved; their next calls are rated with it.") % {"client": client.name},
            )
            return redirect("rating_plan_list")
    context = {
        "title": _("Pricing plan of %(client)s") % {"client": client.name},
        "form": form,
        "plan": plan,
        "client": client,
        "submit": _("Save plan"),
        "cancel_url": reverse("rating_plan_list"),
    }
    return render(request, "billing/plan_form.html", context)


@role_required(*PROVIDERS)
def plan_delete(request: HttpRequest, pk: int) -> HttpResponse:
    client = Client.objects.get_for(request.user, pk=pk)
    plan = PricingPlan.objects.get_for(request.user, client=client)
    return confirm_then(
        request,
        lambda: services.plan_delete(actor=request.user, plan=plan),
        question=_("Remove %(client)s's pricing plan? Their next calls will be listed as unrated.")
        % {"client": client.name},
        submit=_("Remove plan"),
        done=_("Plan removed."),
        done_url=reverse("rating_plan_list"),
        back_url=reverse("rating_plan_edit", args=[client.pk]),
        title=_("Remove %(client)s's plan") % {"client": client.name},
    )


# Unrated calls -----------------------------------------------------------------------------------


@role_required(*PROVIDERS)
def unrated_list(request: HttpRequest) -> HttpResponse:
    context = {
        "title": _("Unrated calls"),
        **paginated(request, unrated_calls(request.user), ["client__name", "cdr__callee_number", "reason"]),
    }
    context["rows"] = [unrated_row(rating) for rating in context["rows"]]
    return render(request, "billing/unrated_list.html", context)


@require_POST
@role_required(*PROVIDERS)
def unrated_retry(request: HttpRequest) -> HttpResponse:
    with service_call(request) as call:
        run = services.rating_retry(actor=request.user)
    if call.ok:
        messages.success(
            request,
            _("Rated again: %(rated)s now rated, %(unrated)s still unrated.")
            % {"rated": run.rated, "unrated": run.unrated},
        )
    return redirect("rating_unrated")


# Carriers (god: every one; brands: their own) -------------------------------------------------


CARRIER_SORT = {"name": "name", "owner": "brand__name", "priority": "priority", "enabled": "enabled",
                "rates": "rate_count"}  # fmt: skip


@role_required(*PROVIDERS)
def carrier_list(request: HttpRequest) -> HttpResponse:
    carriers = carriers_of(request.user).select_related("brand").order_by("priority", "name")
    context = {"title": _("Carriers"), **paginated(request, carriers, ["name", "brand__name"], sort=CARRIER_SORT)}
    return render(request, "billing/carrier_list.html", context)


@role_required(*PROVIDERS)
def carrier_create(request: HttpRequest) -> HttpResponse:
    form = CarrierForm(request.POST or None, actor=request.user, creating=True)

    def check(data: dict) -> None:  # a dry run on the fields the form accepted (form_valid)
        services.carrier_create(actor=request.user, **{"name": "", **form.service_kwargs()})

    if request.method == "POST" and form_valid(form, check):
        with service_call(request, form) as call:
            carrier = services.carrier_create(actor=request.user, **form.service_kwargs())
        if call.ok:
            messages.success(
                request, _("Carrier %(name)s created; add its gateways and import its rates.") % {"name": carrier.name}
            )
            return redirect("rating_carrier_update", pk=carrier.pk)
    context = {
        "title": _("New carrier"),
        "form": form,
        "submit": _("Create carrier"),
        "cancel_url": reverse("rating_carrier_list"),
    }
    return render(request, "portal/form_page.html", context)


@role_required(*PROVIDERS)
def carrier_update(request: HttpRequest, pk: int) -> HttpResponse:
    """A carrier's settings, its cost deck, its gateways with their state, and its health."""
    carrier = Carrier.objects.select_related("brand").get_for(request.user, pk=pk)
    names = [name for name in CarrierForm.base_fields if name != "brand"]
    initial = {name: getattr(carrier, name) for name in names}
    form = CarrierForm(request.POST or None, actor=request.user, creating=False, initial=initial)

    def check(data: dict) -> None:  # a dry run on the fields the form accepted (form_valid), on a copy
        services.carrier_update(actor=request.user, carrier=copy(carrier), **form.service_kwargs())

    if request.method == "POST" and form_valid(form, check):
        with service_call(request, form) as call:
            services.carrier_update(actor=request.user, carrier=carrier, **form.service_kwargs())
        if call.ok:
            messages.success(request, _("Carrier saved."))
            return redirect("rating_carrier_update", pk=carrier.pk)
    context = {
        "title": _("Carrier %(name)s") % {"name": carrier.name},
        "form": form,
        "carrier": carrier,
        "deck": carrier.decks.first(),
        "gateways": carrier.gateways.all(),
        "cancel_url": reverse("rating_carrier_list"),
        **carrier_page_health(carrier),
    }
    return render(request, "billing/carrier_form.html", context)


@role_required(*PROVIDERS)
def carrier_delete(request: HttpRequest, pk: int) -> HttpResponse:
    carrier = Carrier.objects.get_for(request.user, pk=pk)
    return confirm_then(
        request,
        lambda: services.carrier_delete(actor=request.user, carrier=carrier),
        question=_("Delete the carrier %(name)s, its gateways and its deck? Calls already rated keep their cost.")
        % {"name": carrier.name},
        submit=_("Delete carrier"),
        done=_("Carrier %(name)s deleted.") % {"name": carrier.name},
        done_url=reverse("rating_carrier_list"),
        back_url=reverse("rating_carrier_update", args=[pk]),
        title=_("Delete %(name)s") % {"name": carrier.name},
    )
