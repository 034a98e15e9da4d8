"""Call queues (queues.models.Queue): the destination kind "queue" (target: the queue's id), and the
queue's own number when it has one (dialled like an extension).

The engine answers the caller, who hears music and, every `announce_every` seconds, their position and
estimated wait. The queue's waiting callers are in Redis, shared by every engine (queues/state.py):
the engine holding the head caller claims available agents atomically (the `CLAIM` script chooses them
by the queue's strategy within the lowest penalty tier that has one; ring_all takes the whole tier),
so no agent is offered twice and no caller passes an earlier one. The offered agents' devices ring
for `ring_seconds` (an `Offer`: a call the engine places, like voicemail's `Onward`, but to the
agent's devices only, not their forwarding); the first to answer is bridged to the caller, the others
stop ringing. An offer not answered is a missed offer (`pause_after_missed` of them in a row pause the
agent), and the caller is head of the queue again at once. `max_wait_seconds` and `max_callers` send
callers to their destinations; a caller who hangs up leaves the queue at once.

Agents becoming free (a queue call's end, a log-in, an unpause; a claim that left agents free) are
published on `<prefix>:acd`; on every engine holding callers of that queue, its first waiting caller
(the only one that may be the queue's head) tries again at once, cutting short a position
announcement; so does the next one when that caller starts an offer or leaves. An agent busy on a call
that is no queue's is seen through the call index (`line:<ext>`), and each engine's first waiting
caller looks again every POLL seconds, which is how it learns that such a call ended.

The call's record says, in a leg "queue": the queue, when the caller joined, how long they waited, the
offers (agent, result), the outcome (answered, abandoned, timeout, full) and the agent who answered.

Agents' feature codes, from their own line: *45 logs in to all their queues, *46 logs out, *47 pauses,
*48 ends the pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time
from dataclasses import dataclass, field

from config.redis_store import follow
from menus.selectors import MenuView
from queues import callbacks, state
from queues import tasks as queue_tasks
from queues.selectors import QueueView, queues_for_plan
from queues.services import agent_by_phone, agent_missed_pause
from records.models import Cdr
from telephony import features
from telephony.engine import application
from telephony.engine.application import Incoming, Prompter, feature, numbers
from telephony.engine.applications.menus import Walk, menus_of
from telephony.engine.applications.voicemail import Onward
from telephony.engine.call import Call
from telephony.engine.database import DatabaseAway
from telephony.engine.destinations import runs
from telephony.engine.dialplan import ClientPlan, Party, Route, section
from telephony.engine.states import State
from telephony.sip.sdp import telephone_events
from tenants.events import group_for_client

log = logging.getLogger(__name__)
LOGIN = features.FeatureCode("*45", "queue-login")
LOGOUT = features.FeatureCode("*46", "queue-logout")
PAUSE = features.FeatureCode("*47", "queue-pause")
UNPAUSE = features.FeatureCode("*48", "queue-unpause")
ACTIONS = {LOGIN.prefix: "login", LOGOUT.prefix: "logout", PAUSE.prefix: "pause", UNPAUSE.prefix: "unpause"}
SAID = {"login": "queue_logged_in", "logout": "queue_logged_out", "pause": "queue_paused", "unpause": "queue_unpaused"}
POLL = 1.0  # seconds between a waiting caller's looks at the agents without being told
MISSED = frozenset({"ring-timeout", "486", "480", "408", "603", "600", "404", "503"})  # an agent's offer not taken


@dataclass(frozen=True)
class Queues:
    by_id: dict[int, QueueView] = field(default_factory=dict)
    by_number: dict[str, QueueView] = field(default_factory=dict)


@section("queues")
def load_queues(client) -> Queues:
    by_id = queues_for_plan(client)
    return Queues(by_id, {q.number: q for q in by_id.values() if q.number})


def queues_of(plan: ClientPlan) -> Queues:
    return plan.sections.get("queues") or Queues()


@numbers
def _by_number(plan: ClientPlan, dialled: str):
    queue = queues_of(plan).by_number.get(dialled)
    if queue is None:
        return None

    async def run(call: Call, incoming: Incoming) -> None:
        await to_queue(call, str(queue.id), incoming)

    return run


@runs("queue")
async def to_queue(call: Call, target: str, incoming: Incoming) -> None:
    queue = queues_of(incoming.plan).by_id.get(int(target)) if target.isdigit() else None
    if queue is None:  # (a call the engine places hands a queue back to its caller: Onward.hands_back)
        call.refuse(incoming, 404, "No Such Queue")
        return
    if not call.record_opened:
        call.open_record(call.route_alone(incoming), incoming.dialled)
    if not await call.answer_alone(incoming.offer):
        return
    if call.answered_at is None:
        call.answered(by=f"queue:{queue.id}")
    waiting = Waiting(call, incoming, queue)
    call.take(waiting)
    await waiting.wait()


class Dispatch:
    """An engine's waiting callers by (client, queue), woken when their client's agents change."""

    def __init__(self, engine):
        self.engine, self.prefix = engine, engine.config.redis_prefix
        self.waiting: dict[tuple[int, int], set[Waiting]] = {}
        self.loaded: set[int] = set()
        engine.background(self.follow())

    async def follow(self) -> None:
        """The client's agents' changes, for the engine's life (it ends as the engine drains)."""
        told = asyncio.create_task(follow(self.engine.redis.pubsub(), state.channel(self.prefix), self.told,
                                          resync=self.wake_all))  # fmt: skip
        try:
            while not self.engine.draining:
                await asyncio.sleep(0.5)
        finally:
            told.cancel()

    @classmethod
    def of(cls, engine) -> Dispatch:
        found = getattr(engine, "_queue_dispatch", None)
        if found is None:
            found = engine._queue_dispatch = cls(engine)
        return found

    def told(self, text: str) -> None:
        client, _, queue = text.partition(" ")
        for c, q in list(self.waiting):
            if str(c) == client and queue in ("*", str(q)):
                self.wake_head((c, q))

    def wake_all(self) -> None:
        for key in list(self.waiting):
            self.wake_head(key)

    def head(self, key: tuple[int, int]) -> Waiting | None:
        """This engine's first caller of the queue not being offered now: the only one of its callers who
        may be the queue's head, so the only one that tries to claim agents (woken all, the hundreds
        waiting would each run the claim script for one of them to get an agent)."""
        waiting = [w for w in self.waiting.get(key, ()) if not w.offering()]
        return min(waiting, key=lambda w: w.joined, default=None)

    def wake_head(self, key: tuple[int, int]) -> None:
        head = self.head(key)
        if head is not None:
            head.wake()

    async def ensure_loaded(self, client: int) -> None:
        """The client's agents in Redis, rebuilt from PostgreSQL when Redis lost them."""
        if await self.engine.redis.exists(state.loaded_key(self.prefix, client)):
            return
        try:
            await self.engine.database.call(_rebuild, client)
        except DatabaseAway:
            log.warning("client %s: queues' agents cannot be read from the database now", client)


