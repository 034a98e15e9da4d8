"""A user as a destination: their devices ring, then their forwarding says where the call goes.

`to_user` runs the "user" destination kind (a colleague's extension dialled, a number or a schedule
pointing at a user, a forwarding to another user). The user's `Forwarding` row (telephony.models,
read with the dial plan) says:
- do-not-disturb: nothing rings; the busy forwarding, else 486 Busy Here;
- always: the call goes straight to that destination;
- busy (486, 600, 603 from the devices), not answered within `no_answer_after` seconds, unreachable
  (no device registered, or none answers the edge: 480, 404, 408, 410, 503): that destination;
- find-me: an external number rings with the desk phone (`FindMe`); whoever answers first takes
  the call, and the external number must press 1 first (a mobile's voicemail cannot take it).

A forwarding is the call routed again (`Call.reroute`), as one record: it keeps the callee first
dialled and says who answered (`answered_by`), and its legs list each forwarding. A chain of
forwardings ends after MAX_FORWARDS, and a user met twice just rings.

The phone sets its own line's forwarding with feature codes: *72<number> forwards every call to a
colleague's extension or an external number, *73 stops it; *78 turns do-not-disturb on, *79 off.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django_tenants.utils import schema_context

from pstn import numbering
from records.models import Cdr
from telephony import features
from telephony.engine import destinations
from telephony.engine.application import Application, Incoming, Prompter, feature
from telephony.engine.applications.clicktocall import OutsideCall
from telephony.engine.applications.network import numbers_of
from telephony.engine.call import Call
from telephony.engine.destinations import runs
from telephony.engine.dialplan import ClientPlan, Party, Route, section
from telephony.engine.states import State
from telephony.models import Extension, Forwarding
from telephony.services import forwarding_save
from tenants.models import Client

log = logging.getLogger(__name__)
MAX_FORWARDS = 5
BUSY = frozenset({486, 600, 603})
UNREACHABLE = frozenset({404, 408, 410, 480, 503})
CONFIRM_FOR = 15.0  # seconds the find-me number has to press 1 once it answered


@dataclass(frozen=True)
class Rules:
    dnd: bool = False
    always: tuple[str, str] = ("", "")
    busy: tuple[str, str] = ("", "")
    no_answer: tuple[str, str] = ("", "")
    no_answer_after: int = 20
    unreachable: tuple[str, str] = ("", "")
    find_me: str = ""
    find_me_confirm: bool = True


NOTHING = Rules()


@section("forwarding")
def load_forwarding(client) -> dict[str, Rules]:
    """Each line's forwarding (by extension number), for lines that have one."""
    rows = Forwarding.objects.values_list(
        "extension__number", "dnd", "always_kind", "always_target", "busy_kind", "busy_target", "no_answer_kind",
        "no_answer_target", "no_answer_after", "unreachable_kind", "unreachable_target", "find_me", "find_me_confirm",
    )  # fmt: skip
    return {
        r[0]: Rules(r[1], (r[2], r[3]), (r[4], r[5]), (r[6], r[7]), r[8], (r[9], r[10]), r[11], r[12]) for r in rows
    }


def rules_of(plan: ClientPlan, number: str) -> Rules:
    return (plan.sections.get("forwarding") or {}).get(number, NOTHING)


@runs("user")
async def to_user(call: Call, target: str, incoming: Incoming) -> None:
    plan = incoming.plan
    callee = plan.by_number.get(target)
    route = Route(client=plan.client, brand=plan.brand, domain=plan.domain, caller=incoming.caller or Party("", ""),
                  callee=callee, status=0 if callee else 404, reason="" if callee else "Not In Service")  # fmt: skip
    before = call.placing if isinstance(call.placing, Forwarder) else None
    if call.route is None:
        call.open_record(route, incoming.dialled)
    else:
        call.reroute(route)
    if callee is None:
        await call.call_line(route, incoming.offer)
        return
    seen = (before.seen if before else frozenset()) | {target}
    hops = before.hops + 1 if before else 0
    rules = rules_of(plan, target) if target not in (before.seen if before else ()) else NOTHING
    forwarder = Forwarder(call, route, incoming, rules, seen=seen, hops=hops)
    if rules.always[0] and hops < MAX_FORWARDS:
        await forwarder.forward("always", rules.always)
        return
    if rules.dnd:
        if rules.busy[0] and hops < MAX_FORWARDS:
            await forwarder.forward("dnd", rules.busy)
        else:
            call.end_before_answer(486, "Busy Here", disposition=Cdr.Disposition.BUSY, cause="dnd", side="callee")
        return
    call.place_with(forwarder)
    ring_for = rules.no_answer_after if rules.no_answer[0] or rules.find_me else None
    await call.call_line(route, incoming.offer, ring_for=ring_for)
    if rules.find_me and call.state == State.RINGING:
        forwarder.find_me = FindMe(call, forwarder, rules)
        call.engine.background(forwarder.find_me.start())


