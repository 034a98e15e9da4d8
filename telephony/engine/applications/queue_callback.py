"""Queue callbacks, the engine side (the state in Redis: queues/callbacks.py). A caller who pressed the
queue's callback key hung up; their entry keeps their place in the queue's waiting order. Every engine
leases the callbacks no live engine holds (`adopt`, every ADOPT_EVERY seconds, from its start), and
dispatches each it holds as a `Turn`: it takes agents through the same CLAIM step as a waiting caller
when the entry is the head and an agent is free, then places a `CallBack` call: the agent's devices
ring first (the queue's ring time); once the agent answers, they hear that it is a callback, then the
caller's number is called (a line of the client: its devices; another number: through the client's
carriers and outbound policy, as a user's call out is), and the two are joined.

An agent who does not answer is a missed offer (counted, and paused at the queue's limit) and the
callback is head of the queue again. A caller who does not answer is tried again after
`callback_retry_seconds`, out of the waiting order meanwhile and back in their place then, at most
`callback_retries` more times; then the callback is dropped. Each try is a call with its own record,
whose "queue" leg says: outcome callback-answered, callback-failed (the caller did not answer;
`dropped` when it was the last try) or callback-missed (no agent took it), the agent, the try and the
call the caller asked from (`callback_of`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time

from pstn import numbering
from queues import callbacks, state
from queues.selectors import QueueView
from queues.services import agent_missed_pause
from records.models import Cdr
from telephony.engine.application import Incoming, at_start
from telephony.engine.applications.clicktocall import OriginatedCall
from telephony.engine.applications.network import place_out
from telephony.engine.applications.queues import MISSED, POLL, Dispatch, agent_free, queues_of
from telephony.engine.database import DatabaseAway
from telephony.engine.dialplan import ClientPlan, Party, Route
from telephony.engine.states import State

log = logging.getLogger(__name__)


@at_start
async def adopt(engine) -> None:
    """For the engine's life: take the callbacks nobody holds (an engine that died left them)."""
    prefix, held = engine.config.redis_prefix, engine.__dict__.setdefault("_queue_callbacks", set())
    while not engine.draining:
        try:
            for client, queue, entry, info in await callbacks.adopt(engine.redis, prefix, engine.id, time.time()):
                held.add(entry)
                engine.background(Turn(engine, client, queue, entry, info).run())
        except Exception:
            log.exception("queue callbacks could not be looked for")
        await asyncio.sleep(callbacks.ADOPT_EVERY)


