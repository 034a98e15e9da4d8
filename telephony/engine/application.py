"""Feature applications: how a feature takes over a call, or a leg of one, from the call core.

An application is a module in telephony/engine/applications/ (or one named in the setting
OCX_ENGINE_APPLICATIONS) that registers, when imported:
- the feature codes it answers (`feature`), each with the coroutine that runs a caller who dialled
  it (an `Incoming`), and the numbers of the dial plan it answers (`numbers`: a conference room's
  access number);
- and, while it holds a call, an `Application` object as the call's `app` (or among its `attached`
  ones): the core tells it what it cannot decide itself (keys by SIP INFO, requests on legs the
  application added, the call's media about to change, the call's end).

What an application does to a call goes through the core's methods, never its fields:
`answer_alone` (the engine answers the caller with its own media), `play`/`stop_playing`,
`keys` (a DTMF collector on the caller's media and its SIP INFO), `take` (the call in the
application's state), `replace_side`/`vacate` and `bridge` (a new party on a side), `hangup`.
`Prompter` is the voice-menu helper on top: play prompts, collect digits, wait for a key.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from telephony import features
from telephony.engine.states import State
from telephony.media.player import Frames
from telephony.media.recorder import RtpRecording, record_endpoint
from telephony.sip.sdp import event_payload

if TYPE_CHECKING:
    from telephony.engine.call import Call
    from telephony.engine.dialplan import ClientPlan as Plan
    from telephony.engine.dialplan import Party
    from telephony.sip.sdp import Sdp

log = logging.getLogger(__name__)
BUILTIN = (
    "telephony.engine.applications.network",
    "telephony.engine.applications.pickup",
    "telephony.engine.applications.transfer",
    "telephony.engine.applications.supervision",
    "telephony.engine.applications.conference",
    "telephony.engine.applications.library",
    "telephony.engine.applications.forwarding",
    "telephony.engine.applications.voicemail",
    "telephony.engine.applications.recording",
    "telephony.engine.applications.mwi",
    "telephony.engine.applications.blf",
    "telephony.engine.applications.messages",
    "telephony.engine.applications.missed_calls",
    "telephony.engine.applications.menus",
    "telephony.engine.applications.queues",
    "telephony.engine.applications.ringgroups",
    "telephony.engine.applications.routing",
    "telephony.engine.applications.webhooks",
    "telephony.engine.applications.queue_callback",
)


@dataclass(frozen=True)
class Incoming:
    """A phone's new call as an application sees it: the caller's client's dial plan, the caller's line
    (None when the extension is unknown), what was dialled and the SDP offer (None: a delayed offer)."""

    plan: Plan
    extension: int
    caller: Party | None
    dialled: str
    offer: Sdp | None
    argument: str = ""  # the digits after a feature code
    network: dict | None = None  # a carrier's call: what the edge says of it (carrier, did, from, format...)


Runner = Callable[["Call", Incoming], Awaitable[None]]
_runners: dict[str, Runner] = {}  # feature code prefix -> what runs it
_numbers: list[Callable[[Plan, str], Runner | None]] = []  # dial plan numbers answered by applications
_network: list[Runner] = []  # what runs a carrier's call to one of the platform's numbers
_outbound: list[Callable[[Call, Incoming], Awaitable[bool]]] = []  # what takes a call out to the network
_requests: dict[tuple[str, str | None], Callable] = {}  # requests outside any call: (method, event) -> handler
_at_end: list[Callable] = []  # told of every call's end: hook(call, disposition)
_at_start: list[Callable] = []  # what the engine runs once it is up (an application's leftover work)
_answered: list[Callable[[Call], None]] = []  # what applications do when two parties start talking
_events: list[Callable] = []  # told of every call event the portals get: hook(call, event)
_engine_lost: list[Callable] = []  # told when a survivor finds an engine dead: await hook(engine, dead_id)
_loaded = False


def feature(*codes: features.FeatureCode):
    """Decorator: register the codes in the feature table and the coroutine as what a caller who
    dialled one of them gets."""

    def register(runner: Runner) -> Runner:
        features.register(*codes)

        async def for_the_user(call: Call, incoming: Incoming) -> None:
            call.voice = incoming.plan.voice_of(incoming.caller)  # a feature's prompts: the user's own language
            await runner(call, incoming)

        for code in codes:
            _runners[code.prefix] = for_the_user
        return runner

    return register


def numbers(resolver: Callable[[Plan, str], Runner | None]):
    """Decorator: `resolver(plan, dialled)` names the coroutine for a number the application answers
    (None: not one of its numbers). Asked before the dial plan routes to a line."""
    _numbers.append(resolver)
    return resolver


def network(runner: Runner) -> Runner:
    """Decorator: the coroutine that runs calls from the phone network (one application registers it)."""
    _network[:] = [runner]
    return runner


async def from_network(call: Call, incoming: Incoming) -> None:
    if not _network:
        call.end_before_answer(404, "No Such Number", cdr=False)
        return
    await _network[0](call, incoming)


def outbound(runner):
    """Decorator: the coroutine that takes a number no line of the client has out to the phone network
    (True when it took the call: placed, or refused with its own answer)."""
    _outbound[:] = [runner]
    return runner


async def to_network(call: Call, incoming: Incoming) -> bool:
    return bool(_outbound) and await _outbound[0](call, incoming)


def answers(method: str, *, event: str | None = None):
    """Decorator: `handler(engine, request, stx)` answers requests of `method` that belong to no call
    (a MESSAGE; a SUBSCRIBE and the requests of its dialog, one handler per event package)."""

    def register(handler: Callable) -> Callable:
        _requests[(method, event)] = handler
        return handler

    return register


def request_handler(method: str, event: str = "") -> Callable | None:
    """The handler of a request outside any call: the one of its event package, else the method's own."""
    return _requests.get((method, event.lower() or None)) or _requests.get((method, None))


