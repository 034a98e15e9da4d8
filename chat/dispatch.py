"""Offering waiting chats to agents: the chats' side of the queues' dispatch (queues/state.py). A chat
waits in its queue's one line with the callers (member `chat:<conversation uuid>`, scored by its join
time; chat/line.py puts it there) and is offered by the same `CLAIM` script, strategy, tiers and agent
state as a caller; only who runs the claim differs.

Who runs a chat's claim: every web process runs one `Dispatcher` (started with the first chat socket
of its event loop, `ensure_running`; chat/line.py's join publishes on the `acd` channel, which wakes
them). A dispatcher serves the chats it owns: `<base>:chat:<uuid>:owner` holds its id for STALE
seconds and is renewed every POLL seconds. A chat nobody owns (just joined, or its owner's process
died: the key expired) is taken by the first dispatcher that looks: each looks at once at the queue
named on the `acd` channel (a join, an agent freed, a log-in, an unpause) and at every queue's line
every SWEEP seconds. So a chat is served by any live web process, whatever process its visitor's
socket is on (the news goes through the channel layer), and a dead dispatcher's chats are taken over
within STALE seconds. Whether the chat still waits is its visitor's side's word, not the dispatcher's:
the web process holding the visitor keeps its `seen` fresh (chat/line.py), and CLAIM drops a chat head
gone silent as it drops a caller's (the visitor who comes back joins again in their old place); a
dispatcher forgets a chat no longer in its line.

An owned chat at the head of its queue (only this process's first waiting chat of the queue tries)
claims agents; the chosen agents get an offer on their agent group (chat/events.py) for the queue's
ring_seconds, written in `<base>:chat:<uuid>:offer` (agents, until). The first `accept` wins
(`ACCEPT`, atomic); the others see the offer withdrawn. An offer unanswered in time is missed
(`WITHDRAW` with missed: counted as for calls, `pause_after_missed` applies) and the chat waits again
in its place: head of the line. A chat waiting longer than the queue's max wait ends ("timeout").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid as uuidlib
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.conf import settings

from chat.events import agent_group, publish_async
from config.redis_store import follow
from queues import state

log = logging.getLogger(__name__)
POLL = 1.0  # seconds between an owner's looks at its chats without being told (offers' and waits' ends)
SWEEP = 2.0  # seconds between looks at every queue's line for chats nobody serves
STALE = state.STALE  # seconds an owner may stay silent before another process takes its chats
QUEUE_CACHE = 5.0  # seconds a queue's settings are used before being read again


def member(conversation_uuid) -> str:
    return f"chat:{conversation_uuid}"


def offer_key(prefix: str, client: int, conversation_uuid) -> str:
    return f"{state.base(prefix, client)}:chat:{conversation_uuid}:offer"


def owner_key(prefix: str, client: int, conversation_uuid) -> str:
    return f"{state.base(prefix, client)}:chat:{conversation_uuid}:owner"


# KEYS: offer, waiting, offering, seen. ARGV: agent key prefix, the accepting extension, the member.
# false when the offer is gone, taken or not the agent's; else {"ok", the other offered agents...}.
ACCEPT = """
local agents = redis.call('HGET', KEYS[1], 'agents')
if not agents or redis.call('HEXISTS', KEYS[1], 'taken') == 1 then return false end
local mine, others = false, {'ok'}
for a in string.gmatch(agents, '%S+') do
  if a == ARGV[2] then mine = true else table.insert(others, a) end
end
if not mine then return false end
redis.call('HSET', KEYS[1], 'taken', ARGV[2])
redis.call('EXPIRE', KEYS[1], 60)
for a in string.gmatch(agents, '%S+') do
  if redis.call('HGET', ARGV[1] .. a, 'offered') == ARGV[3] then redis.call('HDEL', ARGV[1] .. a, 'offered') end
