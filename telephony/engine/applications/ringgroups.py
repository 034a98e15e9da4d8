"""Ring groups (ringgroups.models.RingGroup): the destination kind "group" (target: the group's id), where
numbers, forwarding, a schedule's closed branch and menus' keys point.

The caller hears ringing while the group's members are offered the call, each as a call the engine
places itself: a user's devices ring (`Ring`: the line alone, never the user's forwarding or box), an
external number is called through the client's carriers and outbound policy (`Dial`, an
`OutsideCall` with its own outbound record, as find-me's). `simultaneous` offers the call to all
members at once for `ring_time` seconds; `in_order` to one after the other, `ring_time` each;
`rotating` like in_order, starting after the member who started the group's last call (kept in
Redis, which persists). A member whose line is on a call, who has no device registered or who
refuses is skipped at once. The first member to answer takes the call (`Call.take_callee`: the
caller is answered and bridged to that leg); the others stop ringing. When nobody answers, the call
goes to the group's no-answer destination (none: 480, as an unanswered line).

The call's record says who answered (`answered_by`: the member's extension or number) and lists
the group (leg "group") and each member offered (leg "member", with its outcome) among its legs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from pstn import numbering
from records.models import Cdr
from ringgroups.selectors import GroupView, groups_for_plan
from telephony.callindex import where_key
from telephony.engine import destinations
from telephony.engine.application import Application, Incoming
from telephony.engine.applications.clicktocall import OriginatedCall, OutsideCall
from telephony.engine.applications.network import numbers_of
from telephony.engine.call import Call
from telephony.engine.destinations import runs
from telephony.engine.dialplan import ClientPlan, Party, Route, section
from telephony.engine.states import State
from telephony.media.ports import MediaError
from telephony.sip.sdp import telephone_events

log = logging.getLogger(__name__)
MAX_GROUPS = 5  # groups one call may go through (a group's no-answer destination may be another group)
STOPPED = {"ring-time": "no-answer"}  # a member's outcome when the group stops its ringing, by why
OUTCOMES = {486: "busy", 600: "busy", 603: "busy", 404: "unavailable", 480: "unavailable", 410: "unavailable"}


@section("ringgroups")
def load_groups(client) -> dict[int, GroupView]:
    return groups_for_plan(client)


def groups_of(plan: ClientPlan) -> dict[int, GroupView]:
    return plan.sections.get("ringgroups") or {}


def rotation_key(prefix: str, client: int, group: int) -> str:
    """Where the member who started a rotating group's last call is kept (its id)."""
    return f"{prefix}:ringgroup:{client}:{group}"


@runs("group")
async def to_group(call: Call, target: str, incoming: Incoming) -> None:
    group = groups_of(incoming.plan).get(int(target)) if target.isdigit() else None
    before = call.placing if isinstance(call.placing, Hunt) else None
    hops = before.hops + 1 if before else 0
    if group is None or hops >= MAX_GROUPS or call.state not in (State.ROUTING, State.RINGING):
        if hops >= MAX_GROUPS:
            log.warning("call %s: %s ring groups in a row, ended", call.uuid, MAX_GROUPS)
        call.refuse(incoming, 404, "No Such Group")
        return
    if not call.record_opened:  # a number pointing at the group (a forwarded call has its record)
        call.open_record(call.route_alone(incoming), incoming.dialled)
    if not await call.open_media(incoming.offer):
        return
    hunt = Hunt(call, incoming, group, hops)
    call.place_with(hunt)
    call.attach(hunt)
    call.move(State.RINGING)
    call.set_line("caller", call.route.caller.number)  # (as a line's ringing would: the edges find the caller here)
    call.caller_ringing()
    call.log_leg("group", "", group=group.id, group_name=group.name, strategy=group.strategy)
    await hunt.run()


