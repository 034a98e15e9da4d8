"""Calls from the phone network: a carrier's INVITE to one of the platform's numbers (the edge
checked the carrier's address and the number) runs the destination the client points the number
at. The caller's number is E.164 in the record and the SIP URI, and its display name is the number
as the client's users read it (national format for their country); the record is inbound and names
the carrier.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers

from pstn import numbering
from pstn.models import Number
from records.models import Cdr
from telephony.engine import destinations
from telephony.engine.application import Incoming, network
from telephony.engine.call import Call
from telephony.engine.dialplan import ClientPlan, Party, section


@dataclass(frozen=True)
class NumberInfo:
    e164: str
    kind: str
    target: str


@section("numbers")
def load_numbers(client) -> dict[str, NumberInfo]:
    """The client's numbers and where each goes (public schema rows, read with the dial plan)."""
    rows = Number.objects.filter(client_id=client.pk).values_list("e164", "destination_kind", "destination_target")
    return {e164: NumberInfo(e164, kind, target) for e164, kind, target in rows}


def numbers_of(plan: ClientPlan) -> dict[str, NumberInfo]:
    return plan.sections.get("numbers") or {}


def shown(e164: str, country: str) -> str:
    """A caller's number as the client's users read it: national for their country, else international."""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return e164
    same = phonenumbers.region_code_for_number(number) == country
    style = phonenumbers.PhoneNumberFormat.NATIONAL if same else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(number, style)


@network
async def carrier_call(call: Call, incoming: Incoming) -> None:
    facts, plan = incoming.network, incoming.plan
    call.record_as(direction=Cdr.Direction.INBOUND, carrier=int(facts["carrier"]))
    caller_e164 = (
        numbering.from_carrier(facts.get("from", ""), facts.get("format", "plus"), facts.get("country", "US")) or ""
    )
    country = plan.country or facts.get("country", "US")
    caller = Party(caller_e164 or "anonymous", shown(caller_e164, country) if caller_e164 else "Anonymous")
    incoming = Incoming(plan, 0, caller, incoming.dialled, incoming.offer, network=facts)
    number = numbers_of(plan).get(incoming.dialled)
    if number is None or not number.kind:
        call.refuse(incoming, 404, "Not In Service")
        return
    await destinations.run(call, number.kind, number.target, incoming)
