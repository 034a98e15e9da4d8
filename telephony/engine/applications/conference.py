"""Conferences in the call engine: rooms (conferencing.models.Room) come to life when their first
caller joins and end when the last one leaves.

A caller reaches a room by dialling *88 (asked for the conference ID), *88<id>, or the room's access
number; the engine answers, asks for the PIN (participant or moderator) with prompts and DTMF, then
moves the caller's leg into the conference's mixer. The caller's Call object stays the owner of the
leg and of its record: a join is one call record (service "conference": called at = started_at,
joined at = answered_at, disconnected at = ended_at). Each participant hears everyone but itself.

Keys in the conference (RFC 4733 or SIP INFO digits): *6 mutes or unmutes oneself; a moderator's
*1 mutes everyone else, *2 unmutes everyone, *3 locks or unlocks, *4 starts or stops recording,
*5 says how many are in. The same controls, and kick, dial-out and end, come through the API
(engine commands "engine.conference"), and every change is an event for the room's live page.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from conferencing.models import Room
from recordings.disk import FULL, disk_state
from records.models import Cdr
from telephony import features
from telephony.engine.application import Application, Incoming, Prompter, feature, numbers
from telephony.engine.applications.dialout import CallOut, DialOut
from telephony.engine.applications.recording import ConferenceRow
from telephony.engine.destinations import runs
from telephony.engine.dialplan import ClientPlan, Party, section
from telephony.engine.states import State
from telephony.media.dtmf import DtmfCollector
from telephony.media.mixer import Mixer
from telephony.media.player import Player, encode
from telephony.media.prompts import ENGLISH, ENTRY_TONE, EXIT_TONE
from telephony.media.recorder import Recorder
from telephony.sip.sdp import event_payload
from tenants.dates import zone_named

if TYPE_CHECKING:
    from telephony.engine.call import Call
    from telephony.engine.server import Engine

log = logging.getLogger(__name__)
TRIES = 3  # conference ID and PIN attempts
CODE = features.FeatureCode("*88", "conference", features.OPTIONAL, locate="conf:")
EARLY_OPEN = dt.timedelta(minutes=10)  # a scheduled room opens this long before its start


@dataclass(frozen=True)
class RoomInfo:
    """A conference room as the engine needs it (conferencing.models.Room)."""

    id: int
    name: str
    conference_id: str
    moderator: int  # the moderator's account id
    participant_pin: str
    moderator_pin: str
    access_number: str = ""
    starts_at: object = None
    ends_at: object = None
    recurrence: str = ""
    max_participants: int = 50
    max_minutes: int = 240
    entry_tone: bool = True
    wait_for_moderator: bool = False
    end_with_moderator: bool = False
    record: bool = False
    hot_numbers: str = ""
    hot_retries: int = 2
    hot_retry_seconds: int = 60
    trigger_number: str = ""
    zone: str = "UTC"  # the client's time zone, where a schedule's days and times are (not a Room field)


ROOM_FIELDS = [name for name in RoomInfo.__dataclass_fields__ if name != "zone"]


@dataclass(frozen=True)
class Rooms:
    """A client's rooms as its dial plan keeps them: by conference ID, access number and trigger number."""

    by_id: dict[str, RoomInfo]
    by_number: dict[str, RoomInfo]
    by_trigger: dict[str, RoomInfo]


@section("rooms")
def load_rooms(client) -> Rooms:
    rooms = [RoomInfo(**values, zone=client.timezone) for values in Room.objects.values(*ROOM_FIELDS)]
    return Rooms({room.conference_id: room for room in rooms},
                 {room.access_number: room for room in rooms if room.access_number},
                 {room.trigger_number: room for room in rooms if room.trigger_number})  # fmt: skip


