"""Queues' live state in Redis, shared by every call engine (and written by the services):

    <prefix>:acd:<client>:loaded             "1" once rebuilt from PostgreSQL (missing: rebuild)
    <prefix>:acd:<client>:q:<queue>:members  hash  <ext> -> "<penalty> <order>", logged-in members only
    <prefix>:acd:<client>:q:<queue>:waiting  zset  <call uuid> by join time: callers not being offered
    <prefix>:acd:<client>:q:<queue>:offering zset  <call uuid> by join time: callers whose agents ring
    <prefix>:acd:<client>:q:<queue>:seen     hash  <call uuid> -> last time its engine said it waits
    <prefix>:acd:<client>:q:<queue>:stats    hash  answered, talk (seconds): the estimated wait's
    <prefix>:acd:<client>:agent:<ext>        hash  paused, reason, offered (call uuid or chat:<uuid>), busy
                                                   (call uuid), busy_since, wrap_until, last_end, calls, talk,
                                                   missed, rated, rating_total (after-call ratings), chats
                                                   (open chats), chat_limit, both (1: chats during calls)
    <prefix>:acd                             pub/sub: "<client> <queue or *>": try again, agents changed

An agent is available to a queue when logged in to it (its members hash), not paused, not offered
anything, out of wrap-up, and then, for a caller, not on a queue call nor on any other call: the call
index (telephony/callindex.py, `line:<ext>` and `ring:<ext>` in `<prefix>:where:<client>`) says that
for calls of every engine, at most its flush interval late. Chats wait in the same line as callers
(member `chat:<conversation uuid>`, chat/line.py, offered by chat/dispatch.py): a chat head takes an
agent with a chat console open (`<agent key>:consoles`, a zset of consoles by the time until which
each is alive, chat/console.py), fewer open `chats` than their `chat_limit`, and on no call; a caller
takes an agent with no chat open; unless the agent takes chats during calls (`both`). One script
decides for both.

`CLAIM` is the one atomic step of dispatch: only the head of the waiting callers may take agents, so
two engines never offer one agent twice nor let a later caller pass an earlier one; a head whose
engine stopped saying it waits (`seen` older than STALE seconds: the engine died) is dropped first,
unless it is a callback (`cb:<uuid>`, queues/callbacks.py), which another engine takes over. A chat's
`seen` is kept fresh by the web process holding its visitor (chat/line.py): a chat whose visitor's
process died is dropped as a caller is, and joins again in its old place when the visitor comes back.
Paused and logged-in come from PostgreSQL (queues.models) and are rebuilt from it whenever
`loaded` is missing (Redis restarted without its data): the counters start again from zero then.

Django-free apart from `rebuild` (which reads the models, in the client's schema).
"""

from __future__ import annotations

import time

STALE = 10.0  # seconds without a word from a waiting caller's engine before the caller is dropped
CHANNEL = "acd"
TTL = 7 * 86400  # an idle client's agents' counters go away after this long
CHAT_LIMIT = 2  # an agent's chats at once when no Agent row says otherwise (queues.models.Agent)


def base(prefix: str, client: int) -> str:
    return f"{prefix}:acd:{client}"


def queue_key(prefix: str, client: int, queue: int, what: str) -> str:
    return f"{base(prefix, client)}:q:{queue}:{what}"


def agent_key(prefix: str, client: int, ext: str) -> str:
    return f"{base(prefix, client)}:agent:{ext}"


def loaded_key(prefix: str, client: int) -> str:
    return f"{base(prefix, client)}:loaded"


def channel(prefix: str) -> str:
    return f"{prefix}:{CHANNEL}"