class Hunt(Application):
    """The group's members offered one call, batch after batch (all of them at once, or one at a time);
    attached to the call (its end stops the members still ringing) and its placing (so that a group's
    no-answer destination that is another group counts the hops)."""

    why = "no_answer"  # (voicemail, as the no-answer destination, says the box's unavailable greeting)

    def __init__(self, call: Call, incoming: Incoming, group: GroupView, hops: int):
        self.call, self.incoming, self.group, self.hops = call, incoming, group, hops
        self.plan = incoming.plan
        self.offers: list[Ring | Dial] = []
        self.won: asyncio.Future | None = None
        self.winner: Ring | Dial | None = None

    # The call's placing: the group call has no callee leg of its own, so there is nothing to hear.
    def provisional(self, call: Call, response) -> None:
        pass

    def failed(self, call: Call, response) -> bool:
        return False

    def answered(self, call: Call, response) -> None:
        pass

    async def run(self) -> None:
        call, group = self.call, self.group
        order = list(group.members)
        if group.strategy == "rotating" and order:
            last = await self._last_started()
            start = next((n + 1 for n, (member_id, _k, _t) in enumerate(order) if member_id == last), 0) % len(order)
            order = order[start:] + order[:start]
            await self._started(order[0][0])
        batches = [order] if group.strategy == "simultaneous" else [[member] for member in order]
        for batch in batches:
            if call.state != State.RINGING:
                return
            if await self.ring(batch):
                return
        if call.state == State.RINGING:
            await self.no_answer()

    async def ring(self, batch: list[tuple[int, str, str]]) -> bool:
        """Offer the call to `batch` for the group's ring time; True when one of them took it."""
        loop = asyncio.get_running_loop()
        self.won = loop.create_future()
        self.offers = []
        for _member_id, kind, target in batch:
            offer = await self.offer(kind, target)
            if offer is not None:
                self.offers.append(offer)
        if not self.offers or self.call.state != State.RINGING:
            return False
        for offer in self.offers:
            self.call.engine.background(offer.start_offer())
        try:
            winner = await asyncio.wait_for(asyncio.shield(self.won), self.group.ring_time)
        except TimeoutError:
            winner = None
        for offer in self.offers:
            if offer is not winner:
                offer.stop("answered-elsewhere" if winner is not None else "ring-time")
        return winner is not None

    async def offer(self, kind: str, target: str) -> Ring | Dial | None:
        """The call to one member, not started yet; None (the member skipped, said in the legs) when the
        member cannot take calls now: a user whose line is on a call, or gone; the caller themself."""
        call, plan = self.call, self.plan
        caller = call.route.caller if call.route else Party("", "")
        entry = {"leg": "member", "call_id": "", "group": self.group.id, "member": target, "kind": kind}
        call.legs_log.append(entry)
        if kind == "user":
            party = plan.by_number.get(target)
            if party is None or target == caller.number:
                entry["outcome"] = "skipped"
                return None
            if await self._busy(target):
                entry["outcome"] = "busy"
                return None
            offer = Ring(self, party, entry)
        else:
            dialled = numbering.classify(target, plan.country)
            if dialled is None or dialled.e164 in numbers_of(plan).by_e164:
                # (one of the client's own numbers would come back in through a carrier, into the group)
                entry["outcome"] = "skipped"
                return None
            offer = Dial(self, dialled, entry, shown=caller if caller.account else Party("", ""))
        return offer

    async def _busy(self, number: str) -> bool:
        engine = self.call.engine
        try:
            return bool(await engine.redis.hexists(where_key(engine.config.redis_prefix, self.plan.client),
                                                   f"line:{number}"))  # fmt: skip
        except Exception:  # Redis away: the member's phone answers busy itself if it is
            log.warning("call %s: could not look up whether %s is on a call", self.call.uuid, number)
            return False

    async def _last_started(self) -> int | None:
        engine = self.call.engine
        try:
            raw = await engine.redis.get(rotation_key(engine.config.redis_prefix, self.plan.client, self.group.id))
        except Exception:
            log.warning("call %s: group %s's rotation could not be read: it starts at the first member",
                        self.call.uuid, self.group.id)  # fmt: skip
            return None
        raw = raw.decode() if isinstance(raw, bytes) else raw
        return int(raw) if raw and raw.isdigit() else None

    async def _started(self, member_id: int) -> None:
        engine = self.call.engine
        try:
            await engine.redis.set(rotation_key(engine.config.redis_prefix, self.plan.client, self.group.id),
                                   str(member_id))  # fmt: skip
        except Exception:
            log.warning("call %s: group %s's rotation could not be kept", self.call.uuid, self.group.id)

    def member_answered(self, offer: Ring | Dial) -> bool:
        """A member answered: its leg becomes the call's callee (False: too late, another one has it
        or the caller is gone)."""
        call, won = self.call, self.won
        if won is None or won.done() or offer not in self.offers or call.state != State.RINGING:
            return False
        self.winner = offer
        offer.entry["outcome"] = "answered"
        call.route = dataclasses.replace(call.route, callee=offer.member)
        call.take_callee(offer, by=offer.member, reason="group")
        if call.state == State.ANSWERED:
            won.set_result(offer)
            return True
        won.set_result(None)  # (no codec joins them: the call was refused)
        return False

    def member_over(self, offer: Ring | Dial, status: int | None) -> None:
        """A member's call ended without taking the call: when none of the batch rings any more, the
        next batch (or the no-answer destination) need not wait."""
        offer.entry.setdefault("outcome", OUTCOMES.get(status or 0, "no-answer"))
        won = self.won
        if won is not None and not won.done() and all(o.state == State.ENDED for o in self.offers):
            won.set_result(None)

    async def no_answer(self) -> None:
        """Nobody took the call: the group's no-answer destination, else 480."""
        call = self.call
        kind, target = self.group.on_no_answer
        call.log_leg("group", "", group=self.group.id, group_name=self.group.name, why="no-answer",
                     to=f"{kind}:{target}" if kind else "")  # fmt: skip
        if not kind:
            call.end_before_answer(480, "Temporarily Unavailable", disposition=Cdr.Disposition.NO_ANSWER,
                                   cause="group-no-answer", side="callee")  # fmt: skip
            return
        call.reroute(call.route)
        await destinations.run(call, kind, target, self.incoming)

    def ended(self, call: Call, cause: str) -> None:
        for offer in self.offers:
            if offer is self.winner and isinstance(offer, Dial):
                offer.handed_over_ended(cause)
            elif offer is not self.winner:
                offer.stop("caller-gone")
        if self.won is not None and not self.won.done():
            self.won.set_result(None)


