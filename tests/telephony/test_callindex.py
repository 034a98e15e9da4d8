"""The call index's clean-up after an engine dies (telephony/callindex.py forget_engine)."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis
from django.conf import settings

from telephony.callindex import EngineIndex, forget_engine, live_key, ringing_key, where_key

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