end
redis.call('HINCRBY', ARGV[1] .. ARGV[2], 'chats', 1)
redis.call('HSET', ARGV[1] .. ARGV[2], 'missed', 0)
redis.call('ZREM', KEYS[2], ARGV[3])
redis.call('ZREM', KEYS[3], ARGV[3])
redis.call('HDEL', KEYS[4], ARGV[3])
return others
"""

# KEYS: offer. ARGV: agent key prefix, the member, missed (1/0). The offer ends unanswered (false when
# an agent took it meanwhile): {"ok", agent, missed in a row, agent, missed in a row, ...}.
WITHDRAW = """
if redis.call('HEXISTS', KEYS[1], 'taken') == 1 then return false end
local agents = redis.call('HGET', KEYS[1], 'agents') or ''
redis.call('DEL', KEYS[1])
local out = {'ok'}
for a in string.gmatch(agents, '%S+') do
  local key = ARGV[1] .. a
  if redis.call('HGET', key, 'offered') == ARGV[2] then redis.call('HDEL', key, 'offered') end
  local n = 0
  if ARGV[3] == '1' then n = redis.call('HINCRBY', key, 'missed', 1) end
  table.insert(out, a)
  table.insert(out, tostring(n))
end
return out
"""

# KEYS: the agent's hash, where (call index). ARGV: extension, now. 1 when the agent can take one more
# chat now (a transfer): the availability rules of CLAIM for a chat, but for queue membership and
# offers (a transfer is no offer); the chat is counted at once.
TAKE = """
local f = redis.call('HMGET', KEYS[1], 'paused', 'busy', 'wrap_until', 'chats', 'chat_limit', 'both')
if f[1] == '1' or tonumber(f[3] or '0') > tonumber(ARGV[2]) then return 0 end
local on_call = (f[2] or '') ~= '' or redis.call('HEXISTS', KEYS[2], 'line:' .. ARGV[1]) == 1
                or redis.call('HEXISTS', KEYS[2], 'ring:' .. ARGV[1]) == 1
if on_call and f[6] ~= '1' then return 0 end
if redis.call('ZCOUNT', KEYS[1] .. ':consoles', ARGV[2], '+inf') == 0 then return 0 end
if tonumber(f[4] or '0') >= tonumber(f[5] or 'CHAT_LIMIT') then return 0 end
redis.call('HINCRBY', KEYS[1], 'chats', 1)
return 1
""".replace("CHAT_LIMIT", str(state.CHAT_LIMIT))

# KEYS: the agent's hash. ARGV: now, wrap-up seconds, talk seconds. A chat of the agent's ended: one
# chat fewer (never below 0), wrap-up as the queue says, the counters grow as for a call.
CHAT_OVER = """
local left = redis.call('HINCRBY', KEYS[1], 'chats', -1)
if left < 0 then redis.call('HSET', KEYS[1], 'chats', 0) end
local now, wrap = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'last_end', now)
if wrap > 0 and tonumber(redis.call('HGET', KEYS[1], 'wrap_until') or '0') < now + wrap then
  redis.call('HSET', KEYS[1], 'wrap_until', now + wrap)