class Ring(OriginatedCall):
    """A user member's devices ringing for the group's call (their line alone: no forwarding, no box),
    placed by the engine showing the group's caller. It keeps no record: the group's call says whether
    and when the member was offered it and answered. Once answered, its leg is the group call's callee."""

    def __init__(self, hunt: Hunt, member: Party, entry: dict):
        super().__init__(hunt.call.engine, client=hunt.plan.client, extension=0, dialled="")
        self.hunt, self.member, self.entry = hunt, member, entry
        self.ended_status: int | None = None

    async def start_offer(self) -> None:
        hunt, caller = self.hunt, self.hunt.call.caller
        self.caller.offered = (
            [caller.codec, *telephone_events(caller.offered, caller.codec)] if caller.codec else list(caller.offered)
        )
        plan, shown = hunt.plan, hunt.call.route.caller
        self.route = Route(client=plan.client, brand=plan.brand, domain=plan.domain, caller=shown, callee=self.member)
        try:
            await self.call_line(self.route, None, ring_for=hunt.group.ring_time + 5)  # (the hunt stops it first)
        except Exception:
            log.exception("call %s: ringing group member %s failed", hunt.call.uuid, self.member.number)
            self.close_media()
            self.finish(Cdr.Disposition.FAILED, "engine-error", "engine")
        if self.callee.leg is not None:
            self.entry["call_id"] = self.callee.leg.call_id

    def stop(self, cause: str) -> None:
        if self.state != State.ENDED:
            self.entry.setdefault("outcome", STOPPED.get(cause, cause))
        self.hangup("engine", cause=cause)

    async def open_media(self, offer) -> bool:
        """The member's side only: the caller's is the group call's. (Without a caller side, pickup
        leaves this call alone: picking up a member's ringing would answer nobody.)"""
        try:
            self.callee.media = await self.engine.media.open(remote=None)
        except MediaError:
            self.finish(Cdr.Disposition.FAILED, "no-media-ports", "engine")
            return False
        if self.state == State.ENDED:
            self.close_media()
            return False
        return True

    def connect_callee(self, codecs, remote) -> bool:
        if not self.callee_media_answered(codecs, remote):
            return False
        if not self.hunt.member_answered(self):
            self.bye(self.callee.leg)
            self.finish(Cdr.Disposition.CANCELLED, "answered-elsewhere", "engine")
            return False
        self.finish(Cdr.Disposition.ANSWERED, "handed-over", "engine")  # (the leg is the group call's now)
        return True

    def on_callee_response(self, response) -> None:
        if response.status >= 300:
            self.ended_status = response.status
        super().on_callee_response(response)

    def finish(self, disposition: str, cause: str, side: str, *, cdr: bool = True) -> None:
        if self.state == State.ENDED:
            return
        super().finish(disposition, cause, side, cdr=False)  # (no record: see the class)
        self.hunt.member_over(self, self.ended_status)


class Dial(OutsideCall):
    """An external member called through the client's carriers (its outbound policy holds): a record of
    its own, outbound, as find-me's. Once answered, its leg is the group call's callee, and its record
    ends with that call."""

    def __init__(self, hunt: Hunt, dialled, entry: dict, *, shown: Party):
        super().__init__(hunt.call.engine, client=hunt.plan.client, caller=shown)
        self.hunt, self.dialled, self.entry = hunt, dialled, entry
        self.member = Party(dialled.e164, "")
        self.handed = False
        self.ended_status: int | None = None

    async def start_offer(self) -> None:
        caller = self.hunt.call.caller
        offered = [caller.codec, *telephone_events(caller.offered, caller.codec)] if caller.codec else caller.offered
        await self.call_out(self.hunt.plan, self.dialled, offered)
        if self.callee.leg is not None:
            self.entry["call_id"] = self.callee.leg.call_id

    def stop(self, cause: str) -> None:
        if not self.handed:
            if self.state != State.ENDED:
                self.entry.setdefault("outcome", STOPPED.get(cause, cause))
            self.hangup("engine", cause=cause)

    def outside_answered(self) -> None:
        self.move(State.ANSWERED)
        self.answered(by=self.route.callee.number)
        self.handed = self.hunt.member_answered(self)
        if not self.handed:
            self.hangup("engine", cause="answered-elsewhere")

    def on_callee_response(self, response) -> None:
        if response.status >= 300:
            self.ended_status = response.status
        super().on_callee_response(response)

    def finish(self, disposition: str, cause: str, side: str, *, cdr: bool = True) -> None:
        if self.state == State.ENDED:
            return
        super().finish(disposition, cause, side, cdr=cdr)
        if not self.handed:
            self.hunt.member_over(self, self.ended_status)

    def handed_over_ended(self, cause: str) -> None:
        """The group's call, which took this one's leg, ended: this record ends with it."""
        self.finish(Cdr.Disposition.ANSWERED, cause, "engine")
