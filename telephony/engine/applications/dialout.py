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

from records.models import Cdr
from telephony.engine.applications.clicktocall import OriginatedCall
from telephony.engine.dialplan import Party, Route
from telephony.engine.states import State

if TYPE_CHECKING:
    from telephony.engine.applications.conference import Conference
    from telephony.engine.server import Engine

log = logging.getLogger(__name__)


class DialOut(OriginatedCall):
    def __init__(self, engine: Engine, conference: Conference, number: str, *, role: str = "participant",
                 on_end=None):  # fmt: skip
        super().__init__(engine, client=conference.client, extension=0, dialled=conference.id)
        self.conference, self.number, self.role, self.on_end = conference, number, role, on_end

    async def _start(self) -> None:
        client, room = self.conference.client, self.conference.room
        plan = await self.plan(client)
        line = plan.by_number.get(self.number)
        route = Route(client=plan.client, brand=plan.brand, domain=plan.domain, caller=line or Party(self.number, ""),
                      callee=None)  # fmt: skip
        self.open_record(route, self.conference.id, direction=Cdr.Direction.OUTBOUND, service=Cdr.Service.CONFERENCE,
                         conference=room.conference_id, moderator=room.moderator)  # fmt: skip
        if line is None:
            self.finish(Cdr.Disposition.FAILED, "404", "engine")
            return
        await self.ring_line(line, Party(room.conference_id, room.name), second_leg=False)

    def line_answered(self) -> None:
        conference = self.conference
        problem = "ended" if conference.ended else conference.refusal(self.role)
        if problem is not None:
            self.hangup("engine", cause=problem)
            return
        conference.join(self, self.role, self.route.caller, direction="dial-out")

    def finish(self, disposition: str, cause: str, side: str, *, cdr: bool = True) -> None:
        if self.state == State.ENDED:
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


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
