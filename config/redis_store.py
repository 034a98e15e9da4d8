"""The platform's Redis connection for synchronous code, its key names, and a pub/sub follower.

Every key starts with OCX_REDIS_PREFIX so a test run, a benchmark and a running platform can share
one Redis server without meeting each other's data.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from functools import cache

import redis
from django.conf import settings


@cache
def get_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def rkey(*parts: object) -> str:
    return ":".join([settings.OCX_REDIS_PREFIX, *map(str, parts)])


# Concurrent calls counted against a limit (a client's at the edge, a carrier's in the engine): a sorted
# set of Call-IDs by the time they were counted, the ones older than a call can last dropped first.
# KEYS[1] = the set; ARGV: now, max age (s), limit, Call-ID. 1 = counted (or already), 0 = full.
CALL_LIMIT_SCRIPT = """
local key, now, age, limit, callid = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - age)
if redis.call('ZSCORE', key, callid) then return 1 end
if redis.call('ZCARD', key) >= limit then return 0 end
redis.call('ZADD', key, now, callid)
redis.call('EXPIRE', key, age)
return 1
"""

RESUBSCRIBE_FIRST, RESUBSCRIBE_LAST = 0.1, 1.0  # seconds between attempts to subscribe again, doubling


async def follow(pubsub, channel: str, apply, *, resync=None) -> None:
    """Call apply(text) for every message published on a channel, for the life of the process (the
    edges' and engines' invalidations and bans).

    Redis restarting, or out of reach for a while, ends a subscription without a word (PITFALLS.md:
    `PUBSUB NUMSUB` fell to 0 while every other call worked again), so it is renewed as soon as Redis
    answers again. What was published meanwhile is lost: resync() (a function, or a coroutine
    function) runs each time the subscription is confirmed, the first time included, so that the
    subscriber drops or reloads what it may have missed."""
    log = logging.getLogger(__name__)
    delay = RESUBSCRIBE_FIRST
    while True:
        try:
            await pubsub.subscribe(channel)
            async for message in pubsub.listen():
                if message["type"] == "subscribe":  # again after redis-py reconnected by itself too
                    delay = RESUBSCRIBE_FIRST
                    if resync is not None:
                        outcome = resync()
                        if inspect.isawaitable(outcome):
                            await outcome
                elif message["type"] == "message":
                    try:
                        apply(message["data"].decode())
                    except (ValueError, UnicodeDecodeError):
                        log.warning("bad message on %s: %r", channel, message["data"])
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            log.warning("subscription to %s lost (%s): renewing it in %.1f s", channel, exc, delay)
        except Exception:  # a bug in resync(): log it, and still never stop following
            log.exception("subscription to %s failed: renewing it in %.1f s", channel, delay)
        with contextlib.suppress(Exception):  # forget the dead connection and the channel, subscribe anew
            await pubsub.aclose()
        await asyncio.sleep(delay)
        delay = min(delay * 2, RESUBSCRIBE_LAST)
