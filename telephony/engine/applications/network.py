"""Calls from the phone network: a carrier's INVITE to one of the platform's numbers (the edge
checked the carrier's address and the number) runs the destination the client points the number
at. The caller's number is E.164 in the record and the SIP URI, and its display name is the number
as the client's users read it (national format for their country); the record is inbound and names
the carrier.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from dataclasses import dataclass

import phonenumbers
from django.core.exceptions import ValidationError

from pstn import health, numbering, policy, routing
from pstn.models import Number
from records.models import Cdr
from telephony.engine import destinations
from telephony.engine.application import Application, Incoming, network, outbound
from telephony.engine.applications.blocking import refuse_blocked_caller, refuse_blocked_destination
from telephony.engine.call import Call
from telephony.engine.destinations import runs
from telephony.engine.dialplan import ClientPlan, Party, Route, on_invalidate, section
from telephony.engine.states import State
from telephony.models import Schedule
from telephony.schedules import Hours, hours_of
from telephony.sip import locate
from telephony.sip.digest import Credentials, authorize
from tenants.dates import zone_named

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NumberInfo:
    e164: str
    kind: str
    target: str
    schedule: int | None = None  # while it says closed, calls go to the closed destination
    closed_kind: str = ""
    closed_target: str = ""


@dataclass(frozen=True)
class Numbers:
    """A client's numbers as its dial plan keeps them, with the schedules they follow and its zone."""

    by_e164: dict[str, NumberInfo]
    schedules: dict[int, Hours]
    zone: dt.tzinfo


@section("numbers")
def load_numbers(client) -> Numbers:
    """The client's numbers and where each goes (public schema rows, read with the dial plan), and its
    schedules (a schedule written wrong, which the services refuse, is taken as always open)."""
    rows = Number.objects.filter(client_id=client.pk).values_list(
        "e164", "destination_kind", "destination_target", "schedule", "closed_kind", "closed_target"
    )
    schedules = {}
    for pk, hours, holidays in Schedule.objects.values_list("pk", "hours", "holidays"):
        try:
            schedules[pk] = hours_of(hours, holidays)
        except ValidationError:
            log.warning("schedule %s of client %s cannot be read: taken as always open", pk, client.pk)
    return Numbers({row[0]: NumberInfo(*row) for row in rows}, schedules, zone_named(client.timezone))


def numbers_of(plan: ClientPlan) -> Numbers:
    return plan.sections.get("numbers") or Numbers({}, {}, dt.UTC)


def where_now(number: NumberInfo, numbers: Numbers) -> tuple[str, str]:
    """Where a call to the number goes now: its destination, or its closed one while its schedule says closed."""
    hours = numbers.schedules.get(number.schedule) if number.schedule else None
    if hours is not None and number.closed_kind and not hours.is_open(dt.datetime.now(dt.UTC), numbers.zone):
        return number.closed_kind, number.closed_target
    return number.kind, number.target


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
    call.from_outside("caller")
    caller_e164 = (
        numbering.from_carrier(facts.get("from", ""), facts.get("format", "plus"), facts.get("country", "US")) or ""
    )
    country = plan.country or facts.get("country", "US")
    caller = Party(caller_e164 or "anonymous", shown(caller_e164, country) if caller_e164 else "Anonymous")
    incoming = Incoming(plan, 0, caller, incoming.dialled, incoming.offer, network=facts)
    if await refuse_blocked_caller(call, incoming, caller_e164):
        return
    numbers = numbers_of(plan)
    number = numbers.by_e164.get(incoming.dialled)
    if number is None or not number.kind:
        call.refuse(incoming, 404, "Not In Service")
        return
    await destinations.run(call, *where_now(number, numbers), incoming)


# Calls to the phone network ---------------------------------------------------------------------------

# Causes of a call out that never reached the far end, as its record (and a campaign's target) tells them.
POLICY_CAUSE = "outbound-policy"  # the client may not call such numbers
SPENDING_CAUSE = "international-limit"  # the spending guard's minutes of this hour are used up
NO_CARRIER_CAUSE = "no-carrier"  # no carrier could take it (none routes it, or all at their limit)
CARRIER_FAILED_CAUSE = "carrier-failed"  # every carrier tried failed; the last one's answer follows

ROUTER_TTL = 30.0  # seconds a brand's router is kept (dropped at once when the directory says "pstn")
_routers: dict[int, tuple[float, object]] = {}
_loading: dict[int, asyncio.Future] = {}  # brand -> its router being read


