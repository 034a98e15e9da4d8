"""Where a client's calls are, across call engines: written by the engines, read by the edges.

A call lives in one engine's memory, but the phone that wants it (to pick it up, retrieve it from
park, barge in, or consult and transfer) may reach any engine. So the engines keep a small index in
Redis per client and the edge sends such a phone's INVITE straight to the engine that holds the
call:

    <prefix>:where:<client>     hash  ring:<number> -> engine    a call is ringing that line
                                      line:<number> -> engine    that line has a call there
                                      park:<slot>   -> "<engine> <call id>"  parked in that slot
                                      conf:<id>     -> engine    the conference runs there
                                      num:<number>  -> engine    a running room's access number
    <prefix>:ringing:<client>   zset  "<number> <engine>" by start time (for *8: the oldest)
    <prefix>:dialogs:<engine>   hash  <call uuid> -> JSON {"client", "legs": [the SIP facts of each leg]}
    <prefix>:live:<client>      hash  <call id> -> the call's summary (JSON) as its last event had it:
                                      who is on each side now, held, parked, supervised (live views)

The dialogs hash says which calls an engine holds and how to end them: each leg's Call-ID, tags,
URIs, remote target, route set and last CSeq, and whether it is confirmed. The engine rewrites a
call's entry when its legs change (at most TICK seconds late, telephony/engine/liveness.py) and
removes it when the call ends. The edges free the concurrent-call slots of calls no live engine
holds (telephony/edge/slots.py); a survivor takes a dead engine's hash (`take_dialogs`) and sends
each confirmed leg a BYE, so that the phones of a lost engine's calls hang up.

A park slot is claimed with HSETNX, so two engines never give out the same slot. Entries are
removed only by the engine that wrote them (compare-and-delete), so a line with calls on two
engines keeps the newer one's entry. A dead engine's entries are removed by the survivor that finds
it dead (`forget_engine`, with its records): until then the edge, which no longer lists it, routes
as usual. The feature codes that name a call here (pickup, retrieve, supervision, conference) and
the field each reads are in telephony/features.py.

Django-free: the edge and the engines both import it.
"""

from __future__ import annotations

import asyncio
import json
import logging

log = logging.getLogger(__name__)
PARK_SLOTS = range(1, 21)  # slots 1..20 per client
ENTRY_TTL = 4 * 3600  # a client's index goes away after this long without a write

# KEYS[1] = hash; ARGV = field, value: delete the field only if it still holds our value.
DELETE_IF_MINE = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
"""


def where_key(prefix: str, client: int) -> str:
    return f"{prefix}:where:{client}"


def ringing_key(prefix: str, client: int) -> str:
    return f"{prefix}:ringing:{client}"


def dialogs_key(prefix: str, engine_id: str) -> str:
    return f"{prefix}:dialogs:{engine_id}"


def dialog_call_ids(entry: bytes | str) -> set[str]:
    """The Call-IDs of the legs of one dialogs entry (an unreadable entry has none)."""
    try:
        return {str(leg["call_id"]) for leg in json.loads(entry)["legs"]}
    except (ValueError, KeyError, TypeError):
        return set()


def live_key(prefix: str, client: int) -> str:
    return f"{prefix}:live:{client}"


class EngineIndex:
    """An engine's writes to the index (redis-py asyncio client). Lines are counted locally so that
    a line with two calls on this engine keeps its entry until both have ended.

    A call's writes (its lines, its ringing) cost no Redis round trip of their own: they are queued
    and `run()` writes what gathered in one pipeline every FLUSH seconds, in order. The edges read
    an index that is at most that much behind, which is nothing next to a person dialling a code.
    Claims (a park slot, a conference) need their answer at once: they flush first, then ask."""

    FLUSH = 0.05

    def __init__(self, redis, prefix: str, engine_id: str):
        self.redis, self.prefix, self.engine_id = redis, prefix, engine_id
        self.lines: dict[tuple[int, str], int] = {}
        self._queued: list[tuple] = []  # (pipeline method, *arguments), written in order

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.FLUSH)
            await self.flush()

    async def flush(self) -> None:
        if not self._queued:
            return
        commands, self._queued = self._queued, []
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for method, *arguments in commands:
                    getattr(pipe, method)(*arguments)
                await pipe.execute()
        except Exception:  # Redis away: the index is a routing hint, its entries expire on their own
            log.exception("could not write %d call index entries", len(commands))

    def _set(self, client: int, field: str) -> None:
        key = where_key(self.prefix, client)
        self._queued += [("hset", key, field, self.engine_id), ("expire", key, ENTRY_TTL)]

    def _unset(self, client: int, field: str, value: str | None = None) -> None:
        self._queued.append(("eval", DELETE_IF_MINE, 1, where_key(self.prefix, client), field,
                             value or self.engine_id))  # fmt: skip

    def ringing(self, client: int, number: str, since: float) -> None:
        self._set(client, f"ring:{number}")
        key = ringing_key(self.prefix, client)
        self._queued += [("zadd", key, {f"{number} {self.engine_id}": since}), ("expire", key, ENTRY_TTL)]

    def not_ringing(self, client: int, number: str) -> None:
        self._unset(client, f"ring:{number}")
        self._queued.append(("zrem", ringing_key(self.prefix, client), f"{number} {self.engine_id}"))

    def line_busy(self, client: int, number: str) -> None:
        count = self.lines.get((client, number), 0)
        self.lines[(client, number)] = count + 1
        if count == 0:
            self._set(client, f"line:{number}")

    def line_free(self, client: int, number: str) -> None:
        count = self.lines.get((client, number), 0) - 1
        if count > 0:
            self.lines[(client, number)] = count
            return
        self.lines.pop((client, number), None)
        self._unset(client, f"line:{number}")

    async def claim_slot(self, client: int, call_uuid) -> int | None:
        """The first free park slot of the client, now this engine's call's; None when all are taken."""
        await self.flush()
        key = where_key(self.prefix, client)
        for slot in PARK_SLOTS:
            if await self.redis.hsetnx(key, f"park:{slot}", f"{self.engine_id} {call_uuid}"):
                await self.redis.expire(key, ENTRY_TTL)
                return slot
        return None

    async def claim_conference(self, client: int, conference_id: str, access_number: str = "", *,
                               force: bool = False) -> str | None:  # fmt: skip
        """Run the conference here: None when claimed, else the engine that has it (force: take it)."""
        await self.flush()
        key = where_key(self.prefix, client)
        if force:
            await self.redis.hset(key, f"conf:{conference_id}", self.engine_id)
        elif not await self.redis.hsetnx(key, f"conf:{conference_id}", self.engine_id):
            owner = await self.redis.hget(key, f"conf:{conference_id}")
            if owner is not None and owner.decode() != self.engine_id:
                return owner.decode()
        if access_number:
            await self.redis.hset(key, f"num:{access_number}", self.engine_id)
        await self.redis.expire(key, ENTRY_TTL)
        return None

    def free_conference(self, client: int, conference_id: str, access_number: str = "") -> None:
        self._unset(client, f"conf:{conference_id}")
        if access_number:
            self._unset(client, f"num:{access_number}")

    def free_slot(self, client: int, slot: int, call_uuid) -> None:
        self._unset(client, f"park:{slot}", f"{self.engine_id} {call_uuid}")

    def dialog(self, call_uuid, entry: dict) -> None:
        """A call's legs as they are now (telephony/engine/liveness.py dialog_entry)."""
        key = dialogs_key(self.prefix, self.engine_id)
        self._queued += [("hset", key, str(call_uuid), json.dumps(entry)), ("expire", key, ENTRY_TTL)]

    def dialog_ended(self, call_uuid) -> None:
        self._queued.append(("hdel", dialogs_key(self.prefix, self.engine_id), str(call_uuid)))

    def dialogs_ended(self) -> None:
        """Every call of this engine ended (it stops)."""
        self._queued.append(("delete", dialogs_key(self.prefix, self.engine_id)))

    def live(self, client: int, summary: dict) -> None:
        """A call's state for the live views, replaced at each of its events."""
        key = live_key(self.prefix, client)
        self._queued += [("hset", key, summary["id"], json.dumps(summary)), ("expire", key, ENTRY_TTL)]

    def not_live(self, client: int, call_uuid: str) -> None:
        self._queued.append(("hdel", live_key(self.prefix, client), call_uuid))


