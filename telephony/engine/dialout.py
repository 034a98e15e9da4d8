"""Calls the engine places into a conference: a moderator's or the API's dial-out, and the call-out
of a "hot" (emergency) conference to its whole list, with retries for those who did not join.

A dial-out rings every device of the line (as click-to-call does); once answered, the line joins
the conference. Its record is a conference join like a dial-in's, with direction outbound; one that
never joined (busy, 480, no answer) is an event "conference.dial_failed" for the room's page, which
lists such records, and is not usage (conferencing/reports.py counts joins only).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import TYPE_CHECKING

from asgiref.sync import sync_to_async

from conferencing.notifications import target_result
from records.models import Cdr
from telephony.engine.calls import OriginatedCall
from telephony.engine.dialplan import Party, Route
from telephony.engine.ivr import Ivr
from telephony.media.player import AudioFileError
from telephony.sip.sdp import event_payload

if TYPE_CHECKING:
    from telephony.engine.conference import Conference
    from telephony.engine.server import Engine

log = logging.getLogger(__name__)


class DialOut(OriginatedCall):
    def __init__(self, engine: Engine, conference: Conference, number: str, *, role: str = "participant",
                 on_end=None):  # fmt: skip
        super().__init__(engine, client=conference.client, extension=0, dialled=conference.id)
        self.conference, self.number, self.role, self.on_end = conference, number, role, on_end

    async def _start(self) -> None:
        plans, client, room = self.engine.dialplans, self.conference.client, self.conference.room
        plan = plans.cached(client) or await sync_to_async(plans.load, thread_sensitive=False)(client)
        line = plan.by_number.get(self.number)
        self.route = Route(client=plan.client, brand=plan.brand, domain=plan.domain,
                           caller=line or Party(self.number, ""), callee=None)  # fmt: skip
        self.engine.cdrs.open(call_uuid=self.uuid, engine=self.engine.id, route=self.route, started_at=self.started_at,
                              dialled=self.conference.id, direction=Cdr.Direction.OUTBOUND,
                              service=Cdr.Service.CONFERENCE, conference=room.conference_id,
                              moderator=room.moderator)  # fmt: skip
        if line is None:
            self.finish(Cdr.Disposition.FAILED, "404", "engine")
            return
        await self.ring_line(line, Party(room.conference_id, room.name), second_leg=False)

    def line_answered(self) -> None:
        conference = self.conference
        self.codec = self.offered[0]
        self.media_a.clock_rate = self.codec.rate
        problem = "ended" if conference.ended else conference.refusal(self.role)
        if problem is not None:
            self.hangup("engine", cause=problem)
            return
        conference.join(self, self.role, self.route.caller, direction="dial-out")

    def finish(self, disposition: str, cause: str, side: str, *, cdr: bool = True) -> None:
        if self.state == "ENDED":
            return
        joined = self.answered_at is not None
        super().finish(disposition, cause, side, cdr=cdr)
        if not joined:  # for the room's page, before the conference may close for want of anyone in it
            self.conference.event("conference.dial_failed", number=self.number, disposition=disposition, cause=cause)
        if self.on_end is not None:
            self.on_end(self.number, joined, cause)
        self.conference.dial_out_ended(str(self.uuid))


class CallOut:
    """A hot conference's call-out: every number at once; those that do not join are called again
    `retries` times, `interval` seconds apart. `state` tells, per number, how it went."""

    def __init__(self, conference: Conference, numbers: list[str], retries: int, interval: float):
        self.conference, self.retries, self.interval = conference, retries, interval
        self.state: dict[str, dict] = {n: {"number": n, "attempts": 0, "joined": False, "last": ""} for n in numbers}
        self._timers: list[asyncio.TimerHandle] = []
        self.due: set[str] = set()  # numbers waiting for their next attempt

    def start(self) -> None:
        present = {p.number for p in self.conference.participants.values()}
        for number in self.state:
            if number not in present:
                self.call(number)
            else:
                self.state[number]["joined"] = True

    def call(self, number: str) -> None:
        self.due.discard(number)
        if self.conference.ended:
            return
        self.state[number]["attempts"] += 1
        call = DialOut(self.conference.engine, self.conference, number, on_end=self.ended)
        self.conference.dialling.add(str(call.uuid))
        self.conference.engine.background(call.start())

    def ended(self, number: str, joined: bool, cause: str) -> None:
        entry = self.state[number]
        entry["last"] = cause
        entry["joined"] = entry["joined"] or joined
        if not joined and entry["attempts"] <= self.retries and not self.conference.ended:
            self.due.add(number)
            self._timers.append(asyncio.get_running_loop().call_later(self.interval, self.call, number))
        self.conference.event("conference.callout", callout=self.summary())

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self.due.clear()

    def summary(self) -> list[dict]:
        present = {p.number for p in self.conference.participants.values()}
        for number, entry in self.state.items():
            entry["joined"] = entry["joined"] or number in present
        return list(self.state.values())


class Notify(OriginatedCall):
    """A mass notification's call to one number: ring the line, play the message, ask for the key that
    confirms (twice at most), and tell the campaign how it went (conferencing.notifications)."""

    def __init__(self, engine: Engine, *, client: int, target: int, number: str, message: str, digit: str):
        super().__init__(engine, client=client, extension=0, dialled=number)
        self.target, self.number, self.message, self.digit = target, number, message, digit
        self.confirmed_at = None

    async def _start(self) -> None:
        plans = self.engine.dialplans
        plan = plans.cached(self.client) or await sync_to_async(plans.load, thread_sensitive=False)(self.client)
        line = plan.by_number.get(self.number)
        self.route = Route(client=plan.client, brand=plan.brand, domain=plan.domain, caller=Party("", "Notification"),
                           callee=line)  # fmt: skip
        self.engine.cdrs.open(call_uuid=self.uuid, engine=self.engine.id, route=self.route, started_at=self.started_at,
                              dialled=self.number, direction=Cdr.Direction.OUTBOUND,
                              service=Cdr.Service.NOTIFICATION)  # fmt: skip
        if line is None:
            self.finish(Cdr.Disposition.FAILED, "404", "engine")
            return
        await self.ring_line(line, Party("notification", "Notification"), second_leg=False)

    def line_answered(self) -> None:
        self.codec = self.offered[0]
        self.media_a.clock_rate = self.codec.rate
        self.state, self.answered_at = "IVR", _now()
        self.engine.cdrs.answered(self.uuid, self.answered_at, by=self.number)
        self.engine.background(self.deliver())

    async def deliver(self) -> None:
        ivr = Ivr(self, event_payload(self.offered, self.codec))
        try:
            frames = await self.engine.message_frames(self.message, self.codec.name)
        except AudioFileError:
            log.exception("notification message %s cannot be played", self.message)
            self.hangup("engine", cause="no-message")
            return
        for _ in range(2):
            await ivr.play(frames=frames)
            if not ivr.digits.pending:
                await ivr.play("confirm", self.digit)
            if self.state == "ENDED":
                return
            if (await ivr.digits.collect(max_digits=1, terminator=None, first=6.0)).digits == self.digit:
                self.confirmed_at = _now()
                await ivr.play("thanks")
                self.hangup("engine", cause="confirmed")
                return
        self.hangup("engine", cause="not-confirmed")

    def finish(self, disposition: str, cause: str, side: str, *, cdr: bool = True) -> None:
        if self.state == "ENDED":
            return
        super().finish(disposition, cause, side, cdr=cdr)
        if self.confirmed_at is not None:
            state = "confirmed"
        elif self.answered_at is not None:
            state = "answered"
        else:
            state = {Cdr.Disposition.BUSY: "busy", Cdr.Disposition.NO_ANSWER: "no-answer"}.get(disposition, "failed")
        report = self.engine.database.call
        self.engine.background(report(target_result, self.client, self.target, state=state, cause=cause,
                                      answered_at=self.answered_at, confirmed_at=self.confirmed_at))  # fmt: skip


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