end
redis.call('HINCRBY', KEYS[1], 'calls', 1)
redis.call('HINCRBYFLOAT', KEYS[1], 'talk', ARGV[3])
redis.call('EXPIRE', KEYS[1], TTL)
return 1
""".replace("TTL", str(state.TTL))


CONSOLE_ALIVE = 30.0  # seconds a console counts as open without a word (it says so every CONSOLE_BEAT)
CONSOLE_BEAT = 10.0


async def console_open(redis, prefix: str, client: int, ext: str, console: str) -> None:
    """An agent's chat console is open (again): chats may be offered to them until CONSOLE_ALIVE from
    now; the dispatchers told."""
    key = state.agent_key(prefix, client, ext) + ":consoles"
    now = time.time()
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zremrangebyscore(key, "-inf", now).zadd(key, {console: now + CONSOLE_ALIVE}).expire(key, state.TTL)
        pipe.publish(state.channel(prefix), f"{client} *")
        await pipe.execute()


async def console_closed(redis, prefix: str, client: int, ext: str, console: str) -> None:
    await redis.zrem(state.agent_key(prefix, client, ext) + ":consoles", console)


def _texts(found) -> list[str]:
    return [x.decode() if isinstance(x, bytes) else str(x) for x in found or []]


def line_keys(prefix: str, client: int, queue: int) -> list[str]:
    return [state.queue_key(prefix, client, queue, what) for what in ("waiting", "offering", "seen")]


# Synchronous steps for the services (chat/agents.py) --------------------------------------------------


def accept(redis, prefix: str, client: int, queue: int, conversation_uuid, ext: str) -> list[str] | None:
    """The agent takes the offered chat: None when it is no longer theirs to take, else the other agents
    it was offered to (their offers are withdrawn)."""
    keys = [offer_key(prefix, client, conversation_uuid), *line_keys(prefix, client, queue)]
    found = redis.eval(ACCEPT, len(keys), *keys, state.agent_key(prefix, client, ""), ext, member(conversation_uuid))
    if not found:
        return None
    # The agent may take one more (their limit) and the other offered agents are free again: the
    # queue's dispatchers try the next chat now rather than at their next look.
    redis.publish(state.channel(prefix), f"{client} {queue}")
    return _texts(found)[1:]


def withdraw(redis, prefix: str, client: int, conversation_uuid, *, missed: bool) -> dict[str, int] | None:
    """The chat's offer ends unanswered: {agent: missed offers in a row}; None when it was taken."""
    found = redis.eval(WITHDRAW, 1, offer_key(prefix, client, conversation_uuid), state.agent_key(prefix, client, ""),
                       member(conversation_uuid), "1" if missed else "0")  # fmt: skip
    if not found:
        return None
    flat = _texts(found)[1:]
    return {flat[i]: int(flat[i + 1]) for i in range(0, len(flat), 2)}


def take(redis, prefix: str, client: int, ext: str) -> bool:
    keys = [state.agent_key(prefix, client, ext), f"{prefix}:where:{client}"]
    return bool(redis.eval(TAKE, len(keys), *keys, ext, time.time()))


def untake(redis, prefix: str, client: int, ext: str) -> None:
    """A chat counted for an agent (accept, transfer) that PostgreSQL then refused: not theirs after all."""
    redis.eval(UNTAKE, 1, state.agent_key(prefix, client, ext))


UNTAKE = """
if redis.call('HINCRBY', KEYS[1], 'chats', -1) < 0 then redis.call('HSET', KEYS[1], 'chats', 0) end
return 1
"""


def chat_over(redis, prefix: str, client: int, queue: int | None, ext: str, *, wrapup: int, talk: float) -> None:
    redis.eval(CHAT_OVER, 1, state.agent_key(prefix, client, ext), time.time(), wrapup, max(0.0, talk))
    redis.publish(state.channel(prefix), f"{client} {queue if queue else '*'}")


def leave(redis, prefix: str, client: int, queue: int, conversation_uuid) -> None:
    """Out of the line (waiting, offered, seen, owner)."""
    name = member(conversation_uuid)
    waiting, offering, seen = line_keys(prefix, client, queue)
    pipe = redis.pipeline(transaction=True)
    pipe.zrem(waiting, name).zrem(offering, name).hdel(seen, name)
    pipe.delete(owner_key(prefix, client, conversation_uuid))
    pipe.execute()


def rejoin(redis, prefix: str, client: int, queue: int, conversation_uuid, at: float) -> None:
    """Into a queue's line at `at` (a transfer to a queue keeps the chat's first join time), and the
    dispatchers told."""
    name = member(conversation_uuid)
    waiting, _offering, seen = line_keys(prefix, client, queue)
    pipe = redis.pipeline(transaction=True)
    pipe.zadd(waiting, {name: at}).hset(seen, name, time.time())
    pipe.delete(owner_key(prefix, client, conversation_uuid))  # (whoever served it in its old queue lets go)
    pipe.publish(state.channel(prefix), f"{client} {queue}")
    pipe.execute()


