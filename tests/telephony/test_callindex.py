"""The call index's clean-up after an engine dies (telephony/callindex.py forget_engine, take_dialogs)."""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace

import redis.asyncio as aioredis
from django.conf import settings

from telephony.callindex import (
    EngineIndex,
    dialogs_key,
    forget_engine,
    live_key,
    ringing_key,
    take_dialogs,
    where_key,
)
from telephony.engine.liveness import Watch

CLIENT = 7


def test_a_dead_engines_entries_go_and_its_park_slots_are_free_again():
    prefix = f"ocx-test-index-{uuid.uuid4().hex[:8]}"

    async def main():
        redis = aioredis.Redis.from_url(settings.REDIS_URL)
        try:
            dead, alive = EngineIndex(redis, prefix, "dead:1:5070"), EngineIndex(redis, prefix, "alive:2:5070")
            assert await dead.claim_slot(CLIENT, "call-a") == 1
            dead.ringing(CLIENT, "101", since=1.0)
            dead.line_busy(CLIENT, "102")
            alive.ringing(CLIENT, "103", since=2.0)
            alive.line_busy(CLIENT, "104")
            dead.live(CLIENT, {"id": "call-a", "engine": "dead:1:5070", "callee": "102"})
            alive.live(CLIENT, {"id": "call-b", "engine": "alive:2:5070", "callee": "104"})
            await dead.flush()
            await alive.flush()
            assert await alive.claim_slot(CLIENT, "call-b") == 2, "slot 1 is the dead engine's"

            assert await forget_engine(redis, prefix, "dead:1:5070") == 5
            where = {k.decode(): v.decode() for k, v in (await redis.hgetall(where_key(prefix, CLIENT))).items()}
            assert where == {"ring:103": "alive:2:5070", "line:104": "alive:2:5070", "park:2": "alive:2:5070 call-b"}
            assert await redis.zrange(ringing_key(prefix, CLIENT), 0, -1) == [b"103 alive:2:5070"]
            assert list(await redis.hgetall(live_key(prefix, CLIENT))) == [b"call-b"], "the dead engine's calls left"
            assert await alive.claim_slot(CLIENT, "call-c") == 1
            assert await forget_engine(redis, prefix, "dead:1:5070") == 0
        finally:
            for pattern in (where_key(prefix, "*"), ringing_key(prefix, "*"), live_key(prefix, "*")):
                async for key in redis.scan_iter(match=pattern):
                    await redis.delete(key)
            await redis.aclose()

    asyncio.run(main())


def test_an_engines_dialogs_are_taken_once_and_entries_of_calls_it_no_longer_has_are_pruned():
    """A dead engine's dialogs go to one survivor only; a live engine removes the entries of calls it
    no longer has (an HDEL lost while Redis was away) when it rewrites its entries."""
    prefix = f"ocx-test-index-{uuid.uuid4().hex[:8]}"

    async def main():
        redis = aioredis.Redis.from_url(settings.REDIS_URL)
        try:
            dead = EngineIndex(redis, prefix, "dead:1:5070")
            dead.dialog("call-a", {"client": CLIENT, "legs": [{"call_id": "x@phone", "confirmed": True}]})
            await dead.flush()
            first, second = await asyncio.gather(take_dialogs(redis, prefix, "dead:1:5070"),
                                                 take_dialogs(redis, prefix, "dead:1:5070"))  # fmt: skip
            assert sorted([first, second], key=len) == [[], [{"client": CLIENT, "legs": [
                {"call_id": "x@phone", "confirmed": True}]}]]  # fmt: skip

            live = EngineIndex(redis, prefix, "live:2:5070")
            live.dialog("ended-call", {"client": CLIENT, "legs": [{"call_id": "y@phone"}]})
            await live.flush()
            engine = SimpleNamespace(config=SimpleNamespace(redis_prefix=prefix), id="live:2:5070", redis=redis,
                                     callindex=live, live=lambda: [])  # fmt: skip
            await Watch(engine).prune()
            await live.flush()
            assert await redis.hkeys(dialogs_key(prefix, "live:2:5070")) == []
        finally:
            async for key in redis.scan_iter(match=f"{prefix}:*"):
                await redis.delete(key)
            await redis.aclose()

    asyncio.run(main())
