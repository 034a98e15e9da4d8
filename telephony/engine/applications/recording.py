"""Call recording in the engine: a two-party call is recorded in stereo (the caller on the left channel,
the callee on the right) when its client's policy says so (recordings.models.RecordingPolicy, read
with the dial plan: its "recording" section), into OCX_RECORDINGS_DIR/<client>/<yyyy-mm>/, with a
row per recording (recordings.models.Recording) and an entry in the call record's legs.

What decides: each line of the client in the call has a mode, its user's own choice where the client
lets users choose, else the client's. One "always" among them records the call from the answer; one
"on demand" lets a party start and stop it. A party whose line may record on demand presses *1 during
the call to start recording and *1 again to stop (Asterisk's and FreePBX's in-call recording key;
RFC 4733 keys, which still reach the other party as they always do). A party on one of the client's
lines presses *2 while the call is recorded to pause it (the file goes on with silence: a card number
said meanwhile is not in it) and *2 again to resume, "always" recordings included. The API starts,
pauses, resumes and stops recording (engine command "engine.record"); keys and API take the same
path (`CallRecording.control`); an "always" recording may be paused, never stopped. When the client
asks for it both parties hear "this call is recorded" as recording starts.

Every media path of a two-party call is followed: the relay (the same codec, or transcoded: each
party's stream decoded from its own codec), a new relay after a transfer, park or retrieval (the
`bridged` hook), and a supervisor's mixer (`mixing`: what each side says, from the mixer). On hold,
a side that sends nothing is silence in the file.

Under the disk's hard threshold (recordings.disk, OCX_DISK_FULL) no recording starts: the call goes
on unrecorded, and its record's legs say so ({"leg": "recording", "refused": "disk-full"}).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from recordings import disk
from recordings.models import LineChoice, LineRecording, Mode, RecordingPolicy
from recordings.services import recording_close, recording_open
from telephony.engine import application
from telephony.engine.application import Application
from telephony.engine.call import Call
from telephony.engine.database import DatabaseAway
from telephony.engine.dialplan import ClientPlan, section
from telephony.engine.states import State
from telephony.media.dtmf import DtmfCollector
from telephony.media.recorder import Recorder, RtpRecording, record_relay
from telephony.sip.sdp import event_payload

log = logging.getLogger(__name__)
S = State
KEY = "1"  # *1 during the call: start or stop recording
PAUSE_KEY = "2"  # *2 during the call: pause or resume it (card numbers)
ACTIONS = ("start", "pause", "resume", "stop")
SIDES = ("caller", "callee")


@dataclass(frozen=True)
class Rules:
    """A client's recording policy as the engine keeps it with the dial plan."""

    mode: str = Mode.NEVER
    announce: bool = False
    lines: dict[str, str] = field(default_factory=dict)  # line number -> its user's own mode (users choose)

    def line_mode(self, number: str) -> str:
        return self.lines.get(number) or self.mode


@section("recording")
def load_rules(client) -> Rules:
    policy = RecordingPolicy.objects.filter(pk=1).first() or RecordingPolicy(pk=1)
    lines = {}
    if policy.users_choose:
        chosen = LineRecording.objects.exclude(mode=LineChoice.CLIENT).values_list("extension__number", "mode")
        lines = dict(chosen)
    return Rules(policy.mode, policy.announce, lines)


def rules_of(plan: ClientPlan | None) -> Rules:
    return (plan.sections.get("recording") if plan is not None else None) or Rules()


def modes_of(rules: Rules, plan: ClientPlan, call: Call) -> dict[str, str]:
    """Side -> the mode of the client's line on it (sides without one of the client's lines left out)."""
    found = {}
    for name in SIDES:
        party = call.side(name).party
        if party is not None and party.number in plan.by_number:
            found[name] = rules.line_mode(party.number)
    return found


def call_mode(modes: dict[str, str]) -> str:
    chosen = set(modes.values())
    return Mode.ALWAYS if Mode.ALWAYS in chosen else Mode.ON_DEMAND if Mode.ON_DEMAND in chosen else Mode.NEVER


