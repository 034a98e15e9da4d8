"""A waiting chat's place in its queue's line: the queues' own Redis keys (queues/state.py), so calls
and chats wait in one line under one strategy. A chat's member id is "chat:<conversation uuid>",
scored by the conversation's start (its join time), in the queue's `waiting` zset; `seen` holds when
somebody last said it still waits.

Keeping a waiting chat fresh: `CLAIM` drops a head whose `seen` is older than state.STALE (10 s). A
call's engine refreshes its callers; for a chat it is the web process that holds the visitor's
socket (or long-poll): one task per web process (chat/keeper.py), not one per visitor, refreshes
every waiting chat it holds every KEEP seconds in one pipeline, and keeps doing so for a grace
period after the visitor's last socket closed (a page change, a reload). So a web process that dies
lets its waiting chats go stale and be dropped, as an engine's callers are; a visitor who comes back
(hello) joins again in their old place (the score is the conversation's start).

The functions here are synchronous (the services and the agents' side call them inside or outside a
request; the consumers through sync_to_async) and touch PostgreSQL only to read the client's agents
again when Redis lost them (`state.rebuild`).
"""

from __future__ import annotations

import time

from django.conf import settings
from django_tenants.utils import tenant_context

from chat import dispatch
from config.redis_store import get_redis
from queues import state

KEEP = 3.0  # seconds between refreshes of the waiting chats a web process holds (state.STALE is 10 s)


def member(conversation) -> str:
    return f"chat:{conversation.uuid}"


def _keys(client_id: int, queue_id: int) -> list[str]:
    prefix = settings.OCX_REDIS_PREFIX
    return [state.queue_key(prefix, client_id, queue_id, what) for what in ("waiting", "offering", "seen")]


def joined_at(conversation) -> float:
    return conversation.created_at.timestamp() if conversation.created_at else time.time()


# KEYS: waiting, offering, seen; ARGV: member, join time, now, max waiting (0: no limit). A member
# already in the line keeps its place (waiting or being offered); else it is added unless the line is
# full (0). Returns its place (1: next).
JOIN = """
local at = ARGV[2]
local there = redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZSCORE', KEYS[2], ARGV[1])
if not there then
  local most = tonumber(ARGV[4])
  if most > 0 and redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[2]) >= most then return 0 end
  redis.call('ZADD', KEYS[1], at, ARGV[1])
else
  at = there
end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
-- (scores as Redis wrote them: a Lua number printed back loses digits)
return redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. at) + redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. at) + 1
"""


def join(*, client, conversation) -> int:
    """Put a waiting chat in its queue's line (again: in its old place); its place, 0 when the queue
    holds its most waiting already (Queue.max_callers counts chats too). The queue's dispatchers are
    told to try again (the queues' pub/sub channel, as when an agent comes free)."""
    queue = conversation.queue
    if queue is None:
        return 0
    r = get_redis()
    _loaded(r, client)
    keys = _keys(client.pk, queue.pk)
    place = int(r.eval(JOIN, len(keys), *keys, member(conversation), repr(joined_at(conversation)), time.time(),
                       queue.max_callers or 0))  # fmt: skip
    if place:
        r.publish(state.channel(settings.OCX_REDIS_PREFIX), f"{client.pk} {queue.pk}")
    return place


def _loaded(r, client) -> None:
    if not r.exists(state.loaded_key(settings.OCX_REDIS_PREFIX, client.pk)):
        # Redis lost the client's agents (or never had them: a client whose queues only chat so far):
        # read them again from PostgreSQL, as an engine does for its first caller, or nobody is offered.
        with tenant_context(client):
            state.rebuild(r, settings.OCX_REDIS_PREFIX, client)


def leave(*, client, conversation) -> None:
    """Out of the line (waiting or being offered): the visitor left, an agent took it, or it closed."""
    if conversation.queue_id is None:
        return
    waiting, offering, seen = _keys(client.pk, conversation.queue_id)
    pipe = get_redis().pipeline(transaction=True)
    pipe.zrem(waiting, member(conversation)).zrem(offering, member(conversation)).hdel(seen, member(conversation))
    pipe.execute()


def position(*, client, conversation) -> int | None:
    """The chat's place in its line (1: next), counting calls and chats being offered; None when it is
    not in the line (taken, dropped or never joined)."""
    if conversation.queue_id is None:
        return None
    return positions(client_id=client.pk, members=[(conversation.queue_id, member(conversation))])[0]


def positions(*, client_id: int, members: list[tuple[int, str]]) -> list[int | None]:
    """Places of several chats of one client at once (queue id, member id): two round trips in all."""
    if not members:
        return []
    r = get_redis()
    pipe = r.pipeline(transaction=False)
    for queue_id, who in members:
        waiting, offering, _ = _keys(client_id, queue_id)
        pipe.zscore(waiting, who).zscore(offering, who)
    scores = pipe.execute()
    pipe = r.pipeline(transaction=False)
    wanted = []
    for i, (queue_id, _who) in enumerate(members):
        at = scores[2 * i] if scores[2 * i] is not None else scores[2 * i + 1]
        if at is None:
            wanted.append(False)
            continue
        waiting, offering, _ = _keys(client_id, queue_id)
        pipe.zcount(waiting, "-inf", f"({at}").zcount(offering, "-inf", f"({at}")
        wanted.append(True)
    counts = iter(pipe.execute())
    return [next(counts) + next(counts) + 1 if found else None for found in wanted]


def still_waiting(*, client_id: int, members: list[tuple[int, str]], now: float | None = None) -> None:
    """Refresh `seen` of waiting chats (queue id, member id) in one pipeline: the keeper's tick."""
    if not members:
        return
    now = time.time() if now is None else now
    pipe = get_redis().pipeline(transaction=False)
    for queue_id, who in members:
        pipe.hset(_keys(client_id, queue_id)[2], who, now)
    pipe.execute()


def last_seen(*, client_id: int, queue_id: int, who: str) -> float | None:
    value = get_redis().hget(_keys(client_id, queue_id)[2], who)
    return float(value) if value is not None else None


def anyone_ready(*, client, queue) -> bool:
    """Whether a visitor may start a chat in this queue now (else the widget shows its offline form):
    some agent of it takes chats and has a chat console open, as chat/dispatch.py offers chats only to
    those. Redis only, read again from PostgreSQL first when Redis lost the client's agents (runs in
    the client's schema then)."""
    if queue is None:
        return False
    _loaded(get_redis(), client)
    return dispatch.anyone_ready(client=client, queue=queue)
