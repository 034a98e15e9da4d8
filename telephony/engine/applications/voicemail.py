"""Voicemail: callers leave messages in a box (voicemail.models.Mailbox), its owner hears them by phone.

Leaving a message: the destination kind "voicemail" (target: the box number), where a user's
forwarding (busy, do-not-disturb, no answer, unreachable), a number or a schedule points. The box's
busy greeting plays when the call was forwarded on busy or do-not-disturb, its unavailable greeting
otherwise; without one, the platform's prompt says "<the recorded name, or the person at extension
N> is busy / is not available". A key during the greeting skips it (`0` goes to the box's operator
when it has one). Then a beep, and what the caller says is recorded until `#`, the box's longest
message, or hang-up; `0` keeps what was said and goes to the operator. A full box says so and hangs
up; under a second nothing is kept. The call's record says who "answered": `voicemail:<box>`, and
its legs list the box and the greeting.

The message is never lost: the recorder writes the WAV a second at a time (a dying engine leaves a
file that plays), and a note of it (`<file>.json`: the box, the caller, the call, the engine that
records it) is written beside it before the recording starts, completed with its length when it
ends, and removed once its row is written: at once, again every RETRY seconds while PostgreSQL is
away, and by the next engine started on the host (`at_start`) for the notes an engine left (a
recording cut by its engine's death is as long as what its file holds). Writing a row twice is
one message (its file is unique).

Hearing them: `*97` from a user's line opens their box (its PIN asked when it has one), `*98` asks a box
number and its PIN; three wrong tries end the call, and wrong tries are counted per box and per line
across calls (voicemail.services.mailbox_pin_try): past a limit the box does not open for a while. It
says the new (unheard) and saved counts; then 1 plays the messages, the new ones first, each group
oldest first (VoiceMailMain's order), each with its envelope (its number, the caller, the time received
in the client's time zone). Keys, as VoiceMailMain has them: 4 previous, 5 repeat, 6 next, 7 delete, 9
save, 3 then 2 calls the caller back (through the client's outbound path and policy, as the user
dialling it would; a colleague's line rings directly), # back to the main menu. 0 in the main menu:
mailbox options: 1 record the unavailable greeting, 2 the busy greeting, 3 the name, 4 change the PIN, *
back.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from recordings import disk
from records.models import Cdr
from telephony import features
from telephony.engine import destinations
from telephony.engine.application import Incoming, Prompter, at_start, feature
from telephony.engine.applications.clicktocall import OriginatedCall
from telephony.engine.call import Call
from telephony.engine.database import DatabaseAway
from telephony.engine.destinations import runs
from telephony.engine.dialplan import ClientPlan, section
from telephony.engine.states import State
from telephony.engine_registry import EngineInfo, registry_key
from telephony.media.player import AudioFileError
from telephony.media.recorder import RtpRecording
from telephony.sip.sdp import telephone_events
from tenants.dates import zone_named
from voicemail.models import Message, Options, box_directory, voicemail_dir
from voicemail.selectors import BoxView, mailbox_message_count, mailboxes_for_plan, messages_for_phone
from voicemail.services import (
    mailbox_greeting_recorded,
    mailbox_pin_set,
    mailbox_pin_try,
    message_deposit,
    message_file,
    message_heard,
    message_remove,
)

log = logging.getLogger(__name__)
OWN = features.FeatureCode("*97", "voicemail-own")
ANY = features.FeatureCode("*98", "voicemail-any")
MIN_SECONDS = 1.0  # a shorter message is not kept
MAX_GREETING = 120.0  # seconds of a greeting recorded by phone
TRIES = 3  # wrong PINs (or box numbers) before goodbye
RETRY = 1.0  # seconds between tries to write a message's row while the database is away
BUSY_WHY = frozenset({"busy", "dnd"})  # forwardings that play the busy greeting
# Destinations a call the engine places runs itself: someone rings (a rule set chooses among them first).
ONWARD = ("user", "external", "group", "route")
SWEEP = 2.0  # seconds between looks at the notes an engine that just died may have left
WAV_HEADER = 44


@dataclass(frozen=True)
class Boxes:
    by_number: dict[str, BoxView]
    zone: str  # the client's time zone: a message's envelope says its time there
    unsolicited: bool = False  # phones that do not subscribe are told of their box (the client's options)


@section("voicemail")
def load_boxes(client) -> Boxes:
    return Boxes(mailboxes_for_plan(client), client.timezone, Options.current().unsolicited_mwi)


def boxes_of(plan: ClientPlan) -> Boxes:
    return plan.sections.get("voicemail") or Boxes({}, "UTC")


def digits_of(text: str) -> list[str]:
    """Prompt names saying a number digit by digit."""
    return [c for c in text if c.isdigit()]


# Leaving a message -----------------------------------------------------------------------------------


@runs("voicemail")
async def to_voicemail(call: Call, target: str, incoming: Incoming) -> None:
    box = boxes_of(incoming.plan).by_number.get(target)
    if box is None:
        call.refuse(incoming, 404, "No Such Mailbox")
        return
    # the Forwarder that sent the call here, if one did; or the one that gave a placed call's forwarding back
    why = getattr(call.placing, "why", None) or getattr(call.app, "onward_why", None)
    await _deposit_call(call, incoming, box, "busy" if why in BUSY_WHY else "unavailable")


class Voice(Prompter):
    """What both sides of voicemail share: prompts, recording from the caller's leg, and sending the
    caller on to a person (`onward`). Built once the call is answered."""

    def __init__(self, call: Call, incoming: Incoming):
        super().__init__(call)
        self.incoming, self.plan, self.engine = incoming, incoming.plan, call.engine
        self.onward_call: Onward | None = None
        self.onward_reason = ""
        self._onward_done: asyncio.Future | None = None
        self.given_back: tuple[str, str] | None = None  # where the person's forwarding sends the caller instead
        self.onward_why: str | None = None  # which of their forwardings did (a voicemail greeting's choice)

    def ended(self, call: Call, cause: str) -> None:
        self.stop()
        onward = self.onward_call
        if onward is not None:
            if onward.handed:
                onward.handed_over_ended(cause)
            else:
                onward.hangup("engine", cause="caller-gone")

    async def choose(self, *names: str, wait: float = 6.0) -> str:
        """One key: the prompts play unless a key is waiting already; "" when none comes."""
        if not self.digits.pending:
            await self.play(*names)
        if self.call.state == State.ENDED:
            return ""
        return (await self.digits.collect(max_digits=1, terminator=None, first=wait)).digits

    async def play_file(self, path: Path) -> bool:
        """Play an audio file of the box (a greeting, a message); False when it cannot be read."""
        keys = self.keys_pressed
        try:
            frames = await self.engine.message_frames(str(path), self.call.caller.codec.name)
        except (AudioFileError, OSError) as exc:
            log.warning("call %s: %s", self.call.uuid, exc)
            return False
        await self.play(frames=frames, keys=keys)
        return True

    async def record_until(self, limit: float, keys: str) -> str:
        """Until one of `keys` (returned), `limit` seconds ("limit") or the caller hangs up ("hangup")."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while self.call.state != State.ENDED:
            left = deadline - loop.time()
            if left <= 0:
                return "limit"
            got = (await self.digits.collect(max_digits=1, terminator=None, first=min(left, 0.2))).digits
            if got and got in keys:
                return got
        return "hangup"

    def stop_recording(self, recording: RtpRecording) -> float:
        """Stop it, give the caller's keys back to the menu; the seconds of audio written."""
        recording.stop()
        if self.call.state != State.ENDED:
            self.call.listen(self.digits.push_packet)
        return recording.recorder.data_bytes / (2 * recording.recorder.rate)

    async def onward(self, kind: str, target: str, reason: str) -> bool:
        """Send the caller to `kind`:`target` (a user or an external number) as a call the engine places
        (`Onward`); once answered, it is bridged to the caller. When the person's forwarding sends the
        call to what needs the caller (their voicemail, a menu), the caller goes there. False when it was
        neither answered nor sent on."""
        call = self.call
        self.given_back = None
        await self.play("vm_connecting")
        if call.state == State.ENDED:
            return False
        call.play_music("caller")
        self._onward_done = done = asyncio.get_running_loop().create_future()
        self.onward_reason = reason
        onward = self.onward_call = Onward(self.engine, self, client=self.plan.client)
        offered = [call.caller.codec, *telephone_events(call.caller.offered, call.caller.codec)]
        incoming = Incoming(self.plan, self.incoming.extension, self.incoming.caller, target, None,
                            network=self.incoming.network)  # fmt: skip
        self.engine.background(onward.run(kind, target, incoming, offered))
        answered = await done
        if not answered:
            self.onward_call = None
            if call.state != State.ENDED:
                call.stop_playing()
            if self.given_back is not None and call.state != State.ENDED:
                await destinations.run(call, *self.given_back, self.incoming)
                return True
        return answered

    def onward_answered(self, onward: Onward) -> bool:
        done = self._onward_done
        taken = self.call.state == State.IVR and self.call.take_answered(onward, by=onward.route.callee,
                                                                          reason=self.onward_reason)  # fmt: skip
        if done is not None and not done.done():
            done.set_result(taken)
        return taken

    def onward_failed(self) -> None:
        done = self._onward_done
        if done is not None and not done.done():
            done.set_result(False)