class CallRecording(Application):
    """A call's recording, attached to the call from its answer while its policy allows recording."""

    def __init__(self, call: Call, rules: Rules, modes: dict[str, str]):
        self.call, self.rules = call, rules
        self.mode = call_mode(modes)
        self.key_sides = {name for name, mode in modes.items() if mode == Mode.ON_DEMAND}  # *1
        self.pause_sides = set(modes)  # *2: any of the client's lines in the call, as through the API
        self.recorder: Recorder | None = None
        self.source: RtpRecording | None = None
        self.row: int | None = None
        self.started = 0.0
        self.starting = False
        self.accounts: set[int] = set()
        self.collectors: dict[str, DtmfCollector] = {}
        self._star = dict.fromkeys(SIDES, False)
        self._guard: asyncio.TimerHandle | None = None

    # What the call core tells the application

    def bridged(self, call: Call) -> None:
        self.tap()

    def mixing(self, call: Call, parties: dict) -> None:
        self._untap()
        if self.recorder is not None:
            for channel, name in enumerate(SIDES):
                if name in parties:
                    parties[name].on_says = self.recorder.feed(channel)
        for name, collector in self.collectors.items():
            if name in parties:
                parties[name].on_telephone_event = collector.push_packet

    def ended(self, call: Call, cause: str) -> None:
        self.stop()

    def shown(self) -> dict:
        if self.recorder is None:
            return {"recording": None}
        return {"recording": "paused" if self.recorder.paused else "on"}

    # Taps on the call's media

    def tap(self) -> None:
        """Tap the call's relay as it is now: the recording's streams, or only the keys of the sides
        that may press *1 or *2."""
        self._untap()
        call, relay = self.call, self.call.relay
        if relay is None or not relay.running or call.state == S.ENDED:
            return
        caller, callee = call.caller, call.callee
        self.accounts |= {s.party.account for s in (caller, callee) if s.party is not None and s.party.account}
        pts = {name: event_payload(call.side(name).offered, call.side(name).codec) for name in SIDES}
        self.collectors = {name: DtmfCollector(event_pt=pts[name], on_digit=self._digit_of(name))
                           for name in self.key_sides | self.pause_sides if pts[name] is not None}  # fmt: skip
        pushes = tuple(self.collectors[n].push_packet if n in self.collectors else None for n in SIDES)
        if self.recorder is not None:
            self.source = record_relay(relay, self.recorder, codec_a=caller.codec.name, codec_b=callee.codec.name,
                                       event_pts=[pts["caller"]] if pts["caller"] is not None else [],
                                       event_pts_b=[pts["callee"]] if pts["callee"] is not None else [],
                                       on_event=pushes)  # fmt: skip
        elif self.collectors:
            relay.tap(*(_events_only(pts[n], push) if push else None for n, push in zip(SIDES, pushes, strict=True)))

    def _untap(self) -> None:
        if self.source is not None:
            self.source.stop(close=False)
            self.source = None
        relay = self.call.relay
        if relay is not None:
            relay.tap(None, None)

    def _digit_of(self, name: str):
        def digit(key: str) -> None:
            if key == "*":
                self._star[name] = True
                return
            starred, self._star[name] = self._star[name], False
            action = None
            if starred and key == KEY and name in self.key_sides and self.mode == Mode.ON_DEMAND:
                action = "stop" if self.recorder is not None else "start"
            elif starred and key == PAUSE_KEY and name in self.pause_sides and self.recorder is not None:
                action = "resume" if self.recorder.paused else "pause"
            if action is not None:
                self.call.engine.background(self._by_key(action, name))

        return digit

    async def _by_key(self, action: str, name: str) -> None:
        refused = await self.control(action, by=f"key {name}")
        if refused is not None:
            log.info("call %s: *%s by the %s not done: %s", self.call.uuid, KEY if action in ("start", "stop")
                     else PAUSE_KEY, name, refused)  # fmt: skip

    # Start, pause, resume, stop

    async def control(self, action: str, *, by: str) -> str | None:
        """Do `action` (start, pause, resume, stop); None when done, else why not."""
        call = self.call
        if call.state != S.ANSWERED and not (action == "stop" and self.recorder is not None):
            return "the call is not answered"
        if action == "start":
            return await self.start(by=by)
        if self.recorder is None:
            return "the call is not being recorded"
        if action == "stop":
            if self.mode == Mode.ALWAYS:
                return "this call is always recorded: pause it instead"
            self.stop()
        elif action in ("pause", "resume"):
            self.recorder.paused = action == "pause"
            call.engine.event(call, "call.recording", recording=self.shown()["recording"])
        return None

    async def start(self, *, by: str) -> str | None:
        call, engine = self.call, self.call.engine
        if self.recorder is not None or self.starting:
            return "the call is being recorded already"
        if self.mode == Mode.NEVER:
            return "recording is off for this call"
        try:
            state = disk.disk_state(settings.OCX_RECORDINGS_DIR)
        except OSError:
            state = disk.FULL
        if state == disk.FULL:
            log.warning("call %s not recorded: the recordings' disk is full", call.uuid)
            call.log_leg("recording", "", refused="disk-full", by=by)
            return "the recordings' disk is full"
        self.starting = True
        try:
            caller, callee = call.caller.party, call.callee.party
            accounts = [p.account for p in (caller, callee) if p is not None and p.account]
            self.row, path = await engine.database.call(
                recording_open, call.route.client, kind="call", call_uuid=str(call.uuid),
                caller=caller.number if caller else "", callee=callee.number if callee else "",
                accounts=accounts, engine=engine.id,
            )  # fmt: skip
            if call.state == S.ENDED:
                await engine.database.call(recording_close, call.route.client, self.row, seconds=0.0)
                return "the call ended"
            self.recorder = Recorder(path, channels=2, threaded=True)
        except DatabaseAway:
            return "the database is away"
        except OSError as error:
            log.error("call %s not recorded: %s", call.uuid, error)
            call.log_leg("recording", "", refused="file", by=by)
            if self.row is not None:
                await engine.database.call(recording_close, call.route.client, self.row, seconds=0.0)
            return "the recording's file could not be written"
        finally:
            self.starting = False
        self.started = time.monotonic()
        call.log_leg("recording", "", recording=self.row, by=by)
        self.tap()
        if self.rules.announce:
            call.announce("call_recorded")
        self._guard = asyncio.get_running_loop().call_later(1.0, self._watch)
        engine.event(call, "call.recording", recording="on")
        return None

    def _watch(self) -> None:
        """A call that ended without telling its applications (it gave its legs to another) stops too."""
        self._guard = None
        if self.call.state == S.ENDED:
            self.stop()
        elif self.recorder is not None:
            self._guard = asyncio.get_running_loop().call_later(1.0, self._watch)

    def stop(self) -> None:
        if self._guard is not None:
            self._guard.cancel()
            self._guard = None
        recorder, row = self.recorder, self.row
        self._untap()
        self.recorder = self.row = None
        if self.call.state != S.ENDED:
            self.tap()  # the keys again (on demand)
        if recorder is None:
            return
        written = recorder.close()
        call = self.call
        self.accounts |= {
            s.party.account for s in (call.caller, call.callee) if s.party is not None and s.party.account
        }
        callee = call.callee.party.number if call.callee.party is not None else None
        call.engine.background(self._close(call.route.client, row, recorder.seconds, sorted(self.accounts), callee,
                                           written))  # fmt: skip
        if call.state != S.ENDED:
            call.engine.event(call, "call.recording", recording=None)

    async def _close(self, client: int, row: int, seconds: float, accounts: list[int], callee: str | None,
                     written=None) -> None:  # fmt: skip
        """The row says the recording is whole once its file is (the recordings thread wrote it)."""
        try:
            if written is not None:
                await asyncio.wrap_future(written)
            await self.call.engine.database.call(recording_close, client, row, seconds=seconds, accounts=accounts,
                                                 callee=callee)  # fmt: skip
        except DatabaseAway:
            log.error("recording %s of client %s not closed: the database is away", row, client)


