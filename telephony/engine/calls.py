"""A call anchored in the engine (B2BUA): the caller's leg (A, the engine answers it) and the
callee's leg (B, the engine places it back through the edge), the media bridged between them,
and the call's record.

States, in order (any of them can go to ENDED):

    ROUTING  -- the dial plan runs (a thread: it reads the client's schema)
    RINGING  -- B was sent; provisional answers are passed to A; the ring timeout runs
    ANSWERED -- B answered: A got 200 with the engine's media address, RTP is relayed
    ENDED    -- a final non-2xx, CANCEL, BYE, ring timeout or missing ACK; the CDR is closed

Each transition is one method; an exception in one call is caught by the UA and never reaches
the others.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote

from asgiref.sync import sync_to_async

from records.models import Cdr
from records.writer import close_open
from telephony.callindex import PARK, code_target
from telephony.engine import sessiontimer
from telephony.engine.conference import dial_in
from telephony.engine.database import DatabaseAway
from telephony.engine.dialplan import Party, Route
from telephony.engine.ivr import record_message
from telephony.engine.sipua import ClientTx, Leg, ServerTx, acked, new_tag
from telephony.media.codecs import supported as decodable
from telephony.media.mixer import Mixer
from telephony.media.mixer import Party as MixerParty
from telephony.media.player import ENCODERS, Player, hold_music
from telephony.media.ports import MediaError
from telephony.media.rtp import RtpEndpoint
from telephony.media.transcode import transcoder
from telephony.sip import Request, Response, SipError, parse_uri
from telephony.sip.sdp import Codec, build_sdp, common_codecs, event_payload, parse_sdp, telephone_events

if TYPE_CHECKING:
    from telephony.engine.server import Engine

log = logging.getLogger(__name__)
# Opus: a dynamic type, always opus/48000/2 (RFC 7587); DTMF beside it on its 48 kHz clock (RFC 4733 2.1).
SUPPORTED = [Codec(0, "PCMU", 8000), Codec(8, "PCMA", 8000), Codec(9, "G722", 8000),
             Codec(111, "OPUS", 48000, channels=2), Codec(101, "TELEPHONE-EVENT", 8000),
             Codec(110, "TELEPHONE-EVENT", 48000)]  # fmt: skip
# What the caller hears when the callee's side fails: the callee's answer where it says something
# useful, else a status that does.
PASS_THROUGH = {404, 410, 480, 484, 486, 600, 603}
DISPOSITIONS = {486: Cdr.Disposition.BUSY, 600: Cdr.Disposition.BUSY, 480: Cdr.Disposition.NO_ANSWER,
                408: Cdr.Disposition.NO_ANSWER, 487: Cdr.Disposition.CANCELLED, 603: Cdr.Disposition.BUSY}  # fmt: skip


TRANSCODABLE = {"PCMU", "PCMA", "G722", "OPUS"}  # any pair is converted (telephony/media/transcode.py)


def media_plan(offered: list[Codec], answered: list[Codec]):
    """(A's codec, B's codec, converter A->B, converter B->A) for B's answer to an offer built from A's
    codecs; None when nothing fits. Converters are None when B took one of A's codecs under the same
    payload types (relay); when only the numbers differ (dynamic Opus, telephone-event) they rewrite
    the payload type; between codecs, G.711 tables or decoding and encoding (media/transcode.py).
    Every conversion goes through 8 kHz audio, so A's G.711 (cheapest) is taken when it has one."""
    voice = [c for c in answered if c.name != "TELEPHONE-EVENT"]
    if not voice:
        return None
    chosen = voice[0]
    mine = next((c for c in offered if (c.name, c.rate) == (chosen.name, chosen.rate)), None)
    same = mine is not None
    if not same:
        ours = [c for c in offered if c.name in TRANSCODABLE]
        mine = next((c for c in ours if c.name in ("PCMU", "PCMA")), ours[0] if ours else None)
        if mine is None or chosen.name not in TRANSCODABLE:
            return None
    event_a, event_b = telephone_events(offered, mine), telephone_events(answered, chosen)
    events = (event_a[0], event_b[0]) if event_a and event_b else None
    if same and mine.payload == chosen.payload and (events is None or events[0].payload == events[1].payload):
        return mine, chosen, None, None
    back = events[::-1] if events else None
    return mine, chosen, transcoder(mine, chosen, events=events), transcoder(chosen, mine, events=back)


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


@dataclass
class Dialled:
    """A leg the engine placed to a line and that line answered (Call.dial_line)."""

    leg: Leg
    media: RtpEndpoint
    codec: Codec  # the line's codec
    offered: list[Codec]  # what the engine offered it
    to_new: object  # converters from the codec asked for to the line's, and back (None: same codec)
    from_new: object


def info_digit(body: bytes) -> str:
    """The key of a SIP INFO DTMF body (application/dtmf-relay "Signal=5", or application/dtmf "5")."""
    text = body.decode("ascii", "replace").strip()
    for line in text.splitlines():
        name, _, value = line.partition("=")
        if name.strip().lower() == "signal":
            text = value
            break
    text = text.strip()
    return text if len(text) == 1 and text in "0123456789*#ABCD" else ""