async def _deposit_call(call: Call, incoming: Incoming, box: BoxView, greeting: str) -> None:
    """Answer, greet, beep, record, keep."""
    engine, plan = call.engine, incoming.plan
    try:
        count = await engine.database.call(mailbox_message_count, plan.client, box.id)
    except DatabaseAway:
        count = 0  # the message is kept (its row written later); the limit is checked when the database is back
    if not call.record_opened:  # a number pointing at the box (a forwarded call has its record)
        call.open_record(call.route_alone(incoming), incoming.dialled)
    if not await call.answer_alone(incoming.offer):
        return
    call.answered(by=f"voicemail:{box.number}")
    full = count >= box.max_messages
    # Under the disk's hard threshold no message is taken (recordings/disk.py): the caller is told.
    disk_full = not full and disk.disk_state(voicemail_dir()) == disk.FULL
    extra = {"refused": "disk-full"} if disk_full else {}
    call.log_leg("voicemail", "", box=box.number, greeting=greeting, full=full, **extra)
    voice = Leaving(call, incoming, box)
    call.take(voice)
    if full or disk_full:
        await voice.play("vm_full" if full else "vm_no_space", "goodbye")
        call.hangup("engine", cause="mailbox-full" if full else "disk-full")
        return
    await voice.leave(greeting)


