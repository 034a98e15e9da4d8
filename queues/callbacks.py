"""Queue callbacks' state in Redis (beside queues/state.py's keys), shared by every call engine:

    <prefix>:acd:callbacks                          set   "<client> <queue>": queues with callbacks
    <prefix>:acd:<client>:q:<queue>:callbacks       hash  cb:<call uuid> -> JSON: number, name, joined
                                                          (epoch), joined_at, tries, not_before, call
    <prefix>:acd:<client>:q:<queue>:lease:cb:<uuid> str   the engine that dispatches it (expires: LEASE)

A caller who pressed the queue's callback key hung up, and their place is kept: their entry in the
queue's `waiting` order is replaced by `cb:<call uuid>` with the same score (their join time), so it
is offered agents in turn like any caller (the same CLAIM step). No caller's call holds it any more,
so an engine holds it instead: every engine looks every ADOPT_EVERY seconds for callbacks without a
live lease and takes those it gets (SET NX), renews its leases while it lives, and dispatches them
(telephony/engine/applications/queue_callback.py). An engine that dies stops renewing: another one
takes its callbacks over within LEASE seconds, before the entry would be stale (state.STALE), and
CLAIM never drops a `cb:` head as stale anyway. Taking one over puts it back in the waiting order if
it was being offered, and frees the agents that dead engine had offered it to.
"""

from __future__ import annotations

import datetime as dt
import json

from queues.state import queue_key

PREFIX = "cb:"
LEASE = 6  # seconds a callback stays an engine's without it renewing the lease
ADOPT_EVERY = 1.0


def member(uuid: str) -> str:
    return f"{PREFIX}{uuid}"


def requested_info(*, call: str, number: str, name: str, joined: float) -> dict:
    """What a callback keeps of the caller who asked for it."""
    when = dt.datetime.fromtimestamp(joined, dt.UTC).isoformat()
    return {"call": call, "number": number, "name": name, "joined": joined, "joined_at": when, "tries": 0,
            "not_before": 0}  # fmt: skip


def all_key(prefix: str) -> str:
    return f"{prefix}:acd:callbacks"


def lease_key(prefix: str, client: int, queue: int, entry: str) -> str:
    return queue_key(prefix, client, queue, f"lease:{entry}")


# KEYS: waiting, offering, seen, callbacks, all; ARGV: call uuid, entry, join time, now, info, "<client> <queue>".
REQUEST = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[4])
redis.call('HSET', KEYS[4], ARGV[2], ARGV[5])
redis.call('SADD', KEYS[5], ARGV[6])
return 1
"""


async def request(redis, prefix: str, client: int, queue: int, uuid: str, *, at: float, now: float, info: dict) -> str:
    """The waiting caller `uuid` becomes a callback in their place (one step); the entry's name."""
    entry = member(uuid)
    keys = [queue_key(prefix, client, queue, what) for what in ("waiting", "offering", "seen", "callbacks")]
    await redis.eval(REQUEST, 5, *keys, all_key(prefix), uuid, entry, at, now, json.dumps(info), f"{client} {queue}")
    return entry


# KEYS[1]: the set of queues with callbacks; ARGV: key prefix, owner, lease seconds, now.
# Returns client, queue, entry, info for each callback leased now; frees a dead owner's agents and puts
# an entry being offered back in the waiting order.
ADOPT = """
local out = {}
for _, pair in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local client, queue = string.match(pair, '(%d+) (%d+)')
  local q = ARGV[1] .. ':acd:' .. client .. ':q:' .. queue .. ':'
  local flat = redis.call('HGETALL', q .. 'callbacks')
  if #flat == 0 then redis.call('SREM', KEYS[1], pair) end
  for i = 1, #flat, 2 do
    local entry = flat[i]
    if redis.call('SET', q .. 'lease:' .. entry, ARGV[2], 'NX', 'EX', ARGV[3]) then
      local score = redis.call('ZSCORE', q .. 'offering', entry)
      if score then
        redis.call('ZREM', q .. 'offering', entry)
        redis.call('ZADD', q .. 'waiting', score, entry)
      end
      redis.call('HSET', q .. 'seen', entry, ARGV[4])
      local agents = ARGV[1] .. ':acd:' .. client .. ':agent:'
      for _, ext in ipairs(redis.call('HKEYS', q .. 'members')) do
        local a = agents .. ext
        if redis.call('HGET', a, 'offered') == entry then redis.call('HDEL', a, 'offered') end
        if redis.call('HGET', a, 'busy') == entry then redis.call('HDEL', a, 'busy') end
      end
      table.insert(out, client) table.insert(out, queue) table.insert(out, entry) table.insert(out, flat[i + 1])
    end
  end
end
return out
"""


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def adopt(redis, prefix: str, owner: str, now: float) -> list[tuple[int, int, str, dict]]:
    """The callbacks no live engine holds, now `owner`'s: (client, queue, entry, info)."""
    flat = [_text(v) for v in await redis.eval(ADOPT, 1, all_key(prefix), prefix, owner, LEASE, now) or []]
    return [(int(flat[i]), int(flat[i + 1]), flat[i + 2], json.loads(flat[i + 3])) for i in range(0, len(flat), 4)]


# KEYS: lease, seen; ARGV: owner, lease seconds, entry, now. 1 while the lease is the owner's.
RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
return 1
"""


async def renew(redis, prefix: str, client: int, queue: int, entry: str, owner: str, now: float) -> bool:
    """Keep the lease (and the entry fresh in the queue); False when it is no longer `owner`'s."""
    keys = [lease_key(prefix, client, queue, entry), queue_key(prefix, client, queue, "seen")]
    return bool(await redis.eval(RENEW, 2, *keys, owner, LEASE, entry, now))


async def save(redis, prefix: str, client: int, queue: int, entry: str, info: dict) -> None:
    await redis.hset(queue_key(prefix, client, queue, "callbacks"), entry, json.dumps(info))


async def wait_again(redis, prefix: str, client: int, queue: int, entry: str, at: float, now: float) -> None:
    """In the waiting order again, in the place it had (`at`: when the caller joined)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zrem(queue_key(prefix, client, queue, "offering"), entry)
        pipe.zadd(queue_key(prefix, client, queue, "waiting"), {entry: at})
        pipe.hset(queue_key(prefix, client, queue, "seen"), entry, now)
        await pipe.execute()


async def out_of_line(redis, prefix: str, client: int, queue: int, entry: str) -> None:
    """Out of the queue's order meanwhile (between tries), still the engine's to try again."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zrem(queue_key(prefix, client, queue, "waiting"), entry)
        pipe.zrem(queue_key(prefix, client, queue, "offering"), entry)
        await pipe.execute()


async def done(redis, prefix: str, client: int, queue: int, entry: str) -> None:
    """The callback is over (connected, or dropped after its tries): gone from Redis."""
    async with redis.pipeline(transaction=True) as pipe:
        for what in ("waiting", "offering"):
            pipe.zrem(queue_key(prefix, client, queue, what), entry)
        pipe.hdel(queue_key(prefix, client, queue, "seen"), entry)
        pipe.hdel(queue_key(prefix, client, queue, "callbacks"), entry)
        pipe.delete(lease_key(prefix, client, queue, entry))
        await pipe.execute()


def pending(redis, prefix: str, client: int, queue: int) -> dict[str, dict]:
    """The queue's callbacks now (synchronous client: tests, portal)."""
    raw = redis.hgetall(queue_key(prefix, client, queue, "callbacks"))
    return {_text(k): json.loads(_text(v)) for k, v in raw.items()}