class Forwarder:
    """The placing of a user's line (Call.place_with): told when the devices fail or do not answer,
    it sends the call where the user's forwarding says."""

    def __init__(self, call: Call, route: Route, incoming: Incoming, rules: Rules, *, seen: frozenset, hops: int):
        self.call, self.route, self.incoming, self.rules = call, route, incoming, rules
        self.seen, self.hops = seen, hops
        self.find_me: FindMe | None = None
        self.desk_failed: str | None = None  # why the desk phone failed while the find-me number rang
        self.why: str | None = None  # the forwarding that sent the call on (busy, dnd, no_answer...): a greeting's

    def provisional(self, call: Call, response) -> None:
        pass

    def answered(self, call: Call, response) -> None:
        self.stop_find_me("desk-answered")

    def failed(self, call: Call, response) -> bool:
        status = response.status
        when = "busy" if status in BUSY else "unreachable" if status in UNREACHABLE else None
        if call.cancel_requested or status == 487 or when is None:
            self.stop_find_me("desk-failed")
            return False
        if self.find_me is not None and self.find_me.ringing():
            self.desk_failed = when  # the external number may still take the call
            return True
        return self.forward_if(when)

    def forward_if(self, when: str) -> bool:
        """Forward as the user's `when` forwarding says; False when it says nothing."""
        destination = getattr(self.rules, when)
        if not destination[0] or self.hops >= MAX_FORWARDS:
            return False
        self.call.engine.background(self.forward(when, destination))
        return True

    def find_me_over(self, cause: str) -> None:
        """The find-me number did not take the call, and the desk phone had failed already."""
        call, when = self.call, self.desk_failed
        if when is None or call.state != State.RINGING or self.forward_if(when):
            return
        status, reason, disposition = (486, "Busy Here", Cdr.Disposition.BUSY) if when == "busy" else (
            480, "Temporarily Unavailable", Cdr.Disposition.NO_ANSWER)  # fmt: skip
        call.end_before_answer(status, reason, disposition=disposition, cause=f"find-me-{cause}", side="callee")

    def timed_out(self, call: Call) -> bool:
        if self.find_me is not None and self.find_me.confirming():
            self.find_me.ring_over = True  # it has its seconds to press 1; not taken, the call is not answered
            return True
        self.stop_find_me("no-answer")
        if self.desk_failed is not None:  # the desk had failed: find_me_over forwarded or ended the call
            return True
        if not self.rules.no_answer[0] or self.hops >= MAX_FORWARDS:
            return False
        call.engine.background(self.forward("no_answer", self.rules.no_answer))
        return True

    def stop_find_me(self, cause: str) -> None:
        if self.find_me is not None:
            self.find_me.stop(cause)

    async def forward(self, when: str, destination: tuple[str, str]) -> None:
        call = self.call
        if call.state == State.ENDED:
            return
        kind, target = destination
        log.info("call %s: %s forwards (%s) to %s %s", call.uuid, self.route.callee.number, when, kind, target)
        call.log_leg("forward", "", reason=when, by=self.route.callee.number, to=f"{kind}:{target}")
        self.why = when
        call.place_with(self)  # the next user's forwarder (or a carrier's placing) replaces it
        if kind != "user":
            call.reroute(call.route)
        await destinations.run(call, kind, target, self.incoming)


class FindMe(Application):
    """A user's external number ringing beside their desk phone, as a call of its own placed through
    the carriers (`Reach`: an outbound record of the user's, with its carrier). Once it answers and,
    when asked, presses 1, its leg becomes the callee of the first call and the desk stops ringing;
    the reach call keeps its record open until that call ends."""

    def __init__(self, call: Call, forwarder: Forwarder, rules: Rules):
        self.call, self.forwarder, self.rules = call, forwarder, rules
        self.reach: Reach | None = None
        self.taken = False
        self.ring_over = False  # the ringing time ended while the external number was asked for its key
        call.attach(self)

    async def start(self) -> None:
        call, route = self.call, self.forwarder.route
        dialled = numbering.classify(self.rules.find_me, self.forwarder.incoming.plan.country)
        if dialled is None or call.state != State.RINGING:
            return
        if dialled.e164 in numbers_of(self.forwarder.incoming.plan).by_e164:
            # one of the client's own numbers (assigned since it was set): it would ring here again,
            # through a carrier and back in, and that call's find-me once more
            log.warning("call %s: find-me number %s is one of the client's own: not called", call.uuid, dialled.e164)
            return
        user = route.callee
        self.reach = Reach(call.engine, self, route.client, Party(user.number, user.name, user.account))
        await self.reach.call_out(self.forwarder.incoming.plan, dialled, call.caller.offered)

    def ringing(self) -> bool:
        return (
            self.reach is not None
            and self.reach.state in (State.ROUTING, State.RINGING, State.ANSWERED)
            and (not self.taken)
        )

    def confirming(self) -> bool:
        """Whether the external number answered and is being asked to press 1."""
        return self.reach is not None and self.reach.state == State.ANSWERED and not self.taken

    def stop(self, cause: str) -> None:
        if self.reach is not None and not self.taken:
            self.reach.hangup("engine", cause=cause)

    async def confirm(self) -> None:
        """The external number answered: 1 takes the call (unless the user wants no confirmation)."""
        reach = self.reach
        if self.rules.find_me_confirm:
            keys = reach.keys(side="callee")
            voice = self.forwarder.incoming.plan.voice_of(self.forwarder.route.callee)  # the user alone hears it
            reach.play("callee", await reach.engine.prompt_frames(voice, reach.callee.codec.name, "find_me"), loop=True)
            deadline = asyncio.get_running_loop().time() + CONFIRM_FOR
            pressed = False
            while reach.state == State.ANSWERED and self.call.state == State.RINGING:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                got = (await keys.collect(max_digits=1, terminator=None, first=min(left, 1.0))).digits
                if got == "1":
                    pressed = True
                    break
            reach.stop_playing()
            if not pressed:
                reach.hangup("engine", cause="not-confirmed")
                return
        if reach.state != State.ANSWERED or self.call.state != State.RINGING:
            reach.hangup("engine", cause="too-late")
            return
        self.taken = True
        self.call.take_callee(reach, by=self.forwarder.route.callee)

    def reach_ended(self, cause: str) -> None:
        """The external number's call ended before it took the call (busy, no answer, not confirmed)."""
        if self.taken:
            return
        if self.ring_over and self.forwarder.desk_failed is None and self.call.state == State.RINGING:
            self.call.ring_timeout()  # the ringing time was over meanwhile: not answered, as it says
            return
        self.forwarder.find_me_over(cause)

    def ended(self, call: Call, cause: str) -> None:
        if self.reach is None:
            return
        if self.taken:
            self.reach.handed_over_ended(cause)
        else:
            self.reach.hangup("engine", cause="caller-gone")