class Leaving(Voice):
    """The answered caller leaving a message in `box`."""

    def __init__(self, call: Call, incoming: Incoming, box: BoxView):
        super().__init__(call, incoming)
        self.box = box

    async def greet(self, greeting: str) -> str:
        """The greeting (or the platform's prompt); the key that cut it short, if one did."""
        box, call = self.box, self.call
        said = False
        if greeting in box.greetings:
            said = await self.play_file(box.greetings[greeting])
        if not said:
            prompt = "vm_busy" if greeting == "busy" else "vm_unavailable"
            if "name" in box.greetings and await self.play_file(box.greetings["name"]):
                if not self.digits.pending:
                    await self.play(prompt)
            else:
                await self.play("vm_person_at" if box.user else "vm_mailbox", *digits_of(box.number), prompt)
        if call.state == State.ENDED:
            return ""
        pressed = self.digits.pending[:1]
        self.digits.flush()
        return pressed

    async def leave(self, greeting: str) -> None:
        call, box, plan = self.call, self.box, self.plan
        operator = box.operator if box.operator[0] in ("user", "external") else None
        pressed = await self.greet(greeting)
        if call.state == State.ENDED:
            return
        if pressed == "0" and operator:
            await self.to_operator(operator)
            return
        received_at = dt.datetime.now(dt.UTC)
        name = f"{received_at:%Y%m%d-%H%M%S}-{call.uuid.hex[:12]}.wav"
        path = box_directory(plan.client, box.id) / name
        caller = self.incoming.caller
        caller_number = caller.number if caller else (self.incoming.network or {}).get("from", "")
        note = {"client": plan.client, "box": box.id, "file": str(path.relative_to(voicemail_dir())),
                "caller_number": caller_number, "caller_name": caller.name if caller else "",
                "call_uuid": str(call.uuid), "received_at": received_at.isoformat(), "seconds": None,
                "recording_by": self.engine.id}  # fmt: skip
        await asyncio.to_thread(_write_note, path, note)  # (an engine that dies now leaves it to the next)
        recording = await self.beep_then_record(path)
        if recording is None:
            await asyncio.to_thread(_drop, path)
            return
        ended_by = await self.record_until(box.max_seconds, "#0" if operator else "#")
        seconds = self.stop_recording(recording)
        kept = seconds >= MIN_SECONDS
        if kept:
            await keep(self.engine, path, {**note, "seconds": round(seconds, 1), "recording_by": None})
        else:
            await asyncio.to_thread(_drop, path)
        log.info("call %s: message for box %s %s (%.1f s, %s)", call.uuid, box.number,
                 "kept" if kept else "too short", seconds, ended_by)  # fmt: skip
        if call.state == State.ENDED:
            return
        if ended_by == "0" and operator:
            await self.to_operator(operator)
            return
        await self.play("recorded" if kept else "goodbye")
        call.hangup("engine", cause="message-left" if kept else "too-short")

    async def to_operator(self, operator: tuple[str, str]) -> None:
        if not await self.onward(*operator, reason="operator") and self.call.state != State.ENDED:
            await self.play("not_possible", "goodbye")
            self.call.hangup("engine", cause="operator-unavailable")


