"""The platform's Redis connection for synchronous code, and its key names.

Every key starts with OCX_REDIS_PREFIX so a test run, a benchmark and a running platform can share
one Redis server without meeting each other's data.
"""

from __future__ import annotations

from functools import cache

import redis
from django.conf import settings


@cache
def get_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def rkey(*parts: object) -> str:
    return ":".join([settings.OCX_REDIS_PREFIX, *map(str, parts)])
