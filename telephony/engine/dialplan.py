"""The dial plan, resolved in the caller's client schema. Database work: callers run it in a thread,
never on the loop that paces media."""

from __future__ import annotations

from dataclasses import dataclass

from django_tenants.utils import schema_context

from telephony.models import Extension
from tenants.models import Client


@dataclass(frozen=True)
class Party:
    number: str
    name: str
    account: int | None = None
    sip_username: str = ""


@dataclass(frozen=True)
class Route:
    """Where a call goes: `status` set when it goes nowhere (404 unknown number...)."""

    client: int
    brand: int
    domain: str
    caller: Party
    callee: Party | None
    status: int = 0
    reason: str = ""


def route_call(client_id: int, caller_extension: int, dialled: str) -> Route:
    """First dial plan: an extension number rings every registered device of its user."""
    client = Client.objects.get(pk=client_id)
    with schema_context(client.schema_name):
        own = Extension.objects.filter(pk=caller_extension).first()
        target = Extension.objects.filter(number=dialled).first() if dialled.isdigit() else None
    caller = Party(own.number, own.display_name, own.account_id, own.sip_username) if own else Party("", "")
    common = {"client": client.pk, "brand": client.brand_id, "domain": client.sip_domain, "caller": caller}
    if own is None:
        return Route(**common, callee=None, status=403, reason="Unknown Caller")
    if not client.is_active:
        return Route(**common, callee=None, status=403, reason="Client Not Active")
    if target is None:
        return Route(**common, callee=None, status=404, reason="No Such Extension")
    callee = Party(target.number, target.display_name, target.account_id, target.sip_username)
    return Route(**common, callee=callee)
