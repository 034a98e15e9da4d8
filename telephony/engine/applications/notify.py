"""A mass notification's call to one number: ring the line, or call the outside number through the
client's carriers, play the message, ask for the key that confirms (twice at most), and tell the
campaign how it went (conferencing.notifications).

A line rings as click-to-call's first leg does (the engine as caller; the line on the caller side). An
outside number is called as any call out of the client's is (`OutsideCall`: caller ID rules, outbound
policy, blocked destinations, spending guard, carrier failover); its record is outbound with its
carrier, and the party is on the callee side. A number the client may not call (its outbound policy,
its blocked destinations) or that is no phone number a campaign may call (not a number, an emergency
number) is "refused": the campaign does not call it again.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from conferencing.notifications import target_result
from pstn import numbering
from records.models import Cdr
from telephony.engine.application import Prompter
from telephony.engine.applications.blocking import DESTINATION_CAUSE
from telephony.engine.applications.clicktocall import OutsideCall
from telephony.engine.applications.network import POLICY_CAUSE
from telephony.engine.dialplan import Party, Route
from telephony.engine.states import State
from telephony.media.player import AudioFileError

if TYPE_CHECKING:
    from telephony.engine.server import Engine

log = logging.getLogger(__name__)
NOT_A_NUMBER, EMERGENCY = "no-such-number", "emergency-number"  # neither a line nor a phone number; 911...
REFUSALS = frozenset({DESTINATION_CAUSE, POLICY_CAUSE, NOT_A_NUMBER, EMERGENCY})  # not called again
NOTIFICATION = Party("", "Notification")


class Notify(OutsideCall):
    def __init__(self, engine: Engine, *, client: int, target: int, number: str, message: str, digit: str):
        super().__init__(engine, client=client, caller=NOTIFICATION)
        self.target, self.number, self.message, self.digit = target, number, message, digit
        self.confirmed_at = None
        self.side_name = "caller"  # where the party is: a line on the caller side, an outside number callee

    async def _start(self) -> None:
        plan = await self.plan(self.client)
        line = plan.by_number.get(self.number)
        if line is None:
            await self._call_outside(plan)
            return
        route = Route(client=plan.client, brand=plan.brand, domain=plan.domain, caller=NOTIFICATION, callee=line)
        self.open_record(route, self.number, direction=Cdr.Direction.OUTBOUND, service=Cdr.Service.NOTIFICATION)
        await self.ring_line(line, Party("notification", "Notification"), second_leg=False)

    async def _call_outside(self, plan) -> None:
        self.record_as(service=Cdr.Service.NOTIFICATION)
        self.side_name = "callee"
        dialled = numbering.classify(self.number, plan.country)
        refusal = NOT_A_NUMBER if dialled is None else EMERGENCY if dialled.kind == numbering.EMERGENCY else None
        if refusal is not None:  # never placed (a campaign does not call an emergency number)
            route = Route(client=plan.client, brand=plan.brand, domain=plan.domain, caller=NOTIFICATION,
                          callee=Party(self.number, ""))  # fmt: skip
            self.open_record(route, self.number, direction=Cdr.Direction.OUTBOUND)
            self.finish(Cdr.Disposition.FAILED, refusal, "engine")
            return
        await self.call_out(plan, dialled)

    def line_answered(self) -> None:
        self.take(Prompter(self))
        self.answered(by=self.number)
        self.engine.background(self.deliver())

    def outside_answered(self) -> None:
        self.take(Prompter(self, side="callee"))
        self.answered(by=self.route.callee.number)
        self.engine.background(self.deliver())

    async def deliver(self) -> None:
        ivr = self.app
        try:
            frames = await self.engine.message_frames(self.message, self.side(self.side_name).codec.name)
        except AudioFileError:
            log.exception("notification message %s cannot be played", self.message)
            self.hangup("engine", cause="no-message")
            return
        for _ in range(2):
            await ivr.play(frames=frames)
            if not ivr.digits.pending:
                await ivr.play("confirm", self.digit)
            if self.state == State.ENDED:
                return
            if (await ivr.digits.collect(max_digits=1, terminator=None, first=6.0)).digits == self.digit:
                self.confirmed_at = _now()
                await ivr.play("thanks")
                self.hangup("engine", cause="confirmed")
                return
        self.hangup("engine", cause="not-confirmed")

    def finish(self, disposition: str, cause: str, side: str, *, cdr: bool = True) -> None:
        if self.state == State.ENDED:
            return
        super().finish(disposition, cause, side, cdr=cdr)
        if self.confirmed_at is not None:
            state = "confirmed"
        elif self.answered_at is not None:
            state = "answered"
        elif cause.split(" ")[0] in REFUSALS:
            state = "refused"
        else:
            state = {Cdr.Disposition.BUSY: "busy", Cdr.Disposition.NO_ANSWER: "no-answer"}.get(disposition, "failed")
        report = self.engine.database.call
        self.engine.background(report(target_result, self.client, self.target, state=state, cause=cause,
                                      answered_at=self.answered_at, confirmed_at=self.confirmed_at))  # fmt: skip


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
