"""The call core: a call anchored in the engine (B2BUA), its two sides, its state and its record.

A call has two `Side`s of one kind, `caller` and `callee`: each the dialog with the phone on it
(a `Leg`), its RTP endpoint, the codec it talks and the codecs it was offered, and who is on it. The
engine answers the caller's INVITE and places the callee's leg back through the edge; the media of
the two sides is relayed (converted when the codecs differ) or mixed.

The state (telephony/engine/states.py) changes only through `move`, which checks the graph. What a
request inside the call does in each state is the table REQUESTS below: a method that a state does
not list gets the table's default answer (200 for INFO, UPDATE, OPTIONS and NOTIFY, 481 for a BYE
outside a confirmed call, 501 otherwise), never an exception. Applications add rows (`accept`).

Features are applications (telephony/engine/application.py): they take over the call (`take`) or
attach to it, and change it through the methods in "For applications" below.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from records.models import Cdr
from records.writer import close_open
from telephony.engine import application, destinations, sessiontimer
from telephony.engine.application import Application, Incoming
from telephony.engine.database import DatabaseAway
from telephony.engine.dialplan import Party, Route
from telephony.engine.negotiation import SUPPORTED, TRANSCODABLE, info_digit, media_plan
from telephony.engine.sipua import ServerTx, acked
from telephony.engine.states import ALONE, TRANSITIONS, UNANSWERED, IllegalTransition, State
from telephony.media.codecs import supported as decodable
from telephony.media.dtmf import DtmfCollector
from telephony.media.player import ENCODERS, Frames, Player, hold_music
from telephony.media.ports import MediaError
from telephony.media.prompts import ENGLISH
from telephony.media.rtp import RtpEndpoint
from telephony.sip import Request, Response, SipError, parse_uri
from telephony.sip.dialog import Leg, new_tag
from telephony.sip.sdp import Codec, build_sdp, common_codecs, event_payload, parse_sdp, telephone_events
from telephony.sip.transaction import ClientTransaction

if TYPE_CHECKING:
    from telephony.engine.server import Engine

log = logging.getLogger(__name__)
S = State
# What the caller hears when the callee's side fails: the callee's answer where it says something
# useful, else a status that does.
PASS_THROUGH = {404, 410, 480, 484, 486, 600, 603}
DISPOSITIONS = {486: Cdr.Disposition.BUSY, 600: Cdr.Disposition.BUSY, 480: Cdr.Disposition.NO_ANSWER,
                408: Cdr.Disposition.NO_ANSWER, 487: Cdr.Disposition.CANCELLED, 603: Cdr.Disposition.BUSY}  # fmt: skip
SIDES = ("caller", "callee")


def other(name: str) -> str:
    return "callee" if name == "caller" else "caller"


@dataclass(eq=False)
class Side:
    """One side of a call: the dialog with the phone on it, its RTP endpoint, the voice codec it talks,
    the codecs the engine offered or took on it, and who talks on it now (None: nobody yet or any
    more)."""

    name: str
    leg: Leg | None = None
    media: RtpEndpoint | None = None
    codec: Codec | None = None
    offered: list[Codec] = field(default_factory=list)
    party: Party | None = None
    tx: ClientTransaction | None = None  # the INVITE the engine sent on this side, while it is unanswered
    origin: Leg | None = None  # the dialog that INVITE makes (another fork's 2xx is hung up)
    outside: bool = False  # the party on it is reached through a carrier: it may not transfer the call

    def codecs(self) -> list[Codec]:
        """The voice codec and the telephone-event types that go with it (for an SDP answer)."""
        return [self.codec, *telephone_events(self.offered, self.codec)]

    def fill(self, leg: Leg | None, media: RtpEndpoint | None, codec: Codec | None, offered: list[Codec]) -> None:
        if media is not None:
            media.clock_rate = codec.rate
        if leg is not self.leg:
            self.outside = False  # another party: whoever places it says where it is
        self.leg, self.media, self.codec, self.offered = leg, media, codec, offered


@dataclass
class Placed:
    """A leg the engine placed to a line and that line answered (Call.dial_line)."""

    leg: Leg
    media: RtpEndpoint
    codec: Codec  # the line's codec
    offered: list[Codec]  # what the engine offered it
    to_new: object  # converters from the codec asked for to the line's, and back (None: same codec)
    from_new: object


def _identity(request: Request) -> dict[str, str]:
    """What the edge vouches for (X-Ocx-Auth); nothing when a field comes twice (not the edge's own)."""
    value = request.headers.get("X-Ocx-Auth") or ""
    pairs = [part.split("=", 1) for part in value.split(";") if "=" in part]
    fields = dict(pairs)
    return fields if len(fields) == len(pairs) else {}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


Handler = Callable[["Call", Side, Request, ServerTx], None]
# What a request inside the call does, by state and method (handlers take the call, the side the
# request came on, the request and its transaction). Applications add rows with `accept`.
REQUESTS: dict[State, dict[str, Handler]] = {state: {} for state in State}
DEFAULT_OK = {"INFO", "UPDATE", "OPTIONS", "NOTIFY"}


def accept(method: str, *states: State):
    """Decorator: `handler` answers `method` in `states` (one row of REQUESTS per state)."""

    def register(handler: Handler) -> Handler:
        for state in states:
            REQUESTS[state][method] = handler
        return handler

    return register


class Call:
    def __init__(self, engine: Engine, request: Request, stx: ServerTx):
        self._init(engine)
        self.stx = stx  # the caller's INVITE
        leg = Leg(call_id=request.call_id, local_uri=request.headers.get("To") or "", local_tag=new_tag(),
                  remote_uri=_without_tag(request.headers.get("From") or ""), name="caller")  # fmt: skip
        leg.remote_tag = request.from_tag
        leg.remote_cseq = request.cseq[0]
        leg.invite = request
        leg.learn(request, uac=False)
        leg.session = stx.session  # negotiated by the engine before the call was made (sessiontimer.py)
        self.caller.leg = leg
        self.unacked[(request.call_id, request.cseq[0])] = stx

    def _init(self, engine: Engine) -> None:
        self.engine, self.ua = engine, engine.ua
        self.uuid = uuid.uuid4()
        self.state = S.ROUTING
        self.stx: ServerTx | None = None
        self.started_at = _now()
        self.answered_at: dt.datetime | None = None
        self.caller, self.callee = Side("caller"), Side("callee")
        self.route = None
        self.relay = None
        self.music: Player | None = None
        self.held: str | None = None  # the side hearing music while on hold (or parked)
        self.transferring = False  # a transfer runs: no second one, nobody picks the call up meanwhile
        self.app: Application | None = None  # the application holding the call (IVR, CONFERENCE, PARKED)
        self.attached: list[Application] = []  # applications beside the parties (supervision)
        self.app_legs: dict[str, Application] = {}  # Call-ID -> the application whose leg it is
        self.legs_log: list[dict] = []  # the legs that joined later (transfers), for the record
        self.segments: list[dict] = []  # who talked with whom, when (the record's segments)
        self.supervisions: list[dict] = []  # who listened in, how, when (the record's supervisions)
        self.former_quality: list[dict] = []  # RTP figures of the legs that left during the call
        self.ring_timer: asyncio.TimerHandle | None = None
        self.cancel_requested = False
        self.rang = False
        self.unacked: dict[tuple[str, int], ServerTx] = {}
        self.ended_with: tuple[str, str, str] | None = None  # disposition, cause, side
        self.lines: dict[str, str] = {}  # side (or an application's leg) -> its line's number (call index)
        self.ringing_line: str | None = None  # the callee's number while it rings (call index)
        self.record_defaults: dict = {}  # see record_as()
        self.record_opened = False
        self.placing = None  # what places the callee's leg beyond a line (telephony/engine/applications/network.py)
        self.destinations_run = 0  # how many it was sent to (telephony/engine/destinations.py: MAX_DESTINATIONS)
        self.voice = ENGLISH  # the prompts this call hears: its client's (set with the plan), a user's own (features)
        self.announcing: list[Player] = []  # a prompt both parties hear at once (announce)

    def side(self, name: str) -> Side:
        return self.caller if name == "caller" else self.callee

    def legs(self) -> list[Leg]:
        """Every dialog of the call: the sides' and the applications' (supervisors)."""
        return [leg for leg in (self.caller.leg, self.callee.leg) if leg is not None] + [
            leg for app in self.attached for leg in getattr(app, "legs", ())
        ]

    def move(self, state: State) -> None:
        if state == self.state:
            return
        if state not in TRANSITIONS[self.state]:
            raise IllegalTransition(f"call {self.uuid}: {self.state} -> {state}")
        self.state = state

    # What the caller's leg is told: an answered INVITE for a phone that called; overridden for
    # click-to-call, where the engine called the caller's phone itself.

    def caller_ringing(self) -> None:
        self.ua.respond(self.stx, 180, to_tag=self.caller.leg.local_tag)

    def caller_answer(self, body: bytes) -> None:
        self.ua.respond(self.stx, 200, to_tag=self.caller.leg.local_tag, body=body)

    def caller_refuse(self, status: int, reason: str | None) -> None:
        self.ua.respond(self.stx, status, reason, to_tag=self.caller.leg.local_tag)

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

    async def plan(self, client: int):
        plan = await self.engine.dialplans.get(client)
        self.voice = plan.voice  # the call's prompts speak its client's language
        return plan

    async def _start(self) -> None:
        request = self.caller.leg.invite
        self.ua.respond(self.stx, 100)
        identity = _identity(request)
        network = identity.get("carrier", "").isdigit()  # a carrier's call to one of the platform's numbers
        if not identity.get("client", "").isdigit() or not (network or identity.get("ext", "").isdigit()):
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
        self.caller.offered = codecs
        if network:
            plan = await self.plan(int(identity["client"]))
            await application.from_network(self, Incoming(plan, 0, None, identity["did"], offer, network=identity))
            return
        plan, extension = await self.plan(int(identity["client"])), int(identity["ext"])
        found = application.runner_for(plan, dialled)
        if found is not None:  # a feature code or an application's number (a conference's)
            runner, argument = found
            await runner(self, Incoming(plan, extension, plan.by_extension.get(extension), dialled, offer, argument))
            return
        route = plan.route(extension, dialled)
        incoming = Incoming(plan, extension, plan.by_extension.get(extension), dialled, offer)
        if route.status == 404 and await application.to_network(self, incoming):
            return  # a number of the phone network
        if route.status:
            self.open_record(route, dialled)
            await self.call_line(route, offer)
            return
        await destinations.run(self, "user", dialled, incoming)  # a colleague: their devices, their forwarding

    async def call_line(self, route, offer, *, ring_for: float | None = None) -> None:
        """Ring the route's callee for this caller (whose record is open): media for both sides, then
        the callee's leg (for `ring_for` seconds, else the engine's ring timeout); the route's refusal
        (404, 403...) when it has one."""
        if self.state == S.ENDED:  # cancelled while routing: the record opened meanwhile is closed now
            self.write_close({})
            return
        if route.status:
            self.end_before_answer(route.status, route.reason)
            return
        if await self.open_media(offer):
            self.place_callee(route, ring_for=ring_for)

    async def open_media(self, offer) -> bool:
        """RTP endpoints for both sides (those a forwarded call has already are kept); False (the call
        refused, or over) without ports or when it was cancelled meanwhile."""
        try:
            if self.caller.media is None:
                self.caller.media = await self.engine.media.open(remote=offer.audio_address() if offer else None)
            if self.callee.media is None:
                self.callee.media = await self.engine.media.open(remote=None)
        except MediaError:
            self.close_media()
            self.end_before_answer(503, "No Media Ports", cause="no-media-ports")
            return False
        if self.state == S.ENDED:  # cancelled meanwhile: finish() could not close what was not open yet
            self.close_media()
            return False
        return True

    def route_alone(self, incoming: Incoming) -> Route:
        """The route of a call that rings no line (a feature code, an application's number): the
        caller's client and line."""
        plan = incoming.plan
        self.route = Route(client=plan.client, brand=plan.brand, domain=plan.domain,
                           caller=incoming.caller or Party("", ""), callee=None)  # fmt: skip
        return self.route

    def refuse(self, incoming: Incoming, status: int, reason: str, **record) -> None:
        """Refuse a caller that an application would not take, with a record of the attempt."""
        self.open_record(self.route or self.route_alone(incoming), incoming.dialled, **record)
        self.end_before_answer(status, reason)

    async def join_media(self, incoming: Incoming, theirs: list[Codec], still: Callable[[], bool], gone: str):
        """Media for this caller to join a party of another call who talks `theirs`: the media plan
        (media_plan(theirs, the caller's codecs)); None when refused (no codec in common, no port, or
        `still()` no longer true once the port is open: `gone` is the reason given)."""
        plan = media_plan(theirs, self.caller.offered)
        if plan is None:
            self.refuse(incoming, 488, "Not Acceptable Here")
            return None
        return plan if await self.open_caller_media(incoming, still, gone) else None

    async def open_caller_media(self, incoming: Incoming, still: Callable[[], bool], gone: str) -> bool:
        """The caller's RTP endpoint, for joining another call; False when refused (no port, or `still()`
        no longer true once it is open: `gone` is the reason given)."""
        offer = incoming.offer
        try:
            if self.caller.media is None:  # (a forwarded call has its port already)
                self.caller.media = await self.engine.media.open(remote=offer.audio_address() if offer else None)
        except MediaError:
            self.refuse(incoming, 503, "No Media Ports")
            return False
        if not still() or self.state == S.ENDED:  # gone meanwhile
            self.close_media()
            self.refuse(incoming, 404, gone)
            return False
        return True

    def open_record(self, route, dialled: str, **fields) -> None:
        """The call's record is opened (in the writer's spool), for `route`. Opened already (a forwarded
        call), the record goes on: what the new destination says of it (`fields`: a conference's
        service and room) is written over."""
        if self.record_opened:
            renamed = {"moderator": "moderator_id", "carrier": "carrier_id"}
            if fields:
                self.update_record(**{renamed.get(name, name): value for name, value in fields.items()})
            self.route = route
            return
        self.engine.cdrs.open(call_uuid=self.uuid, engine=self.engine.id, route=route, started_at=self.started_at,
                              dialled=dialled, **{**self.record_defaults, **fields})  # fmt: skip
        self.record_opened = True
        self.route = route

    def update_record(self, **values) -> None:
        """Fields of the call's record that became known during the call (the carrier it took)."""
        self.engine.cdrs.update(self.uuid, **values)

    def place_with(self, placing) -> None:
        """`placing` is told of the callee leg's answers and failures (telephony/engine/applications/network.py)."""
        self.placing = placing

    def set_held(self, side: str | None) -> None:
        """Which side hears music (None: nobody), when an application moved the parties (park, transfer)."""
        self.held = side

    def expect_ack(self, leg: Leg, stx: ServerTx) -> None:
        """The ACK of the 2xx answering `leg`'s INVITE (through `stx`) belongs to this call."""
        self.unacked[(leg.call_id, leg.invite.cseq[0])] = stx

    def from_outside(self, name: str) -> None:
        """The party on side `name` is reached through a carrier (it may not transfer the call)."""
        self.side(name).outside = True

    def record_as(self, **fields) -> None:
        """Fields every record this call opens carries (a carrier's call: inbound, the carrier)."""
        self.record_defaults.update(fields)

    def place_callee(self, route, *, target: str = "", identity: str = "", headers=(),
                     ring_for: float | None = None, codecs: tuple[str, ...] = ()) -> None:  # fmt: skip
        """INVITE the callee: the route's line (every device of it, through the edge), or `target` (a
        URI: a carrier's gateway, which the edge reaches for us) shown `identity` (the From name-addr:
        the caller ID the client presents) with `headers`; it rings `ring_for` seconds (else the
        engine's ring timeout), offered `codecs` (names, in that order: a carrier's) when given and the
        engine can speak one of them, else what the caller offered first. Placed again on the same
        call, it replaces the leg that failed (another carrier) or was given up (a forwarding)."""
        callee, caller, domain = route.callee, route.caller, route.domain
        remote = target or f"sip:{callee.sip_username}@{domain}"
        local = identity or f'"{caller.name}" <sip:{caller.number}@{domain}>'
        leg = Leg(call_id=f"{uuid.uuid4().hex}@ocx", local_tag=new_tag(), name="callee", local_uri=local,
                  remote_uri=f"<{remote}>")  # fmt: skip
        leg.remote_target = remote
        # The callee is offered what the caller offered first (so that no transcoding is needed when it
        # can), then the other codecs the engine converts to and from.
        offered = self.caller.offered
        known = {c.name for c in offered}
        extra = [c for c in SUPPORTED if c.name in TRANSCODABLE and c.name not in known] if known & TRANSCODABLE else []
        self.callee.leg = self.callee.origin = leg
        self.callee.offered = only(offered + extra, codecs) if codecs else offered + extra
        body = build_sdp(self.engine.media.address, self.callee.media.port, self.callee.offered,
                         session_id=self.uuid.int % 10**9)  # fmt: skip
        config = self.engine.config
        timer = sessiontimer.offer_headers(config.session_expires, config.min_se)
        leg.invite = leg.request("INVITE", self.ua, headers=[("Content-Type", "application/sdp"), *timer, *headers],
                                 body=body)  # fmt: skip
        self.engine.index(leg.call_id, self)
        self.move(S.CONNECTING if self.state == S.ROUTING and self.caller_confirmed() else S.RINGING)
        self.set_line("caller", caller.number)
        if not target:  # a line of the client rings: colleagues may pick it up
            self.ringing_line = callee.number
            self.engine.callindex.ringing(route.client, callee.number, self.started_at.timestamp())
        self.callee.tx = self.ua.request(leg.invite, self.responses_of(leg))
        if self.ring_timer is not None:
            self.ring_timer.cancel()
        ring_for = ring_for or self.engine.config.ring_timeout
        self.ring_timer = asyncio.get_running_loop().call_later(ring_for, self.ring_timeout)

    def responses_of(self, leg: Leg) -> Callable[[Response], None]:
        """What hears the answers to `leg`'s INVITE: the call, while it is the callee's leg; after it
        was given up (`reroute`), a late 2xx is acknowledged and ended, anything else ignored."""

        def on_response(response: Response) -> None:
            if leg is self.callee.origin:
                self.on_callee_response(response)
            elif 200 <= response.status < 300:
                late = Leg(call_id=leg.call_id, local_uri=leg.local_uri, remote_uri=leg.remote_uri,
                           local_tag=leg.local_tag, remote_tag=response.to_tag, cseq=leg.cseq)  # fmt: skip
                late.learn(response, uac=True)
                self.ua.ack_2xx(late, response)
                self.bye(late)

        return on_response

    def reroute(self, route) -> None:
        """The call is routed again (a forwarding) towards `route`'s callee: the callee's leg, if it
        still rings, is cancelled and given up, and the call is ROUTING until the next leg is placed.
        The record keeps the callee first dialled; who answers is `answered_by`."""
        callee = self.callee
        if callee.tx is not None:
            callee.tx.cancel()
            callee.tx = None
        callee.origin = None
        callee.leg = None
        self.stop_ringing()
        self.route = route
        self.move(S.ROUTING)

    def resend_callee(self, invite: Request) -> None:
        """The callee's INVITE once more in the same dialog (answering a challenge: credentials)."""
        leg = self.callee.leg
        leg.invite, leg.cseq = invite, invite.cseq[0]
        self.callee.tx = self.ua.request(invite, self.responses_of(self.callee.leg))

    def hands_back(self, kind: str, target: str) -> bool:
        """Whether a destination this call is sent to (a forwarding's) runs on another call instead: a
        call the engine placed for an answered caller gives back what needs the caller (voicemail's
        `Onward`). True: it was given back and this call ended."""
        return False

    def caller_confirmed(self) -> bool:
        """Whether the caller's dialog is confirmed before the callee answers (click-to-call)."""
        return False

    # The callee's answers ----------------------------------------------------------------------------

    def on_callee_response(self, response: Response) -> None:
        status = response.status
        if status < 200:
            if self.placing is not None and status > 100:
                self.placing.provisional(self, response)
            if status in (180, 183) and self.state in (S.RINGING, S.CONNECTING):
                self.caller_ringing()
                if not self.rang:
                    self.rang = True
                    self.engine.event(self, "call.ringing")
            return
        if 200 <= status < 300:
            self.callee_answered(response)
            return
        if self.state not in (S.RINGING, S.CONNECTING):
            return
        if status == 422 and self.callee.leg is self.callee.origin and self.reoffer(sessiontimer.min_se_of(response)):
            return
        if self.cancel_requested or status == 487:
            self.finish(Cdr.Disposition.CANCELLED, "cancel", "caller")
            return
        if self.placing is not None and self.placing.failed(self, response):
            return  # it tries again (credentials, another carrier)
        self.end_before_answer(status if status in PASS_THROUGH else 480 if status == 408 else 503,
                               response.reason if status in PASS_THROUGH else None,
                               disposition=DISPOSITIONS.get(status, Cdr.Disposition.FAILED), cause=str(status),
                               side="callee")  # fmt: skip

    def callee_answered(self, response: Response) -> None:
        callee = self.callee
        origin = callee.origin  # the INVITE this answers (the side's leg may have been replaced since)
        if callee.leg is origin and origin.remote_tag is None:
            origin.remote_tag = response.to_tag
            origin.learn(response, uac=True)
        leg = origin
        if callee.leg is not origin or response.to_tag != origin.remote_tag:  # not (or no longer) the wanted dialog
            leg = Leg(call_id=origin.call_id, local_uri=origin.local_uri, remote_uri=origin.remote_uri,
                      local_tag=origin.local_tag, remote_tag=response.to_tag, cseq=origin.cseq)  # fmt: skip
            leg.learn(response, uac=True)
        self.ua.ack_2xx(leg, response)
        if leg is not callee.leg or self.state not in (S.RINGING, S.CONNECTING):  # or answered after we gave up
            if leg is not callee.leg or self.state == S.ENDED:
                self.bye(leg)
            return
        self.stop_ringing()
        try:
            answer = parse_sdp(response.body)
        except SipError:
            answer = None
        codecs = common_codecs(answer.audio.codecs, callee.offered) if answer and answer.audio else []
        callee.leg.session = sessiontimer.answered(response)
        if self.connect_callee(codecs, answer.audio_address() if answer else None) and self.placing is not None:
            self.placing.answered(self, response)

    def connect_callee(self, codecs: list[Codec], remote) -> bool:
        """The callee's leg answered with `codecs` (those it takes of what it was offered) and its media
        at `remote`: the caller is answered and the two are bridged; False (the call refused, 488) when
        no codec serves both."""
        callee = self.callee
        plan = media_plan(self.caller.offered, codecs)
        if plan is None:
            self.bye(callee.leg)
            self.end_before_answer(488, "Not Acceptable Here", cause="488", side="callee")
            return False
        self.caller.codec, callee.codec, to_callee, to_caller = plan
        self.caller.media.clock_rate, callee.media.clock_rate = self.caller.codec.rate, callee.codec.rate
        if remote is not None:
            callee.media.set_remote(remote)
        events = telephone_events(self.caller.offered, self.caller.codec)
        body = build_sdp(self.engine.media.address, self.caller.media.port, [self.caller.codec, *events],
                         session_id=self.uuid.int % 10**9)  # fmt: skip
        self.caller_answer(body)
        callee.tx = None
        self.relay = self.engine.media.bridge(self.caller.media, callee.media, convert_a_to_b=to_callee,
                                              convert_b_to_a=to_caller)  # fmt: skip
        self.move(S.ANSWERED)
        self.set_line("callee", self.route.callee.number)
        self.answered(by=self.route.callee.number)
        self.seat("answer", caller=self.route.caller, callee=self.route.callee)
        self.engine.event(self, "call.answered")
        application.answered(self)
        return True

    def take_callee(self, other: Call, *, by: Party, reason: str = "find-me") -> None:
        """`other`'s answered callee leg (a find-me call to the user's mobile, a ring group's member)
        becomes this call's callee, instead of the leg ringing here (cancelled): the caller is answered
        and bridged to it. `other` keeps its own record; the leg and its media are this call's now;
        the record's legs say why (`reason`)."""
        theirs, callee = other.callee, self.callee
        if callee.tx is not None:
            callee.tx.cancel()
        self.stop_ringing()
        other.stop_playing()
        old = callee.media
        leg, media, codec, offered = theirs.leg, theirs.media, theirs.codec, theirs.offered
        media.sink = None
        theirs.fill(None, None, None, [])
        theirs.origin = None
        leg.name = "callee"
        callee.fill(leg, media, codec, offered)
        callee.origin, callee.tx = leg, None
        callee.outside = True
        self.engine.index(leg.call_id, self)
        if old is not None:
            old.close()
        self.log_leg("callee", leg.call_id, reason=reason, by=by.number)
        self.connect_callee([codec, *telephone_events(offered, codec)], None)

    def take_answered(self, other: Call, *, by: Party, reason: str) -> bool:
        """`other`'s answered callee leg becomes this call's callee while this call's caller talks to the
        engine alone (IVR: a voicemail caller sent to the box's operator, a message's caller called
        back): the caller keeps the codec it was answered with and the two are bridged. `other` keeps
        its own record; the leg and its media are this call's now. False (the leg ended) when no
        conversion joins their codecs."""
        theirs, callee = other.callee, self.callee
        leg, media, codec, offered = theirs.leg, theirs.media, theirs.codec, theirs.offered
        media.sink = None
        theirs.fill(None, None, None, [])
        theirs.origin = None
        plan = media_plan([self.caller.codec, *telephone_events(self.caller.offered, self.caller.codec)],
                          [codec, *telephone_events(offered, codec)])  # fmt: skip
        if plan is None:
            self.bye(leg)
            media.close()
            return False
        self.stop_playing()
        old = callee.media
        self.replace_side("callee", leg, media, codec, offered)
        callee.origin, callee.tx = leg, None
        if old is not None:
            old.close()
        _, _, to_callee, to_caller = plan
        self.bridge("caller", to_callee, to_caller)
        self.move(S.ANSWERED)
        self.set_line("callee", by.number)
        self.log_leg("callee", leg.call_id, reason=reason, by=by.number)
        self.seat(reason, caller=self.route.caller if self.route else None, callee=by)
        self.engine.event(self, "call.answered")
        return True

    def reoffer(self, min_se: int) -> bool:
        """The callee refused the session interval as too small (422): INVITE it again with its Min-SE
        (RFC 4028 7.4), once. False when that cannot help."""
        leg = self.callee.leg
        invite = leg.invite
        asked = sessiontimer.parse_session_expires(invite.headers.get("Session-Expires"))
        if not min_se or (asked is not None and asked[0] >= min_se):
            return False
        headers = [(n, v) for n, v in invite.headers if n.lower() == "content-type"]
        headers += [("Supported", "timer"), ("Session-Expires", str(min_se)), ("Min-SE", str(min_se))]
        leg.invite = leg.request("INVITE", self.ua, headers=headers, body=invite.body)
        self.callee.tx = self.ua.request(leg.invite, self.responses_of(leg))
        return True

    def ring_timeout(self) -> None:
        timed_out = getattr(self.placing, "timed_out", None)
        if self.state == S.RINGING and timed_out is not None and timed_out(self):
            return  # it goes on elsewhere (forwarding when not answered)
        if self.state in (S.RINGING, S.CONNECTING):
            self.callee.tx.cancel()
            self.end_before_answer(480, "No Answer", disposition=Cdr.Disposition.NO_ANSWER, cause="ring-timeout",
                                   side="engine")  # fmt: skip

    # Requests inside the call ------------------------------------------------------------------------

    def on_cancel(self, stx: ServerTx) -> None:
        self.ua.respond(stx, 200)
        if self.state in (S.ROUTING, S.RINGING):
            self.cancel_requested = True
            if self.callee.tx is not None:
                self.callee.tx.cancel()
            self.end_before_answer(487, None, disposition=Cdr.Disposition.CANCELLED, cause="cancel", side="caller")

    def on_ack(self, request: Request) -> None:
        acked(self.unacked.pop((request.call_id, request.cseq[0]), None))
        caller = self.caller
        if request.body and caller.leg is not None and request.call_id == caller.leg.call_id and caller.media:
            try:  # the answer to the offer our 200 made (a delayed-offer caller)
                answer = parse_sdp(request.body)
            except SipError:
                return
            if answer.audio_address() is not None:
                caller.media.set_remote(answer.audio_address())

    def on_request(self, request: Request, stx: ServerTx) -> None:
        owner = self.app_legs.get(request.call_id)
        if owner is not None:  # a leg an application added (a supervisor's)
            owner.leg_request(self, request, stx)
            return
        side = next((s for s in (self.caller, self.callee) if s.leg is not None and s.leg.call_id == request.call_id),
                    None)  # fmt: skip
        leg = side.leg if side is not None else None
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
        handler = REQUESTS[self.state].get(request.method)
        if handler is not None:
            handler(self, side, request, stx)
        elif request.method in DEFAULT_OK:
            self.ua.respond(stx, 200)
        else:
            self.ua.respond(stx, 481 if request.method == "BYE" else 501)

    def reinvited(self, side: Side, request: Request, stx: ServerTx) -> None:
        """A phone's re-INVITE: hold (a=sendonly or inactive, or the old c=0.0.0.0) and resume, or a
        new media address. The engine answers for itself; the other leg is never re-INVITEd: the
        engine anchors the media, so the held party simply hears music from here."""
        leg, media = side.leg, side.media
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
        if self.state != S.ANSWERED:
            pass  # parked, in a menu or a conference: the engine plays what it plays whatever the phone says
        elif direction in ("sendonly", "inactive"):
            self.hold(other(side.name))
        elif self.held == other(side.name):
            self.resume()
        answer = {"sendonly": "recvonly", "recvonly": "sendonly"}.get(direction, direction)
        self.answer_offer(leg, request, stx, media, side.codecs(), direction=answer)

    def answer_offer(self, leg: Leg, request: Request, stx: ServerTx, media: RtpEndpoint, codecs: list[Codec], *,
                     direction: str = "sendrecv") -> None:  # fmt: skip
        """200 to a re-INVITE on `leg` with the engine's media as it is (a new SDP version)."""
        leg.sdp_version += 1
        body = build_sdp(self.engine.media.address, media.port, codecs, session_id=self.uuid.int % 10**9,
                         version=leg.sdp_version, direction=direction)  # fmt: skip
        self.unacked[(request.call_id, request.cseq[0])] = stx
        self.ua.respond(stx, 200, to_tag=leg.local_tag, body=body)

    def bye(self, leg: Leg | None) -> None:
        """End one dialog (its answer does not matter: the engine is done with it)."""
        if leg is not None:
            self.ua.request(leg.request("BYE", self.ua), lambda r: None)

    # For applications: answer, keys, prompts, taking the call, a party joining or leaving ------------

    async def answer_alone(self, offer) -> bool:
        """Answer the caller with the engine's own media (the first codec it can decode): the engine
        talks to the caller alone (IVR). False (the call refused) when no codec fits or no port is free."""
        caller = self.caller
        if self.state == S.IVR and caller.codec is not None:  # answered already (a menu sends the caller on)
            return True
        codec = next((c for c in caller.offered if c.name != "TELEPHONE-EVENT" and decodable(c.name)), None)
        if codec is None:
            self.end_before_answer(488, "Not Acceptable Here")
            return False
        try:
            if caller.media is None:  # (a forwarded call has its port already)
                caller.media = await self.engine.media.open(remote=offer.audio_address() if offer else None)
        except MediaError:
            self.end_before_answer(503, "No Media Ports", cause="no-media-ports")
            return False
        if self.state == S.ENDED:
            self.close_media()
            return False
        caller.fill(caller.leg, caller.media, codec, [codec, *telephone_events(caller.offered, codec)])
        self.caller_answer(build_sdp(self.engine.media.address, caller.media.port, caller.offered,
                                     session_id=self.uuid.int % 10**9))  # fmt: skip
        self.move(S.IVR)
        return True

    def take(self, app: Application) -> None:
        """`app` holds the call from now on (the call goes to the application's state)."""
        self.app = app
        if self.state != app.state:
            self.move(app.state)

    def answered(self, *, by: str | None = None, at: dt.datetime | None = None) -> None:
        """The call counts as answered from now (its record says when, and by which line)."""
        self.answered_at = at or _now()
        self.engine.cdrs.answered(self.uuid, self.answered_at, **({"by": by} if by is not None else {}))

    def keys(self, *, on_digit=None, side: str = "caller") -> DtmfCollector:
        """A collector for the keys of a side's party (the caller's, unless said): RFC 4733 events from
        its media (SIP INFO keys reach the holding application's `key`)."""
        party = self.side(side)
        collector = DtmfCollector(event_pt=event_payload(party.offered, party.codec), on_digit=on_digit)
        party.media.sink = collector.push_packet
        return collector

    def listen(self, sink) -> None:
        """Where the caller's incoming RTP goes besides the relay (a key collector; None: nowhere)."""
        self.caller.media.sink = sink

    def play(self, side: str, frames: Frames, *, loop: bool = True, on_done=None, on_last=None) -> None:
        """Play audio to one side, instead of whatever it heard from the engine before (on_done, on_last:
        as the Player's)."""
        self.stop_playing()
        target = self.side(side)
        self.music = Player(target.media, target.codec.payload, frames, loop=loop, on_done=on_done, on_last=on_last)
        self.music.start()

    def play_music(self, side: str) -> None:
        target = self.side(side)
        if target.codec.name in ENCODERS:  # every codec the engine encodes gets the music
            self.play(side, hold_music(target.codec.name))
        else:
            self.stop_playing()

    def stop_playing(self) -> None:
        if self.music is not None:
            self.music.stop()
            self.music = None
        for player in self.announcing:  # (hold, transfer, the end: whoever stopped it sets the relay)
            player.stop()
        self.announcing = []

    def announce(self, name: str, on_done: Callable[[], None] | None = None) -> bool:
        """Both parties hear the prompt `name` at once ("this call is recorded"), the relay paused
        meanwhile and on again after it; False (nothing played) when the two are not talking now."""
        relay = self.relay
        sides = [s for s in (self.caller, self.callee) if s.codec is not None and s.codec.name in ENCODERS]
        if self.state != S.ANSWERED or relay is None or not relay.running or self.held is not None or len(sides) < 2:
            return False
        relay.a_to_b = relay.b_to_a = False
        left = [len(sides)]

        def finished() -> None:
            left[0] -= 1
            if left[0]:
                return
            self.announcing = []
            if self.relay is relay and relay.running and self.held is None:
                relay.a_to_b = relay.b_to_a = True
            if on_done is not None:
                on_done()

        prompts = self.engine.prompts
        self.announcing = [Player(s.media, s.codec.payload, prompts.frames(s.codec.name, name, voice=self.voice),
                                  loop=False, on_done=finished) for s in sides]  # fmt: skip
        for player in self.announcing:
            player.start()
        return True

    def attach(self, app: Application, *legs: Leg) -> None:
        """`app` works beside the parties (supervision); requests on its `legs` go to it."""
        if app not in self.attached:
            self.attached.append(app)
        for leg in legs:
            self.app_legs[leg.call_id] = app
            self.engine.index(leg.call_id, self)

    def detach(self, app: Application, *legs: Leg) -> None:
        for leg in legs:
            self.app_legs.pop(leg.call_id, None)
        if not any(leg_app is app for leg_app in self.app_legs.values()) and app in self.attached:
            self.attached.remove(app)

    def media_changing(self) -> None:
        """Hold, park and transfers change the call's media: attached applications let go first."""
        for app in list(self.attached):
            app.media_changing(self)

    def bridge(self, staying: str, stay_to_new, new_to_stay) -> None:
        """Relay between the two sides again after one of them changed (converters from the staying
        party's codec to the new one's and back, None when they share it)."""
        if self.relay is not None:
            self.relay.stop()
        a_to_b, b_to_a = (stay_to_new, new_to_stay) if staying == "caller" else (new_to_stay, stay_to_new)
        self.relay = self.engine.media.bridge(self.caller.media, self.callee.media, convert_a_to_b=a_to_b,
                                              convert_b_to_a=b_to_a)  # fmt: skip
        for app in list(self.attached):
            app.bridged(self)

    def unbridge(self) -> None:
        if self.relay is not None:
            self.relay.stop()
            self.relay = None

    def plain_bridge(self) -> None:
        """The two sides relayed again as they are (after a mixer had them)."""
        caller, callee = self.caller, self.callee
        _, _, a_to_b, b_to_a = media_plan(caller.codecs(), callee.codecs())
        self.bridge("caller", a_to_b, b_to_a)

    def vacate(self, name: str, *, handed_over: bool = False) -> None:
        """The party on side `name` leaves: its dialog ends, its media figures are kept for the record
        and its port closes; the side is empty. `handed_over`: the leg and media are another call's
        now (an attended transfer), so nothing ends."""
        side = self.side(name)
        if not handed_over:
            self.bye(side.leg)
            if side.media is not None:
                self.keep_quality(name, side.media)
                side.media.close()
        side.fill(None, None, None, [])

    def replace_side(self, name: str, leg: Leg, media: RtpEndpoint, codec: Codec, offered: list[Codec]) -> None:
        """A new party's dialog and media on side `name` (the old one gone already)."""
        leg.name = name
        self.side(name).fill(leg, media, codec, offered)
        self.engine.index(leg.call_id, self)

    def adopt(self, joining: Call, name: str, codec: Codec, stay_to_new, new_to_stay) -> None:
        """`joining`'s caller leg, answered here, becomes side `name` of this call and is bridged to the
        party on the other side; `joining` ends without a record (its leg and media are this call's)."""
        theirs = joining.caller
        joining.caller_answer(build_sdp(self.engine.media.address, theirs.media.port,
                                        [codec, *telephone_events(theirs.offered, codec)],
                                        session_id=joining.uuid.int % 10**9))  # fmt: skip
        self.expect_ack(theirs.leg, joining.stx)
        old = self.side(name).media
        self.replace_side(name, theirs.leg, theirs.media, codec, theirs.offered)
        if old is not None:
            old.close()
        self.bridge(other(name), stay_to_new, new_to_stay)
        self.set_line(name, joining.route.caller.number)
        joining.give_away()

    def give_away(self) -> None:
        """This call's caller leg and media now belong to another call: it ends without a record."""
        self.caller.media = None
        self.move(S.ENDED)

    # Hold ------------------------------------------------------------------------------------------

    def hold(self, held: str) -> bool:
        """Put one party ("caller" or "callee") on hold: it hears music, the other hears nothing."""
        if self.state != S.ANSWERED:
            return False
        self.media_changing()
        self.relay.a_to_b = self.relay.b_to_a = False
        self.play_music(held)
        if self.held != held:
            self.held = held
            self.engine.event(self, "call.held", held=held)
        return True

    def resume(self) -> bool:
        if self.state != S.ANSWERED or self.held is None:
            return False
        self.stop_playing()
        self.relay.a_to_b = self.relay.b_to_a = True
        self.held = None
        self.engine.event(self, "call.resumed")
        return True

    def on_no_ack(self) -> None:
        if self.state == S.ANSWERED:
            self.bye(self.caller.leg)
            self.bye(self.callee.leg)
            self.finish(Cdr.Disposition.ANSWERED, "no-ack", "engine")

    # Placing a line for this call (transfers, supervision, retrieval from park) ---------------------

    async def dial_line(self, target: Party, shown: Party, name: str, codec: Codec, offered: list[Codec], *,
                        still) -> Placed | tuple[int, str]:  # fmt: skip
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
                self.bye(leg)
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
            self.bye(leg)
            media.close()
            return 488, "Not Acceptable Here"
        _, new_codec, to_new, from_new = plan
        media.set_remote(answer.audio_address())
        return Placed(leg, media, new_codec, offer, to_new, from_new)

    # Ending ------------------------------------------------------------------------------------------

    def end_before_answer(self, status: int, reason: str | None, *, disposition: str = Cdr.Disposition.FAILED,
                          cause: str | None = None, side: str = "engine", cdr: bool = True) -> None:  # fmt: skip
        if self.state == S.ENDED:
            return
        self.caller_refuse(status, reason)
        self.finish(disposition, cause or str(status), side, cdr=cdr)

    def hangup(self, side: str = "engine", *, cause: str = "hangup") -> None:
        """End the call from outside (API, shutdown): BYE both legs, or refuse the caller if unanswered."""
        if self.state in (S.ANSWERED, *ALONE):
            self.bye(self.caller.leg)
            self.bye(self.callee.leg)
            joined = self.state != S.IVR or self.answered_at is not None
            self.finish(Cdr.Disposition.ANSWERED if joined else Cdr.Disposition.FAILED, cause, side)
        elif self.state in UNANSWERED:
            if self.callee.tx is not None:
                self.callee.tx.cancel()
            self.end_before_answer(480, "Temporarily Unavailable", cause="hangup", side=side)

    def finish(self, disposition: str, cause: str, side: str, *, cdr: bool = True) -> None:
        if self.state == S.ENDED:
            return
        self.move(S.ENDED)
        self.stop_ringing()
        for app in [*([self.app] if self.app is not None else []), *self.attached]:
            app.ended(self, cause)
        for name in list(self.lines):
            self.set_line(name, None)
        quality = self.close_media()
        legs = [{"leg": s.name, "call_id": s.leg.call_id} for s in (self.caller, self.callee) if s.leg is not None]
        legs += self.legs_log
        self.engine.forget(self)
        self.record_legs = legs
        self.ended_with = (disposition, cause, side) if cdr else None
        if self.route is not None:  # else routing is still running: start() closes the record after it
            self.write_close(quality)
        self.engine.event(self, "call.ended", disposition=disposition, cause=cause)
        for hook in application.end_hooks():
            try:
                hook(self, disposition)
            except Exception:  # one application's trouble never stops a call from ending
                log.exception("call %s: an end hook failed", self.uuid)

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
            legs=self.record_legs,
            segments=self.segments,
            supervisions=self.supervisions,
        )

    # Who talks: the record's segments and the live view ----------------------------------------------

    def seat(self, reason: str, **sides: Party | None) -> None:
        """The parties changed (answer, pickup, transfer, park, retrieve): the record's current segment
        ends and one with the parties now on each side begins (a side nobody is on stays empty)."""
        now = _now()
        self.segments[:] = close_open(self.segments, now)
        for name, party in sides.items():
            self.side(name).party = party
        segment = {"reason": reason, "began_at": now.isoformat(), "ended_at": None, "seconds": 0}
        for name in SIDES:
            party = self.side(name).party
            segment[name] = party.number if party else ""
            segment[f"{name}_account"] = party.account if party else None
        self.segments.append(segment)
        self.engine.cdrs.update(self.uuid, segments=list(self.segments))  # (the writer's copy)

    def log_leg(self, name: str, call_id: str, *, when: str = "at", at: dt.datetime | None = None, **facts) -> None:
        """A leg that joined (or, `when="left"`, left) during the call, for the record's list of legs."""
        self.legs_log.append({"leg": name, "call_id": call_id, **facts, when: (at or _now()).isoformat()})

    def keep_quality(self, name: str, media: RtpEndpoint | None) -> None:
        """The RTP figures of a leg that leaves before the call ends, under the party it carried (the
        figures at the end are the last parties')."""
        if media is None:
            return
        party = self.side(name).party
        stats = {k: v for k, v in media.stats().items() if not isinstance(v, float) or v == v}
        self.former_quality.append({"side": name, "number": party.number if party else "", **stats})

    def close_media(self) -> dict:
        """Stop relaying and give the ports back; the legs' RTP figures for the record."""
        self.stop_playing()
        if self.relay is not None:
            self.relay.stop()
        quality = {}
        for side in (self.caller, self.callee):
            if side.media is not None:
                quality[side.name] = {k: v for k, v in side.media.stats().items() if not isinstance(v, float) or v == v}
                if side.party is not None:  # whose leg the figures are, once the parties changed
                    quality[side.name]["number"] = side.party.number
                side.media.close()
        return quality

    def stop_ringing(self) -> None:
        if self.ring_timer is not None:
            self.ring_timer.cancel()
            self.ring_timer = None
        if self.ringing_line is not None:
            self.engine.callindex.not_ringing(self.route.client, self.ringing_line)
            self.ringing_line = None

    def set_line(self, name: str, number: str | None) -> None:
        """Tell the call index which line is on a side (None: nobody now), so that the edges send that
        line's next calls (a consultation before a transfer, a supervisor's) to this engine."""
        index, client = self.engine.callindex, self.route.client
        old = self.lines.pop(name, None)
        if old:
            index.line_free(client, old)
        if number:
            self.lines[name] = number
            index.line_busy(client, number)

    def summary(self) -> dict:
        """The call as the live views show it: who is on each side now (`caller`/`callee`, the dialled
        number in `dialled`), its state (`held`: the party hearing music; what applications add)."""
        route = self.route
        dialled = route.callee.number if route and route.callee else ""
        caller, callee = self.caller.party, self.callee.party
        if not self.segments:  # not answered yet: the parties the call is between
            caller, callee = (route.caller if route else None), (route.callee if route else None)
        shown = {
            "id": str(self.uuid), "state": self.state.value, "engine": self.engine.id,
            "caller": caller.number if caller else "", "caller_name": caller.name if caller else "",
            "callee": callee.number if callee else "", "callee_name": callee.name if callee else "",
            "dialled": dialled, "started_at": self.started_at.isoformat(),
            "answered_at": self.answered_at and self.answered_at.isoformat(),
            "codec": self.caller.codec.name if self.caller.codec else None,
            "callee_codec": self.callee.codec.name if self.callee.codec else None, "held": self.held,
            "park_slot": None, "supervisors": [],
        }  # fmt: skip
        for app in [*([self.app] if self.app is not None else []), *self.attached]:
            shown.update(app.shown())
        return shown


