"""The platform's Redis connection for synchronous code, its key names, and a pub/sub follower.

Every key starts with OCX_REDIS_PREFIX so a test run, a benchmark and a running platform can share
one Redis server without meeting each other's data.
"""

from __future__ import annotations

import logging
from functools import cache

import redis
from django.conf import settings


@cache
def get_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def rkey(*parts: object) -> str:
    return ":".join([settings.OCX_REDIS_PREFIX, *map(str, parts)])


async def follow(pubsub, channel: str, apply) -> None:
    """Call apply(text) for every message published on a channel, for the life of the process (the
    edges' and engines' invalidations and bans)."""
    await pubsub.subscribe(channel)
    async for message in pubsub.listen():
        if message["type"] == "message":
            try:
                apply(message["data"].decode())
            except (ValueError, UnicodeDecodeError):
                logging.getLogger(__name__).warning("bad message on %s: %r", channel, message["data"])
