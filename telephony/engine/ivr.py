"""Voice menus on one leg: the engine answers a call itself, plays prompts and collects keys.

Used by the conference dial-in (conference ID, PIN), mass notification (play a message, confirm by a
key) and recording a library message by phone (*89<message id>).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import TYPE_CHECKING

from conferencing.notifications import message_for_recording, message_recorded
from telephony.engine.dialplan import Party, Route
from telephony.media.codecs import supported as decodable
from telephony.media.dtmf import DtmfCollector
from telephony.media.player import Frames, Player
from telephony.media.ports import MediaError
from telephony.media.recorder import record_endpoint
from telephony.sip.sdp import build_sdp, event_payload, telephone_events

if TYPE_CHECKING:
    from telephony.engine.calls import Call

MAX_RECORDING = 300.0  # seconds of a message recorded by phone


class Ivr:
    """Prompts played to one leg and the digits it sends (type-ahead kept; a key stops the prompt)."""

    def __init__(self, call: Call, event_pt: int | None):
        self.call = call
        self.digits = call.keys = DtmfCollector(event_pt=event_pt, on_digit=self._key)
        call.media_a.sink = self.digits.push_packet
        self._done: asyncio.Future | None = None

    def _key(self, _digit: str) -> None:
        self.stop()

    def stop(self) -> None:
        self.call.stop_music()
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    async def play(self, *names: str, frames: Frames | None = None) -> None:
        call = self.call
        if call.state == "ENDED":
            return
        frames = frames or call.engine.prompts.frames(call.codec.name, *names)
        self._done = done = asyncio.get_running_loop().create_future()
        call.stop_music()
        call.music = Player(call.media_a, call.codec.payload, frames, loop=False, on_done=self.stop)
        call.music.start()
        await asyncio.wait_for(done, len(frames) * 0.02 + 2)

    async def ask(self, name: str, max_digits: int) -> str:
        if not self.digits.pending:
            await self.play(name)
        if self.call.state == "ENDED":
            return ""
        return (await self.digits.collect(max_digits=max_digits, terminator="#", first=10.0, between=5.0)).digits

    async def wait_for_key(self, key: str, limit: float) -> bool:
        """Until `key` is pressed (True), the call ends or `limit` seconds pass."""
        deadline = time.monotonic() + limit
        while self.call.state != "ENDED" and time.monotonic() < deadline:
            if (await self.digits.collect(max_digits=1, terminator=None, first=1.0)).digits == key:
                return True
        return False


async def answer(call: Call, offer) -> bool:
    """Answer a phone's INVITE with the engine's own media (the first codec it can decode), for a voice
    menu; False (the call refused) when no codec fits or no port is free."""
    engine = call.engine
    codec = next((c for c in call.offered if c.name != "TELEPHONE-EVENT" and decodable(c.name)), None)
    if codec is None:
        call.end_before_answer(488, "Not Acceptable Here")
        return False
    try:
        call.media_a = await engine.media.open(remote=offer.audio_address() if offer else None)
    except MediaError:
        call.end_before_answer(503, "No Media Ports", cause="no-media-ports")
        return False
    if call.state == "ENDED":
        call.close_media()
        return False
    events = telephone_events(call.offered, codec)
    call.codec, call.media_a.clock_rate, call.offered = codec, codec.rate, [codec, *events]
    call.ua.respond(call.stx, 200, to_tag=call.a.local_tag,
                    body=build_sdp(engine.media.address, call.media_a.port, call.offered,
                                   session_id=call.uuid.int % 10**9))  # fmt: skip
    call.state = "IVR"
    return True


async def record_message(call: Call, plan, extension: int, dialled: str, message_id: int, offer) -> None:
    """*89<id>: the line that made library message <id> records it: a tone, then speech until # or
    hang-up. The message's file is replaced only by a whole recording."""
    engine = call.engine
    caller = plan.by_extension.get(extension) or Party("", "")
    call.route = Route(client=plan.client, brand=plan.brand, domain=plan.domain, caller=caller, callee=None)
    engine.cdrs.open(call_uuid=call.uuid, engine=engine.id, route=call.route, started_at=call.started_at,
                     dialled=dialled)  # fmt: skip
    path = await engine.database.call(message_for_recording, plan.client, message_id, caller.account)
    if path is None:
        call.end_before_answer(403, "Not Your Message")
        return
    if not await answer(call, offer):
        return
    ivr = Ivr(call, event_payload(call.offered, call.codec))
    await ivr.play("record_after_tone", "beep")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".recording.wav")
    recording = record_endpoint(call.media_a, partial, codec=call.codec.name, voice_pt=call.codec.payload,
                                event_pts=[p for p in [event_payload(call.offered, call.codec)] if p is not None],
                                on_event=ivr.digits.push_packet)  # fmt: skip
    started = time.monotonic()
    await ivr.wait_for_key("#", MAX_RECORDING)
    recording.stop()
    seconds = time.monotonic() - started
    if seconds >= 1.0:
        os.replace(partial, path)
        await engine.database.call(message_recorded, plan.client, message_id, round(seconds, 1))
    else:
        partial.unlink(missing_ok=True)
    if call.state != "ENDED":
        await ivr.play("recorded" if seconds >= 1.0 else "goodbye")
        call.hangup("engine", cause="recorded" if seconds >= 1.0 else "too-short")
