"""Supervision: a line granted it monitors (hears both parties, heard by none), whispers to (heard by
one side, the agent) or barges into (talks with both) another line's answered call: by dialling
*81/*82/*83<ext> (the edge sends the INVITE to the engine holding that line's call), or through the
API, which rings the supervisor's line first (a queue's supervisor through queues/supervision.py:
`granted`, the API checked they supervise the agent's queue). While a supervisor is in, the call's
media goes through a mixer instead of the relay; the last one out puts the parties back on the relay.
During a session the supervisor switches mode by key: 1 monitor, 2 whisper, 3 barge. A line exempt
from supervision (Extension.supervision_exempt) is never joined; a queue with `supervision_tone`
plays the agent a short tone when a supervisor comes in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from records.writer import close_open
from telephony import features
from telephony.engine.application import Application, Incoming, feature
from telephony.engine.call import Call
from telephony.engine.dialplan import Party
from telephony.engine.sipua import ServerTx
from telephony.engine.states import State
from telephony.media.codecs import supported as decodable
from telephony.media.dtmf import DtmfCollector
from telephony.media.mixer import Mixer
from telephony.media.mixer import Party as MixerParty
from telephony.media.player import tones
from telephony.media.rtp import RtpEndpoint
from telephony.sip import Request, SipError
from telephony.sip.dialog import Leg
from telephony.sip.sdp import Codec, build_sdp, event_payload, parse_sdp, telephone_events

S = State
MODES = {"*81": "monitor", "*82": "whisper", "*83": "barge"}
CODES = [features.FeatureCode(prefix, mode, features.DIGITS, locate="line:") for prefix, mode in MODES.items()]
KEYS = {"1": "monitor", "2": "whisper", "3": "barge"}  # a supervisor's keys during a session
TONE = tones([((1400.0,), 0.15), ((), 0.1), ((1400.0,), 0.15)], level=3000.0)  # supervision started


@dataclass
class Supervisor:
    """A supervisor's leg in a call (monitor, whisper or barge) and its place in the call's mixer."""

    leg: Leg
    media: RtpEndpoint
    codec: Codec
    offered: list[Codec]
    party: MixerParty
    number: str
    mode: str
    record: dict = field(default_factory=dict)  # its entry in the call's record (Call.supervisions)


class Supervision(Application):
    """The supervisors of one call and the mixer that carries the call's media while they are in."""

    def __init__(self, call: Call):
        self.call = call
        self.supervisors: list[Supervisor] = []
        call.unbridge()
        self.mixer = Mixer()
        self.mixed: dict[str, MixerParty] = {}  # side -> its place in the mixer
        for side in (call.caller, call.callee):
            codec = side.codec
            self.mixed[side.name] = self.mixer.add(side.media, codec.name, voice_pt=codec.payload,
                                                   event_pt=event_payload(side.offered, codec), name=side.name,
                                                   clock_rate=codec.rate)  # fmt: skip
        for app in list(call.attached):  # (before this one is attached: a recording follows the mixer)
            app.mixing(call, dict(self.mixed))

    @property
    def legs(self) -> list[Leg]:
        return [s.leg for s in self.supervisors]

    def add(self, leg: Leg, media: RtpEndpoint, codec: Codec, offered: list[Codec], number: str, mode: str,
            agent: str, account: int | None) -> None:  # fmt: skip
        call = self.call
        party = self.mixer.add(media, codec.name, voice_pt=codec.payload, event_pt=event_payload(offered, codec),
                               name=f"supervisor {number}", muted=mode == "monitor", clock_rate=codec.rate,
                               heard_by=[self.mixed[agent]] if mode == "whisper" else None)  # fmt: skip
        leg.name, media.clock_rate = "supervisor", codec.rate
        agent_party = call.side(agent).party
        began = _now()
        record = {"supervisor": number, "supervisor_account": account, "mode": mode, "agent": agent,
                  "agent_number": agent_party.number if agent_party else "", "began_at": began.isoformat(),
                  "ended_at": None, "seconds": 0}  # fmt: skip
        call.supervisions.append(record)
        supervisor = Supervisor(leg, media, codec, offered, party, number, mode, record)
        self.supervisors.append(supervisor)
        keys = DtmfCollector(event_pt=event_payload(offered, codec), on_digit=lambda d: self.switch(supervisor, d))
        party.on_telephone_event = keys.push_packet
        if getattr(call.app, "supervision_tone", False) or getattr(call, "supervision_tone", False):
            tone_to(self.mixed[agent])
        call.attach(self, leg)
        call.set_line(f"supervisor {leg.call_id}", number)
        call.log_leg("supervisor", leg.call_id, supervisor=number, mode=mode, agent=agent, at=began)
        call.engine.cdrs.update(call.uuid, supervisions=[dict(v) for v in call.supervisions])  # (the writer's copy)
        opened = {k: v for k, v in record.items() if k not in ("ended_at", "seconds")}
        call.engine.cdrs.audit(call.uuid, action="call.supervise", brand=call.route.brand, client=call.route.client,
                               target=str(call.uuid), at=began, data=opened)  # fmt: skip
        call.engine.event(call, "call.supervised", supervisor=number, mode=mode, agent=agent)

    def switch(self, supervisor: Supervisor, digit: str) -> None:
        """A supervisor's key: 1 monitor, 2 whisper (to the agent), 3 barge; the record keeps each change."""
        mode = KEYS.get(digit)
        if mode is None or mode == supervisor.mode or supervisor not in self.supervisors:
            return
        call, agent = self.call, supervisor.record.get("agent", "callee")
        supervisor.mode = supervisor.record["mode"] = mode
        supervisor.party.muted = mode == "monitor"
        supervisor.party.heard_by = [self.mixed[agent]] if mode == "whisper" else None
        supervisor.record.setdefault("modes", []).append({"mode": mode, "at": _now().isoformat()})
        call.engine.cdrs.update(call.uuid, supervisions=[dict(v) for v in call.supervisions])
        call.engine.event(call, "call.supervised", supervisor=supervisor.number, mode=mode, agent=agent)

    def left(self, supervisor: Supervisor, *, bye: bool) -> None:
        """A supervisor hung up (or is let go: bye=True sends the BYE); the last one out puts the two
        parties back on the plain relay."""
        call = self.call
        if bye:
            call.bye(supervisor.leg)
        self.supervisors.remove(supervisor)
        self.mixer.remove(supervisor.party)
        supervisor.media.close()
        call.set_line(f"supervisor {supervisor.leg.call_id}", None)
        left = _now()
        call.log_leg("supervisor", supervisor.leg.call_id, when="left", at=left)
        supervisor.record.update(close_open([supervisor.record], left)[0])
        call.engine.cdrs.update(call.uuid, supervisions=[dict(v) for v in call.supervisions])  # (the writer's copy)
        if call.state != S.ENDED:
            call.engine.event(call, "call.unsupervised", supervisor=supervisor.number)
        call.detach(self, supervisor.leg)
        if not self.supervisors:
            self.mixer.close()
            if call.state == S.ANSWERED:
                call.plain_bridge()

    def let_go(self) -> None:
        for supervisor in list(self.supervisors):
            self.left(supervisor, bye=True)

    def media_changing(self, call: Call) -> None:
        self.let_go()

    def ended(self, call: Call, cause: str) -> None:
        self.let_go()

    def leg_request(self, call: Call, request: Request, stx: ServerTx) -> None:
        supervisor = next(v for v in self.supervisors if v.leg.call_id == request.call_id)
        leg = supervisor.leg
        if request.to_tag != leg.local_tag or (leg.remote_tag and request.from_tag != leg.remote_tag):
            call.ua.respond(stx, 481)
        elif request.method == "BYE":
            call.ua.respond(stx, 200)
            self.left(supervisor, bye=False)
        elif request.method == "INVITE":  # a refresh or a new address; the mixer goes on as it was
            try:
                offer = parse_sdp(request.body) if request.body else None
            except SipError:
                offer = None
            if offer is not None and offer.audio_address() is not None:
                supervisor.media.set_remote(offer.audio_address())
            call.answer_offer(leg, request, stx, supervisor.media, supervisor.offered)
        else:
            call.ua.respond(stx, 200 if request.method in ("INFO", "UPDATE", "OPTIONS", "NOTIFY") else 501)

    def shown(self) -> dict:
        return {"supervisors": [{"number": v.number, "mode": v.mode, "agent": v.record.get("agent", "")}
                                for v in self.supervisors]}  # fmt: skip


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def tone_to(party: MixerParty) -> None:
    """The supervision tone, sent to `party` in place of the mix (at its clock rate)."""
    samples = np.array(TONE, dtype=np.int16)
    ratio = max(1, party.step // 160)
    if ratio > 1:
        samples = np.repeat(samples, ratio)
    for start in range(0, len(samples) - party.step + 1, party.step):
        party.outgoing.append(samples[start : start + party.step])


def exempt(call: Call, agent: str) -> bool:
    """The agent's side is a line nobody may supervise."""
    party = call.side(agent).party
    return bool(party is not None and party.supervision_exempt)


def supervise(call: Call, leg: Leg, media: RtpEndpoint, codec: Codec, offered: list[Codec], number: str, mode: str,
              agent: str, account: int | None = None) -> None:  # fmt: skip
    """A supervisor's answered leg joins `call` in `mode`, heard by (whisper) or hearing `agent`'s side."""
    supervision = next((a for a in call.attached if isinstance(a, Supervision)), None) or Supervision(call)
    supervision.add(leg, media, codec, offered, number, mode, agent, account)


@feature(*CODES)
async def by_code(call: Call, incoming: Incoming) -> None:
    """*81/*82/*83<ext>: this caller (a line granted it) monitors, whispers to or barges into the call
    of line <ext>, which is on this engine (the edge routes by the call index)."""
    call.route_alone(incoming)
    caller, number = incoming.caller, incoming.argument
    mode = MODES[incoming.dialled[:3]]
    if caller is None:
        return call.refuse(incoming, 403, "Unknown Caller")
    if not caller.may_barge:
        return call.refuse(incoming, 403, "Supervision Not Allowed")
    calls = [c for c in call.engine.live() if c is not call and c.state == S.ANSWERED and c.route is not None
             and c.route.client == incoming.plan.client
             and number in (c.lines.get("caller"), c.lines.get("callee"))]  # fmt: skip
    if not calls:
        return call.refuse(incoming, 404, "No Call To Join")
    target = min(calls, key=lambda c: c.started_at)
    if caller.number in target.lines.values():
        return call.refuse(incoming, 403, "Own Call")
    agent = "caller" if target.lines.get("caller") == number else "callee"
    if exempt(target, agent):
        return call.refuse(incoming, 403, "Exempt From Supervision")
    side = call.caller
    codec = next((c for c in side.offered if c.name != "TELEPHONE-EVENT" and decodable(c.name)), None)
    if codec is None:
        return call.refuse(incoming, 488, "Not Acceptable Here")
    if not await call.open_caller_media(incoming, lambda: target.state == S.ANSWERED, "No Call To Join"):
        return
    codecs = [codec, *telephone_events(side.offered, codec)]
    call.caller_answer(build_sdp(call.engine.media.address, side.media.port, codecs,
                                 session_id=call.uuid.int % 10**9))  # fmt: skip
    target.expect_ack(side.leg, call.stx)
    supervise(target, side.leg, side.media, codec, codecs, caller.number, mode, agent, caller.account)
    call.give_away()  # no record of its own: the supervised call's lists the supervisor


async def supervise_to(call: Call, number: str, mode: str, agent: str, *, granted: bool = False) -> str | None:
    """The API's supervision: ring line `number` and, once it answers, join it in `mode`. None when
    it worked, else why not. `granted`: the API found the line a supervisor of the agent's queue (no
    need of the line's own permission)."""
    if call.state != S.ANSWERED:
        return "the call is not answered"
    if exempt(call, agent):
        return "the line is exempt from supervision"
    plan = await call.plan(call.route.client)
    party = plan.by_number.get(number)
    if party is None or not (party.may_barge or granted):
        return "the line may not supervise calls"
    if number in call.lines.values():
        return "the line is in this call"
    side = call.side(agent)
    shown: Party = (call.route.caller if agent == "caller" else call.route.callee) or party
    placed = await call.dial_line(party, shown, "supervisor", side.codec, side.offered,
                                  still=lambda: call.state == S.ANSWERED)  # fmt: skip
    if isinstance(placed, tuple):
        return placed[1] if placed[0] == 0 else f"the line answered {placed[0]} {placed[1]}"
    supervise(call, placed.leg, placed.media, placed.codec, placed.offered, number, mode, agent, party.account)
    return None