def rooms_of(plan: ClientPlan) -> Rooms:
    return plan.sections.get("rooms") or Rooms({}, {}, {})


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def room_is_open(room: RoomInfo, now: dt.datetime) -> bool:
    """Unscheduled rooms are always open; a scheduled one from 10 minutes before each occurrence
    until its end (or its start + max_minutes), repeating daily, on weekdays or weekly. Occurrences
    keep the first one's wall-clock time in the client's zone (across summer time), and weekdays
    are the client's."""
    if room.starts_at is None:
        return True
    length = (room.ends_at - room.starts_at) if room.ends_at else dt.timedelta(minutes=room.max_minutes)
    start, probe = room.starts_at, now + EARLY_OPEN  # (the occurrence that is open or opening now)
    if room.recurrence and probe > start:
        zone = zone_named(room.zone)
        first, wall = (moment.astimezone(zone).replace(tzinfo=None) for moment in (start, probe))
        step = dt.timedelta(days=7 if room.recurrence == "weekly" else 1)
        occurrence = first + step * ((wall - first) // step)  # the latest one at or before the probe
        if room.recurrence == "weekdays" and occurrence.weekday() >= 5:
            return False
        start = occurrence.replace(tzinfo=zone).astimezone(dt.UTC)
    return start - EARLY_OPEN <= now <= start + length


@feature(CODE)
async def by_code(call: Call, incoming: Incoming) -> None:
    """*88 (asked for the conference ID) or *88<id>."""
    room = None
    if incoming.argument:
        room = rooms_of(incoming.plan).by_id.get(incoming.argument)
        if room is None:
            call.open_record(incoming.plan.route(incoming.extension, incoming.dialled), incoming.dialled)
            call.end_before_answer(404, "No Such Conference")
            return
    await dial_in(call, incoming, room)


@numbers
def by_number(plan, dialled: str):
    """A room's access number, or a hot room's trigger number."""
    rooms = rooms_of(plan)
    if dialled in rooms.by_trigger:
        return lambda call, incoming: dial_in(call, incoming, rooms.by_trigger[dialled], trigger=True)
    if dialled in rooms.by_number:
        return lambda call, incoming: dial_in(call, incoming, rooms.by_number[dialled])
    return None


@runs("conference")
async def to_room(call: Call, target: str, incoming: Incoming) -> None:
    """A number or a forwarding that points at a room: the caller is asked for the PIN."""
    room = rooms_of(incoming.plan).by_id.get(target)
    if room is None:
        call.refuse(incoming, 404, "No Such Conference")
        return
    await dial_in(call, incoming, room)


async def dial_in(call: Call, incoming: Incoming, room: RoomInfo | None, *, trigger: bool = False) -> None:
    """A phone called a conference: answer, ask for the conference ID (when not dialled) and the PIN,
    check the room is open and has room, then join. Every attempt has its record. A room's trigger
    number (`trigger`) takes the moderator PIN only, and starts the call-out to the room's list."""
    engine, plan = call.engine, incoming.plan
    caller = incoming.caller or Party("", "")
    call.open_record(call.route_alone(incoming), incoming.dialled, direction=Cdr.Direction.INBOUND,
                     service=Cdr.Service.CONFERENCE, conference=room.conference_id if room else "",
                     moderator=room.moderator if room else None)  # fmt: skip
    if not await call.answer_alone(incoming.offer):
        return
    ivr = Prompter(call)
    call.take(ivr)
    if room is None:
        for _ in range(TRIES):
            room = rooms_of(plan).by_id.get(await ivr.ask("conference_id", 9))
            if room is not None or call.state == State.ENDED:
                break
            await ivr.play("unknown_conference")
        if room is None:
            return await _refuse(call, ivr, "unknown-conference")
        engine.cdrs.update(call.uuid, conference=room.conference_id, moderator_id=room.moderator)
    role = None
    for _ in range(TRIES):
        pin = await ivr.ask("pin", 8)
        role = "moderator" if pin == room.moderator_pin else "participant" if pin == room.participant_pin else None
        if role is not None or call.state == State.ENDED:
            break
        await ivr.play("wrong_pin")
    if role is None or (trigger and role != "moderator"):
        return await _refuse(call, ivr, "wrong-pin")
    if not room_is_open(room, _now()):
        return await _refuse(call, ivr, "closed", prompt="closed")
    conference = await engine.conference(plan.client, room)
    if conference is None:
        return await _refuse(call, ivr, "conference-elsewhere", prompt="closed")
    problem = conference.refusal(role) if call.state != State.ENDED else "ended"
    if problem is not None:
        conference.maybe_close()  # (one started for this caller alone closes again)
        return await _refuse(call, ivr, problem, prompt=problem)
    ivr.stop()
    call.listen(None)
    conference.join(call, role, caller)
    if trigger:
        conference.trigger()


async def _refuse(call: Call, ivr: Prompter, cause: str, prompt: str = "goodbye") -> None:
    if call.state == State.ENDED:
        return
    await ivr.play(*([prompt, "goodbye"] if prompt != "goodbye" else ["goodbye"]))
    call.hangup("engine", cause=cause)


# -- The running conference ------------------------------------------------------------------------


class Participant(Application):
    """A call in a conference: the application holding it while it is in the room's mixer (or waits
    for the moderator with music)."""

    state = State.CONFERENCE

    def __init__(self, conference: Conference, call: Call, role: str, party: Party, direction: str):
        self.conference, self.call, self.role, self.direction = conference, call, role, direction
        self.id = str(call.uuid)
        self.number, self.name = party.number, party.name
        self.joined_at = _now()
        self.party = None  # its place in the mixer (None while waiting for the moderator)
        self.muted = False
        self.keys = DtmfCollector(on_digit=self._key)
        self._star = False

    def key(self, call: Call, digit: str) -> None:
        self.keys.press(digit)

    def ended(self, call: Call, cause: str) -> None:
        self.conference.leave(self, cause)

    def _key(self, digit: str) -> None:
        if digit == "*":
            self._star = True
            return
        if self._star:
            self._star = False
            self.conference.on_key(self, digit)

    def summary(self) -> dict:
        party = self.party
        return {"id": self.id, "number": self.number, "name": self.name, "role": self.role,
                "direction": self.direction, "joined_at": self.joined_at.isoformat(), "muted": self.muted,
                "talking": bool(party and party.talking), "waiting": party is None}  # fmt: skip


class Conference:
    def __init__(self, engine: Engine, client: int, room: RoomInfo):
        self.engine, self.client, self.room = engine, client, room
        self.id = room.conference_id
        plan = engine.dialplans.cached(client)
        self.voice = plan.voice if plan is not None else ENGLISH  # what everyone hears: the client's prompts
        self.mixer = Mixer()
        self.mixer.on_talking = self._talking
        self.participants: dict[str, Participant] = {}
        self.locked = False
        self.recording: Recorder | None = None
        self.recording_path = ""
        self.started_at = _now()
        self.ended = False
        self.announcer = None  # (player endpoint, mixer endpoint) for tones and prompts to everyone
        self.callout = None  # a hot conference's call-out to its list (applications/dialout.py)
        self.dialling: set[str] = set()  # dial-outs ringing (their call ids): the conference waits for them
        self._end_timer = asyncio.get_running_loop().call_later(room.max_minutes * 60, self.end, "max-duration")

    # Joining and leaving

    def refusal(self, role: str) -> str | None:
        """Why a caller in `role` may not join now (a prompt's name), or None."""
        if self.locked and role != "moderator":
            return "locked"
        if len(self.participants) >= self.room.max_participants:
            return "full"
        if self.engine.conference_parties() >= self.engine.config.conference_capacity:
            return "full"  # the engine's own limit: refused with a prompt, never degraded for everyone
        return None

    @property
    def moderator_present(self) -> bool:
        return any(p.role == "moderator" for p in self.participants.values())

    def join(self, call: Call, role: str, party: Party, *, direction: str = "dial-in") -> Participant:
        participant = Participant(self, call, role, party, direction)
        self.participants[participant.id] = participant
        call.take(participant)
        call.answered(at=participant.joined_at)
        if self.room.wait_for_moderator and role != "moderator" and not self.moderator_present:
            call.play_music("caller")  # music until the moderator comes
            call.listen(participant.keys.push_packet)
        else:
            self._mix(participant)
            if role == "moderator":
                for waiting in [p for p in self.participants.values() if p.party is None]:
                    waiting.call.stop_playing()
                    self._mix(waiting)
        if self.room.entry_tone:
            self.announce(ENTRY_TONE)
        if self.room.record and self.recording is None:
            self.record(True)
        self.event("conference.joined", participant=participant.summary())
        return participant

    def _mix(self, participant: Participant) -> None:
        side = participant.call.caller
        codec = side.codec
        participant.party = self.mixer.add(side.media, codec.name, voice_pt=codec.payload,
                                           event_pt=event_payload(side.offered, codec),
                                           name=participant.number or participant.id,
                                           muted=participant.muted, clock_rate=codec.rate)  # fmt: skip
        participant.party.on_telephone_event = participant.keys.push_packet

    def leave(self, participant: Participant, cause: str) -> None:
        """The participant's call ended (hung up, kicked, conference ended): out of the mix."""
        if self.participants.pop(participant.id, None) is None:
            return
        if participant.party is not None:
            self.mixer.remove(participant.party)
        self.event("conference.left", participant=participant.summary(), cause=cause)
        if self.maybe_close():
            return
        if self.room.entry_tone:
            self.announce(EXIT_TONE)
        if participant.role == "moderator" and self.room.end_with_moderator and not self.moderator_present:
            self.end("moderator-left")

    # Control

    def mute(self, participant_id: str, muted: bool) -> bool:
        participant = self.participants.get(participant_id)
        if participant is None:
            return False
        participant.muted = muted
        if participant.party is not None:
            participant.party.muted = muted
        self.event("conference.muted" if muted else "conference.unmuted", participant=participant.summary())
        return True

    def mute_all(self, muted: bool, *, except_id: str | None = None) -> None:
        for participant in self.participants.values():
            if participant.id != except_id and participant.role != "moderator":
                participant.muted = muted
                if participant.party is not None:
                    participant.party.muted = muted
        self.event("conference.all_muted" if muted else "conference.all_unmuted")

    def kick(self, participant_id: str) -> bool:
        participant = self.participants.get(participant_id)
        if participant is None:
            return False
        participant.call.hangup("engine", cause="kicked")
        return True

    def lock(self, locked: bool) -> None:
        self.locked = locked
        self.event("conference.locked" if locked else "conference.unlocked")

    def record(self, on: bool) -> str:
        """Start or stop recording the whole mix to a WAV file (var/recordings/<client>/...), listed with
        the client's call recordings (a recordings.Recording row); none starts on a full disk."""
        if on and self.recording is None:
            if disk_state(settings.OCX_RECORDINGS_DIR) == FULL:
                log.warning("conference %s of client %s not recorded: the recordings' disk is full", self.id,
                            self.client)  # fmt: skip
                self.event("conference.recording", recording=False, refused="disk-full")
                return ""
            folder = Path(settings.OCX_RECORDINGS_DIR) / str(self.client)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"conference-{self.id}-{_now():%Y%m%dT%H%M%S}.wav"
            self.recording, self.recording_path = Recorder(path, threaded=True), str(path)
            self.recording_row = ConferenceRow(self.engine, self.client, self.id, path, self._accounts())
            self.mixer.on_mix = self.recording.write
            self.event("conference.recording", recording=True, path=self.recording_path)
        elif not on and self.recording is not None:
            self.mixer.on_mix = None
            written = self.recording.close()
            self.recording_row.close(self.recording.seconds, self._accounts(), written)
            self.recording = None
            self.event("conference.recording", recording=False, path=self.recording_path)
        return self.recording_path

    def _accounts(self) -> list[int]:
        """The users a conference recording is theirs: the room's moderator and who is in it."""
        callers = (p.call.route.caller for p in self.participants.values() if p.call.route is not None)
        return sorted({self.room.moderator, *(c.account for c in callers if c is not None and c.account)} - {None})

    def dial_out(self, number: str, role: str = "participant") -> str:
        """Call a line and add it to the conference once it answers; the new call's id."""
        call = DialOut(self.engine, self, number, role=role)
        self.dialling.add(str(call.uuid))
        self.engine.background(call.start())
        self.event("conference.dialling", number=number)
        return str(call.uuid)

    def trigger(self) -> list[dict]:
        """A hot conference: call every number of the room's list at once (again for those who did not
        join, `hot_retries` times); a second trigger while it runs only calls who is missing."""
        from conferencing.models import numbers_of

        if self.callout is not None:
            self.callout.stop()
        room = self.room
        self.callout = CallOut(self, numbers_of(room.hot_numbers), room.hot_retries, room.hot_retry_seconds)
        self.callout.start()
        self.event("conference.callout", callout=self.callout.summary())
        return self.callout.summary()

    def dial_out_ended(self, call_id: str) -> None:
        self.dialling.discard(call_id)
        self.maybe_close()

    def maybe_close(self) -> bool:
        """Close when nobody is in it, nobody is being called and no call-out retry is due."""
        if self.participants or self.dialling or (self.callout is not None and self.callout.due):
            return False
        self.close()
        return True

    def end(self, cause: str = "ended") -> None:
        """Everyone is let go (the API, the moderator leaving, the maximum duration)."""
        for participant in list(self.participants.values()):
            participant.call.hangup("engine", cause=cause)
        self.close()

    def close(self) -> None:
        if self.ended:
            return
        self.ended = True
        self._end_timer.cancel()
        if self.callout is not None:
            self.callout.stop()
        self.record(False)
        for participant in list(self.participants.values()):
            if participant.party is not None:
                self.mixer.remove(participant.party)
        self.mixer.close()
        if self.announcer is not None:
            for endpoint in self.announcer:
                endpoint.close()
        self.engine.conference_closed(self)
        self.event("conference.ended")

    # Tones and prompts to everyone: a player on an endpoint of its own, sending into a mixer party

    def announce(self, samples) -> None:
        self.engine.background(self._announce(samples))

    async def _announce(self, samples) -> None:
        if self.ended:
            return
        if self.announcer is None:
            into = await self.engine.media.open(remote=None)
            source = await self.engine.media.open(remote=(self.engine.media.host, into.port))
            self.mixer.add(into, "PCMU", voice_pt=0, name="announcements", deaf=True)
            self.announcer = (source, into)
        player = Player(self.announcer[0], 0, encode(samples, "PCMU"), loop=False)
        player.start()

    async def _announce_prompts(self, *names: str) -> None:
        plan = self.engine.dialplans.cached(self.client)  # the client's language and own recordings
        self.announce(await self.engine.prompt_samples(plan.voice if plan is not None else self.voice, *names))

    def on_key(self, participant: Participant, digit: str) -> None:
        moderator = participant.role == "moderator"
        if digit == "6":
            self.mute(participant.id, not participant.muted)
        elif moderator and digit == "1":
            self.mute_all(True, except_id=participant.id)
        elif moderator and digit == "2":
            self.mute_all(False)
        elif moderator and digit == "3":
            self.lock(not self.locked)
        elif moderator and digit == "4":
            self.record(self.recording is None)
        elif moderator and digit == "5":
            count = str(len(self.participants))
            self.engine.background(self._announce_prompts("participants", *count))

    # Events

    def _talking(self, party, talking: bool) -> None:
        participant = next((p for p in self.participants.values() if p.party is party), None)
        if participant is not None:
            self.event("conference.talking", participant=participant.summary())

    def summary(self) -> dict:
        return {"conference": self.id, "client": self.client, "room": self.room.id, "name": self.room.name,
                "engine": self.engine.id,
                "started_at": self.started_at.isoformat(), "locked": self.locked,
                "recording": self.recording is not None, "recording_path": self.recording_path,
                "callout": self.callout.summary() if self.callout is not None else None,
                "participants": [p.summary() for p in self.participants.values()]}  # fmt: skip

    def event(self, kind: str, **fields) -> None:
        self.engine.conference_event(self, kind, **fields)