def events_answered(method: str) -> list[str]:
    """The event packages applications answer for `method` (a SUBSCRIBE's Allow-Events)."""
    return sorted(event for m, event in _requests if m == method and event)


def at_start(hook):
    """Decorator: `hook(engine)`, a coroutine the engine runs in the background once it is up (work an
    earlier engine left, such as voicemail messages whose rows are not written yet). It must end
    when the engine drains (`engine.draining`)."""
    _at_start.append(hook)
    return hook


def start_hooks() -> list[Callable]:
    return list(_at_start)


def on_answered(hook: Callable[[Call], None]) -> Callable[[Call], None]:
    """Decorator: `hook(call)` runs when a two-party call is answered (the parties bridged): call
    recording attaches there when the client's policy says so."""
    _answered.append(hook)
    return hook


def answered(call: Call) -> None:
    for hook in _answered:
        try:
            hook(call)
        except Exception:  # a feature's fault never fails the answered call
            log.exception("call %s: an answer hook failed", call.uuid)


def at_end(hook):
    """Decorator: `hook(call, disposition)` is told of every call's end (a missed call's mail); it must
    not block the loop (database or broker work goes to a thread)."""
    _at_end.append(hook)
    return hook


def end_hooks() -> list[Callable]:
    return list(_at_end)


def on_event(hook):
    """Decorator: `hook(call, event)` is told of every call event the portals are sent (the event as
    they get it: type, client, call summary and fields); it must not block the loop."""
    _events.append(hook)
    return hook


def on_engine_lost(hook):
    """Decorator: `await hook(engine, dead_id)` runs in the survivor that found another engine dead, once
    that engine's phones were hung up (what an application kept in Redis for its calls goes)."""
    _engine_lost.append(hook)
    return hook


async def engine_lost(engine, dead_id: str) -> None:
    for hook in _engine_lost:
        try:
            await hook(engine, dead_id)
        except Exception:
            log.exception("an engine-lost hook failed for engine %s", dead_id)


def told(call: Call, event: dict) -> None:
    for hook in _events:
        try:
            hook(call, event)
        except Exception:  # one application's trouble never stops the call or its other events
            log.exception("call %s: an event hook failed", call.uuid)


def runner_for(plan: Plan, dialled: str) -> tuple[Runner, str] | None:
    """What runs a new call to `dialled` instead of the dial plan's routing to a line, with the digits
    after its feature code: a feature code first, then an application's number."""
    found = features.match(dialled)
    if found is not None and not found[0].transfer_target:
        return _runners[found[0].prefix], found[1]
    for resolver in _numbers:
        runner = resolver(plan, dialled)
        if runner is not None:
            return runner, ""
    return None


def load() -> None:
    """Import the built-in applications and those the settings add (once per process)."""
    global _loaded
    if _loaded:
        return
    for name in (*BUILTIN, *settings.OCX_ENGINE_APPLICATIONS):
        importlib.import_module(name)
    _loaded = True