def _rebuild(client_id: int) -> None:
    from django.conf import settings
    from django_tenants.utils import tenant_context

    from config.redis_store import get_redis
    from tenants.models import Client

    client = Client.objects.get(pk=client_id)
    with tenant_context(client):
        state.rebuild(get_redis(), settings.OCX_REDIS_PREFIX, client)


class Waiting(Walk):
    """The answered caller waiting in a queue (menus' Walk: prompts, sending the caller on)."""

    def __init__(self, call: Call, incoming: Incoming, queue: QueueView):
        super().__init__(call, incoming)
        self.queue, self.client = queue, incoming.plan.client
        self.dispatch = Dispatch.of(call.engine)
        self.redis, self.prefix = call.engine.redis, self.dispatch.prefix
        self.uuid = str(call.uuid)
        self.joined = time.time()
        self.joined_at = dt.datetime.now(dt.UTC)
        self.offers: dict[str, Offer] = {}
        self.results: list[dict] = []
        self.agent = ""  # who answered
        self.answered_at = 0.0
        self.announcements = 0
        self.logged = False
        self.in_line = False  # waiting in the queue now (keys: only the callback key counts)
        self.agent_left = False  # the agent hung up first (the caller rates the call)
        self.callback_asked = False
        self._woken = asyncio.Event()
        self._offer_done: asyncio.Future | None = None
        self.announcing = False
        self.outcome = ""  # (once logged: answered, abandoned, timeout, full, callback-requested)
        self.gone = False  # out of the line

    def wake(self) -> None:
        self._woken.set()
        if self.announcing:  # (an agent may be free: the position can wait, the caller cannot)
            self.stop()

    def offering(self) -> bool:
        return self._offer_done is not None and not self._offer_done.done()

    def _key(self, digit: str) -> None:
        if not self.in_line:  # (sent on to a menu: its keys)
            super()._key(digit)
        elif digit == self.queue.callback_key and self._caller_number() and not self.agent:
            self.callback_asked = True
            super()._key(digit)  # the prompt or the music stops
            self.wake()

    # The wait ------------------------------------------------------------------------------------------

    async def wait(self) -> None:
        call, queue = self.call, self.queue
        await self.dispatch.ensure_loaded(self.client)
        place = await state.join(self.redis, self.prefix, self.client, queue.id, self.uuid, self.joined,
                                 queue.max_callers)  # fmt: skip
        if call.state == State.ENDED:
            await self._leave()
            return
        if not place:
            self.log("full")
            await self.go(*queue.on_full)
            return
        self.tell("joined")
        key = (self.client, queue.id)
        self.dispatch.waiting.setdefault(key, set()).add(self)
        self.in_line = True
        try:
            await self._wait(place)
        finally:
            self.in_line = False
            self.dispatch.waiting.get(key, set()).discard(self)
            self.dispatch.wake_head(key)
            if not self.agent:
                await self._leave()

    async def _wait(self, place: int) -> None:
        call, queue = self.call, self.queue
        loop = asyncio.get_running_loop()
        deadline = loop.time() + queue.max_wait_seconds if queue.max_wait_seconds else None
        announce_at = loop.time() + queue.announce_every if queue.announce_every else None
        if queue.announce_every:
            await self.announce(place)
            announce_at = loop.time() + queue.announce_every
        elif self.offers_callback:
            await self.play("queue_callback_offer", queue.callback_key)
        if call.state != State.ENDED and not self.callback_asked:
            call.play_music("caller")
        while call.state == State.IVR:
            if self.callback_asked:
                await self._call_back()
                return
            now = loop.time()
            if deadline is not None and now >= deadline:
                await self._leave()
                self.log("timeout")
                call.stop_playing()
                await self.go(*queue.on_max_wait)
                return
            self._woken.clear()
            agents = await self._claim() if self.dispatch.head((self.client, queue.id)) is self else []
            if agents:
                if await self.offer(agents):
                    return
                continue  # the head again: the next agents at once
            if call.state != State.IVR:
                return
            if announce_at is not None and now >= announce_at:
                await self.announce(await state.position(self.redis, self.prefix, self.client, queue.id, self.joined))
                announce_at = loop.time() + queue.announce_every
                if call.state == State.IVR and not self.callback_asked:
                    call.play_music("caller")
                continue
            await state.still_waiting(self.redis, self.prefix, self.client, queue.id, self.uuid, time.time())
            until = [POLL] + [t - loop.time() for t in (deadline, announce_at) if t is not None]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), max(0.01, min(until)))

    async def _claim(self) -> list[str]:
        queue, sticky = self.queue, ""
        number = self._caller_number()
        if queue.sticky_minutes and number:
            found = await self.redis.get(self._sticky_key(number))
            sticky = found.decode() if isinstance(found, bytes) else found or ""
        return await state.claim(self.redis, self.prefix, self.client, queue.id, self.uuid, queue.strategy,
                                 time.time(), random.randrange(1 << 30), sticky)  # fmt: skip

    @property
    def supervision_tone(self) -> bool:
        return self.queue.supervision_tone

    @property
    def offers_callback(self) -> bool:
        return bool(self.queue.callback_key and self._caller_number())

    async def _call_back(self) -> None:
        """The caller pressed the callback key: their place is a callback's now (queue_callback.py);
        they hear it is so and the engine hangs up."""
        call, queue = self.call, self.queue
        route = call.route
        info = callbacks.requested_info(call=self.uuid, number=self._caller_number(), joined=self.joined,
                                        name=route.caller.name if route and route.caller else "")  # fmt: skip
        await callbacks.request(self.redis, self.prefix, self.client, queue.id, self.uuid, at=self.joined,
                                now=time.time(), info=info)  # fmt: skip
        self.in_line = False
        self.log("callback-requested")
        call.stop_playing()
        await self.play("queue_callback_confirmed", "goodbye")
        if call.state != State.ENDED:
            call.hangup("engine", cause="callback-requested")

    def _caller_number(self) -> str:
        route = self.call.route
        return route.caller.number if route is not None and route.caller is not None else ""

    def _sticky_key(self, number: str) -> str:
        return state.queue_key(self.prefix, self.client, self.queue.id, f"sticky:{number}")

    async def announce(self, place: int) -> None:
        """ "You are number N in line. Your estimated wait is M minutes." (music stops meanwhile)"""
        seconds = await state.estimated_wait(self.redis, self.prefix, self.client, self.queue.id, place)
        minutes = (seconds + 59) // 60
        wait = ["queue_wait", *_digits(minutes), "queue_minutes"] if minutes > 1 else ["queue_wait_short"]
        self.announcements += 1
        offer = ["queue_callback_offer", self.queue.callback_key] if self.offers_callback else []
        self.announcing = True
        try:
            await self.play("queue_position", *_digits(place), "queue_in_line", *wait, *offer)
        finally:
            self.announcing = False

    async def _leave(self) -> None:
        """Out of the queue's line (once: the call's end and the wait's may both ask)."""
        if self.gone:
            return
        self.gone = True
        with contextlib.suppress(Exception):  # Redis away: the caller's entry goes stale and is dropped
            await state.leave(self.redis, self.prefix, self.client, self.queue.id, self.uuid)
        self.tell("left")

    def tell(self, what: str) -> None:
        """The queue's wallboards (queues/consumers.py) look again: joined, offered, answered, left, agent.
        As a call event, so that the call index's live calls hold the waiting caller too (their number),
        and the client's webhooks hear of a caller joining and leaving (queue.joined, queue.left with
        the outcome)."""
        fields = {"queue": self.queue.id, "what": what}
        if what in ("answered", "left"):
            fields.update(queue_name=self.queue.name, outcome=self.outcome or "abandoned", agent=self.agent,
                          wait=round((self.answered_at or time.time()) - self.joined, 1))  # fmt: skip
        if self.call.state == State.ENDED:  # (its call.ended took it out of the live calls already)
            event = {"type": "queue.changed", "client": self.client, **fields}
            self.call.engine.publish([group_for_client(self.client)], event)
            application.told(self.call, {**event, "call": self.call.summary()})
            return
        self.call.engine.event(self.call, "queue.changed", **fields)

    def log(self, outcome: str) -> None:
        if self.logged:
            return
        self.logged, self.outcome = True, outcome
        waited = (self.answered_at or time.time()) - self.joined
        self.call.log_leg("queue", "", queue=self.queue.id, queue_name=self.queue.name,
                          joined=self.joined_at.isoformat(), wait=round(waited, 1), offers=list(self.results),
                          outcome=outcome, agent=self.agent, announcements=self.announcements,
                          wrapup=self.queue.wrapup_seconds if self.agent else 0)  # fmt: skip
        if outcome in queue_tasks.OUTCOMES and self.queue.missed_call_emails:
            caller = self.call.route.caller if self.call.route is not None else None
            fields = {"client_id": self.client, "queue_id": self.queue.id, "caller_number": caller.number if caller
                      else "", "caller_name": caller.name if caller else "", "wait": round(waited, 1),
                      "outcome": outcome, "at": self.joined_at.isoformat()}  # fmt: skip
            self.call.engine.background(asyncio.to_thread(_mail_missed, fields))

    async def go(self, kind: str, target: str) -> None:
        if kind == "menu":
            menu: MenuView | None = menus_of(self.plan).get(int(target)) if target.isdigit() else None
            if menu is not None:
                await Walk.run(self, menu)
                return
        await super().go(kind, target)

    # Offers --------------------------------------------------------------------------------------------

    async def offer(self, agents: list[str]) -> bool:
        """Ring the agents' devices; True once one answered (the caller is bridged to them)."""
        call, queue = self.call, self.queue
        self._offer_done = done = asyncio.get_running_loop().create_future()
        self.dispatch.wake_head((self.client, queue.id))  # (a wake this caller took may be the next one's)
        offered = [call.caller.codec, *telephone_events(call.caller.offered, call.caller.codec)]
        caller = call.route.caller if call.route is not None and call.route.caller else Party("", "")
        self.tell("offered")
        for ext in agents:
            offer = self.offers[ext] = Offer(call.engine, self, client=self.client, ext=ext)
            call.engine.background(offer.place(self.plan, caller, offered, queue.ring_seconds))
        agent = await done
        offers, self.offers = self.offers, {}
        for ext, offer in offers.items():
            if ext == agent:
                continue
            cause = offer.cause or "caller-gone"
            missed = cause in MISSED and not agent
            if not agent:  # (once one answered, the others were written down as answered elsewhere)
                self.results.append({"agent": ext, "result": "missed" if missed else cause})
            try:
                count = await state.release(self.redis, self.prefix, self.client, ext, self.uuid, missed=missed)
            except Exception:
                log.exception("call %s: agent %s's offer could not be released", call.uuid, ext)
                continue
            if missed and queue.pause_after_missed and count >= queue.pause_after_missed:
                log.info("call %s: agent %s missed %s offers in a row: paused", call.uuid, ext, count)
                with contextlib.suppress(DatabaseAway):
                    await call.engine.database.call(agent_missed_pause, self.client, ext, count)
        if agent:
            return True
        if call.state == State.IVR:
            await state.back_to_waiting(
                self.redis, self.prefix, self.client, queue.id, self.uuid, self.joined, time.time()
            )
            call.play_music("caller")
        return False

    def onward_answered(self, onward) -> bool:
        if not isinstance(onward, Offer):
            return super().onward_answered(onward)
        call = self.call
        if self.agent or call.state != State.IVR or onward.ext not in self.offers:
            return False
        if not call.take_answered(onward, by=onward.route.callee, reason="queue"):
            return False
        self.agent, self.answered_at = onward.ext, time.time()
        self.results.append({"agent": onward.ext, "result": "answered"})
        for ext, other in self.offers.items():
            if ext != onward.ext:
                self.results.append({"agent": ext, "result": "answered-elsewhere"})
                other.hangup("engine", cause="answered-elsewhere")
        self.log("answered")
        self.tell("answered")
        call.engine.background(self._answered(onward.ext))
        if self._offer_done is not None and not self._offer_done.done():
            self._offer_done.set_result(onward.ext)
        return True

    async def _answered(self, ext: str) -> None:
        await self._leave()
        await state.talking(self.redis, self.prefix, self.client, ext, self.uuid)
        number = self._caller_number()
        if self.queue.sticky_minutes and number:
            await self.redis.set(self._sticky_key(number), ext, ex=self.queue.sticky_minutes * 60)

    def offer_over(self, offer: Offer) -> None:
        """An offer ended unanswered: when it was the last one ringing, the caller waits again."""
        done = self._offer_done
        if done is None or done.done():
            return
        if all(o.state == State.ENDED for o in self.offers.values()):
            done.set_result("")

    def party_left(self, call: Call, side: str) -> bool:
        """The agent hung up first: with the queue's after-call rating, the caller stays to rate the call."""
        if side != "callee" or not self.queue.rating or not self.agent or self.agent_left:
            return False
        self.agent_left = True
        self._agent_over()
        call.unbridge()
        callee = call.side("callee")
        call.keep_quality("callee", callee.media)
        if callee.media is not None:
            callee.media.close()
        callee.fill(None, None, None, [])
        call.set_line("callee", None)
        call.take(self)  # the caller alone with the engine again
        self.digits.flush()
        call.listen(self.digits.push_packet)
        call.engine.background(self._rate())
        return True

    async def _rate(self) -> None:
        """'Please rate this call from 1 to 5': a key 1-5 is kept in the record's queue leg and the agent's
        counters; then goodbye."""
        call = self.call
        rating = 0
        for _ in range(2):
            got = await self.choose("queue_rate", wait=6.0)
            if call.state == State.ENDED:
                break
            if got in ("1", "2", "3", "4", "5"):
                rating = int(got)
                break
        if rating:
            leg = next((g for g in reversed(call.legs_log) if g.get("leg") == "queue"), None)
            if leg is not None:
                leg["rating"] = rating
            with contextlib.suppress(Exception):
                await state.rated(self.redis, self.prefix, self.client, self.agent, rating)
            await self.play("queue_rate_thanks", "goodbye")
        if call.state != State.ENDED:
            call.hangup("engine", cause="rated" if rating else "not-rated")

    def _agent_over(self) -> None:
        self.call.engine.background(self._agent_free(time.time() - self.answered_at))

    def ended(self, call: Call, cause: str) -> None:
        super().ended(call, cause)
        for offer in list(self.offers.values()):
            offer.hangup("engine", cause="caller-gone")
        if self._offer_done is not None and not self._offer_done.done():
            self._offer_done.set_result("")
        self.wake()
        if self.agent:
            if not self.agent_left:
                self._agent_over()
        else:
            self.log("abandoned")
            call.engine.background(self._leave())

    async def _agent_free(self, talk: float) -> None:
        await agent_free(self.call.engine, self.client, self.queue, self.agent, self.uuid, talk)
        self.tell("agent")


