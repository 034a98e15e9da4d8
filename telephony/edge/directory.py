"""The edge's view of the SIP directory (see telephony/directory.py): cached in the process.

Entries are fetched from Redis on first use and dropped when the platform publishes an
invalidation, so a REGISTER normally costs no lookup at all. Unknown domains are cached briefly
too, so scanning random domains cannot turn into a Redis load.

The directory itself can be missing (Redis restarted without its data, or was flushed). A lookup
that finds nothing then checks the directory's marker: when it is missing, the edge rebuilds the
directory from PostgreSQL (in a thread, one process at a time), waits for it a moment and looks
again; when it is still missing, DirectoryUnavailable (the request is answered 503, and never
counted as a wrong guess). The edge also checks the marker every few seconds and whenever its
subscription is renewed, so a Redis restart is repaired before the caches run out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from django.db import connections

from config.redis_store import follow
from telephony.directory import MARKER, sip_directory_ensure

log = logging.getLogger(__name__)
NEGATIVE_TTL = 5.0
POSITIVE_TTL = 300.0  # a backstop: invalidations normally arrive at once
PRESENT_FOR = 1.0  # seconds a seen marker is trusted: misses cost at most one EXISTS a second
REBUILD_WAIT = 2.0  # seconds a request waits for a missing directory before it is answered 503
REBUILD_EVERY = 1.0  # seconds between two rebuild attempts of this process (PostgreSQL may be away too)
WATCH_EVERY = 0.1  # seconds between two looks at the marker while it is missing


class DirectoryUnavailable(Exception):
    """The SIP directory is missing from Redis (being rebuilt): a request cannot be judged now."""


def rebuild_from_database() -> dict | None:
    """sip_directory_ensure() on a worker thread; that thread's database connection is closed after
    (rebuilds are rare, and PostgreSQL may restart between two)."""
    try:
        return sip_directory_ensure()
    finally:
        connections.close_all()


class EdgeDirectory:
    def __init__(self, fast, prefix: str, rebuild=rebuild_from_database):
        self.fast = fast  # the edge's pipelined connection (fastredis.py)
        self.prefix = prefix
        self.marker = f"{prefix}:{MARKER}"
        self.rebuild = rebuild  # blocking: runs on a thread
        self._domains: dict[str, tuple[float, dict | None]] = {}
        self._creds: dict[tuple[int, str], tuple[float, dict | None]] = {}
        self._present_until, self._present_on = 0.0, 0
        self._watcher: asyncio.Task | None = None  # while the marker is missing: rebuild, look again
        self._tasks: set[asyncio.Task] = set()
        self.on_pstn = None  # called when the phone-network part changed (the edge's carrier table)

    async def _fetch(self, cache: dict, key, redis_key: str, field: str) -> dict | None:
        raw = await self.fast.call("HGET", redis_key, field)
        record = json.loads(raw) if raw else None
        cache[key] = (time.monotonic() + (POSITIVE_TTL if record else NEGATIVE_TTL), record)
        return record

    async def _cached(self, cache: dict, key, redis_key: str, field: str) -> dict | None:
        hit = cache.get(key)
        if hit and hit[0] > time.monotonic():
            record = hit[1]
        else:
            record = await self._fetch(cache, key, redis_key, field)
        if record is None and not await self.present():
            if not await self.ensure():
                raise DirectoryUnavailable("the SIP directory is being rebuilt")
            record = await self._fetch(cache, key, redis_key, field)
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

    # The directory's presence ------------------------------------------------------------------------

    async def present(self) -> bool:
        # A marker seen is trusted a moment, on the connection it was seen on only: a new connection
        # may face a Redis that restarted empty.
        if self._present_until > time.monotonic() and self._present_on == self.fast.connections:
            return True
        if await self.fast.call("EXISTS", self.marker):
            self._present_until, self._present_on = time.monotonic() + PRESENT_FOR, self.fast.connections
            return True
        return False

    async def ensure(self, wait: float = REBUILD_WAIT) -> bool:
        """True when the directory is there, or came back (rebuilt here or elsewhere) within `wait`."""
        if await self.present():
            return True
        self.check_soon()
        try:
            await asyncio.wait_for(asyncio.shield(self._watcher), wait)
        except TimeoutError:
            return False
        return True

    def check_soon(self) -> None:
        """Start watching the marker (and rebuilding while it is missing) unless that is under way."""
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        last_attempt = 0.0
        while True:
            try:
                if await self.present():
                    return
                if time.monotonic() - last_attempt >= REBUILD_EVERY:
                    last_attempt = time.monotonic()
                    task = asyncio.get_running_loop().create_task(self._rebuild())
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            except Exception as exc:  # Redis away: look again a little later
                log.warning("SIP directory check failed: %s", exc)
                await asyncio.sleep(REBUILD_EVERY)
            await asyncio.sleep(WATCH_EVERY)

    async def _rebuild(self) -> None:
        try:
            await asyncio.to_thread(self.rebuild)
        except Exception:  # PostgreSQL or Redis away: the watcher tries again
            log.exception("the SIP directory could not be rebuilt")

    # Invalidations ------------------------------------------------------------------------------------

    def invalidate(self, message: str) -> None:
        kind, _, rest = message.partition(" ")
        if kind in ("all", "pstn") and self.on_pstn is not None:
            self.on_pstn()  # the carriers' table reads its part again
        if kind == "all":
            self._domains.clear()
            self._creds.clear()
        elif kind == "domain":
            self._domains.pop(rest, None)
            self._creds.clear()  # a client's state changed: its users' entries may be stale too
        elif kind == "cred":
            client, _, user = rest.partition(" ")
            self._creds.pop((int(client), user), None)

    def resync(self) -> None:
        """The subscription was (re)confirmed: invalidations may have been missed, and Redis may have
        come back without the directory."""
        self.invalidate("all")  # (the carrier table too)
        self._present_until = 0.0
        self.check_soon()

    async def listen(self, pubsub) -> None:
        """Apply invalidations as they are published (runs for the life of the edge)."""
        await follow(pubsub, f"{self.prefix}:sip:invalidate", self.invalidate, resync=self.resync)