def _events_only(pt: int, push):
    """A relay tap that gives only telephone-event packets of payload type `pt` to `push` (the in-call
    keys of a call not being recorded: a comparison per packet)."""

    def tap(packet: bytes) -> None:
        if (packet[1] & 0x7F) == pt:
            push(packet)

    return tap


def recording_of(call: Call) -> CallRecording | None:
    return next((app for app in call.attached if isinstance(app, CallRecording)), None)


@application.on_answered
def answered(call: Call) -> None:
    """A two-party call was answered: its client's policy decides whether it is recorded."""
    if call.route is None or recording_of(call) is not None:
        return
    plan = call.engine.dialplans.cached(call.route.client)
    if plan is not None:
        attach(call, plan)
    else:
        call.engine.background(_attach_later(call))


async def _attach_later(call: Call) -> None:
    try:
        plan = await call.plan(call.route.client)
    except DatabaseAway:
        log.warning("call %s: the database is away, the recording policy is not known", call.uuid)
        return
    if call.state == S.ANSWERED and recording_of(call) is None:
        attach(call, plan)


def attach(call: Call, plan: ClientPlan) -> CallRecording | None:
    rules = rules_of(plan)
    modes = modes_of(rules, plan, call)
    recording = CallRecording(call, rules, modes)
    if recording.mode == Mode.NEVER:
        return None
    call.attach(recording)
    if recording.mode == Mode.ALWAYS:
        call.engine.background(recording.start(by="policy"))
    else:
        recording.tap()
    return recording


async def record(call: Call, action: str) -> str | None:
    """The API's "engine.record": None when done, else why not."""
    recording = recording_of(call)
    if recording is None:
        if call.state != S.ANSWERED:
            return "the call is not answered"
        return "recording is off for this call"
    return await recording.control(action, by="api")


# Conferences: their recordings are listed with the calls' ---------------------------------------


class ConferenceRow:
    """A conference recording's row: opened as its file starts, closed with its length."""

    def __init__(self, engine, client: int, conference: str, path: Path, accounts: list[int]):
        self.engine, self.client = engine, client
        root = Path(settings.OCX_RECORDINGS_DIR)
        file = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        self._opened = asyncio.get_running_loop().create_task(self._open(conference, file, accounts))

    async def _open(self, conference: str, file: str, accounts: list[int]) -> int | None:
        try:
            row, _ = await self.engine.database.call(recording_open, self.client, kind="conference", call_uuid=None,
                                                     conference=conference, accounts=accounts,
                                                     engine=self.engine.id, file=file)  # fmt: skip
            return row
        except DatabaseAway:
            log.error("conference %s recording of client %s has no row: the database is away", conference, self.client)
            return None

    def close(self, seconds: float, accounts: list[int], written=None) -> None:
        async def close() -> None:
            if written is not None:
                await asyncio.wrap_future(written)
            row = await self._opened
            if row is not None:
                await self.engine.database.call(recording_close, self.client, row, seconds=seconds, accounts=accounts)

        self.engine.background(close())
