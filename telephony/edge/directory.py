"""The edge's view of the SIP directory (see telephony/directory.py): cached in the process.

Entries are fetched from Redis on first use and dropped when the platform publishes an
invalidation, so a REGISTER normally costs no lookup at all. Unknown domains are cached briefly
too, so scanning random domains cannot turn into a Redis load.
"""

from __future__ import annotations

import json
import time

from config.redis_store import follow

NEGATIVE_TTL = 5.0
POSITIVE_TTL = 300.0  # a backstop: invalidations normally arrive at once


class EdgeDirectory:
    def __init__(self, fast, prefix: str):
        self.fast = fast  # the edge's pipelined connection (fastredis.py)
        self.prefix = prefix
        self._domains: dict[str, tuple[float, dict | None]] = {}
        self._creds: dict[tuple[int, str], tuple[float, dict | None]] = {}

    async def _cached(self, cache: dict, key, redis_key: str, field: str) -> dict | None:
        hit = cache.get(key)
        now = time.monotonic()
        if hit and hit[0] > now:
            return hit[1]
        raw = await self.fast.call("HGET", redis_key, field)
        record = json.loads(raw) if raw else None
        cache[key] = (now + (POSITIVE_TTL if record else NEGATIVE_TTL), record)
        return record

    def peek(self, name: str) -> tuple[bool, dict | None]:
        """(True, record) when the domain's entry (None for an unknown domain) is cached, else (False, None)."""
        hit = self._domains.get(name)
        if hit and hit[0] > time.monotonic():
            return True, hit[1]
        return False, None

    async def domain(self, name: str) -> dict | None:
        return await self._cached(self._domains, name, f"{self.prefix}:sip:domain", name)

    async def credential(self, client_id: int, username: str) -> dict | None:
        return await self._cached(self._creds, (client_id, username), f"{self.prefix}:sip:cred:{client_id}", username)

    def invalidate(self, message: str) -> None:
        kind, _, rest = message.partition(" ")
        if kind == "all":
            self._domains.clear()
            self._creds.clear()
        elif kind == "domain":
            self._domains.pop(rest, None)
            self._creds.clear()  # a client's state changed: its users' entries may be stale too
        elif kind == "cred":
            client, _, user = rest.partition(" ")
            self._creds.pop((int(client), user), None)

    async def listen(self, pubsub) -> None:
        """Apply invalidations as they are published (runs for the life of the edge)."""
        await follow(pubsub, f"{self.prefix}:sip:invalidate", self.invalidate)