# The message's row: written at once, again while the database is away, by the next engine otherwise ----


def _note_path(wav: Path) -> Path:
    return wav.with_suffix(".json")


def _write_note(wav: Path, note: dict) -> None:
    wav.parent.mkdir(parents=True, exist_ok=True)
    partial = _note_path(wav).with_suffix(".json-part")
    partial.write_text(json.dumps(note))
    partial.replace(_note_path(wav))  # whole or not at all


def _drop(wav: Path) -> None:
    wav.unlink(missing_ok=True)
    _note_path(wav).unlink(missing_ok=True)


async def keep(engine, wav: Path, note: dict) -> None:
    """The note of the whole message, then its row (retried while the database is away)."""
    await asyncio.to_thread(_write_note, wav, note)
    if not await _write_row(engine, _note_path(wav)):
        engine.background(_retry(engine, _note_path(wav)))


def _read_note(note_path: Path) -> dict | None:
    try:
        return json.loads(note_path.read_text())
    except (OSError, ValueError) as exc:
        log.error("voicemail note %s unreadable: %s", note_path, exc)
        return None


async def _write_row(engine, note_path: Path) -> bool:
    """Write the row of a noted message; True when it is done with (written, or nothing to write). A
    note without seconds is a recording its engine did not finish: the file's audio says how long."""
    note = await asyncio.to_thread(_read_note, note_path)
    if note is None:
        return True
    wav = voicemail_dir() / note["file"]
    try:
        seconds = note["seconds"] or (wav.stat().st_size - WAV_HEADER) / (2 * 8000)
    except OSError:  # the file is gone
        seconds = 0.0
    if seconds < MIN_SECONDS:
        await asyncio.to_thread(_drop, wav)
        return True
    try:
        written = await engine.database.call(
            message_deposit, note["client"], note["box"], note["file"], caller_number=note["caller_number"],
            caller_name=note["caller_name"], call_uuid=note["call_uuid"],
            received_at=dt.datetime.fromisoformat(note["received_at"]), seconds=seconds,
        )  # fmt: skip
    except DatabaseAway:
        return False
    if written is None:  # the box was deleted meanwhile: its message goes with it
        log.warning("voicemail box %s of client %s is gone: message %s dropped", note["box"], note["client"], wav)
        await asyncio.to_thread(wav.unlink, missing_ok=True)
    await asyncio.to_thread(_note_path(wav).unlink, missing_ok=True)
    return True