class Turn:
    """A callback this engine holds, until it is connected, dropped or taken over."""

    def __init__(self, engine, client: int, queue: int, entry: str, info: dict):
        self.engine, self.client, self.queue_id, self.entry, self.info = engine, client, queue, entry, info
        self.redis, self.prefix = engine.redis, engine.config.redis_prefix
        self._woken = asyncio.Event()
        self._over: asyncio.Future | None = None

    def wake(self) -> None:
        self._woken.set()

    @property
    def joined(self) -> float:
        """When the caller first joined (their place in the order; Dispatch.head compares it)."""
        return float(self.info["joined"])

    def offering(self) -> bool:
        return self._over is not None and not self._over.done()

    async def renew(self) -> bool:
        return await callbacks.renew(self.redis, self.prefix, self.client, self.queue_id, self.entry, self.engine.id,
                                     time.time())  # fmt: skip

    async def run(self) -> None:
        dispatch = Dispatch.of(self.engine)
        key = (self.client, self.queue_id)
        dispatch.waiting.setdefault(key, set()).add(self)
        try:
            await self._run()
        except Exception:
            log.exception("queue callback %s failed", self.entry)
        finally:
            dispatch.waiting.get(key, set()).discard(self)
            self.engine.__dict__.get("_queue_callbacks", set()).discard(self.entry)

    async def _run(self) -> None:
        while not self.engine.draining:
            if not await self.renew():
                return  # another engine holds it now
            try:
                plan = await self.engine.dialplans.get(self.client)
            except DatabaseAway:
                await asyncio.sleep(POLL)
                continue
            queue = queues_of(plan).by_id.get(self.queue_id)
            if queue is None:  # the queue was removed meanwhile
                log.info("queue callback %s dropped: its queue is gone", self.entry)
                await callbacks.done(self.redis, self.prefix, self.client, self.queue_id, self.entry)
                return
            now = time.time()
            later = float(self.info.get("not_before") or 0)
            if later:
                if later > now:
                    await self._sleep(min(POLL, later - now))
                    continue
                self.info["not_before"] = 0
                await callbacks.save(self.redis, self.prefix, self.client, self.queue_id, self.entry, self.info)
                await callbacks.wait_again(self.redis, self.prefix, self.client, self.queue_id, self.entry,
                                           float(self.info["joined"]), now)  # fmt: skip
            self._woken.clear()
            agents = await state.claim(self.redis, self.prefix, self.client, self.queue_id, self.entry,
                                       queue.strategy, now, random.randrange(1 << 30), "")  # fmt: skip
            if not agents:
                await self._sleep(POLL)
                continue
            if await self.place(plan, queue, agents):
                return

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), max(0.01, seconds))

    async def place(self, plan: ClientPlan, queue: QueueView, agents: list[str]) -> bool:
        """One try with the first agent chosen (a callback rings one agent: the others are let go at
        once). True when the callback is over (connected or dropped)."""
        ext = agents[0]
        for other in agents[1:]:
            await state.release(self.redis, self.prefix, self.client, other, self.entry, missed=False)
        self._over = over = asyncio.get_running_loop().create_future()
        call = CallBack(self.engine, self, client=self.client, queue=queue, ext=ext, info=dict(self.info))
        self.engine.background(call.start())
        while not over.done():
            await asyncio.wait({over}, timeout=1.0)
            if not over.done() and not await self.renew():
                log.warning("queue callback %s: its lease was lost during a try", self.entry)
        outcome = over.result()
        now = time.time()
        if outcome == "answered":
            await callbacks.done(self.redis, self.prefix, self.client, self.queue_id, self.entry)
            return True
        if outcome == "missed":
            cause = call.ended_with[1] if call.ended_with else ""
            missed = cause in MISSED or cause == "ring-timeout"
            count = await state.release(self.redis, self.prefix, self.client, ext, self.entry, missed=missed)
            if missed and queue.pause_after_missed and count >= queue.pause_after_missed:
                with contextlib.suppress(DatabaseAway):
                    await self.engine.database.call(agent_missed_pause, self.client, ext, count)
            await callbacks.wait_again(self.redis, self.prefix, self.client, self.queue_id, self.entry,
                                       float(self.info["joined"]), now)  # fmt: skip
            return False
        # The caller did not answer: the agent is free again, the callback tried later or dropped.
        await free_agent(self.redis, self.prefix, self.client, self.queue_id, ext, self.entry)
        self.info["tries"] = int(self.info.get("tries") or 0) + 1
        if self.info["tries"] > queue.callback_retries:
            log.info("queue callback %s dropped after %s tries", self.entry, self.info["tries"])
            await callbacks.done(self.redis, self.prefix, self.client, self.queue_id, self.entry)
            return True
        self.info["not_before"] = now + queue.callback_retry_seconds
        await callbacks.save(self.redis, self.prefix, self.client, self.queue_id, self.entry, self.info)
        await callbacks.out_of_line(self.redis, self.prefix, self.client, self.queue_id, self.entry)
        return False

    def over(self, outcome: str) -> None:
        if self._over is not None and not self._over.done():
            self._over.set_result(outcome)


async def free_agent(redis, prefix: str, client: int, queue: int, ext: str, entry: str) -> None:
    """The agent's callback try ended before the caller answered: free again at once (no wrap-up)."""
    key = state.agent_key(prefix, client, ext)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hdel(key, "busy", "offered")
        pipe.publish(state.channel(prefix), f"{client} {queue}")
        await pipe.execute()