@on_invalidate
def routers_changed(message: str) -> None:
    if message.split(" ")[0] in ("pstn", "all"):
        _routers.clear()


async def router_of(call: Call, brand: int):
    """The brand's router, loaded once however many calls ask for it at the same moment (loading
    reads three 100,000-row decks: a second or so of a thread's time)."""
    hit = _routers.get(brand)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    loading = _loading.get(brand)
    if loading is None:
        loading = _loading[brand] = asyncio.ensure_future(call.engine.database.call(routing.Router.load, brand))
        loading.add_done_callback(lambda _: _loading.pop(brand, None))
    router = await asyncio.shield(loading)
    _routers[brand] = (time.monotonic() + ROUTER_TTL, router)
    return router


STATE_FOR = 0.25  # seconds a brand's carriers' health and call counts are read once for all its calls
_states: dict[int, tuple[float, dict, set]] = {}


async def routing_state(call: Call, router) -> tuple[dict, set]:
    """The brand's carriers' health and those at their limit, read from Redis at most every STATE_FOR
    seconds (a burst of calls asks once; a carrier's limit is still enforced by each call's claim)."""
    hit = _states.get(router.brand_id)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1], hit[2]
    engine = call.engine
    redis, prefix = engine.redis, engine.config.redis_prefix
    found = await health.snapshot(redis, prefix, list(router.carriers), thresholds=router.thresholds)
    full = await health.busy(redis, prefix, router.limits())
    _states[router.brand_id] = (time.monotonic() + STATE_FOR, found, full)
    return found, full


@section("outbound")
def load_policy(client) -> policy.Policy:
    return policy.load_policy(client.pk)


@outbound
async def to_network(call: Call, incoming: Incoming) -> bool:
    """A number no line of the client has: when it is a phone number (as the client's users dial),
    one of the client's own numbers goes where it points, without a carrier; another goes out when
    the client's policy allows it and a carrier takes it. True when taken."""
    dialled = numbering.classify(incoming.dialled, incoming.plan.country)
    if dialled is None:
        return False
    numbers = numbers_of(incoming.plan)
    own = numbers.by_e164.get(dialled.e164) if dialled.e164 else None
    if own is not None and own.kind:  # one of the client's own numbers: no carrier, straight where it goes
        await destinations.run(call, *where_now(own, numbers), incoming)
        return True
    await place_out(call, incoming, dialled)
    return True


@runs("external")
async def to_external(call: Call, target: str, incoming: Incoming) -> None:
    """A number, a forwarding or a schedule that points at an external number (E.164). One of the
    client's own numbers goes where it points without a carrier, as when dialled (a forwarding to it
    that comes back to the line is then a loop the forwarding sees, not one through the phone
    network); one that points out again is followed to the number it points at, and own numbers that
    point out at each other (or at themselves) are a loop: 482."""
    numbers, seen = numbers_of(incoming.plan), set()
    while True:
        dialled = numbering.classify(target, incoming.plan.country)
        if dialled is None:
            call.refuse(incoming, 404, "Not In Service")
            return
        own = numbers.by_e164.get(dialled.e164) if dialled.e164 else None
        if own is None or not own.kind:
            break
        kind, target = where_now(own, numbers)
        if kind != "external":
            await destinations.run(call, kind, target, incoming)
            return
        if dialled.e164 in seen:  # (through a carrier it would come back in, again and again)
            log.warning("call %s: the client's numbers point out at each other: %s", call.uuid, sorted(seen))
            call.refuse(incoming, 482, "Loop Detected")
            return
        seen.add(dialled.e164)
    await place_out(call, incoming, dialled)


