"""The call engines' registry in Redis: every engine heartbeats its SIP address and load, edges read it.

One hash, `<prefix>:engines`, field = engine id, value = the engine's JSON record. An engine writes
its record every HEARTBEAT seconds and deletes it when it stops; the edges take an engine whose
record is older than STALE_AFTER seconds for dead and send it no new calls. Django-free: the edge
and the engines both import it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

HEARTBEAT = 1.0
STALE_AFTER = 3.5


def registry_key(prefix: str) -> str:
    return f"{prefix}:engines"


@dataclass(frozen=True)
class EngineInfo:
    id: str
    host: str  # the engine's SIP address, where the edge sends it requests (UDP)
    port: int
    calls: int = 0  # calls the engine holds now
    capacity: int = 100  # calls it takes at most
    draining: bool = False  # stopping: finishes its calls and takes no new one
    free_ports: int = 0  # RTP port pairs left
    at: float = 0.0  # epoch seconds of the heartbeat
    conferences: int = 0  # conferences running
    participants: int = 0  # conference participants mixed (the conference ports in use)
    conference_capacity: int = 0  # participants it mixes at most
    database: bool = True  # it reaches PostgreSQL (else it takes only calls its cached dial plans route)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "at": self.at or time.time()})

    @classmethod
    def from_json(cls, text: str | bytes) -> EngineInfo:
        data = json.loads(text)
        return cls(str(data["id"]), str(data["host"]), int(data["port"]), int(data.get("calls", 0)),
                   int(data.get("capacity", 100)), bool(data.get("draining")), int(data.get("free_ports", 0)),
                   float(data.get("at", 0)), int(data.get("conferences", 0)), int(data.get("participants", 0)),
                   int(data.get("conference_capacity", 0)), bool(data.get("database", True)))  # fmt: skip

    def fresh(self, now: float | None = None) -> bool:
        return (now or time.time()) - self.at <= STALE_AFTER


def load(engine: EngineInfo, handed: int = 0) -> float:
    """The share of an engine's capacity in use: the calls it reported plus `handed`, the calls sent
    to it since its heartbeat by whoever is choosing."""
    return (engine.calls + handed) / max(engine.capacity, 1)


def by_load(engines: Iterable[EngineInfo], handed: Mapping[str, int] | None = None) -> list[EngineInfo]:
    """The engines that take calls (not draining, below their capacity), least busy first, those
    that lost PostgreSQL last (they take only what their cached dial plans route). The one ordering
    rule for every choice of engine: the edge's new calls, click-to-call, conferences, campaigns."""
    handed = handed or {}
    ready = [e for e in engines if not e.draining and load(e, handed.get(e.id, 0)) < 1]
    return sorted(ready, key=lambda e: (not e.database, load(e, handed.get(e.id, 0))))


def least_busy(engines: Iterable[EngineInfo], handed: Mapping[str, int] | None = None) -> EngineInfo | None:
    """The first engine by_load() would choose; None when none takes calls."""
    ranked = by_load(engines, handed)
    return ranked[0] if ranked else None


def engine_channel(engine_id: str) -> str:
    """The channel-layer channel where an engine takes call-control commands (API -> engine)."""
    return "engine." + "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in engine_id)


def engine_heartbeat(redis, prefix: str, info: EngineInfo):
    """Publish an engine's record (redis-py sync or asyncio client: await the result of the latter)."""
    return redis.hset(registry_key(prefix), info.id, info.to_json())


def engine_withdraw(redis, prefix: str, engine_id: str):
    """Remove an engine's record when it stops (sync or asyncio client, as above)."""
    return redis.hdel(registry_key(prefix), engine_id)