# KEYS: the queue's members. ARGV: the agent key prefix, now, the default chat limit. 1 when one of
# them takes chats now (as anyone_ready says), else 0: one round trip, however many agents.
READY = """
for _, ext in ipairs(redis.call('HKEYS', KEYS[1])) do
  local key = ARGV[1] .. ext
  local found = redis.call('HMGET', key, 'paused', 'chat_limit')
  local limit = tonumber(found[2]) or tonumber(ARGV[3])
  if found[1] ~= '1' and limit > 0 and redis.call('ZCOUNT', key .. ':consoles', ARGV[2], '+inf') > 0 then
    return 1
  end
end
return 0
"""


def anyone_ready(*, client, queue) -> bool:
    """Whether some agent of the queue answers chats now or soon: logged in to it, not paused, a chat
    limit above 0 and a chat console open (the consoles only Redis knows; chat/line.py's `anyone_ready`,
    the visitor's side, reads the agents again first when Redis lost them). A chat may still wait:
    they may be busy."""
    from config.redis_store import get_redis

    prefix = settings.OCX_REDIS_PREFIX
    members = state.queue_key(prefix, client.pk, queue.pk, "members")
    return bool(get_redis().eval(READY, 1, members, state.agent_key(prefix, client.pk, ""), time.time(),
                                 state.CHAT_LIMIT))  # fmt: skip


# The dispatcher (one per web process's event loop) ---------------------------------------------------


@dataclass
class Served:
    client: int
    queue: int
    uuid: str
    joined: float  # its score in the line
    offered_until: float = 0.0  # an offer rings until then (0: none)


_running: dict[int, Dispatcher] = {}


def ensure_running() -> Dispatcher:
    """This event loop's dispatcher, started if it is not yet (chat sockets call it as they open)."""
    loop = asyncio.get_running_loop()
    found = _running.get(id(loop))
    if found is None or found.task is None or found.task.done():
        found = _running[id(loop)] = Dispatcher()
        found.start()
    return found


async def stop_running() -> None:
    """Stop this event loop's dispatcher (its chats go to other processes at once)."""
    found = _running.pop(id(asyncio.get_running_loop()), None)
    if found is not None:
        await found.stop()


