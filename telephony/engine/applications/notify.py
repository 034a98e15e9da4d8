"""A mass notification's call to one number: ring the line, play the message, ask for the key that
confirms (twice at most), and tell the campaign how it went (conferencing.notifications)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from conferencing.notifications import target_result
from records.models import Cdr
from telephony.engine.application import Prompter
from telephony.engine.applications.clicktocall import OriginatedCall
from telephony.engine.dialplan import Party, Route
from telephony.engine.states import State
from telephony.media.player import AudioFileError

if TYPE_CHECKING:
    from telephony.engine.server import Engine

log = logging.getLogger(__name__)


class Notify(OriginatedCall):
    def __init__(self, engine: Engine, *, client: int, target: int, number: str, message: str, digit: str):
        super().__init__(engine, client=client, extension=0, dialled=number)
        self.target, self.number, self.message, self.digit = target, number, message, digit
        self.confirmed_at = None

    async def _start(self) -> None:
        plan = await self.plan(self.client)
        line = plan.by_number.get(self.number)
        route = Route(client=plan.client, brand=plan.brand, domain=plan.domain, caller=Party("", "Notification"),
                      callee=line)  # fmt: skip
        self.open_record(route, self.number, direction=Cdr.Direction.OUTBOUND, service=Cdr.Service.NOTIFICATION)
        if line is None:
            self.finish(Cdr.Disposition.FAILED, "404", "engine")
            return
        await self.ring_line(line, Party("notification", "Notification"), second_leg=False)

    def line_answered(self) -> None:
        self.take(Prompter(self))
        self.answered(by=self.number)
        self.engine.background(self.deliver())

    async def deliver(self) -> None:
        ivr = self.app
        try:
            frames = await self.engine.message_frames(self.message, self.caller.codec.name)
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
        else:
            state = {Cdr.Disposition.BUSY: "busy", Cdr.Disposition.NO_ANSWER: "no-answer"}.get(disposition, "failed")
        report = self.engine.database.call
        self.engine.background(report(target_result, self.client, self.target, state=state, cause=cause,
                                      answered_at=self.answered_at, confirmed_at=self.confirmed_at))  # fmt: skip


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
