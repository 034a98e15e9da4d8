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
from typing import TYPE_CHECKING

from asgiref.sync import sync_to_async

from billing.models import Cdr
from telephony.engine.dialplan import Party, Route
from telephony.engine.sipua import ClientTx, Leg, ServerTx, acked, new_tag
from telephony.media.g711 import transcoder
from telephony.media.player import ENCODERS, Player, hold_music
from telephony.media.ports import MediaError
from telephony.media.rtp import RtpEndpoint
from telephony.sip import Request, Response, SipError, parse_uri
from telephony.sip.sdp import Codec, build_sdp, common_codecs, parse_sdp

if TYPE_CHECKING:
    from telephony.engine.server import Engine

log = logging.getLogger(__name__)
SUPPORTED = [Codec(0, "PCMU", 8000), Codec(8, "PCMA", 8000), Codec(9, "G722", 8000),
             Codec(101, "TELEPHONE-EVENT", 8000)]  # fmt: skip
# What the caller hears when the callee's side fails: the callee's answer where it says something
# useful, else a status that does.
PASS_THROUGH = {404, 410, 480, 484, 486, 600, 603}
DISPOSITIONS = {486: Cdr.Disposition.BUSY, 600: Cdr.Disposition.BUSY, 480: Cdr.Disposition.NO_ANSWER,
                408: Cdr.Disposition.NO_ANSWER, 487: Cdr.Disposition.CANCELLED, 603: Cdr.Disposition.BUSY}  # fmt: skip


TRANSCODABLE = {"PCMU", "PCMA"}
PICKUP, DIRECTED_PICKUP = "*8", "**"  # dial codes: pick up the client's oldest ringing call, or a line's