async def place_out(call: Call, incoming: Incoming, dialled) -> None:
    plan, engine = incoming.plan, call.engine
    rules: policy.Policy = plan.sections.get("outbound") or policy.Policy()
    caller = incoming.caller or Party("", "")
    emergency = dialled.kind == "emergency"
    # (a call from the network forwarded out shows the client's number, never the outside caller's)
    own = [caller.number] if incoming.network is None and caller.number.startswith("+") else []
    shown = policy.caller_id(rules, own)
    route = Route(client=plan.client, brand=plan.brand, domain=plan.domain, caller=caller,
                  callee=Party(dialled.e164 or dialled.dialled, ""))  # fmt: skip
    if call.route is None:
        call.record_as(direction=Cdr.Direction.OUTBOUND)
        call.open_record(route, incoming.dialled)
    else:  # a forwarding: the call's record goes on, as a call out now
        call.reroute(route)
        call.update_record(direction=Cdr.Direction.OUTBOUND)
    if call.state == State.ENDED:  # cancelled meanwhile: the record opened now is closed now
        call.write_close({})
        return
    # The policy and the spending guard hold for a forwarding too: a number pointed abroad is still the
    # client's call abroad (and the way toll fraud would go).
    refusal = policy.refusal(rules, dialled)
    if refusal is not None:
        call.end_before_answer(*refusal, cause=POLICY_CAUSE)
        return
    if refuse_blocked_destination(call, plan, dialled):  # the client's own list, on top of the brand's policy
        return
    redis, prefix = engine.redis, engine.config.redis_prefix
    international = dialled.kind == "international"
    if international and not await policy.admit_international(redis, prefix, plan.client, rules):
        call.end_before_answer(403, "International Calls Limit Reached", cause=SPENDING_CAUSE)
        return
    router = await router_of(call, plan.brand)
    found, full = await routing_state(call, router)
    choices = router.candidates(dialled.e164, found, full, emergency=emergency)
    if not choices:
        call.end_before_answer(503, "No Carrier Available", cause=NO_CARRIER_CAUSE)
        return
    if not await call.open_media(incoming.offer):
        return
    out = Outbound(call, route, choices, shown, limits={} if emergency else router.limits(),
                   international=international, emergency=emergency)  # fmt: skip
    await out.next_carrier()


class Outbound(Application):
    """The network side of a call to an external number: the carriers still to try, the claim on the
    one ringing now (its concurrent-call limit), its health and the spending guard's minutes. The
    call core asks it what to do when the carrier's leg fails (`failed`) and tells it of answers."""

    def __init__(self, call: Call, route: Route, choices: list, shown: str, *, limits: dict[int, int],
                 international: bool, emergency: bool = False):  # fmt: skip
        self.call, self.route, self.choices, self.international = call, route, list(choices), international
        self.caller_id = shown  # the caller ID presented (E.164), "" when the client has none: anonymous
        self.limits = limits  # carrier -> its concurrent calls at most (none for an emergency call)
        self.emergency = emergency  # every gateway is tried, silent or not
        self.choice = None
        self.gateways: list = []
        self.gateway = None  # the gateway the leg is placed at now (its credentials answer challenges)
        self.claimed: int | None = None
        self.sent_at = 0.0
        self.pdd: float | None = None
        self.answered_at: float | None = None
        self.challenged = False
        self.last_failure = ""  # the last carrier's answer when it failed over (a SIP status)
        call.place_with(self)
        call.attach(self)

    async def next_carrier(self) -> bool:
        """Place the leg at the next gateway of this carrier, else at the next carrier that takes the
        call (its limit); False when none is left (the call was refused)."""
        call = self.call
        engine = call.engine
        redis, prefix = engine.redis, engine.config.redis_prefix
        while True:
            if self.gateways:
                gateway = self.gateways.pop(0)
                break
            await self.release()
            if not self.choices:
                cause = f"{CARRIER_FAILED_CAUSE} {self.last_failure}" if self.last_failure else NO_CARRIER_CAUSE
                call.end_before_answer(503, "No Carrier Available", cause=cause)
                return False
            self.choice = self.choices.pop(0)
            limit = self.limits.get(self.choice.carrier_id, 0)
            if limit and not await health.claim(redis, prefix, self.choice.carrier_id, str(call.uuid), limit):
                continue
            self.claimed = self.choice.carrier_id
            self.gateways = await in_service(engine, self.choice.gateways, emergency=self.emergency)
        if call.state == State.ENDED:  # the caller went away meanwhile (a slot claimed since is given back)
            await self.release()
            return False
        call.update_record(carrier_id=self.choice.carrier_id, callee_number=self.route.callee.number)
        self.gateway = gateway
        address = await gateway_address(gateway)
        if call.state == State.ENDED:  # (while the gateway's name was looked up)
            await self.release()
            return False
        if address is None:
            return await self.next_carrier()
        target = f"sip:{self.choice.number}@{address}"
        self.challenged, self.sent_at, self.pdd = False, time.monotonic(), None
        if self.caller_id:
            identity = f'"{self.route.caller.name}" <sip:{self.caller_id}@{self.route.domain}>'
            headers = [("P-Asserted-Identity", f"<sip:{self.caller_id}@{self.route.domain}>")]
        else:  # no number of the client to show (RFC 3323: anonymous, and say so)
            identity, headers = '"Anonymous" <sip:anonymous@anonymous.invalid>', [("Privacy", "id")]
        call.place_callee(self.route, target=target, identity=identity, headers=headers, codecs=self.choice.codecs)
        call.from_outside("callee")
        return True

    def provisional(self, call: Call, response) -> None:
        if self.pdd is None and response.status in (180, 183):
            self.pdd = time.monotonic() - self.sent_at

    def failed(self, call: Call, response) -> bool:
        status = response.status
        if status in (401, 407) and not self.challenged and self.choice is not None:
            self.challenged = True
            credentials = gateway_credentials(self.choice, self.gateway)
            again = authorize(call.callee.leg.invite, response, credentials) if credentials else None
            if again is not None:
                call.resend_callee(again)
                return True
        engine = call.engine
        # Credentials refused again are the carrier's (or our configuration's) trouble, not the far end's.
        outcome = health.SERVER_ERROR if status in (401, 407) else health.outcome_for(status)
        log.info("call %s: carrier %s answered %s %s (%s)", call.uuid, self.choice.carrier_id, status, response.reason,
                 outcome)  # fmt: skip
        call.engine.background(health.record(engine.redis, engine.config.redis_prefix, self.choice.carrier_id,
                                             outcome, self.pdd or 0.0, 0.0))  # fmt: skip
        if not health.fails_over(outcome):
            return False  # busy, not found, declined...: the far end's answer, the same at any carrier
        self.last_failure = str(status)
        call.engine.background(self.next_carrier())
        return True

    def answered(self, call: Call, response) -> None:
        self.answered_at = time.monotonic()
        if self.pdd is None:
            self.pdd = self.answered_at - self.sent_at

    def ended(self, call: Call, cause: str) -> None:
        engine = call.engine
        redis, prefix = engine.redis, engine.config.redis_prefix
        seconds = time.monotonic() - self.answered_at if self.answered_at is not None else 0.0
        if self.answered_at is not None and self.choice is not None:
            engine.background(health.record(redis, prefix, self.choice.carrier_id, "answered", self.pdd or 0.0,
                                            seconds))  # fmt: skip
        if self.international and seconds:
            engine.background(policy.spent(redis, prefix, call.route.client, seconds))
        engine.background(self.release())

    async def release(self) -> None:
        if self.claimed is not None:
            claimed, self.claimed = self.claimed, None
            engine = self.call.engine
            await health.release(engine.redis, engine.config.redis_prefix, claimed, str(self.call.uuid))


