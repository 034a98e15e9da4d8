"""Moving a party: blind and attended transfers (the API's and a phone's REFER, RFC 3515 and 3891),
park with its ring-back, and retrieval from park (*71<slot>, or the API ringing a line).

A transfer keeps the call and its record: the leaving party's dialog ends, a new one (a line the
engine rings, or the consulted party of another call) takes its side, and the record gets a new
segment. Park empties one side: the parked party hears music, the call is held by a `Parked`
application until someone takes the empty side.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING
from urllib.parse import unquote

from records.models import Cdr
from telephony import features
from telephony.engine.application import Application, Incoming, feature
from telephony.engine.call import Call, Side, accept, other
from telephony.engine.negotiation import media_plan
from telephony.engine.states import State
from telephony.sip import Request, SipError

if TYPE_CHECKING:
    from telephony.engine.dialplan import Party
    from telephony.engine.server import Engine
    from telephony.engine.sipua import ServerTx
    from telephony.sip.dialog import Leg

log = logging.getLogger(__name__)
S = State
PARK = features.FeatureCode("*70", "park", transfer_target=True)
RETRIEVE = features.FeatureCode("*71", "retrieve", features.DIGITS, locate="park:")


# Blind transfer ------------------------------------------------------------------------------------


async def transfer(call: Call, leaving: str, dialled: str, *, referrer: Leg | None = None) -> str | None:
    """Blind transfer: the `leaving` party ("caller" or "callee") goes, the other is connected to the
    extension `dialled` (hearing music while it rings). A phone's REFER gets NOTIFYs with the outcome
    (RFC 3515). None when it worked, else why not. The park code *70 as the target parks the staying
    party; a parked call is transferred to the line that parked it when nobody took it."""
    if call.state not in (S.ANSWERED, S.PARKED) or call.transferring:
        return "the call is not answered" if call.state != S.ANSWERED else "a transfer is running"
    if dialled == PARK.prefix:
        slot = await park(call, other(leaving), referrer=referrer)
        return None if isinstance(slot, int) else slot
    call.transferring = True
    try:
        return await _transfer(call, leaving, dialled, referrer)
    except Exception:
        log.exception("transfer of call %s failed", call.uuid)
        _failed(call, referrer, 500, "Server Internal Error")
        return "the engine failed"
    finally:
        call.transferring = False


async def _transfer(call: Call, leaving: str, dialled: str, referrer: Leg | None) -> str | None:
    staying = call.side(other(leaving))
    _notify(call, referrer, "100 Trying")
    if call.state == S.ANSWERED:
        call.hold(staying.name)
    plan = await call.plan(call.route.client)
    target = plan.by_number.get(dialled)
    if target is None:
        return _failed(call, referrer, 404, "Not Found")
    party = call.route.caller if staying.name == "caller" else call.route.callee
    placed = await call.dial_line(target, party, leaving, staying.codec, staying.offered,
                                  still=lambda: call.state in (S.ANSWERED, S.PARKED))  # fmt: skip
    if isinstance(placed, tuple):
        status, reason = placed
        return _failed(call, referrer, status, reason) if status else reason
    # The target answered: the leaving party goes, the staying one is joined to the target.
    _notify(call, referrer, "200 OK", final=True)
    call.vacate(leaving)  # (a parked call rung back has nobody on that side)
    reason = "retrieve" if call.state == S.PARKED else "transfer"
    call.stop_playing()
    unpark(call)
    call.replace_side(leaving, placed.leg, placed.media, placed.codec, placed.offered)
    call.set_line(leaving, target.number)
    call.bridge(staying.name, placed.to_new, placed.from_new)
    call.move(S.ANSWERED)
    call.set_held(None)
    call.log_leg(leaving, placed.leg.call_id, transferred_to=target.number)
    call.seat(reason, **{leaving: target})
    call.engine.event(call, "call.transferred", leaving=leaving, to=target.number)
    return None


def _failed(call: Call, referrer: Leg | None, status: int, reason: str) -> str:
    _notify(call, referrer, f"{status} {reason}", final=True)
    call.resume()
    return f"the target answered {status} {reason}"


def _notify(call: Call, referrer: Leg | None, status_line: str, *, final: bool = False) -> None:
    """RFC 3515: the REFER's implicit subscription, told how the transfer goes (message/sipfrag)."""
    if referrer is None or call.state != S.ANSWERED:
        return
    state = "terminated;reason=noresource" if final else "active;expires=60"
    headers = [("Event", "refer"), ("Subscription-State", state), ("Content-Type", "message/sipfrag;version=2.0")]
    body = f"SIP/2.0 {status_line}\r\n".encode()
    call.ua.request(referrer.request("NOTIFY", call.ua, headers=headers, body=body), lambda r: None)