async def take_dialogs(redis, prefix: str, engine_id: str) -> list[dict]:
    """A dead engine's dialogs entries, removed in the same step, so that only one survivor ends its
    calls (redis-py asyncio client)."""
    key = dialogs_key(prefix, engine_id)
    async with redis.pipeline(transaction=True) as pipe:
        entries, _ = await pipe.hvals(key).delete(key).execute()
    taken = []
    for raw in entries:
        try:
            taken.append(json.loads(raw))
        except ValueError:
            log.warning("unreadable dialogs entry of engine %s", engine_id)
    return taken


async def forget_engine(redis, prefix: str, engine_id: str) -> int:
    """Remove a dead engine's entries from every client's index (redis-py asyncio client): its park
    slots become free, *8 no longer finds its ringing calls first, its calls leave the live views.
    Compare-and-delete, so an entry another engine has written since stays. The number of entries
    removed."""
    removed = 0
    async for key in redis.scan_iter(match=where_key(prefix, "*"), count=500):
        for field, value in (await redis.hgetall(key)).items():
            if value.decode().split(" ", 1)[0] == engine_id:
                removed += await redis.eval(DELETE_IF_MINE, 1, key, field, value)
    async for key in redis.scan_iter(match=ringing_key(prefix, "*"), count=500):
        dead = [m for m in await redis.zrange(key, 0, -1) if m.decode().rsplit(" ", 1)[-1] == engine_id]
        if dead:
            removed += await redis.zrem(key, *dead)
    async for key in redis.scan_iter(match=live_key(prefix, "*"), count=500):
        for field, value in (await redis.hgetall(key)).items():
            if json.loads(value).get("engine") == engine_id:
                removed += await redis.eval(DELETE_IF_MINE, 1, key, field, value)
    return removed


def live_calls(redis, prefix: str, client: int) -> dict[str, dict]:
    """Call id -> the summary of each call the engines hold for the client (redis-py sync client: for
    the portal). A dead engine's entries stay until a survivor finds it dead (forget_engine)."""
    return {k.decode(): json.loads(v) for k, v in redis.hgetall(live_key(prefix, client)).items()}


def parked_calls(redis, prefix: str, client: int) -> dict[str, int]:
    """Call id -> park slot of a client's parked calls (redis-py sync client: for the portal)."""
    fields = redis.hgetall(where_key(prefix, client))
    parked = {}
    for field, value in fields.items():
        field, value = field.decode(), value.decode()
        if field.startswith("park:") and " " in value:
            parked[value.split(" ", 1)[1]] = int(field[5:])
    return parked
