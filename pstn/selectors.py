"""Reads of the phone-network side, each in the actor's scope (Model.objects.restrict)."""

from __future__ import annotations

from django.db.models import QuerySet

from pstn.models import Gateway, Number, OutboundRoute
from pstn.services import national
from tenants.models import Role


def numbers_of(actor) -> QuerySet[Number]:
    """God: every number; a brand: its inventory; a client's operators: their numbers; users none."""
    if actor.role not in (Role.GOD, Role.BRAND, Role.CLIENT):
        return Number.objects.none()
    return Number.objects.restrict(actor).select_related("brand", "carrier", "client")


def number_row(number: Number) -> Number:
    """Give a number `national`: as its client's people dial it (the carrier's country when free), and
    its destinations' kinds as a page shows them (`destination_shown`, `closed_shown`)."""
    from telephony.selectors import KIND_SHORT

    country = number.client.country if number.client_id else number.carrier.country
    number.national = national(number.e164, country)
    number.destination_shown = KIND_SHORT.get(number.destination_kind, number.destination_kind)
    number.closed_shown = KIND_SHORT.get(number.closed_kind, number.closed_kind)
    return number


def gateways_of(actor) -> QuerySet[Gateway]:
    return Gateway.objects.restrict(actor).select_related("carrier")


def routes_of(actor) -> QuerySet[OutboundRoute]:
    return OutboundRoute.objects.restrict(actor).select_related("brand").prefetch_related("members__carrier")