# A phone's REFER -----------------------------------------------------------------------------------


@accept("REFER", S.ANSWERED)
def on_refer(call: Call, side: Side, request: Request, stx: ServerTx) -> None:
    if side.outside:  # a caller from the phone network does not move the client's call around
        call.ua.respond(stx, 403, "Transfer Not Allowed")
        return
    try:
        refer_to = request.name_addr("Refer-To").uri
        dialled = refer_to.user_unescaped or ""
    except SipError:
        refer_to, dialled = None, ""
    headers = refer_to.headers if refer_to is not None else {}
    replaces = next((v for k, v in headers.items() if k.lower() == "replaces"), None)
    if replaces is not None:  # attended transfer (RFC 3891): join our other party to the consulted one
        _refer_replaces(call, side, unquote(replaces), stx)
        return
    if not dialled or call.transferring:
        call.ua.respond(stx, 400 if not dialled else 491, "Bad Refer-To" if not dialled else None)
        return
    call.ua.respond(stx, 202)
    call.engine.background(transfer(call, side.name, dialled, referrer=side.leg))


def _refer_replaces(call: Call, side: Side, replaces: str, stx: ServerTx) -> None:
    """A REFER whose Refer-To names the dialog the referrer has with the consulted party (Replaces:
    Call-ID;to-tag;from-tag, as the referrer sees it): that call must be on this engine."""
    call_id, *params = replaces.split(";")
    tags = dict(p.strip().split("=", 1) for p in params if "=" in p)
    consulted = call.engine.calls.get(call_id.strip())
    mine = None
    for their_side in (consulted.caller, consulted.callee) if consulted else ():
        leg = their_side.leg
        if leg is not None and leg.call_id == call_id.strip() and leg.local_tag == tags.get("to-tag") \
                and leg.remote_tag == tags.get("from-tag"):  # fmt: skip
            mine = their_side
    if consulted is None or mine is None or consulted is call or consulted.state != S.ANSWERED:
        call.ua.respond(stx, 481 if consulted is None or mine is None else 400, "Replaced Call Not Here")
        return
    call.ua.respond(stx, 202)
    _notify(call, side.leg, "100 Trying")
    problem = join_with(call, consulted, side.name, mine.name, referrer=side.leg)
    if problem is not None:
        _notify(call, side.leg, "488 Not Acceptable Here", final=True)


# Attended transfer ---------------------------------------------------------------------------------


def join_with(call: Call, consulted: Call, leaving: str, consulted_leaving: str, *,
              referrer: Leg | None = None) -> str | None:  # fmt: skip
    """Attended transfer: the party `leaving` this call (who also is `consulted_leaving` in `consulted`,
    the consultation call) goes; the party staying here and the one left in `consulted` talk.
    `consulted` ends (its record closes with cause "transferred"); this call goes on with the new
    party. None when it worked, else why not."""
    if call.state != S.ANSWERED or consulted.state != S.ANSWERED or consulted is call:
        return "both calls must be answered"
    staying, moving = call.side(other(leaving)), consulted.side(other(consulted_leaving))
    plan = media_plan(staying.codecs(), moving.codecs())
    if plan is None:
        return "the parties have no codec in common and none the engine converts"
    _, _, stay_to_new, new_to_stay = plan
    call.media_changing()
    consulted.media_changing()
    _notify(call, referrer, "200 OK", final=True)
    consulted.bye(consulted.side(consulted_leaving).leg)
    number, moved = consulted.lines.get(moving.name), moving.party
    leg, media, codec, offered = moving.leg, moving.media, moving.codec, moving.offered
    consulted.unbridge()
    consulted.stop_playing()
    consulted.vacate(moving.name, handed_over=True)
    consulted.finish(Cdr.Disposition.ANSWERED, "transferred", consulted_leaving)
    call.stop_playing()
    call.vacate(leaving)
    call.replace_side(leaving, leg, media, codec, offered)
    call.set_line(leaving, number)
    call.bridge(staying.name, stay_to_new, new_to_stay)
    call.set_held(None)
    call.log_leg(leaving, leg.call_id, transferred_to=number or "", attended=True, consultation=str(consulted.uuid))
    call.seat("attended-transfer", **{leaving: moved})
    call.engine.event(call, "call.transferred", leaving=leaving, to=number or "", attended=True)
    return None


# Park ----------------------------------------------------------------------------------------------