# KEYS: members, where (call index), waiting, offering, seen.
# ARGV: agent key prefix, call uuid, strategy, now, random seed, sticky extension ("": none), the
# channel and message that tell the engines to try again.
# Returns the extensions offered (empty: none now; the caller is not the head, or nobody is free).
# When agents are left free and callers wait, the engines are told at once: the next head takes them.
CLAIM = """
local members, where, waiting, offering, seen = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local agent_prefix, me, strategy, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local sticky = ARGV[6]
math.randomseed(tonumber(ARGV[5]))
while true do
  local head = redis.call('ZRANGE', waiting, 0, 0)[1]
  if not head then return {} end
  if head == me then break end
  local last = tonumber(redis.call('HGET', seen, head) or '0')
  if last >= now - STALE or string.sub(head, 1, 3) == 'cb:' then return {} end
  redis.call('ZREM', waiting, head)
  redis.call('HDEL', seen, head)
end
local chat = string.sub(me, 1, 5) == 'chat:'
local found = {}
local flat = redis.call('HGETALL', members)
for i = 1, #flat, 2 do
  local ext, spec = flat[i], flat[i + 1]
  local penalty, order = string.match(spec, '(%d+) (%d+)')
  local a = agent_prefix .. ext
  local f = redis.call('HMGET', a, 'paused', 'offered', 'busy', 'wrap_until', 'last_end', 'calls', 'talk',
                       'chats', 'chat_limit', 'both')
  local free = f[1] ~= '1' and (f[2] or '') == '' and tonumber(f[4] or '0') <= now
  if free then
    local on_call = (f[3] or '') ~= '' or redis.call('HEXISTS', where, 'line:' .. ext) == 1
                    or redis.call('HEXISTS', where, 'ring:' .. ext) == 1
    local chats, both = tonumber(f[8] or '0'), f[10] == '1'
    if chat then
      free = chats < tonumber(f[9] or 'CHAT_LIMIT') and (both or not on_call)
             and redis.call('ZCOUNT', a .. ':consoles', now, '+inf') > 0
    else
      free = not on_call and (both or chats <= 0)
    end
  end
  if free then
    table.insert(found, {ext = ext, penalty = tonumber(penalty), order = tonumber(order),
                         last_end = tonumber(f[5] or '0'), calls = tonumber(f[6] or '0'), talk = tonumber(f[7] or '0')})
  end
end
if #found == 0 then return {} end
local chosen = {}
for _, a in ipairs(found) do
  if a.ext == sticky then chosen = {a.ext} end
end
if #chosen == 0 then
  local best = nil
  for _, a in ipairs(found) do if best == nil or a.penalty < best then best = a.penalty end end
  local tier = {}
  for _, a in ipairs(found) do if a.penalty == best then table.insert(tier, a) end end
  table.sort(tier, function(x, y) if x.order ~= y.order then return x.order < y.order end return x.ext < y.ext end)
  if strategy == 'ring_all' then
    for _, a in ipairs(tier) do table.insert(chosen, a.ext) end
  elseif strategy == 'random' then
    chosen = {tier[math.random(#tier)].ext}
  else
    local field = ({longest_idle = 'last_end', fewest_calls = 'calls', least_talk = 'talk'})[strategy]
    local pick = tier[1]
    if field then
      for _, a in ipairs(tier) do if a[field] < pick[field] then pick = a end end
    end
    chosen = {pick.ext}
  end
end
for _, ext in ipairs(chosen) do redis.call('HSET', agent_prefix .. ext, 'offered', me) end
local score = redis.call('ZSCORE', waiting, me)
redis.call('ZREM', waiting, me)
redis.call('ZADD', offering, score, me)
if #found > #chosen and redis.call('ZCARD', waiting) > 0 then redis.call('PUBLISH', ARGV[7], ARGV[8]) end
return chosen
""".replace("STALE", str(STALE)).replace("CHAT_LIMIT", str(CHAT_LIMIT))

# KEYS[1] = the agent's hash; ARGV: call uuid, missed (1/0). Clears the agent's offer if it is this
# call's; returns the missed offers in a row after it (0 when not missed).
RELEASE = """
if redis.call('HGET', KEYS[1], 'offered') == ARGV[1] then redis.call('HDEL', KEYS[1], 'offered') end
if ARGV[2] == '1' then return redis.call('HINCRBY', KEYS[1], 'missed', 1) end
return 0
"""


async def claim(
    redis, prefix: str, client: int, queue: int, uuid: str, strategy: str, now: float, seed: int, sticky: str = ""
) -> list[str]:
    keys = [
        queue_key(prefix, client, queue, "members"),
        f"{prefix}:where:{client}",
        queue_key(prefix, client, queue, "waiting"),
        queue_key(prefix, client, queue, "offering"),
        queue_key(prefix, client, queue, "seen"),
    ]
    got = await redis.eval(CLAIM, len(keys), *keys, agent_key(prefix, client, ""), uuid, strategy, now, seed, sticky,
                           channel(prefix), f"{client} {queue}")  # fmt: skip
    return [e.decode() if isinstance(e, bytes) else str(e) for e in got or []]


# KEYS: waiting, offering, seen; ARGV: call uuid, join time, max callers (0: no limit). 0 when full,
# else the caller's position (one step, so two engines never let in one caller too many).
JOIN = """
local count = redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[2])
local most = tonumber(ARGV[3])
if most > 0 and count >= most then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return count + 1
"""


async def join(redis, prefix: str, client: int, queue: int, uuid: str, at: float, max_callers: int) -> int:
    """Add the caller (waiting since `at`); 0 when the queue holds `max_callers` already (0: no limit),
    else the caller's position."""
    keys = [queue_key(prefix, client, queue, what) for what in ("waiting", "offering", "seen")]
    return int(await redis.eval(JOIN, len(keys), *keys, uuid, at, max_callers))