class CallBack(OriginatedCall):
    """One try of a callback: the agent's devices ring (showing the caller's number); answered, the
    agent hears that it is a callback, then the caller is called and joined to them."""

    def __init__(self, engine, turn: Turn, *, client: int, queue: QueueView, ext: str, info: dict):
        super().__init__(engine, client=client, extension=0, dialled=info["number"])
        self.turn, self.queue, self.ext, self.info = turn, queue, ext, info
        self.agent_answered_at = 0.0
        self.caller_answered_at = 0.0
        self.agent_party: Party | None = None
        self.plan_used: ClientPlan | None = None
        self.supervision_tone = queue.supervision_tone

    async def _start(self) -> None:
        plan = self.plan_used = await self.plan(self.client)
        agent = self.agent_party = plan.by_number.get(self.ext)
        number, name = self.info["number"], self.info.get("name") or ""
        caller = plan.by_number.get(number) or Party(number, name)
        route = Route(client=plan.client, brand=plan.brand, domain=plan.domain, caller=agent or Party("", ""),
                      callee=caller, status=0 if agent else 404, reason="" if agent else "No Such Agent")  # fmt: skip
        self.open_record(route, number)
        if agent is None:
            self.finish(Cdr.Disposition.FAILED, "404", "engine")
            return
        if await self.ring_line(agent, Party(number, name), second_leg=True):
            self.ring_timer.cancel()
            self.ring_timer = asyncio.get_running_loop().call_later(float(self.queue.ring_seconds), self.ring_timeout)

    def line_answered(self) -> None:
        """The agent answered: busy with this callback; they hear that it is one, then the caller rings."""
        self.agent_answered_at = time.time()
        self.engine.background(state.talking(self.turn.redis, self.turn.prefix, self.client, self.ext, self.turn.entry))
        self.engine.background(self._announce_then_call())

    async def _announce_then_call(self) -> None:
        try:
            frames = await self.engine.prompt_frames(self.voice, self.caller.codec.name, "queue_callback_agent")
            if self.state != State.ROUTING:
                return
            done = asyncio.get_running_loop().create_future()
            self.play("caller", frames, loop=False, on_done=lambda: done.done() or done.set_result(None))
            await asyncio.wait_for(done, len(frames) * 0.02 + 2)
            if self.state != State.ROUTING:
                return
            self.stop_playing()
            route, plan = self.route, self.plan_used
            if plan.by_number.get(route.callee.number) is not None:
                self.place_callee(route)
                return
            ext = next((pk for pk, p in plan.by_extension.items() if p.number == self.ext), 0)
            incoming = Incoming(plan, ext, self.agent_party, route.callee.number, None)
            await place_out(self, incoming, numbering.classify(route.callee.number, plan.country))
        except Exception:
            log.exception("call %s: the callback's caller could not be called", self.uuid)
            self.hangup("engine", cause="engine-error")

    def connect_callee(self, codecs, remote) -> bool:
        connected = super().connect_callee(codecs, remote)
        if connected:
            self.caller_answered_at = time.time()
            self.turn.over("answered")
        return connected

    def finish(self, disposition: str, cause: str, side: str, *, cdr: bool = True) -> None:
        if self.state == State.ENDED:
            return
        tries = int(self.info.get("tries") or 0) + 1
        if self.caller_answered_at:
            outcome = "callback-answered"
        elif self.agent_answered_at:
            outcome = "callback-failed"
        else:
            outcome = "callback-missed"
        facts = {"queue": self.queue.id, "queue_name": self.queue.name, "outcome": outcome, "agent": self.ext,
                 "try": tries, "callback_of": self.info.get("call", ""), "joined": self.info.get("joined_at", ""),
                 "wait": round((self.caller_answered_at or time.time()) - float(self.info["joined"]), 1)}  # fmt: skip
        if outcome == "callback-failed":
            facts["dropped"] = tries > self.queue.callback_retries
        self.log_leg("queue", "", **facts)
        super().finish(disposition, cause, side, cdr=cdr)
        if self.caller_answered_at:
            talk = time.time() - self.caller_answered_at
            self.engine.background(agent_free(self.engine, self.client, self.queue, self.ext, self.turn.entry, talk))
        else:
            self.turn.over("failed" if self.agent_answered_at else "missed")