async def _retry(engine, note_path: Path) -> None:
    while not engine.draining:
        await asyncio.sleep(RETRY)
        if await _write_row(engine, note_path):
            log.info("voicemail message %s written after the database came back", note_path.stem)
            return


async def _recording_elsewhere(engine, owner: str | None) -> bool:
    """Whether another engine that is alive (its heartbeat fresh) is still recording the message."""
    if not owner or owner == engine.id:
        return owner == engine.id
    raw = await engine.redis.hget(registry_key(engine.config.redis_prefix), owner)
    return raw is not None and EngineInfo.from_json(raw).fresh()


@at_start
async def messages_left_noted(engine) -> None:
    """The rows of messages an engine of this host noted and did not write: it lost the database, or
    died (while recording: the file keeps what was said up to its last second). A note whose engine
    is still alive is its own business; one that just died is looked at again until its heartbeat
    is stale (for about the time the engines take to call it dead)."""
    loop = asyncio.get_running_loop()
    until, retrying = loop.time() + engine.config.lost_after + 5, set()
    while not engine.draining and loop.time() < until:
        notes = await asyncio.to_thread(lambda: sorted(voicemail_dir().glob("*/*/*.json")))
        held = False
        for note_path in notes:
            note = await asyncio.to_thread(_read_note, note_path) if note_path not in retrying else None
            if note is None:
                continue
            owner = note.get("recording_by")
            if await _recording_elsewhere(engine, owner):
                held = held or owner != engine.id
                continue
            if not await _write_row(engine, note_path):
                retrying.add(note_path)
                engine.background(_retry(engine, note_path))
        if not held:
            return
        await asyncio.sleep(SWEEP)


# Sending the caller on: a call the engine places, answered into the voicemail call -----------------------


class Onward(OriginatedCall):
    """The call to a box's operator or to a message's caller (called back): placed by the engine like
    the caller's own call to that destination would be (a user's devices and forwarding; a number
    through the client's carriers and policy), with a record of its own; once answered, its leg is
    the voicemail call's callee (Call.take_answered) and this call's record ends with that call."""

    def __init__(self, engine, holder: Voice, *, client: int):
        super().__init__(engine, client=client, extension=0, dialled="")
        self.holder, self.handed = holder, False

    async def run(self, kind: str, target: str, incoming: Incoming, offered) -> None:
        self.caller.offered = list(offered)
        try:
            await destinations.run(self, kind, target, incoming)
        except Exception:
            log.exception("call %s: sending the caller on to %s %s failed", self.uuid, kind, target)
            self.close_media()
            self.finish(Cdr.Disposition.FAILED, "engine-error", "engine")

    async def answer_alone(self, offer) -> bool:  # nobody is there to talk to the engine
        self.end_before_answer(480, "Temporarily Unavailable")
        return False

    def hands_back(self, kind: str, target: str) -> bool:
        """The person's forwarding sends the call to what needs the caller (voicemail, a menu...): the
        waiting caller goes there, and this call's record ends unanswered."""
        if kind in ONWARD:
            return False
        why = getattr(self.placing, "why", None)
        self.holder.given_back, self.holder.onward_why = (kind, target), why
        self.end_before_answer(480, "Temporarily Unavailable", disposition=Cdr.Disposition.BUSY if why in BUSY_WHY
                               else Cdr.Disposition.NO_ANSWER, cause=f"forwarded-{kind}", side="callee")  # fmt: skip
        return True

    def caller_ringing(self) -> None:
        pass  # the voicemail caller hears music meanwhile

    def caller_answer(self, body: bytes) -> None:
        pass

    def caller_refuse(self, status: int, reason: str | None) -> None:
        pass  # (finish tells the holder)

    def connect_callee(self, codecs, remote) -> bool:
        if not self.callee_media_answered(codecs, remote):
            return False
        self.move(State.ANSWERED)
        self.answered(by=self.route.callee.number)
        self.handed = self.holder.onward_answered(self)
        if not self.handed:
            self.hangup("engine", cause="caller-gone")
        return self.handed

    def hangup(self, side: str = "engine", *, cause: str = "hangup") -> None:
        if self.state == State.ANSWERED and self.handed:
            self.finish(Cdr.Disposition.ANSWERED, cause, side)
        else:
            super().hangup(side, cause=cause)

    def finish(self, disposition: str, cause: str, side: str, *, cdr: bool = True) -> None:
        if self.state == State.ENDED:
            return
        super().finish(disposition, cause, side, cdr=cdr)
        if not self.handed:
            self.holder.onward_failed()

    def handed_over_ended(self, cause: str) -> None:
        """The voicemail call, which took this one's leg, ended: this record ends with it."""
        self.finish(Cdr.Disposition.ANSWERED, cause, "engine")


