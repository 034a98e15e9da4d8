"""Reads of the rating part of billing, each in the actor's scope (Model.objects.restrict)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q, QuerySet

from billing.models import Carrier, PricingPlan, Rate, RateDeck, Rating
from tenants.models import Client, Role

UNRATED_COLUMNS = [
    "call_id",
    "call_uuid",
    "company",
    "service",
    "direction",
    "caller_number",
    "callee_number",
    "started_at",
    "seconds",
    "reason",
]


def decks_of(actor) -> QuerySet[RateDeck]:
    """The decks in scope with their number of rates and of plans that use them."""
    return (
        RateDeck.objects.restrict(actor)
        .select_related("brand", "carrier")
        .annotate(rate_count=Count("rates", distinct=True), plan_count=Count("plans", distinct=True))
        .order_by("carrier_id", "brand__name", "name")
    )


def deck_rates(deck: RateDeck, search: str = "") -> QuerySet[Rate]:
    """A deck's rows, narrowed by a prefix (the number's start) or words of the description."""
    rates = deck.rates.order_by("prefix", "effective_from")
    search = search.strip()[:100]
    if search:
        condition = Q(description__icontains=search)
        if search.lstrip("+").isdigit():
            condition |= Q(prefix__startswith=search.lstrip("+"))
        rates = rates.filter(condition)
    return rates


def carriers_of(actor) -> QuerySet[Carrier]:
    return Carrier.objects.restrict(actor).prefetch_related("decks").annotate(rate_count=Count("decks__rates"))


def plan_clients(actor) -> QuerySet[Client]:
    """The clients whose pricing plans the actor manages (god, brands), with their plan."""
    if actor.role not in (Role.GOD, Role.BRAND):
        return Client.objects.none()
    return Client.objects.restrict(actor).select_related("brand", "pricing_plan__deck").order_by("name", "pk")


def plans_of(actor) -> QuerySet[PricingPlan]:
    if actor.role not in (Role.GOD, Role.BRAND):
        return PricingPlan.objects.none()
    return PricingPlan.objects.restrict(actor).select_related("client", "deck")


def unrated_calls(actor, *, since: dt.datetime | None = None, until: dt.datetime | None = None) -> QuerySet[Rating]:
    """Billable calls that could not be priced, newest first, with the reason."""
    if actor.role not in (Role.GOD, Role.BRAND):
        return Rating.objects.none()
    ratings = Rating.objects.restrict(actor).filter(status=Rating.Status.UNRATED).started_within(since, until)
    return ratings.select_related("cdr", "client").order_by("-started_at", "-cdr_id")


def unrated_row(rating: Rating) -> dict:
    cdr = rating.cdr
    return {
        "call_id": cdr.pk,
        "call_uuid": cdr.call_uuid,
        "company": rating.client.name,
        "client_id": rating.client_id,
        "service": rating.service,
        "direction": cdr.direction,
        "caller_number": cdr.caller_number,
        "callee_number": cdr.callee_number,
        "started_at": rating.started_at,
        "seconds": rating.seconds,
        "reason": rating.reason,
    }