class Dispatcher:
    """This process's chats: taken when nobody serves them, claimed for at the head, offered, missed,
    timed out."""

    def __init__(self, redis=None, prefix: str | None = None):
        import redis.asyncio as aioredis

        # Every console of the process beats through this client too: a pool that waits for a free
        # connection, not one that fails past its size (redis-py's default, 100, failed 2 of 100 consoles).
        self.redis = redis or aioredis.Redis(
            connection_pool=aioredis.BlockingConnectionPool.from_url(settings.REDIS_URL, max_connections=50, timeout=20)
        )
        self.prefix = prefix or settings.OCX_REDIS_PREFIX
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuidlib.uuid4().hex[:8]}"
        self.served: dict[str, Served] = {}
        self.queues: dict[tuple[int, int], tuple[float, dict | None]] = {}
        self.woken = asyncio.Event()
        self.look_at: set[tuple[int, str]] = set()  # (client, queue or "*") named on the acd channel
        self.task: asyncio.Task | None = None
        self._follower: asyncio.Task | None = None
        self.stopping = False

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        """End after the current turn (a turn cut inside a database step could leave it half done)."""
        self.stopping = True
        self.woken.set()
        if self.task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self.task), 10)
        for task in (self._follower, self.task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for item in list(self.served.values()):  # others take them at once
            with contextlib.suppress(Exception):
                await self.redis.delete(owner_key(self.prefix, item.client, item.uuid))

    def told(self, text: str) -> None:
        client, _, queue = text.partition(" ")
        if client.isdigit():
            self.look_at.add((int(client), queue or "*"))
            self.woken.set()

    def wake(self) -> None:
        self.look_at.add((0, "all"))
        self.woken.set()

    async def run(self) -> None:
        self._follower = asyncio.get_running_loop().create_task(
            follow(self.redis.pubsub(), state.channel(self.prefix), self.told, resync=self.wake)
        )
        swept = 0.0
        while not self.stopping:
            try:
                now = time.time()
                looks, self.look_at = self.look_at, set()
                if now - swept >= SWEEP or (0, "all") in looks:
                    swept = now
                    await self.adopt(f"{self.prefix}:acd:*:q:*:")
                else:
                    for client, queue in looks:
                        await self.adopt(f"{state.base(self.prefix, client)}:q:{queue}:")
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis or PostgreSQL away for a moment: the next turn tries again
                log.exception("chat dispatch turn failed")
            if self.stopping:
                break
            self.woken.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.woken.wait(), POLL)

    async def adopt(self, pattern: str) -> None:
        """Take the chats nobody serves in the lines matching `<pattern>waiting` / `offering`."""
        for what in ("waiting", "offering"):
            async for key in self.redis.scan_iter(match=pattern + what, count=500):
                key = key.decode() if isinstance(key, bytes) else key
                parts = key.split(":")  # <prefix...>:acd:<client>:q:<queue>:<what>
                client, queue = int(parts[-4]), int(parts[-2])
                for name, score in await self.redis.zrangebyscore(key, "-inf", "+inf", withscores=True):
                    name = name.decode() if isinstance(name, bytes) else name
                    if not name.startswith("chat:") or name[5:] in self.served:
                        continue
                    uuid = name[5:]
                    if await self.redis.set(owner_key(self.prefix, client, uuid), self.id, nx=True, ex=int(STALE)):
                        item = Served(client, queue, uuid, score)
                        if what == "offering":  # its owner died during an offer: it ends now, missed
                            item.offered_until = 1.0
                        self.served[uuid] = item
                        log.info("chat %s of client %s: served by %s", uuid, client, self.id)

    async def queue_settings(self, client: int, queue: int) -> dict | None:
        at, found = self.queues.get((client, queue), (0.0, None))
        if time.monotonic() - at > QUEUE_CACHE:
            found = await database_sync_to_async(_queue_settings)(client, queue)
            self.queues[(client, queue)] = (time.monotonic(), found)
        return found

    async def step(self) -> None:
        now = time.time()
        heads: dict[tuple[int, int], list[Served]] = {}
        for item in await self.keep(sorted(self.served.values(), key=lambda s: s.joined)):
            queue = await self.queue_settings(item.client, item.queue)
            if queue is None:
                continue
            if item.offered_until and now >= item.offered_until:
                await self.missed(item, queue)
            most = queue["max_wait_seconds"]
            if most and not item.offered_until and now - item.joined >= most and await self.timed_out(item, most):
                continue
            if not item.offered_until:
                heads.setdefault((item.client, item.queue), []).append(item)
        for items in heads.values():
            # In join order while agents are found: each claim makes the next of ours the line's head
            # (CLAIM refuses a chat that is not the head, so another process's earlier chat stops us).
            for item in items:
                if not await self.claim(item, await self.queue_settings(item.client, item.queue)):
                    break

    async def keep(self, items: list[Served]) -> list[Served]:
        """Those still ours and still in their line, their ownership renewed; the others forgotten. Two
        Redis round trips for all of them, however many this process serves."""
        if not items:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for item in items:
                waiting, offering, _seen = line_keys(self.prefix, item.client, item.queue)
                name = member(item.uuid)
                pipe.get(owner_key(self.prefix, item.client, item.uuid)).zscore(waiting, name).zscore(offering, name)
            found = await pipe.execute()
        kept = []
        for n, item in enumerate(items):
            mine, in_waiting, in_offering = found[3 * n : 3 * n + 3]
            if (mine.decode() if isinstance(mine, bytes) else mine) != self.id or (
                in_waiting is None and in_offering is None
            ):
                self.served.pop(item.uuid, None)
                continue
            if in_waiting is not None:
                item.joined = in_waiting
            kept.append(item)
        if kept:
            async with self.redis.pipeline(transaction=False) as pipe:
                for item in kept:
                    pipe.expire(owner_key(self.prefix, item.client, item.uuid), int(STALE))
                await pipe.execute()
        return kept

    async def timed_out(self, item: Served, most: int) -> bool:
        if await database_sync_to_async(_timed_out)(item.client, item.uuid, most):
            self.served.pop(item.uuid, None)
            return True
        return False

    async def claim(self, item: Served, queue: dict) -> bool:
        """Offer the chat to the agents CLAIM chooses; whether it found any."""
        agents = await state.claim(self.redis, self.prefix, item.client, item.queue, member(item.uuid),
                                   queue["strategy"], time.time(), random.randrange(1 << 30))  # fmt: skip
        if not agents:
            return False
        until = time.time() + queue["ring_seconds"]
        key = offer_key(self.prefix, item.client, item.uuid)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key).hset(key, mapping={"agents": " ".join(agents), "queue": item.queue, "until": until})
            pipe.expire(key, int(queue["ring_seconds"]) + 120)
            await pipe.execute()
        item.offered_until = until
        events = await database_sync_to_async(_offer_events)(item.client, item.uuid, agents, until)
        for user_id, event in events:
            await publish_async(agent_group(item.client, user_id), event)
        return True

    async def missed(self, item: Served, queue: dict) -> None:
        """The offer's time is up: missed by every agent it rang, the chat back in its place."""
        found = await self.redis.eval(
            WITHDRAW, 1, offer_key(self.prefix, item.client, item.uuid), state.agent_key(self.prefix, item.client, ""),
            member(item.uuid), "1",
        )  # fmt: skip
        item.offered_until = 0.0
        if not found:
            return  # taken meanwhile: the accept took it out of the line
        flat = _texts(found)[1:]
        counts = {flat[i]: int(flat[i + 1]) for i in range(0, len(flat), 2)}
        await state.back_to_waiting(self.redis, self.prefix, item.client, item.queue, member(item.uuid), item.joined,
                                    time.time())  # fmt: skip
        events = await database_sync_to_async(_missed)(item.client, item.uuid, counts, queue["pause_after_missed"])
        for user_id, event in events:
            await publish_async(agent_group(item.client, user_id), event)


