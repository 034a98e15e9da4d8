"""The call engine process: a SIP user agent behind the edge, the calls it anchors, their media,
its heartbeat in the engine registry and its command channel on the channel layer.

Commands arrive on the channel layer (channel `engine.<id>`), so the API reaches the engine that
owns a call; call events go to the client's Channels group. On shutdown the engine withdraws from
the registry (no new calls), waits for its calls to end up to `drain` seconds, then hangs up the
rest.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from channels.layers import get_channel_layer
from django.conf import settings

from config.redis_store import follow
from records.spool import Spool
from records.writer import CdrWriter, cdr_close_lost
from telephony import commands
from telephony.callindex import DELETE_IF_MINE, EngineIndex, forget_engine
from telephony.commands import Answer, CallCommand, Code, parse
from telephony.engine import application
from telephony.engine.applications.clicktocall import OriginatedCall
from telephony.engine.applications.conference import Conference, rooms_of
from telephony.engine.applications.messages import text_from_portal
from telephony.engine.applications.notify import Notify
from telephony.engine.applications.recording import record as record_call
from telephony.engine.applications.supervision import supervise_to
from telephony.engine.applications.transfer import join_with, park, retrieve_to, transfer
from telephony.engine.call import Call
from telephony.engine.database import Database, DatabaseAway
from telephony.engine.dialplan import Dialplans
from telephony.engine.liveness import Watch, end_lost_calls
from telephony.engine.sessiontimer import negotiate
from telephony.engine.sipua import EngineUA, ServerTx
from telephony.engine.states import State
from telephony.engine_registry import EngineInfo, engine_channel, engine_heartbeat, engine_withdraw, registry_key
from telephony.media.player import Frames, encode, file_samples
from telephony.media.prompts import LANGUAGES, Prompts, Voice
from telephony.sip import Request, Response
from telephony.sip.sdp import unreadable_body
from tenants.events import (
    DASHBOARD_CHANGES,
    DASHBOARD_TICK,
    group_for_brand,
    group_for_client,
    group_for_platform,
    group_for_user,
)

log = logging.getLogger(__name__)
LOST_CHECK = 5.0  # seconds between looks for the records of dead engines (at most a third of lost_after)
OUTBOX_LIMIT = 10_000  # queued portal events at most; older ones are dropped first


@dataclass(frozen=True)
class EngineConfig:
    host: str = "127.0.0.1"
    port: int = 5070
    rtp_first: int = 20000
    rtp_last: int = 29999
    rtp_advertise: str = ""  # the media address in SDP, when phones reach the engine by another one
    edge: tuple[str, int] = ("127.0.0.1", 5060)
    capacity: int = 400
    ring_timeout: float = 60.0
    park_timeout: float = 120.0
    conference_capacity: int = 500  # conference participants this engine mixes at most, in all rooms
    drain: float = 30.0
    rtp_timeout: float = 60.0  # a party silent this long (no RTP nor RTCP) ends its answered call; 0: never
    session_expires: float = 1800.0  # RFC 4028 interval imposed on phones that do not ask; 0: none
    min_se: int = 90  # the shortest session interval accepted (422 below)
    lost_after: float = 15.0  # an engine silent this long is dead (the edges stop sending it calls after 3.5 s)
    blf_max_per_line: int = 100  # busy lamps: the most lines one line watches at once, on all engines (403 beyond)
    redis_prefix: str = "ocx"

    @classmethod
    def from_settings(cls, **overrides) -> EngineConfig:
        values = {**settings.OCX_ENGINE, **{k: v for k, v in overrides.items() if v is not None}}
        edge_host, _, edge_port = values.pop("edge").rpartition(":")
        return cls(edge=(edge_host, int(edge_port)), redis_prefix=settings.OCX_REDIS_PREFIX, **values)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Engine:
    def __init__(self, config: EngineConfig, redis, media):
        application.load()  # the feature applications register their codes and numbers
        self.config = config
        self.redis = redis
        self.media = media  # telephony.engine.media_ports.Media: RTP endpoints and bridges
        self.id = f"{socket.gethostname()}:{os.getpid()}:{config.port}"
        self.channel = engine_channel(self.id)
        self.ua = EngineUA(config.host, config.port, config.edge, self)
        self.calls: dict[str, Call] = {}  # both legs' Call-IDs -> call
        self.database = Database()  # Django's connections, reopened after PostgreSQL restarts
        self.dialplans = Dialplans(self.database)
        spool = Path(settings.OCX_CDR_SPOOL_DIR) / settings.DATABASES["default"]["NAME"]  # for this database only
        self.cdrs = CdrWriter(Spool(spool, self.id))
        self.callindex = EngineIndex(redis, config.redis_prefix, self.id)  # where the edges find our calls
        self.watch = Watch(self)  # RTP timeouts, session timers, the calls' dialogs in the call index
        self.conferences: dict[tuple[int, str], Conference] = {}  # (client, conference ID) -> running here
        self.prompts = Prompts(settings.OCX_PROMPTS_DIR, own_directory=settings.OCX_MESSAGES_DIR)
        self._messages: dict[tuple[str, float, str], Frames] = {}  # (path, mtime, codec) -> frames
        self.draining = False
        self._tasks: set[asyncio.Task] = set()
        self._outbox: deque[tuple[list[str], dict]] = deque()  # events for the portals, sent in order
        self._outbox_ready = asyncio.Event()
        self.events_dropped = 0
        self.dashboards_changed: set[str] = set()  # brand and platform groups told at the next dashboard tick

    # Calls -------------------------------------------------------------------------------------------

    @property
    def active(self) -> set[Call]:
        """Calls this engine knows, including ended ones kept a moment for late messages."""
        return set(self.calls.values())

    def live(self) -> list[Call]:
        return [c for c in self.active if c.state != State.ENDED]

    def find(self, call_uuid) -> Call | None:
        """A live call by its id (the record's call_uuid), for commands from the API."""
        return next((c for c in self.live() if str(c.uuid) == call_uuid), None)

    # Conferences ---------------------------------------------------------------------------------

    async def conference(self, client: int, room) -> Conference | None:
        """The room's running conference here, started if it runs nowhere; None when another live
        engine holds it (its callers are routed there by the call index)."""
        conference = self.conferences.get((client, room.conference_id))
        if conference is not None and not conference.ended:
            return conference
        owner = await self.callindex.claim_conference(client, room.conference_id, room.access_number)
        if owner is not None:
            alive = await self.redis.hget(registry_key(self.config.redis_prefix), owner)
            if alive is not None and EngineInfo.from_json(alive).fresh():  # the edges' test: they route there
                return None
            await self.callindex.claim_conference(client, room.conference_id, room.access_number, force=True)
        conference = self.conferences[(client, room.conference_id)] = Conference(self, client, room)
        log.info("conference %s of client %s started", room.conference_id, client)
        return conference

    async def prompt_frames(self, voice: Voice, codec: str, *names: str) -> Frames:
        """Prompts in `codec` as `voice` says them (its language, its client's own recordings): files
        not read yet (a client's upload, a language still being prepared) are read in a thread."""
        if self.prompts.missing(voice, names):
            await asyncio.to_thread(self.prompts.load, voice, names)
        return self.prompts.frames(codec, *names, voice=voice)

    async def prompt_samples(self, voice: Voice, *names: str):
        """The same as linear samples (a conference's announcements to everyone)."""
        if self.prompts.missing(voice, names):
            await asyncio.to_thread(self.prompts.load, voice, names)
        return self.prompts.samples(*names, voice=voice)

    async def message_frames(self, path: str, codec: str) -> Frames:
        """A library message's audio in `codec` (file work in a thread; kept while the file is unchanged)."""
        mtime = os.stat(path).st_mtime if os.path.exists(path) else 0.0
        key = (path, mtime, codec)
        if key not in self._messages:
            samples = await asyncio.to_thread(file_samples, path, max_seconds=600)
            if len(self._messages) > 64:
                self._messages.clear()
            self._messages[key] = encode(samples, codec)
        return self._messages[key]

    def conference_closed(self, conference: Conference) -> None:
        if self.conferences.get((conference.client, conference.id)) is conference:
            del self.conferences[(conference.client, conference.id)]
        self.callindex.free_conference(conference.client, conference.id, conference.room.access_number)

    def conference_parties(self) -> int:
        return sum(len(c.participants) for c in self.conferences.values())

    def conference_event(self, conference: Conference, kind: str, **fields) -> None:
        """A conference event for its live page: the client's operators, the moderator, the brand and
        the platform (the provider sees every company's conferences)."""
        plan = self.dialplans.cached(conference.client)
        event = {"type": kind, "client": conference.client, "conference": conference.id, **fields}
        groups = [group_for_client(conference.client), group_for_user(conference.room.moderator), group_for_platform()]
        if plan is not None:
            groups.append(group_for_brand(plan.brand))
        self.publish(groups, event)

    def publish(self, groups: list[str], event: dict) -> None:
        """Queue an event for the portals' WebSocket groups. One task sends them in order, so a burst
        (hundreds joining a conference) never opens more channel-layer connections than one; when
        the layer cannot keep up, the oldest queued events are dropped and counted."""
        if len(self._outbox) >= OUTBOX_LIMIT:
            self._outbox.popleft()
            self.events_dropped += 1
        self._outbox.append((groups, event))
        self._outbox_ready.set()

    async def send_events(self) -> None:
        layer = get_channel_layer()
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
            while self._outbox:
                groups, event = self._outbox.popleft()
                try:
                    for group in groups:
                        await layer.group_send(group, {"type": "platform.event", "event": event})
                except Exception:  # Redis away for a moment: this event is lost, the next ones go
                    log.exception("an event for the portals could not be sent")

    async def tell_dashboards(self) -> None:
        """At most every DASHBOARD_TICK seconds, tell the brands' and platform's dashboards that calls
        started or ended (their sockets recompute their own figures: tenants/consumers.py)."""
        while True:
            await asyncio.sleep(DASHBOARD_TICK)
            if self.dashboards_changed:
                groups, self.dashboards_changed = sorted(self.dashboards_changed), set()
                self.publish(groups, {"type": "dashboard.changed"})

    def index(self, call_id: str, call: Call) -> None:
        self.calls[call_id] = call

    def forget(self, call: Call) -> None:
        """A call ended: keep its legs findable a little while, to answer late BYEs and retransmissions."""
        loop = asyncio.get_running_loop()
        for leg in (call.caller.leg, call.callee.leg):
            if leg is not None:
                loop.call_later(32, self._drop, leg.call_id, call)

    def _drop(self, call_id: str, call: Call) -> None:
        if self.calls.get(call_id) is call:
            del self.calls[call_id]

    def on_request(self, request: Request, stx: ServerTx) -> None:
        if request.method == "INVITE":
            accept = unreadable_body(request.headers.get("Content-Type"), request.headers.get("Content-Encoding"),
                                     request.body)  # fmt: skip
            if accept is not None:  # an offer in a format the engine cannot read (RFC 3261 21.4.13)
                self.ua.respond(stx, 415, to_tag=os.urandom(4).hex(), headers=accept)
                return
        call = self.calls.get(request.call_id)
        if call is not None:
            if request.method == "CANCEL":
                call.on_cancel(stx)
            else:
                call.on_request(request, stx)
            return
        if request.method == "INVITE" and request.to_tag is None:
            required = [r.strip() for r in request.headers.get_all("Require") if r.strip().lower() not in ("", "timer")]
            if required:  # 100rel...: extensions the engine does not implement (RFC 3261 8.2.2.3)
                self.ua.respond(stx, 420, headers=[("Unsupported", ", ".join(required))])
                return
            if self.draining or len(self.live()) >= self.config.capacity:
                self.ua.respond(stx, 503, "Engine Busy", headers=[("Retry-After", "5")])
                return
            timer = negotiate(request, current=None, wanted=self.config.session_expires, min_se=self.config.min_se)
            if timer == 422:
                self.ua.respond(stx, 422, "Session Interval Too Small", headers=[("Min-SE", str(self.config.min_se))])
                return
            stx.session = timer
            call = Call(self, request, stx)
            self.index(request.call_id, call)
            self.background(call.start())
            return
        if request.method == "OPTIONS":
            self.ua.respond(stx, 200)
            return
        event = (request.headers.get("Event") or "").split(";", 1)[0].strip()
        handler = application.request_handler(request.method, event)
        if handler is not None:  # a MESSAGE; a SUBSCRIBE (message waiting, busy lamps) and its dialog's refreshes
            handler(self, request, stx)
            return
        if request.method == "SUBSCRIBE":  # an event package no application answers (RFC 6665 4.2.1.1)
            allowed = ", ".join(application.events_answered("SUBSCRIBE"))
            self.ua.respond(stx, 489, "Bad Event", headers=[("Allow-Events", allowed)])
            return
        self.ua.respond(stx, 481)

    def on_ack(self, request: Request) -> None:
        call = self.calls.get(request.call_id)
        if call is not None:
            call.on_ack(request)

    def on_stray_2xx(self, response: Response) -> None:
        """A 2xx to one of our INVITEs repeated after its transaction ended: our ACK was lost."""
        call = self.calls.get(response.call_id)
        for leg in (call.caller.leg, call.callee.leg) if call is not None else ():
            if leg is not None and leg.call_id == response.call_id and leg.remote_tag == response.to_tag:
                self.ua.ack_2xx(leg, response)

    def on_no_ack(self, stx: ServerTx) -> None:
        call = self.calls.get(stx.request.call_id)
        if call is not None:
            call.on_no_ack()

    # Events and background work ----------------------------------------------------------------------

    def background(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("engine task failed", exc_info=task.exception())

    def event(self, call: Call, kind: str, **fields) -> None:
        """A call event for the client's portals (fire and forget)."""
        if call.route is None:
            return
        route = call.route
        event = {"type": kind, "client": route.client, "call": call.summary(), **fields}
        if kind == "call.ended":
            self.callindex.not_live(route.client, event["call"]["id"])
        else:
            self.callindex.live(route.client, event["call"])
        self.publish([group_for_client(route.client)], event)
        application.told(call, event)  # the client's webhooks (telephony/engine/applications/webhooks.py)
        if kind in DASHBOARD_CHANGES:  # the brand's and platform's dashboards, without every call's detail
            self.dashboards_changed.update((group_for_brand(route.brand), group_for_platform()))
        # The parties' own pages: also who took a side since (transfer, pickup, retrieve); not who listens
        # in (the client's operators' business: a monitored party is not told).
        if kind in ("call.supervised", "call.unsupervised"):
            return
        parties = {route.caller, route.callee, call.caller.party, call.callee.party}
        users = [group_for_user(account) for account in sorted({p.account for p in parties if p and p.account})]
        if users:
            self.publish(users, {**event, "call": {k: v for k, v in event["call"].items() if k != "supervisors"}})

    # Running -----------------------------------------------------------------------------------------

    def info(self) -> EngineInfo:
        return EngineInfo(self.id, self.config.host, self.config.port, calls=len(self.live()),
                          capacity=self.config.capacity, draining=self.draining, free_ports=self.media.free_ports,
                          at=time.time(), conferences=len(self.conferences), participants=self.conference_parties(),
                          conference_capacity=self.config.conference_capacity,
                          database=self.database.ok)  # fmt: skip

    async def heartbeat(self) -> None:
        while True:
            try:
                await engine_heartbeat(self.redis, self.config.redis_prefix, self.info())
            except Exception:  # Redis away for a moment: the edges see us as stale, then back
                log.exception("engine heartbeat failed")
            try:
                self.cdrs.touch()  # our spool's sign of life: where our calls end if we die
            except OSError:
                log.exception("the call record spool could not be touched")
            await asyncio.sleep(1.0)

    async def close_lost_calls(self) -> None:
        """At start and every few seconds: the spools of this host's dead engines are taken over; the
        phones of the calls of engines that stopped heartbeating get a BYE and those engines' call index
        entries are removed (neither needs the database); then their open records are closed (cause
        engine-lost, at their last heartbeat), by whichever survivor gets there first, and only then
        does each leave the registry, which holds that last heartbeat until the database has it."""
        key, prefix = registry_key(self.config.redis_prefix), self.config.redis_prefix
        while True:
            try:
                await asyncio.to_thread(self.cdrs.adopt_orphans)
            except Exception:
                log.exception("could not take over the call record spools of dead engines")
            await asyncio.sleep(min(LOST_CHECK, self.config.lost_after / 3))
            try:
                now = time.time()
                records = {raw: EngineInfo.from_json(raw) for raw in await self.redis.hvals(key)}
                live = {e.id for e in records.values() if now - e.at < self.config.lost_after} | {self.id}
                dead = {raw: e for raw, e in records.items() if e.id not in live}
                for engine in dead.values():
                    ended = await end_lost_calls(self, engine.id)  # BYE to their phones (liveness.py)
                    forgotten = await forget_engine(self.redis, prefix, engine.id)
                    await application.engine_lost(self, engine.id)  # (busy lamps: its calls are over)
                    if ended or forgotten:
                        log.warning("engine %s is gone: %d call index entries removed, %d legs hung up",
                                    engine.id, forgotten, ended)  # fmt: skip
                last_seen = {e.id: dt.datetime.fromtimestamp(e.at, dt.UTC) for e in dead.values()}
                closed = await self.database.call(cdr_close_lost, live, last_seen=last_seen, now=_now())
                if closed:
                    log.warning("closed %d call records of engines that are gone", closed)
                for raw, engine in dead.items():
                    await self.redis.eval(DELETE_IF_MINE, 1, key, engine.id, raw)  # unless it came back
            except DatabaseAway:  # said once by Database; the next round tries again
                pass
            except Exception:
                log.exception("could not close the records of lost engines")

    async def commands(self) -> None:
        """Call control from the API, on this engine's channel."""
        layer = get_channel_layer()
        while True:
            try:
                message = await layer.receive(self.channel)
            except Exception:  # Redis away for a moment: wait and listen again
                log.exception("engine command channel failed")
                await asyncio.sleep(1.0)
                continue
            try:
                await self.command(message)
            except Exception:
                log.exception("engine command failed: %r", message)

    async def command(self, message: dict) -> None:
        """One command (telephony/commands.py) through the dispatch table; a message that is none is
        answered `bad-command`. Commands that ring a phone answer from a task of their own."""
        reply_to = message.get("reply_to") if isinstance(message, dict) else None
        command = parse(message)
        if isinstance(command, Answer):
            log.warning("bad engine command %r: %s", message, command.detail)
            await self.reply(reply_to, command)
            return
        if isinstance(command, CallCommand):
            call = self.find(command.call)
            if call is None:
                await self.reply(reply_to, Answer.refused(Code.NO_SUCH_CALL, "no such call"))
                return
            work = CALL_HANDLERS[type(command)](self, call, command)
        else:
            work = HANDLERS[type(command)](self, command)
        if command.answers_later:

            async def answer_later() -> None:
                await self.reply(reply_to, await work)

            self.background(answer_later())
            return
        await self.reply(reply_to, await work)

    async def _originate(self, command: commands.Originate) -> Answer:
        call = OriginatedCall(self, client=command.client, extension=command.extension, dialled=command.to,
                              widget=command.widget)  # fmt: skip
        self.background(call.start())
        return Answer.done(call=str(call.uuid))

    async def _notify(self, command: commands.Notify) -> Answer:
        call = Notify(self, client=command.client, target=command.target, number=command.number,
                      message=command.message, digit=command.digit)  # fmt: skip
        self.background(call.start())
        return Answer.done(call=str(call.uuid))

    async def _send_text(self, command: commands.SendText) -> Answer:
        return await text_from_portal(self, command)

    async def _list_calls(self, command: commands.ListCalls) -> Answer:
        return Answer.done(calls=[c.summary() for c in self.live()])

    async def _list_conferences(self, command: commands.ListConferences) -> Answer:
        return Answer.done(conferences=[c.summary() for c in self.conferences.values()
                                        if command.client in (None, c.client)])  # fmt: skip

    async def _hangup(self, call: Call, command: commands.Hangup) -> Answer:
        call.hangup("api")
        return Answer.done()

    async def _hold(self, call: Call, command: commands.Hold) -> Answer:
        return (
            Answer.done() if call.hold(command.held) else Answer.refused(Code.NOT_ANSWERED, "the call is not answered")
        )

    async def _resume(self, call: Call, command: commands.Resume) -> Answer:
        return Answer.done() if call.resume() else Answer.refused(Code.NOT_ON_HOLD, "the call is not on hold")

    async def _transfer(self, call: Call, command: commands.Transfer) -> Answer:  # as long as the target rings
        problem = await transfer(call, command.leaving, command.to)
        return Answer.done() if problem is None else Answer.refused(Code.NOT_POSSIBLE, problem)

    async def _park(self, call: Call, command: commands.Park) -> Answer:
        slot = await park(call, command.parked)
        return Answer.done(slot=slot) if isinstance(slot, int) else Answer.refused(Code.NOT_POSSIBLE, slot)

    async def _join(self, call: Call, command: commands.Join) -> Answer:
        """Attended transfer: the line common to both calls leaves them."""
        other = self.find(command.other)
        if other is None:
            return Answer.refused(Code.NO_SUCH_CALL, "no such call")
        mine = {number: side for side, number in call.lines.items()}
        common = [(mine[n], side) for side, n in other.lines.items() if n in mine]
        if not common:
            return Answer.refused(Code.NO_LINE_IN_COMMON, "the calls have no line in common")
        problem = join_with(call, other, *common[0])
        return Answer.done() if problem is None else Answer.refused(Code.NOT_POSSIBLE, problem)

    async def _supervise(self, call: Call, command: commands.Supervise) -> Answer:  # waits for the answer
        problem = await supervise_to(call, command.number, command.mode, command.agent, granted=bool(command.granted))
        return Answer.done() if problem is None else Answer.refused(Code.NOT_POSSIBLE, problem)

    async def _retrieve(self, call: Call, command: commands.Retrieve) -> Answer:  # waits for the answer
        problem = await retrieve_to(call, command.number)
        return Answer.done() if problem is None else Answer.refused(Code.NOT_POSSIBLE, problem)

    async def _record(self, call: Call, command: commands.Record) -> Answer:
        problem = await record_call(call, command.action)
        return Answer.done() if problem is None else Answer.refused(Code.NOT_POSSIBLE, problem)

    async def _conference(self, command: commands.ConferenceAction) -> Answer:
        """Live control of a conference (the action checked by its command type); dial-out and
        trigger also start it."""
        client, action, who = command.client, command.action, command.participant
        conference = self.conferences.get((client, command.conference))
        if action in commands.STARTING and (conference is None or conference.ended):
            plan = await self.dialplans.get(client)
            room = rooms_of(plan).by_id.get(command.conference)
            conference = await self.conference(client, room) if room is not None else None
            if conference is None:
                return Answer.refused(Code.NO_SUCH_ROOM, "no such room, or its conference runs on another engine")
        if conference is None or conference.ended:
            return Answer.refused(Code.CONFERENCE_NOT_RUNNING, "the conference is not running")
        if action in commands.PARTICIPANT_ACTIONS and who not in conference.participants:
            return Answer.refused(Code.NO_SUCH_PARTICIPANT, "no such participant")
        if action == "trigger" and not conference.room.hot_numbers.strip():
            return Answer.refused(Code.NO_NUMBERS_TO_CALL, "the room has no numbers to call")
        CONFERENCE_ACTIONS[action](conference, command)
        return Answer.done(conference=conference.summary())

    async def reply(self, reply_to: str | None, answer: Answer) -> None:
        if reply_to:
            await get_channel_layer().send(reply_to, answer.to_message())

    async def run(self, ready: asyncio.Event | None = None) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self.ua,
                                                           local_addr=(self.config.host, self.config.port))  # fmt: skip
        changes = self.redis.pubsub()
        tasks = [asyncio.create_task(self.commands()),
                 asyncio.create_task(self.send_events()), asyncio.create_task(self.callindex.run()),
                 asyncio.create_task(self.close_lost_calls()), asyncio.create_task(self.watch.run()),
                 asyncio.create_task(self.database.watch()), asyncio.create_task(self.tell_dashboards()),
                 asyncio.create_task(follow(changes, f"{self.config.redis_prefix}:sip:invalidate",
                                            self.dialplans.invalidate, resync=self.dialplans.clear))]  # fmt: skip
        await asyncio.to_thread(self.prompts.prepare)  # English before the first call; the other languages after
        # The edges send calls to an engine in the registry: it joins once it can answer them.
        tasks.append(asyncio.create_task(self.heartbeat()))
        tasks.append(asyncio.create_task(asyncio.to_thread(self.prompts.prepare, LANGUAGES[1:])))
        for hook in application.start_hooks():
            self.background(hook(self))
        log.info("call engine %s on %s:%s, RTP %s-%s", self.id, self.config.host, self.config.port,
                 self.config.rtp_first, self.config.rtp_last)  # fmt: skip
        if ready is not None:
            ready.set()
        try:
            await asyncio.Event().wait()
        finally:
            self.prompts.closed = True
            await self.drain()
            self.callindex.dialogs_ended()
            await self.callindex.flush()  # the ended calls' entries go too
            for task in tasks:
                task.cancel()
            transport.close()

    async def drain(self) -> None:
        """Take no new calls, let the current ones end (up to config.drain seconds), hang up the rest."""
        self.draining = True
        try:
            await engine_withdraw(self.redis, self.config.redis_prefix, self.id)
        except Exception:
            log.exception("could not withdraw from the engine registry")
        deadline = time.monotonic() + self.config.drain
        while self.live() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        for call in self.live():
            call.hangup("engine")
        await asyncio.sleep(0.3)  # let the BYEs leave
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if not await asyncio.to_thread(self.cdrs.wait, 10.0):
            log.error("%d call records were not written before the engine stopped; they wait in the spool for "
                      "the next engine of this host", self.cdrs.pending)  # fmt: skip
        self.cdrs.close_spool()


# What each conference action does to the running conference (the action checked by its command type).
CONFERENCE_ACTIONS = {
    "show": lambda conference, command: None,
    "mute": lambda conference, command: conference.mute(command.participant, True),
    "unmute": lambda conference, command: conference.mute(command.participant, False),
    "kick": lambda conference, command: conference.kick(command.participant),
    "mute-all": lambda conference, command: conference.mute_all(True, except_id=command.participant or None),
    "unmute-all": lambda conference, command: conference.mute_all(False, except_id=command.participant or None),
    "lock": lambda conference, command: conference.lock(True),
    "unlock": lambda conference, command: conference.lock(False),
    "record": lambda conference, command: conference.record(True),
    "stop-record": lambda conference, command: conference.record(False),
    "end": lambda conference, command: conference.end("ended-by-api"),
    "dial-out": lambda conference, command: conference.dial_out(command.number),
    "trigger": lambda conference, command: conference.trigger(),
}
# The engine's commands, by type (telephony/commands.py): those about one call get it found first.
HANDLERS = {
    commands.Originate: Engine._originate,
    commands.Notify: Engine._notify,
    commands.SendText: Engine._send_text,
    commands.ListCalls: Engine._list_calls,
    commands.ListConferences: Engine._list_conferences,
    commands.ConferenceAction: Engine._conference,
}
CALL_HANDLERS = {
    commands.Hangup: Engine._hangup,
    commands.Hold: Engine._hold,
    commands.Resume: Engine._resume,
    commands.Transfer: Engine._transfer,
    commands.Park: Engine._park,
    commands.Join: Engine._join,
    commands.Supervise: Engine._supervise,
    commands.Retrieve: Engine._retrieve,
    commands.Record: Engine._record,
}