class Application:
    """What an application is to a call that it holds (`call.app`) or is attached to (`call.attached`).
    Every hook has a default that is right for an application that does not care."""

    state: State = State.IVR  # the call's state while the application holds it

    def key(self, call: Call, digit: str) -> None:
        """A key the caller sent by SIP INFO (RFC 4733 events reach the application's own collector)."""

    def leg_request(self, call: Call, leg, request, stx) -> None:
        """A request on a leg the application added to the call (`call.add_leg`)."""
        call.ua.respond(stx, 481)

    def media_changing(self, call: Call) -> None:
        """The core is about to change the call's media (hold, park, transfer): let go of what depends on it."""

    def bridged(self, call: Call) -> None:
        """The two sides are relayed anew (after a transfer, a retrieval, the end of a supervision): what
        tapped the old relay (a recording) taps `call.relay` now."""

    def mixing(self, call: Call, parties: dict) -> None:
        """The sides' media went into a mixer (a supervisor came in): `parties` is side name -> its mixer
        party, whose `on_says` taps what that side says."""

    def ended(self, call: Call, cause: str) -> None:
        """The call ended while the application held it or was attached to it."""

    def party_left(self, call: Call, side: str) -> bool:
        """The party on `side` hung up an answered call the application holds (its BYE answered): True
        when the application keeps the call on for the other party (a queue's after-call rating)."""
        return False

    def shown(self) -> dict:
        """What the application adds to the call as the live views show it (Call.summary)."""
        return {}


class Prompter(Application):
    """A voice menu on the caller's side (or `side`: the callee of a call the engine placed out, a
    notification's): prompts played, digits collected (type-ahead kept; a key stops the prompt). Holds
    the call in state IVR."""

    def __init__(self, call: Call, *, side: str = "caller"):
        self.call, self.side = call, side
        self.digits = call.keys(on_digit=self._key, side=side)
        self._done: asyncio.Future | None = None
        self.keys_pressed = 0

    def key(self, call: Call, digit: str) -> None:
        self.digits.press(digit)

    def _key(self, _digit: str) -> None:
        self.keys_pressed += 1
        self.stop()

    def stop(self) -> None:
        self.call.stop_playing()
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    async def play(self, *names: str, frames: Frames | None = None, keys: int | None = None,
                   on_last: Callable[[], None] | None = None) -> None:  # fmt: skip
        """The prompts `names` (or `frames`) until their end or a key. A key pressed while their audio is
        read (or since `keys`, the count of keys when the caller began to read `frames`) stops them
        before they start. `on_last` is called as their last frame is sent (not when a key stopped them)."""
        call = self.call
        if call.state == State.ENDED:
            return
        side = call.side(self.side)
        keys = self.keys_pressed if keys is None else keys
        frames = frames or await call.engine.prompt_frames(call.voice, side.codec.name, *names)
        if self.keys_pressed != keys or call.state == State.ENDED:
            return
        self._done = done = asyncio.get_running_loop().create_future()
        call.play(self.side, frames, loop=False, on_done=self.stop, on_last=on_last)
        await asyncio.wait_for(done, len(frames) * 0.02 + 2)

    def start_recording(self, path: Path) -> RtpRecording:
        """Record what the menu's party says into `path`; its keys still reach `self.digits`."""
        side = self.call.side(self.side)
        event_pt = event_payload(side.offered, side.codec)
        self.digits.flush()
        return record_endpoint(side.media, path, codec=side.codec.name, voice_pt=side.codec.payload,
                               event_pts=[event_pt] if event_pt is not None else [],
                               on_event=self.digits.push_packet)  # fmt: skip

    async def beep_then_record(self, path: Path) -> RtpRecording | None:
        """The beep, and what the party says recorded into `path` from the beep's last frame on: the
        recording starts as that frame is sent, so a caller who speaks as the beep ends loses nothing
        (started once the beep was done playing, a frame's time and more later, it lost 1-3 frames:
        bench/voicemail.py --reaction 0). A key that stops the beep starts it then. None: the call ended."""
        started: list[RtpRecording] = []
        beep = self.call.engine.prompts.tone(self.call.side(self.side).codec.name, "beep")
        await self.play(frames=beep, on_last=lambda: started.append(self.start_recording(path)))
        if self.call.state == State.ENDED:
            for recording in started:
                recording.stop()
            return None
        return started[0] if started else self.start_recording(path)

    async def ask(self, name: str, max_digits: int) -> str:
        if not self.digits.pending:
            await self.play(name)
        if self.call.state == State.ENDED:
            return ""
        return (await self.digits.collect(max_digits=max_digits, terminator="#", first=10.0, between=5.0)).digits

    async def wait_for_key(self, key: str, limit: float) -> bool:
        """Until `key` is pressed (True), the call ends or `limit` seconds pass."""
        deadline = time.monotonic() + limit
        while self.call.state != State.ENDED and time.monotonic() < deadline:
            if (await self.digits.collect(max_digits=1, terminator=None, first=1.0)).digits == key:
                return True
        return False