async def in_service(engine, gateways, *, emergency: bool = False) -> list:
    """The gateways the edge that keeps them has not found silent (pstn/directory.py `pstn:gw:<id>`; a
    gateway nobody pinged yet counts as in service); every one for an emergency call."""
    if emergency:
        return list(gateways)
    prefix = engine.config.redis_prefix
    try:
        states = await engine.redis.mget([f"{prefix}:pstn:gw:{g.id}" for g in gateways]) if gateways else []
    except Exception:  # Redis away for a moment: every gateway is tried
        return list(gateways)
    return [g for g, raw in zip(gateways, states, strict=True) if raw is None or json.loads(raw).get("alive", True)]


def gateway_credentials(choice, gateway) -> Credentials | None:
    """The credentials a gateway's challenge is answered with: its own (each of a carrier's gateways
    may have an account of its own), else those of the carrier's first gateway that has some."""
    if gateway is None or not gateway.username:
        gateway = next((g for g in choice.gateways if g.username), None)
    if gateway is None:
        return None
    return Credentials(gateway.username, password=gateway.password, realm=gateway.realm or None)


async def gateway_address(gateway) -> str | None:
    """Where the edge is to send the call: `ip:port` of the gateway (its host looked up by DNS: SRV when
    it has no port, else A/AAAA; telephony/sip/locate.py), with `;transport=` for TCP and TLS; None when
    its name is not found."""
    transport = gateway.transport or "udp"
    found = await locate.default_resolver().targets(gateway.host, gateway.port, transport)
    if not found:
        return None
    ip, port = found[0]
    host = f"[{ip}]" if ":" in ip else ip
    return f"{host}:{port}" + ("" if transport == "udp" else f";transport={transport}")
