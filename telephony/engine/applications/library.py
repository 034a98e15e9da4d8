"""Recording a library message by phone: *89<message id> from the line that made the message. A
tone, then speech until # or hang-up; the message's file is replaced only by a whole recording."""

from __future__ import annotations

import os
import time

from conferencing.notifications import message_for_recording, message_recorded
from telephony import features
from telephony.engine.application import Incoming, Prompter, feature
from telephony.engine.call import Call
from telephony.engine.states import State

MAX_RECORDING = 300.0  # seconds of a message recorded by phone
CODE = features.FeatureCode("*89", "record-message", features.DIGITS)


@feature(CODE)
async def record_message(call: Call, incoming: Incoming) -> None:
    engine, plan = call.engine, incoming.plan
    call.open_record(call.route_alone(incoming), incoming.dialled)
    account = incoming.caller.account if incoming.caller else None
    path = await engine.database.call(message_for_recording, plan.client, int(incoming.argument), account)
    if path is None:
        call.end_before_answer(403, "Not Your Message")
        return
    if not await call.answer_alone(incoming.offer):
        return
    ivr = Prompter(call)
    call.take(ivr)
    await ivr.play("record_after_tone")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".recording.wav")
    recording = await ivr.beep_then_record(partial)  # from the beep's last frame: a word said at once is kept
    if recording is None:
        return
    started = time.monotonic()
    await ivr.wait_for_key("#", MAX_RECORDING)
    recording.stop()
    seconds = time.monotonic() - started
    if seconds >= 1.0:
        os.replace(partial, path)
        await engine.database.call(message_recorded, plan.client, int(incoming.argument), round(seconds, 1))
    else:
        partial.unlink(missing_ok=True)
    if call.state != State.ENDED:
        await ivr.play("recorded" if seconds >= 1.0 else "goodbye")
        call.hangup("engine", cause="recorded" if seconds >= 1.0 else "too-short")