class Parked(Application):
    """A call in a park slot: one party hears music; any line of the client retrieves it by dialling
    *71<slot>; after the engine's park timeout it rings back the line that parked it."""

    state = S.PARKED

    def __init__(self, call: Call, slot: int, parker: str, vacated: str):
        self.call, self.slot, self.parker, self.vacated = call, slot, parker, vacated
        self.timer: asyncio.TimerHandle | None = None
        self.wait()

    def wait(self) -> None:
        self.timer = asyncio.get_running_loop().call_later(self.call.engine.config.park_timeout, self.expired)

    def expired(self) -> None:
        """Nobody retrieved the call: ring the line that parked it (a failed ring-back ends the call)."""
        self.timer = None
        if self.call.state == S.PARKED:
            self.call.engine.background(self.ring_back())

    async def ring_back(self) -> None:
        call = self.call
        problem = await transfer(call, self.vacated, self.parker) if self.parker else "nobody to ring back"
        if problem is not None and call.state == S.PARKED:
            call.hangup("engine", cause="park-timeout")

    def release(self) -> None:
        """Give the slot back (the call was retrieved, rung back or ended)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.slot is not None:
            self.call.engine.callindex.free_slot(self.call.route.client, self.slot, self.call.uuid)
            self.slot = None

    def ended(self, call: Call, cause: str) -> None:
        self.release()

    def shown(self) -> dict:
        return {"park_slot": self.slot}


async def park(call: Call, parked: str, *, referrer: Leg | None = None) -> int | str:
    """Park one party ("caller" or "callee") in the client's first free slot: it hears music, the
    other party is let go. The slot (an int), or why not (a str)."""
    if call.state != S.ANSWERED:
        return "the call is not answered"
    call.media_changing()
    leaving = other(parked)
    slot = await call.engine.callindex.claim_slot(call.route.client, call.uuid)
    if slot is None:
        _notify(call, referrer, "503 No Free Park Slot", final=True)
        return "no park slot is free"
    if call.state != S.ANSWERED:
        call.engine.callindex.free_slot(call.route.client, slot, call.uuid)
        return "the call ended"
    _notify(call, referrer, f"200 Parked In Slot {slot}", final=True)
    gone = call.side(leaving).leg
    call.unbridge()
    call.vacate(leaving)
    parker = call.lines.get(leaving, "")
    call.set_line(leaving, None)
    call.take(Parked(call, slot, parker, leaving))
    call.set_held(parked)
    call.play_music(parked)
    call.log_leg(leaving, gone.call_id, parked_in=slot)
    call.seat("park", **{leaving: None})
    call.engine.event(call, "call.parked", slot=slot, by=parker)
    return slot


def unpark(call: Call) -> None:
    if isinstance(call.app, Parked):
        call.app.release()
        call.app = None


def parked_call(engine: Engine, client: int, slot: int) -> Call | None:
    return next((c for c in engine.live() if c.state == S.PARKED and c.route.client == client
                 and isinstance(c.app, Parked) and c.app.slot == slot and not c.transferring), None)  # fmt: skip


async def retrieve_to(call: Call, number: str) -> str | None:
    """The API's retrieve: ring line `number` and join it to the parked party once it answers (the
    call stays parked if it does not). None when it worked, else why not."""
    if call.state != S.PARKED:
        return "the call is not parked"
    parked = call.app
    if parked.timer is not None:
        parked.timer.cancel()
    problem = await transfer(call, parked.vacated, number)
    if problem is not None and call.state == S.PARKED:  # nobody answered: parked again, timer anew
        parked.wait()
    return problem


@feature(RETRIEVE)
async def retrieve_by_code(call: Call, incoming: Incoming) -> None:
    """*71<slot>: this caller takes the parked call's empty side (the edge sends such INVITEs to the
    engine the call index names); this call object ends without a record of its own."""
    call.route_alone(incoming)
    if incoming.caller is None:
        return call.refuse(incoming, 403, "Unknown Caller")
    target = parked_call(call.engine, incoming.plan.client, int(incoming.argument))
    if target is None:
        return call.refuse(incoming, 404, "Nothing Parked There")
    plan = await call.join_media(incoming, target.side(target.held).codecs(),
                                 lambda: target.state == S.PARKED and not target.transferring,
                                 "Nothing Parked There")  # fmt: skip
    if plan is not None:
        _retrieved_by(target, call, incoming.caller, plan)


def _retrieved_by(call: Call, joining: Call, party: Party, plan) -> None:
    """`joining`'s caller dialled this call's slot: it takes the vacated side, the parked party's
    music stops and the two talk."""
    _, codec, parked_to_new, new_to_parked = plan
    vacated = call.app.vacated
    slot = call.app.slot
    unpark(call)
    call.stop_playing()
    call.adopt(joining, vacated, codec, parked_to_new, new_to_parked)
    call.move(S.ANSWERED)
    call.set_held(None)
    call.log_leg(vacated, call.side(vacated).leg.call_id, retrieved_by=party.number, from_slot=slot)
    call.seat("retrieve", **{vacated: party})
    call.engine.event(call, "call.retrieved", slot=slot, by=party.number)


features.register(PARK)