async def agent_free(engine, client: int, queue: QueueView, ext: str, entry: str, talk: float) -> None:
    """An agent's queue call (`entry`: its caller's) ended: their line is written free in the call index
    first (the call's end queued it), then the news goes out (state.call_over): the claims it wakes would
    otherwise find the line still busy and wait for their next look, up to POLL later."""
    await engine.callindex.flush()
    await state.call_over(engine.redis, engine.config.redis_prefix, client, queue.id, ext, entry, now=time.time(),
                          talk=talk, wrapup=queue.wrapup_seconds)  # fmt: skip


def _mail_missed(fields: dict) -> None:
    try:
        queue_tasks.queue_missed_call_mail.apply_async(kwargs=fields)
    except Exception:  # the broker away: the call's record says it, its mail is lost (said here)
        log.exception("could not queue the queue's missed call mail %s", fields)


def _digits(number: int) -> list[str]:
    return [c for c in str(number) if c.isdigit()]


class Offer(Onward):
    """A queue's caller offered to one agent: the agent's devices ring (not their forwarding) for the
    queue's ring time, the caller shown; answered, its leg becomes the queue call's callee."""

    def __init__(self, engine, holder: Waiting, *, client: int, ext: str):
        super().__init__(engine, holder, client=client)
        self.ext, self.cause = ext, ""

    async def place(self, plan: ClientPlan, caller: Party, offered, ring_seconds: int) -> None:
        self.caller.offered = list(offered)
        try:
            callee = plan.by_number.get(self.ext)
            route = Route(client=plan.client, brand=plan.brand, domain=plan.domain, caller=caller, callee=callee,
                          status=0 if callee else 404, reason="" if callee else "Not In Service")  # fmt: skip
            self.open_record(route, self.ext)
            await self.call_line(route, None, ring_for=float(ring_seconds))
        except Exception:
            log.exception("call %s: offering the queue's caller to %s failed", self.uuid, self.ext)
            self.close_media()
            self.finish(Cdr.Disposition.FAILED, "engine-error", "engine")

    def finish(self, disposition: str, cause: str, side: str, *, cdr: bool = True) -> None:
        if self.state == State.ENDED:
            return
        self.cause = cause
        Call.finish(self, disposition, cause, side, cdr=cdr)
        if not self.handed:
            self.holder.offer_over(self)


# Agents' feature codes ---------------------------------------------------------------------------------


@feature(LOGIN, LOGOUT, PAUSE, UNPAUSE)
async def agent_by_code(call: Call, incoming: Incoming) -> None:
    if incoming.caller is None:
        call.refuse(incoming, 403, "Unknown Caller")
        return
    action = ACTIONS[incoming.dialled]
    call.open_record(call.route_alone(incoming), incoming.dialled)
    try:
        queues = await call.engine.database.call(agent_by_phone, incoming.plan.client, incoming.caller.number, action)
    except DatabaseAway:
        queues = None
    if not await call.answer_alone(incoming.offer):
        return
    prompter = Prompter(call)
    call.take(prompter)
    await prompter.play("not_possible" if queues is None else SAID[action], "goodbye")
    call.hangup("engine", cause="refused" if queues is None else "done")