# The core's rows of the request table --------------------------------------------------------------


@accept("BYE", S.ANSWERED)
def _bye(call: Call, side: Side, request: Request, stx: ServerTx) -> None:
    call.ua.respond(stx, 200)
    if call.app is not None and call.app.party_left(call, side.name):
        return
    call.bye(call.side(other(side.name)).leg)
    call.finish(Cdr.Disposition.ANSWERED, "bye", side.name)


@accept("BYE", *ALONE)
def _bye_alone(call: Call, side: Side, request: Request, stx: ServerTx) -> None:
    """The only party left hangs up."""
    call.ua.respond(stx, 200)
    joined = call.state == S.PARKED or call.answered_at is not None
    call.finish(Cdr.Disposition.ANSWERED if joined else Cdr.Disposition.CANCELLED, "bye", side.name)


@accept("BYE", S.CONNECTING)
def _bye_connecting(call: Call, side: Side, request: Request, stx: ServerTx) -> None:
    """Click-to-call: the user hung up while the callee rang."""
    if side is not call.caller:
        call.ua.respond(stx, 481)
        return
    call.ua.respond(stx, 200)
    if call.callee.tx is not None:
        call.callee.tx.cancel()
    call.finish(Cdr.Disposition.CANCELLED, "bye", "caller")