# Database steps (run in a thread; each enters the client's schema) -------------------------------------


def _in_client(client_id: int):
    from django_tenants.utils import tenant_context

    from tenants.models import Client

    return tenant_context(Client.objects.get(pk=client_id))


def _queue_settings(client_id: int, queue_id: int) -> dict | None:
    from queues.models import Queue

    with _in_client(client_id):
        return (
            Queue.objects.filter(pk=queue_id)
            .values("strategy", "ring_seconds", "max_wait_seconds", "pause_after_missed", "wrapup_seconds", "name")
            .first()
        )


def _offer_events(client_id: int, conversation_uuid: str, agents: list[str], until: float) -> list[tuple[int, dict]]:
    from chat.agents import offer_event

    with _in_client(client_id):
        return offer_event(conversation_uuid, agents, until)


def _missed(client_id: int, conversation_uuid: str, counts: dict[str, int], pause_after: int) -> list[tuple[int, dict]]:
    from chat.agents import offer_missed

    with _in_client(client_id):
        return offer_missed(conversation_uuid, counts, pause_after)


def _timed_out(client_id: int, conversation_uuid: str, max_wait: int) -> bool:
    from chat.agents import waited_too_long

    with _in_client(client_id) as _:
        from django.db import connection

        return waited_too_long(client=connection.tenant, conversation_uuid=conversation_uuid, max_wait=max_wait)
