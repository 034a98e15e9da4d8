"""The edge's view of the call engines (telephony/engine_registry.py): refreshed from Redis every second.

New calls go to the least-busy live engine: the load an engine last reported plus the calls this
edge has handed it since, over its capacity, so a burst of INVITEs between two heartbeats spreads
over the engines instead of piling onto the one that looked idlest. Requests from an engine's
address are trusted (they carry calls the engine anchors); an engine stays known for TRUSTED_FOR
seconds after its last heartbeat so that in-dialog requests of a draining or restarting engine
still pass.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

from telephony.engine_registry import EngineInfo, by_load, registry_key

log = logging.getLogger(__name__)
REFRESH = 1.0
TRUSTED_FOR = 300.0


class EngineRegistry:
    def __init__(self, fast, prefix: str):
        self.fast = fast
        self.key = registry_key(prefix)
        self.engines: dict[str, EngineInfo] = {}
        self.addresses: dict[tuple[str, int], EngineInfo] = {}
        self.handed: Counter = Counter()  # engine id -> calls sent since its last heartbeat
        self.live: frozenset[str] = frozenset()  # the engines whose heartbeat is fresh, as last read
        self.on_change = None  # called when that set changes (the edge publishes its status at once)

    async def refresh(self) -> None:
        flat = await self.fast.call("HGETALL", self.key)
        engines = {}
        for index in range(0, len(flat or ()), 2):
            try:
                info = EngineInfo.from_json(flat[index + 1])
            except (ValueError, KeyError, TypeError):
                log.warning("bad engine record %r", flat[index])
                continue
            old = self.engines.get(info.id)
            if old is not None and old.at != info.at:
                self.handed[info.id] = 0  # its own count now includes what we sent it
            engines[info.id] = info
        now = time.time()
        self.engines = {k: v for k, v in engines.items() if now - v.at <= TRUSTED_FOR}
        self.addresses = {(v.host, v.port): v for v in self.engines.values()}
        live = frozenset(k for k, v in self.engines.items() if v.fresh(now))
        if live != self.live:
            self.live = live
            if self.on_change is not None:
                self.on_change()

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # Redis away for a moment: keep the last view
                log.exception("engine registry refresh failed")
            await asyncio.sleep(REFRESH)

    def is_engine(self, ip: str, port: int) -> bool:
        return (ip, port) in self.addresses

    def candidates(self) -> list[EngineInfo]:
        """Live engines that take calls, least busy first; those that lost PostgreSQL last (they
        answer 503 to what their cached dial plans cannot route, and the next engine gets it)."""
        now = time.time()
        return by_load((e for e in self.engines.values() if e.fresh(now)), self.handed)

    def by_id(self, engine_id: str) -> EngineInfo | None:
        """A live engine by id (draining or not), or None."""
        engine = self.engines.get(engine_id)
        return engine if engine is not None and engine.fresh() else None

    def handed_to(self, engine: EngineInfo) -> None:
        self.handed[engine.id] += 1
