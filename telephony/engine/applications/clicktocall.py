"""Calls the engine places itself: its first leg rings a line of the client (the engine as UAC), and
what happens once that line answers is the subclass's `line_answered`. Click-to-call (`OriginatedCall`
itself) then calls the target as the callee side and joins the two; from then on it is a call like
any other (hold, transfer and hang-up work the same). A conference's dial-out and a notification
call (dialout.py, notify.py) give the answered line to an application instead.

`OutsideCall` is the other kind the engine places itself: one leg, to a number of the phone network,
placed as a user's call out is (network.place_out: the client's caller ID rules, outbound policy,
blocked destinations and spending guard, the brand's routes and carrier failover; an outbound record
with its carrier). What happens once it answers is the subclass's `outside_answered`: find-me asks the
user's mobile to press 1 (forwarding.py), a notification plays its message (notify.py).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING

from pstn import numbering
from records.models import Cdr
from telephony.engine.application import Incoming
from telephony.engine.applications.network import place_out
from telephony.engine.call import DISPOSITIONS, Call
from telephony.engine.dialplan import ClientPlan, Party
from telephony.engine.negotiation import SUPPORTED
from telephony.engine.states import State
from telephony.media.ports import MediaError
from telephony.sip import Response, SipError
from telephony.sip.dialog import Leg, new_tag
from telephony.sip.sdp import build_sdp, common_codecs, parse_sdp, telephone_events

if TYPE_CHECKING:
    from pstn.numbering import Dialled
    from telephony.engine.server import Engine

S = State
log = logging.getLogger(__name__)


class OriginatedCall(Call):
    """`widget` (a click-to-call widget's id, telephony/widgets.py): `dialled` is a visitor's number of
    the phone network (E.164), called once the line answered as the line's user would call it out
    (network.place_out: outbound policy, blocked destinations, spending guard, carriers)."""

    def __init__(self, engine: Engine, *, client: int, extension: int, dialled: str, widget: int = 0):
        self._init(engine)
        self.client, self.extension, self.dialled, self.widget = client, extension, dialled, widget
        self.plan_of_call: ClientPlan | None = None

    async def _start(self) -> None:
        plan = self.plan_of_call = await self.plan(self.client)
        if self.widget:
            route = plan.route(self.extension, plan.by_extension[self.extension].number
                               if self.extension in plan.by_extension else "")  # fmt: skip
            route = replace(route, callee=Party(self.dialled, self.dialled)) if not route.status else route
            self.log_leg("widget", "", widget=self.widget, visitor=self.dialled)
        else:
            route = plan.route(self.extension, self.dialled)
        self.open_record(route, self.dialled)
        if route.status:
            self.finish(Cdr.Disposition.FAILED, str(route.status), "engine")
            return
        await self.ring_line(route.caller, route.callee, second_leg=True)

    async def ring_line(self, line: Party, shown: Party, *, second_leg: bool) -> bool:
        """Ring every device of `line` (the engine as caller, showing `shown`), with media for it and,
        when the call will have one, for the second leg. False (the call finished) without ports."""
        caller = self.caller
        try:
            caller.media = await self.engine.media.open(remote=None)
            if second_leg:
                self.callee.media = await self.engine.media.open(remote=None)
        except MediaError:
            self.close_media()
            self.finish(Cdr.Disposition.FAILED, "no-media-ports", "engine")
            return False
        domain = self.route.domain
        leg = Leg(call_id=f"{uuid.uuid4().hex}@ocx", local_tag=new_tag(), name="caller",
                  local_uri=f'"{shown.name}" <sip:{shown.number}@{domain}>',
                  remote_uri=f"<sip:{line.sip_username}@{domain}>")  # fmt: skip
        leg.remote_target = f"sip:{line.sip_username}@{domain}"
        caller.leg = caller.origin = leg
        caller.offered = list(SUPPORTED)
        body = build_sdp(self.engine.media.address, caller.media.port, caller.offered, session_id=self.uuid.int % 10**9)
        leg.invite = leg.request("INVITE", self.ua, headers=[("Content-Type", "application/sdp")], body=body)
        self.engine.index(leg.call_id, self)
        caller.tx = self.ua.request(leg.invite, self.on_line_response)
        self.ring_timer = asyncio.get_running_loop().call_later(self.engine.config.ring_timeout, self.ring_timeout)
        return True

    def callee_media_answered(self, codecs, remote) -> bool:
        """The callee side answered a call the engine placed and nobody bridges: its media takes the first
        voice codec of the answer and its address. Without a voice codec the leg is hung up (488), False."""
        callee = self.callee
        voice = [c for c in codecs if c.name != "TELEPHONE-EVENT"]
        if not voice:
            self.bye(callee.leg)
            self.end_before_answer(488, "Not Acceptable Here", cause="488", side="callee")
            return False
        callee.codec = voice[0]
        callee.media.clock_rate = callee.codec.rate
        if remote is not None:
            callee.media.set_remote(remote)
        callee.tx = None
        return True

    def on_line_response(self, response: Response) -> None:
        if response.status < 200:
            return
        caller, leg = self.caller, self.caller.leg
        if not 200 <= response.status < 300:
            if self.state != S.ENDED:
                disposition = DISPOSITIONS.get(response.status, Cdr.Disposition.FAILED)
                self.finish(disposition, str(response.status), "caller")
            return
        if leg.remote_tag is None:
            leg.remote_tag = response.to_tag
            leg.learn(response, uac=True)
        self.ua.ack_2xx(leg, response)
        if caller.tx is None or self.state != S.ROUTING:  # answered already, or the call is over
            if self.state == S.ENDED:
                self.bye(leg)
            return
        try:
            answer = parse_sdp(response.body)
        except SipError:
            answer = None
        codecs = common_codecs(answer.audio.codecs, SUPPORTED) if answer and answer.audio else []
        voice = [c for c in codecs if c.name != "TELEPHONE-EVENT"]
        if not voice:
            self.bye(leg)
            self.finish(Cdr.Disposition.FAILED, "488", "caller")
            return
        caller.tx = None
        self.stop_ringing()
        caller.fill(leg, caller.media, voice[0], [voice[0], *telephone_events(codecs, voice[0])])
        caller.media.set_remote(answer.audio_address())
        self.line_answered()

    def caller_confirmed(self) -> bool:
        return self.caller.tx is None and self.caller.leg is not None

    def line_answered(self) -> None:
        """The rung line answered (its leg has media): click-to-call now calls the target (a widget's
        visitor: out through the client's carriers)."""
        if self.widget:
            self.engine.background(self.call_visitor())
            return
        self.place_callee(self.route)

    async def call_visitor(self) -> None:
        plan = self.plan_of_call
        dialled = numbering.classify(self.dialled, plan.country)
        if dialled is None or dialled.kind == numbering.EMERGENCY:  # (the web side refused these already)
            self.hangup("engine", cause="not-a-number")
            return
        incoming = Incoming(plan, self.extension, self.route.caller, self.dialled, None)
        try:
            await place_out(self, incoming, dialled)
        except Exception:
            log.exception("call %s to the visitor %s failed to start", self.uuid, self.dialled)
            self.hangup("engine", cause="engine-error")

    def ring_timeout(self) -> None:
        if self.state == S.ROUTING:  # the user's own phone did not answer
            if self.caller.tx is not None:
                self.caller.tx.cancel()
            self.finish(Cdr.Disposition.NO_ANSWER, "ring-timeout", "caller")
            return
        super().ring_timeout()

    def caller_ringing(self) -> None:
        pass  # the user's phone is answered already; it hears the callee being rung as silence

    def caller_answer(self, body: bytes) -> None:
        pass  # the user's leg has its media since it answered

    def caller_refuse(self, status: int, reason: str | None) -> None:
        if self.state == S.CONNECTING or self.caller.tx is None:
            self.bye(self.caller.leg)
        else:
            self.caller.tx.cancel()


class OutsideCall(OriginatedCall):
    """A call the engine places itself to a number of the phone network, through the client's carriers:
    its one party is on the callee side (the caller side has no leg). `caller` is who the call is from
    as the record and the caller ID rules see it (a user for find-me; nobody for a notification)."""

    def __init__(self, engine: Engine, *, client: int, caller: Party):
        super().__init__(engine, client=client, extension=0, dialled="")
        self.party = caller

    async def call_out(self, plan: ClientPlan, dialled: Dialled, offered=SUPPORTED) -> None:
        """Place the call to `dialled` (a classified number), offering `offered`; a failure to start ends
        it (its record says so)."""
        self.caller.offered = list(offered)
        incoming = Incoming(plan, 0, self.party, dialled.e164 or dialled.dialled, None)
        try:
            await place_out(self, incoming, dialled)
        except Exception:
            log.exception("call %s to %s failed to start", self.uuid, dialled.e164)
            self.close_media()
            self.finish(Cdr.Disposition.FAILED, "engine-error", "engine")

    def connect_callee(self, codecs, remote) -> bool:
        """Answered: instead of bridging to a caller, the subclass talks to the party (`outside_answered`)."""
        if not self.callee_media_answered(codecs, remote):
            return False
        self.outside_answered()
        return True

    def outside_answered(self) -> None:
        """The party answered (its leg has media): the subclass moves the call on (ANSWERED, or an
        application's state) and counts it answered."""
        raise NotImplementedError

    def hangup(self, side: str = "engine", *, cause: str = "hangup") -> None:
        if self.state == S.ANSWERED:
            self.bye(self.callee.leg)
            self.finish(Cdr.Disposition.ANSWERED, cause, side)
        else:
            super().hangup(side, cause=cause)