# Hearing messages: *97 (one's own box), *98 (any box, with its PIN) -------------------------------------


@feature(OWN, ANY)
async def listen(call: Call, incoming: Incoming) -> None:
    if incoming.caller is None:
        call.refuse(incoming, 403, "Unknown Caller")
        return
    call.open_record(call.route_alone(incoming), incoming.dialled)
    if not await call.answer_alone(incoming.offer):
        return
    menu = Menu(call, incoming)
    call.take(menu)
    try:
        box = await menu.sign_in(own=incoming.dialled == OWN.prefix)
    except DatabaseAway:
        box = None
    if box is None:
        if call.state != State.ENDED:
            await menu.play("goodbye")
            call.hangup("engine", cause="wrong-pin")
        return
    menu.box = box
    call.log_leg("voicemail", "", box=box.number, listening=True)
    try:
        await menu.main()
    except DatabaseAway:
        log.warning("call %s: the database is away: box %s cannot be read now", call.uuid, box.number)
        await menu.play("not_possible")
    if call.state not in (State.ENDED, State.ANSWERED):
        await menu.play("goodbye")
        call.hangup("engine", cause="done")


class Menu(Voice):
    """A box's owner by phone."""

    box: BoxView

    async def db(self, work, *args):
        return await self.engine.database.call(work, self.plan.client, *args)

    async def sign_in(self, *, own: bool) -> BoxView | None:
        boxes = boxes_of(self.plan).by_number
        for _ in range(TRIES):
            if own:
                box = boxes.get(self.incoming.caller.number)
                if box is None:
                    return None
                if not box.has_pin:  # (set one with 0, 4) the line itself is the proof
                    return box
                number = box.number
            else:
                number = await self.ask("vm_box_number", 4)
                box = boxes.get(number)
            pin = await self.ask("pin", 10)
            if self.call.state == State.ENDED:
                return None
            # (*97's tries are counted apart: a robot on *98 does not lock the owner out at their own line)
            counter = f"own:{number}" if own else number
            if pin and await self.db(
                mailbox_pin_try, counter, box.id if box else None, pin, self.incoming.caller.number
            ):
                return box
            await self.play("wrong_pin")
        return None

    async def main(self) -> None:
        messages = await self.db(messages_for_phone, self.box.id)
        new = sum(1 for m in messages if not m.heard)
        if not self.digits.pending:  # (keys typed ahead skip the counts)
            await self.play("vm_you_have", *digits_of(str(new)), "vm_new_messages", "vm_and",
                            *digits_of(str(len(messages) - new)), "vm_saved_messages")  # fmt: skip
        idle = 0
        while self.call.state == State.IVR and idle < TRIES:
            key = await self.choose("vm_main_menu")
            idle = idle + 1 if not key else 0
            if key == "1":
                await self.hear()
            elif key == "0":
                await self.options()
            elif key == "#":
                return

    async def hear(self) -> None:
        messages = await self.db(messages_for_phone, self.box.id)
        zone = zone_named(boxes_of(self.plan).zone)
        index, idle, replay = 0, 0, True
        while self.call.state == State.IVR and 0 <= index < len(messages):
            message = messages[index]
            if replay:
                when = message.received_at.astimezone(zone).strftime("%H%M")
                caller = ["vm_from", *digits_of(message.caller_number)] if message.caller_number else [
                    "vm_unknown_caller"]  # fmt: skip
                await self.play("vm_message", *digits_of(str(index + 1)), *caller, "vm_received_at", *digits_of(when))
                if not self.digits.pending:
                    await self.play_file(message.path)
                if not message.heard:
                    await self.db(message_heard, message.id)
            key = await self.choose("vm_message_menu")
            idle = idle + 1 if not key else 0
            if idle >= TRIES:
                return
            replay = key in ("4", "5", "6", "7", "9")  # (no key, or another: the menu again)
            if key == "6":
                index += 1
            elif key == "4":
                index = max(0, index - 1)
            elif key == "7":
                await self.db(message_remove, message.id)
                messages.pop(index)
                await self.play("vm_deleted")
            elif key == "9":
                await self.db(message_file, message.id, Message.SAVED)
                await self.play("vm_message_saved")
                index += 1
            elif key == "3":
                if (await self.digits.collect(max_digits=1, terminator=None, first=5.0)).digits == "2":
                    await self.call_back(message.caller_number)
                    return
            elif key in "#*":
                return
        if self.call.state == State.IVR:
            await self.play("vm_no_more")

    async def call_back(self, number: str) -> None:
        if not number:
            await self.play("not_possible")
            return
        kind = "user" if number in self.plan.by_number else "external"
        if not await self.onward(kind, number, reason="call-back") and self.call.state != State.ENDED:
            await self.play("not_possible")

    async def options(self) -> None:
        idle = 0
        while self.call.state == State.IVR and idle < TRIES:
            key = await self.choose("vm_options")
            idle = idle + 1 if not key else 0
            if key in ("1", "2", "3"):
                await self.record_greeting({"1": "unavailable", "2": "busy", "3": "name"}[key])
            elif key == "4":
                problem = await self.db(mailbox_pin_set, self.box.id, await self.ask("vm_new_pin", 10))
                await self.play("not_possible" if problem else "vm_pin_changed")
            elif key in ("*", "#"):
                return

    async def record_greeting(self, kind: str) -> None:
        if disk.disk_state(voicemail_dir()) == disk.FULL:
            await self.play("vm_no_space")
            return
        await self.play("vm_record_after_tone")
        if self.call.state != State.IVR:
            return
        directory = box_directory(self.plan.client, self.box.id)
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
        final, partial = directory / f"greeting-{kind}.wav", directory / f"greeting-{kind}.recording.wav"
        recording = await self.beep_then_record(partial)
        if recording is None:
            await asyncio.to_thread(partial.unlink, missing_ok=True)
            return
        await self.record_until(MAX_GREETING, "#")
        seconds = self.stop_recording(recording)
        if seconds < MIN_SECONDS:
            await asyncio.to_thread(partial.unlink, missing_ok=True)
            await self.play("not_possible")
            return
        await asyncio.to_thread(os.replace, partial, final)
        await self.db(mailbox_greeting_recorded, self.box.id, kind, str(final.relative_to(voicemail_dir())))
        await self.play("vm_greeting_saved")