def _identity(request: Request) -> dict[str, str]:
    value = request.headers.get("X-Ocx-Auth") or ""
    return dict(part.split("=", 1) for part in value.split(";") if "=" in part)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Call:
    def __init__(self, engine: Engine, request: Request, stx: ServerTx):
        self._init(engine)
        self.stx = stx  # A's INVITE
        self.a = Leg(call_id=request.call_id, local_uri=request.headers.get("To") or "", local_tag=new_tag(),
                     remote_uri=_without_tag(request.headers.get("From") or ""), name="caller")  # fmt: skip
        self.a.remote_tag = request.from_tag
        self.a.remote_cseq = request.cseq[0]
        self.a.invite = request
        self.a.learn(request, uac=False)
        self.a.session = stx.session  # negotiated by the engine before the call was made (sessiontimer.py)
        self.unacked[(request.call_id, request.cseq[0])] = stx

    def _init(self, engine: Engine) -> None:
        self.engine, self.ua = engine, engine.ua
        self.uuid = uuid.uuid4()
        self.state = "ROUTING"
        self.stx: ServerTx | None = None
        self.started_at = _now()
        self.answered_at: dt.datetime | None = None
        self.a: Leg | None = None
        self.b: Leg | None = None
        self.b_origin: Leg | None = None
        self.b_tx: ClientTx | None = None
        self.route = None
        self.media_a = self.media_b = None
        self.relay = None
        self.music: Player | None = None
        self.held: str | None = None  # "caller" or "callee" while on hold
        self.transferring = False
        self.legs_log: list[dict] = []  # the legs that joined later (transfers), for the record
        self.parties: dict[str, Party | None] = {}  # "caller"/"callee" -> who talks on that side now
        self.segments: list[dict] = []  # who talked with whom, when (the record's segments)
        self.supervisions: list[dict] = []  # who listened in, how, when (the record's supervisions)
        self.former_quality: list[dict] = []  # RTP figures of the legs that left during the call
        self.offered: list[Codec] = []  # A's codecs the engine knows, in A's order
        self.offered_b: list[Codec] = []
        self.codec: Codec | None = None  # the voice codec on A's leg
        self.codec_b: Codec | None = None  # and on B's (another one when the engine transcodes)
        self.ring_timer: asyncio.TimerHandle | None = None
        self.cancel_requested = False
        self.rang = False
        self.unacked: dict[tuple[str, int], ServerTx] = {}
        self.ended_with: tuple[str, str, str] | None = None  # disposition, cause, side
        self.caller_connected = False  # the caller's dialog is confirmed while B still rings (click-to-call)
        self.lines: dict[str, str] = {}  # side -> the number of the line on it, as the call index has it
        self.ringing_line: str | None = None  # the callee's number while it rings (call index)
        self.park_slot: int | None = None  # PARKED: the slot, the number that parked it and the timer
        self.parker = ""
        self.park_timer: asyncio.TimerHandle | None = None
        self.mixer: Mixer | None = None  # while supervised: the parties' media is mixed, not relayed
        self.mixed: dict[str, MixerParty] = {}  # "caller"/"callee" -> their place in the mixer
        self.supervisors: list[Supervisor] = []
        self.participant = None  # CONFERENCE: its place in the conference (telephony/engine/conference.py)
        self.keys = None  # IVR, CONFERENCE: the DtmfCollector the caller's keys go to (RFC 4733 or INFO)

    # What the caller's leg is told: an answered INVITE for a phone that called; overridden for
    # click-to-call, where the engine called the caller's phone itself.

    def caller_ringing(self) -> None:
        self.ua.respond(self.stx, 180, to_tag=self.a.local_tag)

    def caller_answer(self, body: bytes) -> None:
        self.ua.respond(self.stx, 200, to_tag=self.a.local_tag, body=body)

    def caller_refuse(self, status: int, reason: str | None) -> None:
        self.ua.respond(self.stx, status, reason, to_tag=self.a.local_tag)

    # Routing -----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Route and place the call; any failure answers the caller 500 (503 while the database is away)
        and frees what was taken."""
        try:
            await self._start()
        except DatabaseAway:  # the edge tries another engine; a record opened already is closed
            log.warning("call %s refused: the database is away", self.uuid)
            self.close_media()
            self.end_before_answer(503, "Database Unavailable", cause="database-away", cdr=self.route is not None)
        except Exception:
            log.exception("call %s failed to start", self.uuid)
            self.close_media()
            self.end_before_answer(500, "Engine Error", cause="engine-error")

    async def _start(self) -> None:
        request = self.a.invite
        self.ua.respond(self.stx, 100)
        identity = _identity(request)
        if not identity.get("client", "").isdigit() or not identity.get("ext", "").isdigit():
            self.end_before_answer(403, "Not From The Edge", cdr=False)
            return
        try:
            offer = parse_sdp(request.body) if request.body else None
        except SipError:
            offer = None
        if not request.body:  # a delayed offer (RFC 3261 13.2.1): the engine offers in its 200, the ACK answers
            codecs = list(SUPPORTED)
        else:
            codecs = common_codecs(offer.audio.codecs, SUPPORTED) if offer and offer.audio else []
        if not [c for c in codecs if c.name != "TELEPHONE-EVENT"]:
            self.end_before_answer(488, "Not Acceptable Here", cdr=False)
            return
        dialled = parse_uri(request.uri).user_unescaped or ""
        plans, client = self.engine.dialplans, int(identity["client"])
        plan = plans.cached(client) or await sync_to_async(plans.load, thread_sensitive=False)(client)
        code = code_target(dialled)
        room = plan.room_numbers.get(dialled) if code is None else None
        if code is None and dialled in plan.room_triggers:
            self.offered = codecs
            await dial_in(self, plan, int(identity["ext"]), dialled, plan.room_triggers[dialled], offer, trigger=True)
            return
        if room is not None or (code is not None and code[0] == "conference"):
            self.offered = codecs
            if room is None and code[1]:
                room = plan.rooms.get(code[1])
                if room is None:
                    self.engine.cdrs.open(call_uuid=self.uuid, engine=self.engine.id, route=plan.route(
                        int(identity["ext"]), dialled), started_at=self.started_at, dialled=dialled)  # fmt: skip
                    self.route = plan.route(int(identity["ext"]), dialled)
                    self.end_before_answer(404, "No Such Conference")
                    return
            await dial_in(self, plan, int(identity["ext"]), dialled, room, offer)
            return
        if code is not None and code[0] == "record":
            self.offered = codecs
            await record_message(self, plan, int(identity["ext"]), dialled, int(code[1]), offer)
            return
        if code is not None:
            self.offered = codecs
            await self.join_by_code(plan, int(identity["ext"]), dialled, code, offer)
            return
        route = plan.route(int(identity["ext"]), dialled)
        self.engine.cdrs.open(call_uuid=self.uuid, engine=self.engine.id, route=route, started_at=self.started_at,
                              dialled=dialled)  # fmt: skip
        self.route = route
        if self.state == "ENDED":  # cancelled while routing: the record opened meanwhile is closed now
            self.write_close({})
            return
        if route.status:
            self.end_before_answer(route.status, route.reason)
            return
        try:
            self.media_a = await self.engine.media.open(remote=offer.audio_address() if offer else None)
            self.media_b = await self.engine.media.open(remote=None)
        except MediaError:
            self.close_media()
            self.end_before_answer(503, "No Media Ports", cause="no-media-ports")
            return
        if self.state == "ENDED":  # cancelled meanwhile: finish() could not close what was not open yet
            self.close_media()
            return
        self.offered = codecs
        self.place_b(route)

    def place_b(self, route) -> None:
        callee, caller, domain = route.callee, route.caller, route.domain
        self.b = Leg(call_id=f"{uuid.uuid4().hex}@ocx", local_tag=new_tag(), name="callee",
                     local_uri=f'"{caller.name}" <sip:{caller.number}@{domain}>',
                     remote_uri=f"<sip:{callee.sip_username}@{domain}>")  # fmt: skip
        self.b.remote_target = f"sip:{callee.sip_username}@{domain}"
        self.b_origin = self.b
        # B is offered what A offered first (so that no transcoding is needed when B can), then the
        # other codecs the engine converts to and from.
        known = {c.name for c in self.offered}
        extra = [c for c in SUPPORTED if c.name in TRANSCODABLE and c.name not in known] if known & TRANSCODABLE else []
        self.offered_b = self.offered + extra
        body = build_sdp(self.engine.media.address, self.media_b.port, self.offered_b, session_id=self.uuid.int % 10**9)
        config = self.engine.config
        timer = sessiontimer.offer_headers(config.session_expires, config.min_se)
        invite = self.b.request("INVITE", self.ua, headers=[("Content-Type", "application/sdp"), *timer], body=body)
        self.b.invite = invite
        self.engine.index(self.b.call_id, self)
        self.state = "RINGING"
        self.set_line("caller", caller.number)
        self.ringing_line = callee.number
        self.engine.callindex.ringing(route.client, callee.number, self.started_at.timestamp())
        self.b_tx = self.ua.request(invite, self.on_b_response)
        self.ring_timer = asyncio.get_running_loop().call_later(self.engine.config.ring_timeout, self.ring_timeout)

    # B's answers -------------------------------------------------------------------------------------

    def on_b_response(self, response: Response) -> None:
        status = response.status
        if status < 200:
            if status in (180, 183) and self.state == "RINGING":
                self.caller_ringing()
                if not self.rang:
                    self.rang = True
                    self.engine.event(self, "call.ringing")
            return
        if 200 <= status < 300:
            self.b_answered(response)
            return
        if self.state != "RINGING":
            return
        if status == 422 and self.b is self.b_origin and self.reoffer_b(sessiontimer.min_se_of(response)):
            return
        if self.cancel_requested or status == 487:
            self.finish(Cdr.Disposition.CANCELLED, "cancel", "caller")
            return
        self.end_before_answer(status if status in PASS_THROUGH else 480 if status == 408 else 503,
                               response.reason if status in PASS_THROUGH else None,
                               disposition=DISPOSITIONS.get(status, Cdr.Disposition.FAILED), cause=str(status),
                               side="callee")  # fmt: skip

    def b_answered(self, response: Response) -> None:
        origin = self.b_origin  # the INVITE this answers (self.b may have been replaced since)
        if self.b is origin and origin.remote_tag is None:
            origin.remote_tag = response.to_tag
            origin.learn(response, uac=True)
        leg = origin
        if self.b is not origin or response.to_tag != origin.remote_tag:  # not (or no longer) the wanted dialog
            leg = Leg(call_id=origin.call_id, local_uri=origin.local_uri, remote_uri=origin.remote_uri,
                      local_tag=origin.local_tag, remote_tag=response.to_tag, cseq=origin.cseq)  # fmt: skip
            leg.learn(response, uac=True)
        self.ua.ack_2xx(leg, response)
        if leg is not self.b or self.state != "RINGING":  # or answered after we gave up: hang it up
            if leg is not self.b or self.state == "ENDED":
                self.ua.request(leg.request("BYE", self.ua), lambda r: None)
            return
        self._stop_ringing()
        try:
            answer = parse_sdp(response.body)
        except SipError:
            answer = None
        codecs = common_codecs(answer.audio.codecs, self.offered_b) if answer and answer.audio else []
        plan = media_plan(self.offered, codecs)
        if plan is None:
            self.ua.request(self.b.request("BYE", self.ua), lambda r: None)
            self.end_before_answer(488, "Not Acceptable Here", cause="488", side="callee")
            return
        self.codec, self.codec_b, to_b, to_a = plan
        self.media_a.clock_rate, self.media_b.clock_rate = self.codec.rate, self.codec_b.rate  # (RTP statistics)
        self.media_b.set_remote(answer.audio_address())
        events = telephone_events(self.offered, self.codec)
        body = build_sdp(self.engine.media.address, self.media_a.port, [self.codec, *events],
                         session_id=self.uuid.int % 10**9)  # fmt: skip
        self.caller_answer(body)
        self.b.session = sessiontimer.answered(response)
        self.relay = self.engine.media.bridge(self.media_a, self.media_b, convert_a_to_b=to_b, convert_b_to_a=to_a)
        self.state = "ANSWERED"
        self.set_line("callee", self.route.callee.number)
        self.answered_at = _now()
        self.engine.cdrs.answered(self.uuid, self.answered_at, by=self.route.callee.number)
        self.seat("answer", caller=self.route.caller, callee=self.route.callee)
        self.engine.event(self, "call.answered")

    def reoffer_b(self, min_se: int) -> bool:
        """The callee refused the session interval as too small (422): INVITE it again with its Min-SE
        (RFC 4028 7.4), once. False when that cannot help."""
        invite = self.b.invite
        asked = sessiontimer.parse_session_expires(invite.headers.get("Session-Expires"))
        if not min_se or (asked is not None and asked[0] >= min_se):
            return False
        headers = [(n, v) for n, v in invite.headers if n.lower() == "content-type"]
        headers += [("Supported", "timer"), ("Session-Expires", str(min_se)), ("Min-SE", str(min_se))]
        self.b.invite = self.b.request("INVITE", self.ua, headers=headers, body=invite.body)
        self.b_tx = self.ua.request(self.b.invite, self.on_b_response)
        return True

    def ring_timeout(self) -> None:
        if self.state == "RINGING":
            self.b_tx.cancel()
            self.end_before_answer(480, "No Answer", disposition=Cdr.Disposition.NO_ANSWER, cause="ring-timeout",
                                   side="engine")  # fmt: skip

    # Requests inside the call ------------------------------------------------------------------------

    def on_cancel(self, stx: ServerTx) -> None:
        self.ua.respond(stx, 200)
        if self.state in ("ROUTING", "RINGING"):
            self.cancel_requested = True
            if self.b_tx is not None:
                self.b_tx.cancel()
            self.end_before_answer(487, None, disposition=Cdr.Disposition.CANCELLED, cause="cancel", side="caller")

    def on_ack(self, request: Request) -> None:
        acked(self.unacked.pop((request.call_id, request.cseq[0]), None))
        if request.body and request.call_id == self.a.call_id and self.media_a is not None:
            try:  # the answer to the offer our 200 made (a delayed-offer caller)
                answer = parse_sdp(request.body)
            except SipError:
                return
            if answer.audio_address() is not None:
                self.media_a.set_remote(answer.audio_address())

    def on_request(self, request: Request, stx: ServerTx) -> None:
        supervisor = next((v for v in self.supervisors if v.leg.call_id == request.call_id), None)
        if supervisor is not None:
            self.supervisor_request(supervisor, request, stx)
            return
        leg = next((g for g in (self.a, self.b) if g is not None and g.call_id == request.call_id), None)
        # RFC 3261 12.2.2: a request of this dialog carries our tag in To and the other side's in From.
        if leg is None or request.to_tag != leg.local_tag or (leg.remote_tag and request.from_tag != leg.remote_tag):
            self.ua.respond(stx, 481)
            return
        if request.method in ("INVITE", "UPDATE"):  # a session refresh too (RFC 4028), whatever else it does
            config = self.engine.config
            timer = sessiontimer.negotiate(request, current=leg.session, wanted=0, min_se=config.min_se)
            if timer == 422:
                self.ua.respond(stx, 422, "Session Interval Too Small", headers=[("Min-SE", str(config.min_se))])
                return
            leg.session = stx.session = timer
        if request.method == "BYE" and self.state in ("PARKED", "IVR", "CONFERENCE"):  # the only party left
            self.ua.respond(stx, 200)
            joined = self.state == "PARKED" or self.answered_at is not None
            self.finish(Cdr.Disposition.ANSWERED if joined else Cdr.Disposition.CANCELLED, "bye", leg.name)
            return
        if request.method == "INVITE" and self.state in ("PARKED", "IVR", "CONFERENCE"):
            self.reinvited(leg, request, stx)
            return
        if request.method == "INFO" and self.state in ("IVR", "CONFERENCE"):  # keys by SIP INFO
            self.ua.respond(stx, 200)
            digit = info_digit(request.body)
            if digit and self.keys is not None:
                self.keys.press(digit)
            return
        if request.method == "BYE":
            if self.state != "ANSWERED" and leg is self.a and self.caller_connected:
                self.ua.respond(stx, 200)  # click-to-call: the user hung up while the callee rang
                if self.b_tx is not None:
                    self.b_tx.cancel()
                self.finish(Cdr.Disposition.CANCELLED, "bye", "caller")
                return
            if self.state != "ANSWERED":
                self.ua.respond(stx, 481)
                return
            self.ua.respond(stx, 200)
            other = self.b if leg is self.a else self.a
            self.ua.request(other.request("BYE", self.ua), lambda r: None)
            self.finish(Cdr.Disposition.ANSWERED, "bye", leg.name)
            return
        if request.method == "INVITE" and self.state == "ANSWERED":
            self.reinvited(leg, request, stx)
            return
        if request.method == "REFER" and self.state == "ANSWERED":
            try:
                refer_to = request.name_addr("Refer-To").uri
                dialled = refer_to.user_unescaped or ""
            except SipError:
                refer_to, dialled = None, ""
            headers = refer_to.headers if refer_to is not None else {}
            replaces = next((v for k, v in headers.items() if k.lower() == "replaces"), None)
            if replaces is not None:  # attended transfer (RFC 3891): join our other party to the consulted one
                self.refer_replaces(leg, unquote(replaces), stx)
                return
            if not dialled or self.transferring:
                self.ua.respond(stx, 400 if not dialled else 491, "Bad Refer-To" if not dialled else None)
                return
            self.ua.respond(stx, 202)
            self.engine.background(self.transfer(leg.name, dialled, referrer=leg))
            return
        if request.method == "INFO" and self.state == "ANSWERED" and request.body:
            # DTMF by SIP INFO (application/dtmf-relay and the like): passed on to the other leg.
            other = self.b if leg is self.a else self.a
            kind = request.headers.get("Content-Type") or "application/dtmf-relay"
            self.ua.request(other.request("INFO", self.ua, headers=[("Content-Type", kind)], body=request.body),
                            lambda r: None)  # fmt: skip
            self.ua.respond(stx, 200)
            return
        if request.method in ("INFO", "UPDATE", "OPTIONS", "NOTIFY"):
            self.ua.respond(stx, 200)
            return
        self.ua.respond(stx, 501)

    def supervisor_request(self, supervisor: Supervisor, request: Request, stx: ServerTx) -> None:
        leg = supervisor.leg
        if request.to_tag != leg.local_tag or (leg.remote_tag and request.from_tag != leg.remote_tag):
            self.ua.respond(stx, 481)
        elif request.method == "BYE":
            self.ua.respond(stx, 200)
            self.supervisor_left(supervisor, bye=False)
        elif request.method == "INVITE":  # a refresh or a new address; the mixer goes on as it was
            try:
                offer = parse_sdp(request.body) if request.body else None
            except SipError:
                offer = None
            if offer is not None and offer.audio_address() is not None:
                supervisor.media.set_remote(offer.audio_address())
            leg.sdp_version += 1
            body = build_sdp(self.engine.media.address, supervisor.media.port, supervisor.offered,
                             session_id=self.uuid.int % 10**9, version=leg.sdp_version)  # fmt: skip
            self.unacked[(request.call_id, request.cseq[0])] = stx
            self.ua.respond(stx, 200, to_tag=leg.local_tag, body=body)
        else:
            self.ua.respond(stx, 200 if request.method in ("INFO", "UPDATE", "OPTIONS", "NOTIFY") else 501)

    def reinvited(self, leg: Leg, request: Request, stx: ServerTx) -> None:
        """A phone's re-INVITE: hold (a=sendonly or inactive, or the old c=0.0.0.0) and resume, or a
        new media address. The engine answers for itself; the other leg is never re-INVITEd: the
        engine anchors the media, so the held party simply hears music from here."""
        media, codec = (self.media_a, self.codec) if leg is self.a else (self.media_b, self.codec_b)
        try:
            offer = parse_sdp(request.body) if request.body else None
        except SipError:
            offer = None
        direction = "sendrecv"
        if offer is not None and offer.audio is not None:
            direction = offer.audio.direction
            address = offer.audio_address()
            if address is None:
                direction = "inactive" if direction == "recvonly" else "sendonly"
            elif address != media.remote:
                media.set_remote(address)
        leg.direction = direction
        other = "callee" if leg is self.a else "caller"
        if self.state != "ANSWERED":
            pass  # parked: the engine plays music to the phone whatever it says
        elif direction in ("sendonly", "inactive"):
            self.hold(other)
        elif self.held == other:
            self.resume()
        answer = {"sendonly": "recvonly", "recvonly": "sendonly"}.get(direction, direction)
        events = telephone_events(self.offered if leg is self.a else self.offered_b, codec)
        leg.sdp_version += 1
        body = build_sdp(self.engine.media.address, media.port, [codec, *events], session_id=self.uuid.int % 10**9,
                         version=leg.sdp_version, direction=answer)  # fmt: skip
        self.unacked[(request.call_id, request.cseq[0])] = stx
        self.ua.respond(stx, 200, to_tag=leg.local_tag, body=body)

    # Joining a call by a dial code: intercept, retrieve from park ----------------------------------

    async def join_by_code(self, plan, extension: int, dialled: str, code: tuple[str, str], offer) -> None:
        """A dial code that joins this caller to a call the engine holds: pick up a colleague's ringing
        call (*8: the client's oldest, **<ext>: that line's; lines granted intercept only) or retrieve
        a parked one (*71<slot>). The edge sends such INVITEs to the engine the call index names.
        The caller's leg goes over to that call and this call object ends without a record of its own
        (the call it joined has one); a refusal gets a record."""
        caller = plan.by_extension.get(extension)
        self.route = Route(client=plan.client, brand=plan.brand, domain=plan.domain, caller=caller or Party("", ""),
                           callee=None)  # fmt: skip

        def refuse(status: int, reason: str) -> None:
            self.engine.cdrs.open(call_uuid=self.uuid, engine=self.engine.id, route=self.route,
                                  started_at=self.started_at, dialled=dialled)  # fmt: skip
            self.end_before_answer(status, reason)

        kind, argument = code
        if caller is None:
            return refuse(403, "Unknown Caller")
        if kind == "pickup":
            if not caller.may_intercept:
                return refuse(403, "Intercept Not Allowed")
            ringing = [c for c in self.engine.live() if c is not self and c.state == "RINGING" and c.route is not None
                       and c.route.client == plan.client and c.route.callee is not None and c.media_a is not None
                       and (not argument or c.route.callee.number == argument)]  # fmt: skip
            if not ringing:
                return refuse(404, "Nothing To Pick Up")
            target = min(ringing, key=lambda c: c.started_at)
            theirs, state = target.offered, "RINGING"
        elif kind == "retrieve":
            target = self.engine.parked(plan.client, int(argument))
            if target is None:
                return refuse(404, "Nothing Parked There")
            _, _, codec, offered = target.side(target.held)
            theirs, state = [codec, *telephone_events(offered, codec)], "PARKED"
        else:
            return await self._join_as_supervisor(plan, caller, kind, argument, offer, refuse)
        plan_ = media_plan(theirs, self.offered)
        if plan_ is None:
            return refuse(488, "Not Acceptable Here")
        try:
            self.media_a = await self.engine.media.open(remote=offer.audio_address() if offer else None)
        except MediaError:
            return refuse(503, "No Media Ports")
        if target.state != state or target.transferring or self.state == "ENDED":  # gone meanwhile
            self.close_media()
            return refuse(404, "Nothing To Pick Up" if kind == "pickup" else "Nothing Parked There")
        if kind == "pickup":
            target.picked_up_by(self, caller, plan_)
        else:
            target.retrieved_by(self, caller, plan_)

    async def _join_as_supervisor(self, plan, caller: Party, mode: str, number: str, offer, refuse) -> None:
        """*81/*82/*83<ext>: this caller (a line granted it) monitors, whispers to or barges into the
        call of line <ext>, which is on this engine (the edge routes by the call index)."""
        if not caller.may_barge:
            return refuse(403, "Supervision Not Allowed")
        calls = [c for c in self.engine.live() if c is not self and c.state == "ANSWERED" and c.route is not None
                 and c.route.client == plan.client
                 and number in (c.lines.get("caller"), c.lines.get("callee"))]  # fmt: skip
        if not calls:
            return refuse(404, "No Call To Join")
        target = min(calls, key=lambda c: c.started_at)
        if caller.number in target.lines.values():
            return refuse(403, "Own Call")
        agent = "caller" if target.lines.get("caller") == number else "callee"
        codec = next((c for c in self.offered if c.name != "TELEPHONE-EVENT" and decodable(c.name)), None)
        if codec is None:
            return refuse(488, "Not Acceptable Here")
        try:
            self.media_a = await self.engine.media.open(remote=offer.audio_address() if offer else None)
        except MediaError:
            return refuse(503, "No Media Ports")
        if target.state != "ANSWERED" or self.state == "ENDED":
            self.close_media()
            return refuse(404, "No Call To Join")
        events = telephone_events(self.offered, codec)
        self.ua.respond(self.stx, 200, to_tag=self.a.local_tag,
                        body=build_sdp(self.engine.media.address, self.media_a.port, [codec, *events],
                                       session_id=self.uuid.int % 10**9))  # fmt: skip
        target.unacked[(self.a.call_id, self.a.invite.cseq[0])] = self.stx
        target.supervise(self.a, self.media_a, codec, [codec, *events], caller.number, mode, agent, caller.account)
        self.media_a = None  # now the supervised call's
        self.state = "ENDED"  # no record of its own: the supervised call's lists the supervisor

    def adopt(self, other: Call, side: str, codec_other: Codec, stay_to_new, new_to_stay) -> None:
        """`other`'s caller leg, answered here, becomes this call's `side` and is bridged to the party on
        the other side; `other` ends without a record (its leg and media are this call's now)."""
        events = telephone_events(other.offered, codec_other)
        other.ua.respond(other.stx, 200, to_tag=other.a.local_tag,
                         body=build_sdp(self.engine.media.address, other.media_a.port, [codec_other, *events],
                                        session_id=other.uuid.int % 10**9))  # fmt: skip
        self.unacked[(other.a.call_id, other.a.invite.cseq[0])] = other.stx
        _, old_media, _, _ = self.side(side)
        other.a.name = side
        self.set_side(side, other.a, other.media_a, codec_other, other.offered)
        if old_media is not None:
            old_media.close()
        self.rebridge("callee" if side == "caller" else "caller", stay_to_new, new_to_stay)
        self.set_line(side, other.route.caller.number)
        self.engine.index(other.a.call_id, self)
        other.media_a = None  # now this call's
        other.state = "ENDED"

    def rebridge(self, staying: str, stay_to_new, new_to_stay) -> None:
        """Relay between the two sides again after one of them changed (converters from the staying
        party's codec to the new one's and back, None when they share it)."""
        if self.relay is not None:
            self.relay.stop()
        a_to_b, b_to_a = (stay_to_new, new_to_stay) if staying == "caller" else (new_to_stay, stay_to_new)
        self.relay = self.engine.media.bridge(self.media_a, self.media_b, convert_a_to_b=a_to_b, convert_b_to_a=b_to_a)

    def picked_up_by(self, other: Call, party: Party, plan) -> None:
        """This ringing call is answered by `other`'s caller (intercept)."""
        codec_a, codec_other, to_other, to_a = plan
        self._stop_ringing()
        if self.b_tx is not None:
            self.b_tx.cancel()
        events_a = telephone_events(self.offered, codec_a)
        self.caller_answer(build_sdp(self.engine.media.address, self.media_a.port, [codec_a, *events_a],
                                     session_id=self.uuid.int % 10**9))  # fmt: skip
        self.codec, self.media_a.clock_rate = codec_a, codec_a.rate
        self.adopt(other, "callee", codec_other, to_other, to_a)
        self.state = "ANSWERED"
        self.answered_at = _now()
        self.engine.cdrs.answered(self.uuid, self.answered_at, by=party.number)
        self.legs_log.append({"leg": "callee", "call_id": self.b.call_id, "intercepted_by": party.number,
                              "at": self.answered_at.isoformat()})  # fmt: skip
        self.seat("pickup", caller=self.route.caller, callee=party)
        self.engine.event(self, "call.intercepted", by=party.number)
        self.engine.event(self, "call.answered")

    # Supervision: monitor, whisper, barge ------------------------------------------------------------

    def supervise(self, leg: Leg, media: RtpEndpoint, codec: Codec, offered: list[Codec], supervisor: str,
                  mode: str, agent: str, account: int | None = None) -> None:  # fmt: skip
        """A supervisor's answered leg joins this call: `monitor` hears both parties and is heard by
        none, `whisper` is heard by the `agent` side only, `barge` talks with both. The call's media
        goes from the relay to a mixer for as long as a supervisor is in it."""
        if self.mixer is None:
            if self.relay is not None:
                self.relay.stop()
                self.relay = None
            self.mixer = Mixer()
            for side in ("caller", "callee"):
                _, endpoint, side_codec, side_offered = self.side(side)
                self.mixed[side] = self.mixer.add(endpoint, side_codec.name, voice_pt=side_codec.payload,
                                                  event_pt=event_payload(side_offered, side_codec), name=side,
                                                  clock_rate=side_codec.rate)  # fmt: skip
        party = self.mixer.add(media, codec.name, voice_pt=codec.payload, event_pt=event_payload(offered, codec),
                               name=f"supervisor {supervisor}", muted=mode == "monitor", clock_rate=codec.rate,
                               heard_by=[self.mixed[agent]] if mode == "whisper" else None)  # fmt: skip
        leg.name, media.clock_rate = "supervisor", codec.rate
        began = _now()
        agent_party = self.parties.get(agent)
        record = {"supervisor": supervisor, "supervisor_account": account, "mode": mode, "agent": agent,
                  "agent_number": agent_party.number if agent_party else "", "began_at": began.isoformat(),
                  "ended_at": None, "seconds": 0}  # fmt: skip
        self.supervisions.append(record)
        self.supervisors.append(Supervisor(leg, media, codec, offered, party, supervisor, mode, record))
        self.engine.index(leg.call_id, self)
        self.set_line(f"supervisor {leg.call_id}", supervisor)
        self.legs_log.append({"leg": "supervisor", "call_id": leg.call_id, "supervisor": supervisor, "mode": mode,
                              "agent": agent, "at": began.isoformat()})  # fmt: skip
        self.engine.cdrs.update(self.uuid, supervisions=[dict(v) for v in self.supervisions])  # (the writer's copy)
        opened = {k: v for k, v in record.items() if k not in ("ended_at", "seconds")}
        self.engine.cdrs.audit(self.uuid, action="call.supervise", brand=self.route.brand, client=self.route.client,
                               target=str(self.uuid), at=began, data=opened)  # fmt: skip
        self.engine.event(self, "call.supervised", supervisor=supervisor, mode=mode, agent=agent)

    def supervisor_left(self, supervisor: Supervisor, *, bye: bool) -> None:
        """A supervisor hung up (or is let go: bye=True sends the BYE); the last one out puts the two
        parties back on the plain relay."""
        if bye:
            self.ua.request(supervisor.leg.request("BYE", self.ua), lambda r: None)
        self.supervisors.remove(supervisor)
        self.mixer.remove(supervisor.party)
        supervisor.media.close()
        self.set_line(f"supervisor {supervisor.leg.call_id}", None)
        left = _now()
        self.legs_log.append({"leg": "supervisor", "call_id": supervisor.leg.call_id, "left": left.isoformat()})
        supervisor.record.update(close_open([supervisor.record], left)[0])
        self.engine.cdrs.update(self.uuid, supervisions=[dict(v) for v in self.supervisions])  # (the writer's copy)
        if self.state != "ENDED":
            self.engine.event(self, "call.unsupervised", supervisor=supervisor.number)
        if not self.supervisors:
            self.mixer.close()
            self.mixer, self.mixed = None, {}
            if self.state == "ANSWERED":
                _, _, a_to_b, b_to_a = media_plan(
                    [self.codec, *telephone_events(self.offered, self.codec)],
                    [self.codec_b, *telephone_events(self.offered_b, self.codec_b)],
                )
                self.rebridge("caller", a_to_b, b_to_a)

    def unsupervise(self) -> None:
        """Let every supervisor go (before hold, transfer or park change the call's media)."""
        for supervisor in list(self.supervisors):
            self.supervisor_left(supervisor, bye=True)

    async def supervise_to(self, number: str, mode: str, agent: str) -> str | None:
        """The API's supervision: ring line `number` and, once it answers, join it in `mode`. None when
        it worked, else why not."""
        if self.state != "ANSWERED":
            return "the call is not answered"
        plans = self.engine.dialplans
        plan = plans.cached(self.route.client) or await sync_to_async(plans.load, thread_sensitive=False)(
            self.route.client)  # fmt: skip
        party = plan.by_number.get(number)
        if party is None or not party.may_barge:
            return "the line may not supervise calls"
        if number in self.lines.values():
            return "the line is in this call"
        _, _, codec, offered = self.side(agent)
        shown = self.route.caller if agent == "caller" else self.route.callee
        dialed = await self.dial_line(party, shown or party, "supervisor", codec, offered,
                                      still=lambda: self.state == "ANSWERED")  # fmt: skip
        if isinstance(dialed, tuple):
            return dialed[1] if dialed[0] == 0 else f"the line answered {dialed[0]} {dialed[1]}"
        self.supervise(dialed.leg, dialed.media, dialed.codec, dialed.offered, number, mode, agent, party.account)
        return None

    # Park ------------------------------------------------------------------------------------------

    async def park(self, parked: str, *, referrer: Leg | None = None) -> int | str:
        """Park one party ("caller" or "callee") in the client's first free slot: it hears music, the
        other party is let go. The slot (an int), or why not (a str). Any line of the client retrieves
        it by dialling *71<slot>; after the engine's park timeout it rings back the line that parked."""
        if self.state != "ANSWERED":
            return "the call is not answered"
        self.unsupervise()
        leaving = "callee" if parked == "caller" else "caller"
        slot = await self.engine.callindex.claim_slot(self.route.client, self.uuid)
        if slot is None:
            self._notify(referrer, "503 No Free Park Slot", final=True)
            return "no park slot is free"
        if self.state != "ANSWERED":
            self.engine.callindex.free_slot(self.route.client, slot, self.uuid)
            return "the call ended"
        self._notify(referrer, f"200 Parked In Slot {slot}", final=True)
        old_leg, old_media, _, _ = self.side(leaving)
        self.ua.request(old_leg.request("BYE", self.ua), lambda r: None)
        self.relay.stop()
        self.relay = None
        self.keep_quality(leaving, old_media)
        old_media.close()
        self.set_side(leaving, None, None, None, [])
        self.parker = self.lines.get(leaving, "")
        self.set_line(leaving, None)
        self.state, self.park_slot, self.held = "PARKED", slot, parked
        self.play_music(parked)
        self.park_timer = asyncio.get_running_loop().call_later(self.engine.config.park_timeout, self.park_expired,
                                                                leaving)  # fmt: skip
        self.legs_log.append({"leg": leaving, "call_id": old_leg.call_id, "parked_in": slot, "at": _now().isoformat()})
        self.seat("park", **{leaving: None})
        self.engine.event(self, "call.parked", slot=slot, by=self.parker)
        return slot

    def park_expired(self, vacated: str) -> None:
        """Nobody retrieved the call: ring the line that parked it (a failed ring-back ends the call)."""
        self.park_timer = None
        if self.state == "PARKED":
            self.engine.background(self._ring_back(vacated))

    async def _ring_back(self, vacated: str) -> None:
        problem = await self.transfer(vacated, self.parker) if self.parker else "nobody to ring back"
        if problem is not None and self.state == "PARKED":
            self.hangup("engine", cause="park-timeout")

    def unpark(self) -> None:
        """Give the slot back (the call was retrieved, rung back or ended)."""
        if self.park_timer is not None:
            self.park_timer.cancel()
            self.park_timer = None
        if self.park_slot is not None:
            self.engine.callindex.free_slot(self.route.client, self.park_slot, self.uuid)
            self.park_slot = None

    async def retrieve_to(self, number: str) -> str | None:
        """The API's retrieve: ring line `number` and join it to the parked party once it answers (the
        call stays parked if it does not). None when it worked, else why not."""
        if self.state != "PARKED":
            return "the call is not parked"
        if self.park_timer is not None:
            self.park_timer.cancel()
        vacated = "callee" if self.held == "caller" else "caller"
        problem = await self.transfer(vacated, number)
        if problem is not None and self.state == "PARKED":  # nobody answered: parked again, timer anew
            self.park_timer = asyncio.get_running_loop().call_later(self.engine.config.park_timeout,
                                                                    self.park_expired, vacated)  # fmt: skip
        return problem

    def retrieved_by(self, other: Call, party: Party, plan) -> None:
        """`other`'s caller dialled this call's slot: it takes the vacated side, the parked party's
        music stops and the two talk."""
        _, codec_other, parked_to_new, new_to_parked = plan
        parked = self.held
        vacated = "callee" if parked == "caller" else "caller"
        slot = self.park_slot
        self.unpark()
        self.stop_music()
        self.adopt(other, vacated, codec_other, parked_to_new, new_to_parked)
        self.state, self.held = "ANSWERED", None
        self.legs_log.append({"leg": vacated, "call_id": other.a.call_id, "retrieved_by": party.number,
                              "from_slot": slot, "at": _now().isoformat()})  # fmt: skip
        self.seat("retrieve", **{vacated: party})
        self.engine.event(self, "call.retrieved", slot=slot, by=party.number)

    # Transfer --------------------------------------------------------------------------------------

    def side(self, name: str) -> tuple[Leg, RtpEndpoint, Codec, list[Codec]]:
        if name == "caller":
            return self.a, self.media_a, self.codec, self.offered
        return self.b, self.media_b, self.codec_b, self.offered_b

    def set_side(self, name: str, leg: Leg, media: RtpEndpoint, codec: Codec, offered: list[Codec]) -> None:
        if media is not None:
            media.clock_rate = codec.rate
        if name == "caller":
            self.a, self.media_a, self.codec, self.offered = leg, media, codec, offered
        else:
            self.b, self.media_b, self.codec_b, self.offered_b = leg, media, codec, offered

    async def transfer(self, leaving: str, dialled: str, *, referrer: Leg | None = None) -> str | None:
        """Blind transfer: the `leaving` party ("caller" or "callee") goes, the other is connected to the
        extension `dialled` (hearing music while it rings). A phone's REFER gets NOTIFYs with the
        outcome (RFC 3515). None when it worked, else why not. The park code *70 as the target parks
        the staying party; a parked call is transferred to the line that parked it when nobody took it."""
        if self.state not in ("ANSWERED", "PARKED") or self.transferring:
            return "the call is not answered" if self.state != "ANSWERED" else "a transfer is running"
        if dialled == PARK:
            slot = await self.park("callee" if leaving == "caller" else "caller", referrer=referrer)
            return None if isinstance(slot, int) else slot
        self.transferring = True
        try:
            return await self._transfer(leaving, dialled, referrer)
        except Exception:
            log.exception("transfer of call %s failed", self.uuid)
            self._transfer_failed(referrer, 500, "Server Internal Error")
            return "the engine failed"
        finally:
            self.transferring = False

    async def _transfer(self, leaving: str, dialled: str, referrer: Leg | None) -> str | None:
        staying = "callee" if leaving == "caller" else "caller"
        self._notify(referrer, "100 Trying")
        if self.state == "ANSWERED":
            self.hold(staying)
        plans = self.engine.dialplans
        plan = plans.cached(self.route.client) or await sync_to_async(plans.load, thread_sensitive=False)(
            self.route.client)  # fmt: skip
        target = plan.by_number.get(dialled)
        if target is None:
            return self._transfer_failed(referrer, 404, "Not Found")
        _, _, stay_codec, stay_offered = self.side(staying)
        party = self.route.caller if staying == "caller" else self.route.callee
        dialed = await self.dial_line(target, party, leaving, stay_codec, stay_offered,
                                      still=lambda: self.state in ("ANSWERED", "PARKED"))  # fmt: skip
        if isinstance(dialed, tuple):
            status, reason = dialed
            return self._transfer_failed(referrer, status, reason) if status else reason
        # The target answered: the leaving party goes, the staying one is joined to the target.
        self._notify(referrer, "200 OK", final=True)
        old_leg, old_media, _, _ = self.side(leaving)
        if old_leg is not None:  # (a parked call rung back has nobody on that side)
            self.ua.request(old_leg.request("BYE", self.ua), lambda r: None)
            self.keep_quality(leaving, old_media)
            old_media.close()
        reason = "retrieve" if self.state == "PARKED" else "transfer"
        self.stop_music()
        self.unpark()
        self.set_side(leaving, dialed.leg, dialed.media, dialed.codec, dialed.offered)
        self.set_line(leaving, target.number)
        self.rebridge(staying, dialed.to_new, dialed.from_new)
        self.state, self.held = "ANSWERED", None
        self.legs_log.append({"leg": leaving, "call_id": dialed.leg.call_id, "transferred_to": target.number,
                              "at": _now().isoformat()})  # fmt: skip
        self.seat(reason, **{leaving: target})
        self.engine.event(self, "call.transferred", leaving=leaving, to=target.number)
        return None

    async def dial_line(self, target: Party, shown: Party, name: str, codec: Codec, offered: list[Codec], *,
                        still) -> Dialled | tuple[int, str]:  # fmt: skip
        """Ring every device of line `target` for this call, showing `shown` as the caller and offering
        `codec` (the party it will talk to has it) first, then the codecs the engine converts to. The
        answered leg (named `name`) with its media and converters from `codec` and back; else (status,
        reason) of the failure, or (0, why) when `still()` says the call ended while it rang."""
        media = await self.engine.media.open(remote=None)
        events = telephone_events(offered, codec)
        extra = [c for c in SUPPORTED if c.name in TRANSCODABLE and c.name != codec.name]
        offer = [codec, *events, *(extra if codec.name in TRANSCODABLE else [])]
        domain = self.route.domain
        leg = Leg(call_id=f"{uuid.uuid4().hex}@ocx", local_tag=new_tag(), name=name,
                  local_uri=f'"{shown.name}" <sip:{shown.number}@{domain}>',
                  remote_uri=f"<sip:{target.sip_username}@{domain}>")  # fmt: skip
        leg.remote_target = f"sip:{target.sip_username}@{domain}"
        body = build_sdp(self.engine.media.address, media.port, offer, session_id=self.uuid.int % 10**9)
        leg.invite = leg.request("INVITE", self.ua, headers=[("Content-Type", "application/sdp")], body=body)
        self.engine.index(leg.call_id, self)
        answered = asyncio.get_running_loop().create_future()

        def on_response(response: Response) -> None:
            if response.status >= 200 and not answered.done():
                answered.set_result(response)
            elif 200 <= response.status < 300 and answered.done() and leg.remote_tag == response.to_tag:
                self.ua.ack_2xx(leg, response)  # a retransmitted 2xx: ACK it again

        tx = self.ua.request(leg.invite, on_response)
        try:
            response = await asyncio.wait_for(asyncio.shield(answered), self.engine.config.ring_timeout)
        except TimeoutError:
            tx.cancel()
            media.close()
            return 480, "Temporarily Unavailable"
        if 200 <= response.status < 300:
            leg.remote_tag = response.to_tag
            leg.learn(response, uac=True)
            self.ua.ack_2xx(leg, response)
        if not still():
            if 200 <= response.status < 300:
                self.ua.request(leg.request("BYE", self.ua), lambda r: None)
            media.close()
            return 0, "the call ended"
        if not 200 <= response.status < 300:
            media.close()
            return response.status, response.reason
        try:
            answer = parse_sdp(response.body)
        except SipError:
            answer = None
        codecs = common_codecs(answer.audio.codecs, offer) if answer and answer.audio else []
        plan = media_plan([codec, *events], codecs)
        if plan is None:
            self.ua.request(leg.request("BYE", self.ua), lambda r: None)
            media.close()
            return 488, "Not Acceptable Here"
        _, new_codec, to_new, from_new = plan
        media.set_remote(answer.audio_address())
        return Dialled(leg, media, new_codec, offer, to_new, from_new)

    def refer_replaces(self, leg: Leg, replaces: str, stx: ServerTx) -> None:
        """A REFER whose Refer-To names the dialog the referrer has with the consulted party (Replaces:
        Call-ID;to-tag;from-tag, as the referrer sees it): that call must be on this engine."""
        call_id, *params = replaces.split(";")
        tags = dict(p.strip().split("=", 1) for p in params if "=" in p)
        other = self.engine.calls.get(call_id.strip())
        mine = next((g for g in ((other.a, other.b) if other else ()) if g is not None and g.call_id == call_id.strip()
                     and g.local_tag == tags.get("to-tag") and g.remote_tag == tags.get("from-tag")), None)  # fmt: skip
        if other is None or mine is None or other is self or other.state != "ANSWERED":
            self.ua.respond(stx, 481 if other is None or mine is None else 400, "Replaced Call Not Here")
            return
        self.ua.respond(stx, 202)
        self._notify(leg, "100 Trying")
        other_leaving = "caller" if mine is other.a else "callee"
        problem = self.join_with(other, leg.name if leg.name in ("caller", "callee") else "caller", other_leaving,
                                 referrer=leg)  # fmt: skip
        if problem is not None:
            self._notify(leg, "488 Not Acceptable Here", final=True)

    def join_with(self, other: Call, leaving: str, other_leaving: str, *, referrer: Leg | None = None) -> str | None:
        """Attended transfer: the party `leaving` this call (who also is `other_leaving` in `other`, the
        consultation call) goes; the party staying here and the one left in `other` talk. `other` ends
        (its record closes with cause "transferred"); this call goes on with the new party. None when
        it worked, else why not."""
        if self.state != "ANSWERED" or other.state != "ANSWERED" or other is self:
            return "both calls must be answered"
        staying = "callee" if leaving == "caller" else "caller"
        moving = "callee" if other_leaving == "caller" else "caller"
        _, _, stay_codec, stay_offered = self.side(staying)
        move_leg, move_media, move_codec, move_offered = other.side(moving)
        plan = media_plan(
            [stay_codec, *telephone_events(stay_offered, stay_codec)],
            [move_codec, *telephone_events(move_offered, move_codec)],
        )
        if plan is None:
            return "the parties have no codec in common and none the engine converts"
        _, _, stay_to_new, new_to_stay = plan
        self.unsupervise()
        other.unsupervise()
        self._notify(referrer, "200 OK", final=True)
        old_leg, old_media, _, _ = self.side(leaving)
        gone_leg, _, _, _ = other.side(other_leaving)
        for bye in (old_leg, gone_leg):
            self.ua.request(bye.request("BYE", self.ua), lambda r: None)
        number = other.lines.get(moving)
        moved = other.parties.get(moving)
        other.relay.stop()
        other.stop_music()
        other.set_side(moving, None, None, None, [])  # its leg and media are this call's now
        other.finish(Cdr.Disposition.ANSWERED, "transferred", other_leaving)
        self.stop_music()
        self.keep_quality(leaving, old_media)
        old_media.close()
        move_leg.name = leaving
        self.set_side(leaving, move_leg, move_media, move_codec, move_offered)
        self.set_line(leaving, number)
        self.rebridge(staying, stay_to_new, new_to_stay)
        self.held = None
        self.engine.index(move_leg.call_id, self)
        self.legs_log.append({"leg": leaving, "call_id": move_leg.call_id, "transferred_to": number or "",
                              "attended": True, "consultation": str(other.uuid), "at": _now().isoformat()})  # fmt: skip
        self.seat("attended-transfer", **{leaving: moved})
        self.engine.event(self, "call.transferred", leaving=leaving, to=number or "", attended=True)
        return None

    def _transfer_failed(self, referrer: Leg | None, status: int, reason: str) -> str:
        self._notify(referrer, f"{status} {reason}", final=True)
        self.resume()
        return f"the target answered {status} {reason}"

    def _notify(self, referrer: Leg | None, status_line: str, *, final: bool = False) -> None:
        """RFC 3515: the REFER's implicit subscription, told how the transfer goes (message/sipfrag)."""
        if referrer is None or self.state != "ANSWERED":
            return
        state = "terminated;reason=noresource" if final else "active;expires=60"
        headers = [("Event", "refer"), ("Subscription-State", state), ("Content-Type", "message/sipfrag;version=2.0")]
        body = f"SIP/2.0 {status_line}\r\n".encode()
        self.ua.request(referrer.request("NOTIFY", self.ua, headers=headers, body=body), lambda r: None)

    # Hold ------------------------------------------------------------------------------------------

    def hold(self, held: str) -> bool:
        """Put one party ("caller" or "callee") on hold: it hears music, the other hears nothing."""
        if self.state != "ANSWERED":
            return False
        self.unsupervise()
        self.relay.a_to_b = self.relay.b_to_a = False
        self.play_music(held)
        if self.held != held:
            self.held = held
            self.engine.event(self, "call.held", held=held)
        return True

    def resume(self) -> bool:
        if self.state != "ANSWERED" or self.held is None:
            return False
        self.stop_music()
        self.relay.a_to_b = self.relay.b_to_a = True
        self.held = None
        self.engine.event(self, "call.resumed")
        return True

    def play_music(self, side: str) -> None:
        self.stop_music()
        _, endpoint, codec, _ = self.side(side)
        if codec.name in ENCODERS:  # every codec the engine encodes gets the music
            self.music = Player(endpoint, codec.payload, hold_music(codec.name))
            self.music.start()

    def stop_music(self) -> None:
        if self.music is not None:
            self.music.stop()
            self.music = None

    def on_no_ack(self) -> None:
        if self.state == "ANSWERED":
            self.ua.request(self.a.request("BYE", self.ua), lambda r: None)
            self.ua.request(self.b.request("BYE", self.ua), lambda r: None)
            self.finish(Cdr.Disposition.ANSWERED, "no-ack", "engine")

    # Ending ------------------------------------------------------------------------------------------

    def end_before_answer(self, status: int, reason: str | None, *, disposition: str = Cdr.Disposition.FAILED,
                          cause: str | None = None, side: str = "engine", cdr: bool = True) -> None:  # fmt: skip
        if self.state == "ENDED":
            return
        self.caller_refuse(status, reason)
        self.finish(disposition, cause or str(status), side, cdr=cdr)

    def hangup(self, side: str = "engine", *, cause: str = "hangup") -> None:
        """End the call from outside (API, shutdown): BYE both legs, or refuse the caller if unanswered."""
        if self.state in ("ANSWERED", "PARKED", "IVR", "CONFERENCE"):
            for leg in (self.a, self.b):
                if leg is not None:
                    self.ua.request(leg.request("BYE", self.ua), lambda r: None)
            joined = self.state != "IVR" or self.answered_at is not None
            self.finish(Cdr.Disposition.ANSWERED if joined else Cdr.Disposition.FAILED, cause, side)
        elif self.state in ("ROUTING", "RINGING"):
            if self.b_tx is not None:
                self.b_tx.cancel()
            self.end_before_answer(480, "Temporarily Unavailable", cause="hangup", side=side)

    def finish(self, disposition: str, cause: str, side: str, *, cdr: bool = True) -> None:
        if self.state == "ENDED":
            return
        self.state = "ENDED"
        self._stop_ringing()
        self.unpark()
        self.unsupervise()
        if self.participant is not None:
            self.participant.conference.leave(self.participant, cause)
            self.participant = None
        for name in list(self.lines):
            self.set_line(name, None)
        quality = self.close_media()
        legs = [{"leg": "caller", "call_id": self.a.call_id}] if self.a is not None else []
        if self.b is not None:
            legs.append({"leg": "callee", "call_id": self.b.call_id})
        legs += self.legs_log
        self.engine.forget(self)
        self.legs = legs
        self.ended_with = (disposition, cause, side) if cdr else None
        if self.route is not None:  # else routing is still running: start() closes the record after it
            self.write_close(quality)
        self.engine.event(self, "call.ended", disposition=disposition, cause=cause)

    def write_close(self, quality: dict) -> None:
        if self.ended_with is None:
            return
        disposition, cause, side = self.ended_with
        if self.former_quality:
            quality = {**quality, "former": self.former_quality}
        self.engine.cdrs.close(
            self.uuid,
            started_at=self.started_at,
            answered_at=self.answered_at,
            ended_at=_now(),
            disposition=disposition,
            cause=cause,
            side=side,
            quality=quality,
            legs=self.legs,
            segments=self.segments,
            supervisions=self.supervisions,
        )

    # Who talks: the record's segments and the live view ----------------------------------------------

    def seat(self, reason: str, **sides: Party | None) -> None:
        """The parties changed (answer, pickup, transfer, park, retrieve): the record's current segment
        ends and one with the parties now on each side begins (a side nobody is on stays empty)."""
        now = _now()
        self.segments[:] = close_open(self.segments, now)
        self.parties.update(sides)
        segment = {"reason": reason, "began_at": now.isoformat(), "ended_at": None, "seconds": 0}
        for name in ("caller", "callee"):
            party = self.parties.get(name)
            segment[name] = party.number if party else ""
            segment[f"{name}_account"] = party.account if party else None
        self.segments.append(segment)
        self.engine.cdrs.update(self.uuid, segments=list(self.segments))  # (the writer's copy)

    def keep_quality(self, side: str, media: RtpEndpoint | None) -> None:
        """The RTP figures of a leg that leaves before the call ends, under the party it carried (the
        figures at the end are the last parties')."""
        if media is None:
            return
        party = self.parties.get(side)
        stats = {k: v for k, v in media.stats().items() if not isinstance(v, float) or v == v}
        self.former_quality.append({"side": side, "number": party.number if party else "", **stats})

    def close_media(self) -> dict:
        """Stop relaying and give the ports back; the legs' RTP figures for the record."""
        self.stop_music()
        if self.relay is not None:
            self.relay.stop()
        quality = {}
        for name, media in (("caller", self.media_a), ("callee", self.media_b)):
            if media is not None:
                quality[name] = {k: v for k, v in media.stats().items() if not isinstance(v, float) or v == v}
                party = self.parties.get(name)
                if party is not None:  # whose leg the figures are, once the parties changed
                    quality[name]["number"] = party.number
                media.close()
        return quality

    def _stop_ringing(self) -> None:
        if self.ring_timer is not None:
            self.ring_timer.cancel()
            self.ring_timer = None
        if self.ringing_line is not None:
            self.engine.callindex.not_ringing(self.route.client, self.ringing_line)
            self.ringing_line = None

    def set_line(self, side: str, number: str | None) -> None:
        """Tell the call index which line is on a side (None: nobody now), so that the edges send that
        line's next calls (a consultation before a transfer, a supervisor's) to this engine."""
        index, client = self.engine.callindex, self.route.client
        old = self.lines.pop(side, None)
        if old:
            index.line_free(client, old)
        if number:
            self.lines[side] = number
            index.line_busy(client, number)

    def summary(self) -> dict:
        """The call as the live views show it: who is on each side now (`caller`/`callee`, the dialled
        number in `dialled`), its state (`held`: the party hearing music; the supervisors in it)."""
        route = self.route
        dialled = route.callee.number if route and route.callee else ""
        caller, callee = self.parties.get("caller"), self.parties.get("callee")
        if not self.parties:  # not answered yet: the parties the call is between
            caller, callee = (route.caller if route else None), (route.callee if route else None)
        return {
            "id": str(self.uuid), "state": self.state.lower(), "engine": self.engine.id,
            "caller": caller.number if caller else "", "caller_name": caller.name if caller else "",
            "callee": callee.number if callee else "", "callee_name": callee.name if callee else "",
            "dialled": dialled, "started_at": self.started_at.isoformat(),
            "answered_at": self.answered_at and self.answered_at.isoformat(),
            "codec": self.codec.name if self.codec else None,
            "callee_codec": self.codec_b.name if self.codec_b else None, "held": self.held,
            "park_slot": self.park_slot,
            "supervisors": [{"number": v.number, "mode": v.mode, "agent": v.record.get("agent", "")}
                            for v in self.supervisors],
        }  # fmt: skip


class OriginatedCall(Call):
    """Click-to-call: the engine rings the user's own devices first (the caller's leg, the engine as
    UAC); once the user answers, it calls the target (the callee's leg) and joins the two. From then
    on it is a call like any other: hold, transfer and hang-up work the same."""

    def __init__(self, engine: Engine, *, client: int, extension: int, dialled: str):
        self._init(engine)
        self.client, self.extension, self.dialled = client, extension, dialled
        self.a_tx: ClientTx | None = None

    async def _start(self) -> None:
        plans = self.engine.dialplans
        plan = plans.cached(self.client) or await sync_to_async(plans.load, thread_sensitive=False)(self.client)
        route = plan.route(self.extension, self.dialled)
        self.engine.cdrs.open(call_uuid=self.uuid, engine=self.engine.id, route=route, started_at=self.started_at,
                              dialled=self.dialled)  # fmt: skip
        self.route = route
        if route.status:
            self.finish(Cdr.Disposition.FAILED, str(route.status), "engine")
            return
        await self.ring_line(route.caller, route.callee, second_leg=True)

    async def ring_line(self, line: Party, shown: Party, *, second_leg: bool) -> bool:
        """Ring every device of `line` (the engine as caller, showing `shown`), with media for it and,
        when the call will have one, for the second leg. False (the call finished) without ports."""
        try:
            self.media_a = await self.engine.media.open(remote=None)
            if second_leg:
                self.media_b = await self.engine.media.open(remote=None)
        except MediaError:
            self.close_media()
            self.finish(Cdr.Disposition.FAILED, "no-media-ports", "engine")
            return False
        domain = self.route.domain
        self.a = Leg(call_id=f"{uuid.uuid4().hex}@ocx", local_tag=new_tag(), name="caller",
                     local_uri=f'"{shown.name}" <sip:{shown.number}@{domain}>',
                     remote_uri=f"<sip:{line.sip_username}@{domain}>")  # fmt: skip
        self.a.remote_target = f"sip:{line.sip_username}@{domain}"
        self.offered = list(SUPPORTED)
        body = build_sdp(self.engine.media.address, self.media_a.port, self.offered, session_id=self.uuid.int % 10**9)
        self.a.invite = self.a.request("INVITE", self.ua, headers=[("Content-Type", "application/sdp")], body=body)
        self.engine.index(self.a.call_id, self)
        self.a_tx = self.ua.request(self.a.invite, self.on_a_response)
        self.ring_timer = asyncio.get_running_loop().call_later(self.engine.config.ring_timeout, self.ring_timeout)
        return True

    def on_a_response(self, response: Response) -> None:
        if response.status < 200:
            return
        if not 200 <= response.status < 300:
            if self.state != "ENDED":
                disposition = DISPOSITIONS.get(response.status, Cdr.Disposition.FAILED)
                self.finish(disposition, str(response.status), "caller")
            return
        if self.a.remote_tag is None:
            self.a.remote_tag = response.to_tag
            self.a.learn(response, uac=True)
        self.ua.ack_2xx(self.a, response)
        if self.caller_connected or self.state != "ROUTING":
            if self.state == "ENDED":
                self.ua.request(self.a.request("BYE", self.ua), lambda r: None)
            return
        try:
            answer = parse_sdp(response.body)
        except SipError:
            answer = None
        codecs = common_codecs(answer.audio.codecs, SUPPORTED) if answer and answer.audio else []
        voice = [c for c in codecs if c.name != "TELEPHONE-EVENT"]
        if not voice:
            self.ua.request(self.a.request("BYE", self.ua), lambda r: None)
            self.finish(Cdr.Disposition.FAILED, "488", "caller")
            return
        self.caller_connected = True
        self._stop_ringing()
        self.offered = [voice[0], *telephone_events(codecs, voice[0])]
        self.media_a.set_remote(answer.audio_address())
        self.line_answered()

    def line_answered(self) -> None:
        """The rung line answered (its leg has media): click-to-call now calls the target."""
        self.place_b(self.route)

    def ring_timeout(self) -> None:
        if self.state == "ROUTING" and not self.caller_connected:  # the user's own phone did not answer
            if self.a_tx is not None:
                self.a_tx.cancel()
            self.finish(Cdr.Disposition.NO_ANSWER, "ring-timeout", "caller")
            return
        super().ring_timeout()

    def caller_ringing(self) -> None:
        pass  # the user's phone is answered already; it hears the callee being rung as silence

    def caller_answer(self, body: bytes) -> None:
        pass  # the user's leg has its media since it answered

    def caller_refuse(self, status: int, reason: str | None) -> None:
        if self.caller_connected:
            self.ua.request(self.a.request("BYE", self.ua), lambda r: None)
        elif self.a_tx is not None:
            self.a_tx.cancel()


def _without_tag(name_addr: str) -> str:
    head, sep, params = name_addr.partition(">")
    if not sep:
        return name_addr.split(";tag=")[0]
    kept = ";".join(p for p in params.split(";") if p and not p.strip().startswith("tag="))
    return head + ">" + (";" + kept if kept else "")