@accept("INVITE", S.ANSWERED, *ALONE)
def _reinvite(call: Call, side: Side, request: Request, stx: ServerTx) -> None:
    call.reinvited(side, request, stx)


@accept("INFO", S.IVR, S.CONFERENCE)
def _key_by_info(call: Call, side: Side, request: Request, stx: ServerTx) -> None:
    """Keys by SIP INFO, for the application that holds the call."""
    call.ua.respond(stx, 200)
    digit = info_digit(request.body)
    if digit and call.app is not None:
        call.app.key(call, digit)


@accept("INFO", S.ANSWERED)
def _relay_info(call: Call, side: Side, request: Request, stx: ServerTx) -> None:
    """DTMF by SIP INFO (application/dtmf-relay and the like): passed on to the other party."""
    if request.body:
        kind = request.headers.get("Content-Type") or "application/dtmf-relay"
        leg = call.side(other(side.name)).leg
        call.ua.request(leg.request("INFO", call.ua, headers=[("Content-Type", kind)], body=request.body),
                        lambda r: None)  # fmt: skip
    call.ua.respond(stx, 200)


def only(offer: list[Codec], names: tuple[str, ...]) -> list[Codec]:
    """`offer` narrowed to the voice codecs `names` lists, in that order, with its telephone-events;
    `offer` as it was when it has none of them (the far end may still take one)."""
    voice = [c for name in names for c in offer if c.name == name.upper() and c.name != "TELEPHONE-EVENT"]
    if not voice:
        return offer
    return voice + [c for c in offer if c.name == "TELEPHONE-EVENT"]


def _without_tag(name_addr: str) -> str:
    head, sep, params = name_addr.partition(">")
    if not sep:
        return name_addr.split(";tag=")[0]
    kept = ";".join(p for p in params.split(";") if p and not p.strip().startswith("tag="))
    return head + ">" + (";" + kept if kept else "")
