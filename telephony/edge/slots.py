"""The concurrent-call slots of the clients, checked against the calls the engines hold.

A phone's INVITE takes a slot in `<prefix>:calls:<client>` (proxy.py `take_call`) and the BYE that
ends the dialog gives it back, whatever the BYE's answer. A call can also end without a BYE through
this edge: the phone vanished and the engine's BYE went through another edge process that died, the
edge restarted between the INVITE and its answer, the engine died. So every `call_check` seconds
each edge frees the slots, older than two checks, whose Call-ID no engine it knows has in its
dialogs (telephony/callindex.py): an engine lists a call there from its first moment, and a dead
engine stays known until a survivor has ended its calls (or TRUSTED_FOR after its last heartbeat).

The other way round, a confirmed dialog that the edge counted (its route carries the edge's signed
client parameter) and that has had no slot at two checks in a row takes its slot back: a phone
cannot shed its call from the count with a BYE the engine refuses while the call goes on. Two
checks, because an engine lists a call that just ended until its next tick.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING

from telephony.callindex import dialogs_key

if TYPE_CHECKING:
    from telephony.edge.server import Edge

log = logging.getLogger(__name__)


def calls_key(prefix: str, client: int | str) -> str:
    return f"{prefix}:calls:{client}"


class SlotCheck:
    def __init__(self, edge: Edge):
        self.edge = edge
        self.unslotted: set[tuple[int, str]] = set()  # counted dialogs without a slot at the last check

    async def held(self) -> tuple[set[str], set[tuple[int, str]]]:
        """The Call-IDs of the legs the known engines hold, and (client, Call-ID) of those the edge counts."""
        redis, prefix, proxy = self.edge.redis, self.edge.config.redis_prefix, self.edge.proxy
        held, counted = set(), set()
        for engine_id in list(self.edge.engines.engines):
            for raw in await redis.hvals(dialogs_key(prefix, engine_id)):
                try:
                    legs = json.loads(raw)["legs"]
                except (ValueError, KeyError, TypeError):
                    continue
                for leg in legs:
                    call_id = str(leg.get("call_id"))
                    held.add(call_id)
                    client = proxy.route_client(leg.get("route") or ()) if leg.get("confirmed") else None
                    if client is not None:
                        counted.add((client, call_id))
        return held, counted

    async def run_once(self, *, older_than: float) -> tuple[int, int]:
        """Free the slots taken more than `older_than` seconds ago whose call no known engine holds;
        count again the counted dialogs that had no slot at the last check either. (freed, taken back)"""
        redis, prefix = self.edge.redis, self.edge.config.redis_prefix
        held, counted = await self.held()
        now = time.time()
        freed = 0
        async for key in redis.scan_iter(match=calls_key(prefix, "*"), count=500):
            stale = [m for m in await redis.zrangebyscore(key, "-inf", now - older_than) if m.decode() not in held]
            if stale:
                freed += await redis.zrem(key, *stale)
                log.warning("%s: freed %d call slots no engine holds", key.decode(), len(stale))
        ordered = sorted(counted)
        async with redis.pipeline(transaction=False) as pipe:
            for client, call_id in ordered:
                pipe.zscore(calls_key(prefix, client), call_id)
            scores = await pipe.execute() if ordered else []
        unslotted = {dialog for dialog, score in zip(ordered, scores, strict=True) if score is None}
        again = unslotted & self.unslotted
        self.unslotted = unslotted - again
        for client, call_id in sorted(again):
            await redis.zadd(calls_key(prefix, client), {call_id: now}, nx=True)
            await redis.expire(calls_key(prefix, client), self.edge.config.call_max_age)
            log.warning("call %s of client %s goes on without a slot: counted again", call_id, client)
        return freed, len(again)


async def check_slots(edge: Edge) -> None:
    interval, check = edge.config.call_check, SlotCheck(edge)
    while True:
        await asyncio.sleep(interval)
        try:
            await check.run_once(older_than=2 * interval)
        except Exception:  # Redis away for a moment: next round
            log.exception("call slots not checked")