class Reach(OutsideCall):
    """The find-me call to the user's external number: the engine calls out through the client's
    carriers (the client's outbound policy holds); a record of its own, outbound, the user's."""

    def __init__(self, engine, find_me: FindMe, client: int, user: Party):
        super().__init__(engine, client=client, caller=user)
        self.find_me, self.user = find_me, user

    def outside_answered(self) -> None:
        """Instead of bridging to a caller, the user's external number is asked to confirm."""
        self.move(State.ANSWERED)
        self.answered(by=self.route.callee.number)
        self.engine.background(self.find_me.confirm())

    def finish(self, disposition: str, cause: str, side: str, *, cdr: bool = True) -> None:
        if self.state == State.ENDED:
            return
        super().finish(disposition, cause, side, cdr=cdr)
        if not self.find_me.taken:
            self.find_me.reach_ended(cause)

    def handed_over_ended(self, cause: str) -> None:
        """The first call, which took this one's leg, ended: this record ends with it."""
        self.finish(Cdr.Disposition.ANSWERED, cause, "engine")


# Feature codes: the phone sets its own line's forwarding ----------------------------------------------

FORWARD_ON = features.FeatureCode("*72", "forward-always", features.DIGITS)
FORWARD_OFF = features.FeatureCode("*73", "forward-always-off")
DND_ON = features.FeatureCode("*78", "dnd-on")
DND_OFF = features.FeatureCode("*79", "dnd-off")
SAID = {"*72": "forwarding_on", "*73": "forwarding_off", "*78": "dnd_on", "*79": "dnd_off"}


def _set_by_phone(client_id: int, extension_id: int, code: str, argument: str) -> str | None:
    """Database work: the line's forwarding changed as the code says; None, or why it could not be."""
    client = Client.objects.get(pk=client_id)
    with schema_context(client.schema_name):
        extension = Extension.objects.get(pk=extension_id)
        if code == "*72":
            kind = "user" if Extension.objects.filter(number=argument).exists() else "external"
            fields = {"always_kind": kind, "always_target": argument}
        elif code == "*73":
            fields = {"always_kind": "", "always_target": ""}
        else:
            fields = {"dnd": code == "*78"}
    try:
        forwarding_save(actor=None, client=client, extension=extension, **fields)
    except ValidationError as error:
        return "; ".join(error.messages)
    return None


@feature(FORWARD_ON, FORWARD_OFF, DND_ON, DND_OFF)
async def set_by_phone(call: Call, incoming: Incoming) -> None:
    if incoming.caller is None:
        call.refuse(incoming, 403, "Unknown Caller")
        return
    code = incoming.dialled[: len(incoming.dialled) - len(incoming.argument)]
    call.open_record(call.route_alone(incoming), incoming.dialled)
    problem = await call.engine.database.call(_set_by_phone, incoming.plan.client, incoming.extension, code,
                                              incoming.argument)  # fmt: skip
    if not await call.answer_alone(incoming.offer):
        return
    prompter = Prompter(call)
    call.take(prompter)
    if problem is not None:
        log.info("call %s: %s refused: %s", call.uuid, incoming.dialled, problem)
    await prompter.play("not_possible" if problem else SAID[code], "goodbye")
    call.hangup("engine", cause="refused" if problem else "done")