async def back_to_waiting(redis, prefix: str, client: int, queue: int, uuid: str, at: float, now: float) -> None:
    """The caller's offers ended unanswered: waiting again in their place (`at`: when they joined)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zrem(queue_key(prefix, client, queue, "offering"), uuid)
        pipe.zadd(queue_key(prefix, client, queue, "waiting"), {uuid: at})
        pipe.hset(queue_key(prefix, client, queue, "seen"), uuid, now)  # (a long ring is no silence)
        await pipe.execute()


async def leave(redis, prefix: str, client: int, queue: int, uuid: str) -> None:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zrem(queue_key(prefix, client, queue, "waiting"), uuid)
        pipe.zrem(queue_key(prefix, client, queue, "offering"), uuid)
        pipe.hdel(queue_key(prefix, client, queue, "seen"), uuid)
        await pipe.execute()


async def still_waiting(redis, prefix: str, client: int, queue: int, uuid: str, now: float) -> None:
    await redis.hset(queue_key(prefix, client, queue, "seen"), uuid, now)


async def position(redis, prefix: str, client: int, queue: int, at: float) -> int:
    """The caller's place (1: next), counting those offered an agent now."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zcount(queue_key(prefix, client, queue, "waiting"), "-inf", f"({at}")
        pipe.zcount(queue_key(prefix, client, queue, "offering"), "-inf", f"({at}")
        return sum(await pipe.execute()) + 1


async def estimated_wait(redis, prefix: str, client: int, queue: int, place: int) -> int:
    """Seconds: the place times the queue's average talk time, shared among its logged-in agents."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hmget(queue_key(prefix, client, queue, "stats"), "answered", "talk")
        pipe.hlen(queue_key(prefix, client, queue, "members"))
        (answered, talk), agents = await pipe.execute()
    average = float(talk or 0) / int(answered) if answered and int(answered) else 60.0
    return int(place * average / max(1, agents))


async def release(redis, prefix: str, client: int, ext: str, uuid: str, *, missed: bool) -> int:
    return int(await redis.eval(RELEASE, 1, agent_key(prefix, client, ext), uuid, "1" if missed else "0"))


async def talking(redis, prefix: str, client: int, ext: str, uuid: str) -> None:
    key = agent_key(prefix, client, ext)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping={"busy": uuid, "busy_since": time.time(), "missed": 0}).hdel(key, "offered")
        pipe.expire(key, TTL)
        await pipe.execute()


async def call_over(
    redis, prefix: str, client: int, queue: int, ext: str, uuid: str, *, now: float, talk: float, wrapup: int
) -> None:
    """The agent's queue call ended: wrap-up starts, counters grow, the queue's engines try again."""
    key = agent_key(prefix, client, ext)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hdel(key, "busy").hset(key, mapping={"last_end": now, "wrap_until": now + wrapup})
        pipe.hincrby(key, "calls", 1).hincrbyfloat(key, "talk", talk)
        stats = queue_key(prefix, client, queue, "stats")
        pipe.hincrby(stats, "answered", 1).hincrbyfloat(stats, "talk", talk).expire(stats, TTL)
        pipe.publish(channel(prefix), f"{client} {queue}")
        await pipe.execute()


async def rated(redis, prefix: str, client: int, ext: str, rating: int) -> None:
    """A caller rated a call with the agent (1-5): the agent's `rated` and `rating_total` grow."""
    key = agent_key(prefix, client, ext)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hincrby(key, "rated", 1).hincrby(key, "rating_total", rating).expire(key, TTL)
        await pipe.execute()


async def agent_paused(redis, prefix: str, client: int, ext: str) -> bool:
    return (await redis.hget(agent_key(prefix, client, ext), "paused")) in (b"1", "1")


def rebuild(redis, prefix: str, client) -> None:
    """Write the client's logged-in members, paused agents and their chat settings from PostgreSQL
    (synchronous; runs in the client's schema), then tell the engines. Counters stay; when Redis lost
    the client's state (`loaded` missing), each agent's open chats are counted again from the
    conversations (chat.Conversation: PostgreSQL is the truth of who is in a chat)."""
    from queues.models import Agent, Member, Queue

    lost = not redis.exists(loaded_key(prefix, client.pk))
    pipe = redis.pipeline(transaction=True)
    for queue_id in Queue.objects.values_list("pk", flat=True):
        pipe.delete(queue_key(prefix, client.pk, queue_id, "members"))
    for queue_id, ext, penalty, order in Member.objects.filter(logged_in=True).values_list(
        "queue_id", "extension__number", "penalty", "order"
    ):
        pipe.hset(queue_key(prefix, client.pk, queue_id, "members"), ext, f"{penalty} {order}")
    for ext, paused, reason, limit, both in Agent.objects.values_list(
        "extension__number", "paused", "pause_reason", "chat_limit", "chats_during_calls"
    ):
        key = agent_key(prefix, client.pk, ext)
        fields = {"paused": "1" if paused else "0", "reason": reason, "chat_limit": limit, "both": "1" if both else "0"}
        pipe.hset(key, mapping=fields).expire(key, TTL)
    if lost:
        from chat.selectors import open_chats_by_extension

        for ext in set(Member.objects.values_list("extension__number", flat=True)):
            pipe.hset(agent_key(prefix, client.pk, ext), "chats", 0)
        for ext, count in open_chats_by_extension().items():
            pipe.hset(agent_key(prefix, client.pk, ext), "chats", count)
    pipe.set(loaded_key(prefix, client.pk), "1")
    pipe.publish(channel(prefix), f"{client.pk} *")
    pipe.execute()
