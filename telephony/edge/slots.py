"""The concurrent-call slots of the clients, checked against the calls the engines hold.

A phone's INVITE takes a slot in `<prefix>:calls:<client>` (proxy.py `take_call`) and the BYE that
ends the dialog gives it back, whatever the BYE's answer. A call can also end without a BYE through
this edge: the phone vanished and the engine's BYE went through another edge process that died, the
edge restarted between the INVITE and its answer, the engine died. So every `call_check` seconds
each edge frees the slots, older than two checks, whose Call-ID no engine it knows has in its
dialogs (telephony/callindex.py): an engine lists a call there from its first moment, and a dead
engine stays known until a survivor has ended its calls (or TRUSTED_FOR after its last heartbeat).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from telephony.callindex import dialog_call_ids, dialogs_key

if TYPE_CHECKING:
    from telephony.edge.server import Edge

log = logging.getLogger(__name__)


def calls_key(prefix: str, client: int | str) -> str:
    return f"{prefix}:calls:{client}"


async def free_unheld_slots(edge: Edge, *, older_than: float) -> int:
    """Free the slots taken more than `older_than` seconds ago whose call no known engine holds; how many."""
    redis, prefix = edge.redis, edge.config.redis_prefix
    held: set[str] = set()
    for engine_id in list(edge.engines.engines):
        for entry in await redis.hvals(dialogs_key(prefix, engine_id)):
            held |= dialog_call_ids(entry)
    cutoff, freed = time.time() - older_than, 0
    async for key in redis.scan_iter(match=calls_key(prefix, "*"), count=500):
        stale = [m for m in await redis.zrangebyscore(key, "-inf", cutoff) if m.decode() not in held]
        if stale:
            freed += await redis.zrem(key, *stale)
            log.warning("%s: freed %d call slots no engine holds", key.decode(), len(stale))
    return freed


async def check_slots(edge: Edge) -> None:
    interval = edge.config.call_check
    while True:
        await asyncio.sleep(interval)
        try:
            await free_unheld_slots(edge, older_than=2 * interval)
        except Exception:  # Redis away for a moment: next round
            log.exception("call slots not checked")