def media_plan(offered: list[Codec], answered: list[Codec]):
    """(A's codec, B's codec, converter A->B, converter B->A) for B's answer to an offer built from A's
    codecs; converters are None when B took one of A's codecs (relay), G.711 tables when B took the
    other law; None when nothing fits."""
    voice = [c for c in answered if c.name != "TELEPHONE-EVENT"]
    if not voice:
        return None
    chosen = voice[0]
    same = next((c for c in offered if (c.name, c.rate) == (chosen.name, chosen.rate)), None)
    if same is not None:
        return same, chosen, None, None
    mine = next((c for c in offered if c.name in TRANSCODABLE), None)
    if mine is None or chosen.name not in TRANSCODABLE:
        return None
    event_a = next((c.payload for c in offered if c.name == "TELEPHONE-EVENT"), None)
    event_b = next((c.payload for c in answered if c.name == "TELEPHONE-EVENT"), None)
    a_to_b, b_to_a = {mine.payload: chosen.payload}, {chosen.payload: mine.payload}
    if event_a is not None and event_b is not None:
        a_to_b[event_a], b_to_a[event_b] = event_b, event_a
    return mine, chosen, transcoder(mine.name, chosen.name, a_to_b), transcoder(chosen.name, mine.name, b_to_a)


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
        """Route and place the call; any failure answers the caller 500 and frees what was taken."""
        try:
            await self._start()
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
        if dialled == PICKUP or dialled.startswith(DIRECTED_PICKUP):
            self.offered = codecs
            await self.intercept(plan, int(identity["ext"]), dialled, offer)
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
        invite = self.b.request("INVITE", self.ua, headers=[("Content-Type", "application/sdp")], body=body)
        self.b.invite = invite
        self.engine.index(self.b.call_id, self)
        self.state = "RINGING"
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
        self.media_b.set_remote(answer.audio_address())
        events = [c for c in self.offered if c.name == "TELEPHONE-EVENT"][:1]
        body = build_sdp(self.engine.media.address, self.media_a.port, [self.codec, *events],
                         session_id=self.uuid.int % 10**9)  # fmt: skip
        self.caller_answer(body)
        self.relay = self.engine.media.bridge(self.media_a, self.media_b, convert_a_to_b=to_b, convert_b_to_a=to_a)
        self.state = "ANSWERED"
        self.answered_at = _now()
        self.engine.cdrs.answered(self.uuid, self.answered_at)
        self.engine.event(self, "call.answered")

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
        leg = self.a if request.call_id == self.a.call_id else self.b
        # RFC 3261 12.2.2: a request of this dialog carries our tag in To and the other side's in From.
        if request.to_tag != leg.local_tag or (leg.remote_tag and request.from_tag != leg.remote_tag):
            self.ua.respond(stx, 481)
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
                dialled = request.name_addr("Refer-To").uri.user_unescaped or ""
            except SipError:
                dialled = ""
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
        other = "callee" if leg is self.a else "caller"
        if direction in ("sendonly", "inactive"):
            self.hold(other)
        elif self.held == other:
            self.resume()
        answer = {"sendonly": "recvonly", "recvonly": "sendonly"}.get(direction, direction)
        events = [c for c in (self.offered if leg is self.a else self.offered_b) if c.name == "TELEPHONE-EVENT"][:1]
        leg.sdp_version += 1
        body = build_sdp(self.engine.media.address, media.port, [codec, *events], session_id=self.uuid.int % 10**9,
                         version=leg.sdp_version, direction=answer)  # fmt: skip
        self.unacked[(request.call_id, request.cseq[0])] = stx
        self.ua.respond(stx, 200, to_tag=leg.local_tag, body=body)

    # Intercept -------------------------------------------------------------------------------------

    async def intercept(self, plan, extension: int, dialled: str, offer) -> None:
        """Pick up a colleague's ringing call (*8: the oldest ringing in the client, **<ext>: that line's).
        The ringing call stops ringing its callee and continues with this caller in the callee's place;
        this call object then ends (its leg belongs to the other call). Only lines granted it may."""
        caller = plan.by_extension.get(extension)
        self.route = Route(client=plan.client, brand=plan.brand, domain=plan.domain, caller=caller or Party("", ""),
                           callee=None)  # fmt: skip

        def refuse(status: int, reason: str) -> None:
            self.engine.cdrs.open(call_uuid=self.uuid, engine=self.engine.id, route=self.route,
                                  started_at=self.started_at, dialled=dialled)  # fmt: skip
            self.end_before_answer(status, reason)

        if caller is None or not caller.may_intercept:
            return refuse(403, "Intercept Not Allowed")
        number = dialled[len(DIRECTED_PICKUP) :] if dialled.startswith(DIRECTED_PICKUP) else None
        ringing = [c for c in self.engine.active if c is not self and c.state == "RINGING" and c.route is not None
                   and c.route.client == plan.client and c.route.callee is not None and c.media_a is not None
                   and (number is None or c.route.callee.number == number)]  # fmt: skip
        if not ringing:
            return refuse(404, "Nothing To Pick Up")
        target = min(ringing, key=lambda c: c.started_at)
        media_plan_ = media_plan(target.offered, self.offered)
        if media_plan_ is None:
            return refuse(488, "Not Acceptable Here")
        try:
            self.media_a = await self.engine.media.open(remote=offer.audio_address() if offer else None)
        except MediaError:
            return refuse(503, "No Media Ports")
        if target.state != "RINGING" or self.state == "ENDED":  # answered or gone meanwhile
            self.close_media()
            return refuse(404, "Nothing To Pick Up")
        target.picked_up_by(self, caller, media_plan_)

    def picked_up_by(self, other: Call, party: Party, plan) -> None:
        """This ringing call is answered by `other`'s caller (intercept)."""
        codec_a, codec_other, to_other, to_a = plan
        self._stop_ringing()
        if self.b_tx is not None:
            self.b_tx.cancel()
        address = self.engine.media.address
        events_a = [c for c in self.offered if c.name == "TELEPHONE-EVENT"][:1]
        events_other = [c for c in other.offered if c.name == "TELEPHONE-EVENT"][:1]
        session = self.uuid.int % 10**9
        self.caller_answer(build_sdp(address, self.media_a.port, [codec_a, *events_a], session_id=session))
        other.ua.respond(other.stx, 200, to_tag=other.a.local_tag,
                         body=build_sdp(address, other.media_a.port, [codec_other, *events_other],
                                        session_id=other.uuid.int % 10**9))  # fmt: skip
        self.unacked[(other.a.call_id, other.a.invite.cseq[0])] = other.stx
        old_media = self.media_b
        other.a.name = "callee"
        self.set_side("callee", other.a, other.media_a, codec_other, other.offered)
        self.codec = codec_a
        if old_media is not None:
            old_media.close()
        self.relay = self.engine.media.bridge(self.media_a, self.media_b, convert_a_to_b=to_other,
                                              convert_b_to_a=to_a)  # fmt: skip
        self.state = "ANSWERED"
        self.answered_at = _now()
        self.engine.cdrs.answered(self.uuid, self.answered_at)
        self.legs_log.append({"leg": "callee", "call_id": other.a.call_id, "intercepted_by": party.number,
                              "at": self.answered_at.isoformat()})  # fmt: skip
        self.engine.index(other.a.call_id, self)
        other.media_a = None  # now this call's
        other.state = "ENDED"  # no record of its own: the call it took over has one
        self.engine.event(self, "call.intercepted", by=party.number)
        self.engine.event(self, "call.answered")

    # Transfer --------------------------------------------------------------------------------------

    def side(self, name: str) -> tuple[Leg, RtpEndpoint, Codec, list[Codec]]:
        if name == "caller":
            return self.a, self.media_a, self.codec, self.offered
        return self.b, self.media_b, self.codec_b, self.offered_b

    def set_side(self, name: str, leg: Leg, media: RtpEndpoint, codec: Codec, offered: list[Codec]) -> None:
        if name == "caller":
            self.a, self.media_a, self.codec, self.offered = leg, media, codec, offered
        else:
            self.b, self.media_b, self.codec_b, self.offered_b = leg, media, codec, offered

    async def transfer(self, leaving: str, dialled: str, *, referrer: Leg | None = None) -> str | None:
        """Blind transfer: the `leaving` party ("caller" or "callee") goes, the other is connected to the
        extension `dialled` (hearing music while it rings). A phone's REFER gets NOTIFYs with the
        outcome (RFC 3515). None when it worked, else why not."""
        if self.state != "ANSWERED" or self.transferring:
            return "the call is not answered" if self.state != "ANSWERED" else "a transfer is running"
        self.transferring = True
        try:
            return await self._transfer(leaving, dialled, referrer)
        except Exception:
            log.exception("transfer of call %s failed", self.uuid)
            self._transfer_failed(referrer, 500, "Server Internal Error", None)
            return "the engine failed"
        finally:
            self.transferring = False

    async def _transfer(self, leaving: str, dialled: str, referrer: Leg | None) -> str | None:
        staying = "callee" if leaving == "caller" else "caller"
        self._notify(referrer, "100 Trying")
        self.hold(staying)
        plans = self.engine.dialplans
        plan = plans.cached(self.route.client) or await sync_to_async(plans.load, thread_sensitive=False)(
            self.route.client)  # fmt: skip
        target = plan.by_number.get(dialled)
        if target is None:
            return self._transfer_failed(referrer, 404, "Not Found", None)
        _, _, stay_codec, stay_offered = self.side(staying)
        party = self.route.caller if staying == "caller" else self.route.callee
        media = await self.engine.media.open(remote=None)
        events = [c for c in stay_offered if c.name == "TELEPHONE-EVENT"][:1]
        extra = [c for c in SUPPORTED if c.name in TRANSCODABLE and c.name != stay_codec.name]
        offered = [stay_codec, *events, *(extra if stay_codec.name in TRANSCODABLE else [])]
        leg = Leg(call_id=f"{uuid.uuid4().hex}@ocx", local_tag=new_tag(), name=leaving,
                  local_uri=f'"{party.name}" <sip:{party.number}@{plan.domain}>',
                  remote_uri=f"<sip:{target.sip_username}@{plan.domain}>")  # fmt: skip
        leg.remote_target = f"sip:{target.sip_username}@{plan.domain}"
        body = build_sdp(self.engine.media.address, media.port, offered, session_id=self.uuid.int % 10**9)
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
            return self._transfer_failed(referrer, 480, "Temporarily Unavailable", media)
        if self.state != "ANSWERED":  # the staying party hung up meanwhile
            if 200 <= response.status < 300:
                leg.remote_tag = response.to_tag
                leg.learn(response, uac=True)
                self.ua.ack_2xx(leg, response)
                self.ua.request(leg.request("BYE", self.ua), lambda r: None)
            media.close()
            return "the call ended"
        if not 200 <= response.status < 300:
            return self._transfer_failed(referrer, response.status, response.reason, media)
        leg.remote_tag = response.to_tag
        leg.learn(response, uac=True)
        self.ua.ack_2xx(leg, response)
        try:
            answer = parse_sdp(response.body)
        except SipError:
            answer = None
        codecs = common_codecs(answer.audio.codecs, offered) if answer and answer.audio else []
        plan_media = media_plan([stay_codec, *events], codecs)
        if plan_media is None:
            self.ua.request(leg.request("BYE", self.ua), lambda r: None)
            return self._transfer_failed(referrer, 488, "Not Acceptable Here", media)
        _, new_codec, stay_to_new, new_to_stay = plan_media
        media.set_remote(answer.audio_address())
        # The target answered: the leaving party goes, the staying one is joined to the target.
        self._notify(referrer, "200 OK", final=True)
        old_leg, old_media, _, _ = self.side(leaving)
        self.ua.request(old_leg.request("BYE", self.ua), lambda r: None)
        self.stop_music()
        self.relay.stop()
        old_media.close()
        self.set_side(leaving, leg, media, new_codec, offered)
        if staying == "caller":
            self.relay = self.engine.media.bridge(self.media_a, self.media_b, convert_a_to_b=stay_to_new,
                                                  convert_b_to_a=new_to_stay)  # fmt: skip
        else:
            self.relay = self.engine.media.bridge(self.media_a, self.media_b, convert_a_to_b=new_to_stay,
                                                  convert_b_to_a=stay_to_new)  # fmt: skip
        self.held = None
        self.legs_log.append({"leg": leaving, "call_id": leg.call_id, "transferred_to": target.number,
                              "at": _now().isoformat()})  # fmt: skip
        self.engine.event(self, "call.transferred", leaving=leaving, to=target.number)
        return None

    def _transfer_failed(self, referrer: Leg | None, status: int, reason: str, media) -> str:
        self._notify(referrer, f"{status} {reason}", final=True)
        if media is not None:
            media.close()
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
        self.relay.a_to_b = self.relay.b_to_a = False
        self.stop_music()
        endpoint, codec = (self.media_a, self.codec) if held == "caller" else (self.media_b, self.codec_b)
        if codec.name in ENCODERS:  # G.711 legs get the music; others hear silence
            self.music = Player(endpoint, codec.payload, hold_music(codec.name))
            self.music.start()
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

    def hangup(self, side: str = "engine") -> None:
        """End the call from outside (API, shutdown): BYE both legs, or refuse the caller if unanswered."""
        if self.state == "ANSWERED":
            self.ua.request(self.a.request("BYE", self.ua), lambda r: None)
            self.ua.request(self.b.request("BYE", self.ua), lambda r: None)
            self.finish(Cdr.Disposition.ANSWERED, "hangup", side)
        elif self.state in ("ROUTING", "RINGING"):
            if self.b_tx is not None:
                self.b_tx.cancel()
            self.end_before_answer(480, "Temporarily Unavailable", cause="hangup", side=side)

    def finish(self, disposition: str, cause: str, side: str, *, cdr: bool = True) -> None:
        if self.state == "ENDED":
            return
        self.state = "ENDED"
        self._stop_ringing()
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
        )

    def close_media(self) -> dict:
        """Stop relaying and give the ports back; the legs' RTP figures for the record."""
        self.stop_music()
        if self.relay is not None:
            self.relay.stop()
        quality = {}
        for name, media in (("caller", self.media_a), ("callee", self.media_b)):
            if media is not None:
                quality[name] = {k: v for k, v in media.stats().items() if not isinstance(v, float) or v == v}
                media.close()
        return quality

    def _stop_ringing(self) -> None:
        if self.ring_timer is not None:
            self.ring_timer.cancel()
            self.ring_timer = None

    def summary(self) -> dict:
        route = self.route
        callee = route.callee.number if route and route.callee else ""
        return {
            "id": str(self.uuid), "state": self.state.lower(), "engine": self.engine.id,
            "caller": route.caller.number if route else "", "callee": callee,
            "started_at": self.started_at.isoformat(), "answered_at": self.answered_at and self.answered_at.isoformat(),
            "codec": self.codec.name if self.codec else None,
            "callee_codec": self.codec_b.name if self.codec_b else None, "held": self.held,
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
        try:
            self.media_a = await self.engine.media.open(remote=None)
            self.media_b = await self.engine.media.open(remote=None)
        except MediaError:
            self.close_media()
            self.finish(Cdr.Disposition.FAILED, "no-media-ports", "engine")
            return
        user, target = route.caller, route.callee
        self.a = Leg(call_id=f"{uuid.uuid4().hex}@ocx", local_tag=new_tag(), name="caller",
                     local_uri=f'"{target.name}" <sip:{target.number}@{route.domain}>',
                     remote_uri=f"<sip:{user.sip_username}@{route.domain}>")  # fmt: skip
        self.a.remote_target = f"sip:{user.sip_username}@{route.domain}"
        self.offered = list(SUPPORTED)
        body = build_sdp(self.engine.media.address, self.media_a.port, self.offered, session_id=self.uuid.int % 10**9)
        self.a.invite = self.a.request("INVITE", self.ua, headers=[("Content-Type", "application/sdp")], body=body)
        self.engine.index(self.a.call_id, self)
        self.a_tx = self.ua.request(self.a.invite, self.on_a_response)
        self.ring_timer = asyncio.get_running_loop().call_later(self.engine.config.ring_timeout, self.ring_timeout)

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
        self.offered = [voice[0], *[c for c in codecs if c.name == "TELEPHONE-EVENT"][:1]]
        self.media_a.set_remote(answer.audio_address())
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
