"""The queues' dispatch step in real Redis (queues/state.py CLAIM): only the head caller takes agents,
the lowest penalty tier with an available agent first, each strategy's choice within it, ring_all the
whole tier, the sticky agent first; paused, offered, busy, wrapping-up agents and agents on any call
(the call index) are not offered; a head whose engine went quiet is dropped; a missed offer counts."""

from __future__ import annotations

import asyncio
import itertools

import pytest
import redis.asyncio as aioredis
from django.conf import settings

from queues import state

CLIENT, QUEUE = 424242, 7
_runs = itertools.count()


@pytest.fixture
def acd():
    """(run(coroutine) -> result, the prefix): a fresh key prefix on the tests' Redis for each test."""
    prefix = f"{settings.OCX_REDIS_PREFIX}-acd{next(_runs)}"
    loop = asyncio.new_event_loop()
    client = aioredis.Redis.from_url(settings.REDIS_URL)

    def run(coroutine):
        return loop.run_until_complete(coroutine)

    yield run, client, prefix
    keys = run(client.keys(f"{prefix}:*"))
    if keys:
        run(client.delete(*keys))
    run(client.aclose())
    loop.close()


def setup(run, client, prefix, members: dict[str, tuple[int, int]], **agents: dict) -> None:
    for ext, (penalty, order) in members.items():
        run(client.hset(state.queue_key(prefix, CLIENT, QUEUE, "members"), ext, f"{penalty} {order}"))
    for ext, fields in agents.items():
        run(client.hset(state.agent_key(prefix, CLIENT, ext.lstrip("a")), mapping=fields))


def claim(run, client, prefix, uuid: str, strategy: str, *, now: float = 1000.0, sticky: str = "") -> list[str]:
    return run(state.claim(client, prefix, CLIENT, QUEUE, uuid, strategy, now, 1, sticky))


def join(run, client, prefix, uuid: str, at: float, most: int = 0) -> int:
    return run(state.join(client, prefix, CLIENT, QUEUE, uuid, at, most))


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [("in_order", ["101"]), ("longest_idle", ["103"]), ("fewest_calls", ["102"]), ("least_talk", ["103"]),
     ("ring_all", ["101", "102", "103"])],
)  # fmt: skip
def test_each_strategy_chooses_within_the_lowest_tier_with_an_available_agent(acd, strategy, expected):
    run, client, prefix = acd
    setup(run, client, prefix, {"101": (1, 1), "102": (1, 2), "103": (1, 3), "104": (2, 0), "105": (0, 0)},
          a101={"last_end": 50, "calls": 5, "talk": 90}, a102={"last_end": 40, "calls": 1, "talk": 80},
          a103={"last_end": 10, "calls": 3, "talk": 20}, a104={"last_end": 0, "calls": 0, "talk": 0},
          a105={"paused": "1"})  # fmt: skip
    join(run, client, prefix, "c1", 1.0)
    assert sorted(claim(run, client, prefix, "c1", strategy)) == expected  # 105 (tier 0) is paused
    offered = [run(client.hget(state.agent_key(prefix, CLIENT, ext), "offered")) for ext in expected]
    assert offered == [b"c1"] * len(expected)


def test_random_picks_one_agent_of_the_tier(acd):
    run, client, prefix = acd
    setup(run, client, prefix, {"101": (0, 0), "102": (0, 0), "103": (5, 0)})
    join(run, client, prefix, "c1", 1.0)
    assert claim(run, client, prefix, "c1", "random")[0] in ("101", "102")


def test_only_the_head_claims_and_the_next_caller_gets_the_next_agent(acd):
    run, client, prefix = acd
    setup(run, client, prefix, {"101": (0, 1), "102": (0, 2)})
    assert join(run, client, prefix, "first", 1.0) == 1
    assert join(run, client, prefix, "second", 2.0) == 2
    assert claim(run, client, prefix, "second", "in_order", now=3.0) == []  # not the head
    assert claim(run, client, prefix, "first", "in_order", now=3.0) == ["101"]
    assert claim(run, client, prefix, "second", "in_order", now=3.0) == ["102"]  # the head now
    assert run(state.position(client, prefix, CLIENT, QUEUE, 2.0)) == 2  # (offered callers still count)


def test_busy_wrapping_up_offered_and_on_another_call_agents_are_not_offered(acd):
    run, client, prefix = acd
    setup(run, client, prefix, {e: (0, n) for n, e in enumerate(("101", "102", "103", "104", "105"))},
          a101={"busy": "x"}, a102={"wrap_until": 2000}, a103={"offered": "y"})  # fmt: skip
    run(client.hset(f"{prefix}:where:{CLIENT}", "line:104", "engine-1"))  # 104 talks on a call of its own
    join(run, client, prefix, "c1", 1.0)
    assert claim(run, client, prefix, "c1", "ring_all") == ["105"]


def test_the_sticky_agent_comes_first_and_a_silent_head_is_dropped(acd):
    run, client, prefix = acd
    setup(run, client, prefix, {"101": (0, 1), "102": (9, 2)})
    join(run, client, prefix, "gone", 1.0)  # its engine died: no word since 1.0
    join(run, client, prefix, "c1", 2.0)
    run(client.hset(state.queue_key(prefix, CLIENT, QUEUE, "seen"), "c1", 100.0))
    assert claim(run, client, prefix, "c1", "in_order", now=100.0, sticky="102") == ["102"]
    assert run(client.zscore(state.queue_key(prefix, CLIENT, QUEUE, "waiting"), "gone")) is None


def test_missed_offers_count_until_the_agent_talks(acd):
    run, client, prefix = acd
    setup(run, client, prefix, {"101": (0, 0)})
    join(run, client, prefix, "c1", 1.0)
    assert claim(run, client, prefix, "c1", "in_order") == ["101"]
    assert run(state.release(client, prefix, CLIENT, "101", "c1", missed=True)) == 1
    run(state.back_to_waiting(client, prefix, CLIENT, QUEUE, "c1", 1.0, 1000.0))
    assert claim(run, client, prefix, "c1", "in_order") == ["101"]
    assert run(state.release(client, prefix, CLIENT, "101", "c1", missed=True)) == 2
    run(state.talking(client, prefix, CLIENT, "101", "c1"))
    assert run(client.hget(state.agent_key(prefix, CLIENT, "101"), "missed")) == b"0"


def test_a_full_queue_lets_nobody_in(acd):
    run, client, prefix = acd
    assert join(run, client, prefix, "c1", 1.0, most=2) == 1
    assert join(run, client, prefix, "c2", 2.0, most=2) == 2
    assert join(run, client, prefix, "c3", 3.0, most=2) == 0
    assert run(client.zcard(state.queue_key(prefix, CLIENT, QUEUE, "waiting"))) == 2


def test_a_claim_that_leaves_agents_free_while_callers_wait_tells_the_engines(acd):
    """The head takes one of two free agents: the engines are told at once, so that the next head
    (on whichever engine) takes the other; with nobody left waiting, or no agent left free, no news."""
    run, client, prefix = acd
    setup(run, client, prefix, {"101": (0, 1), "102": (0, 2)})
    for n, uuid in enumerate(("c1", "c2", "c3")):
        join(run, client, prefix, uuid, float(n))
    heard = client.pubsub()

    async def listen():
        await heard.subscribe(state.channel(prefix))
        await heard.get_message(timeout=1)  # (the subscription's own confirmation)

    async def news() -> list[str]:
        found = []
        while (message := await heard.get_message(timeout=0.3)) is not None:
            found.append(message["data"].decode())
        return found

    run(listen())
    assert claim(run, client, prefix, "c1", "in_order") == ["101"]
    assert run(news()) == [f"{CLIENT} {QUEUE}"], "102 is free and c2, c3 wait"
    assert claim(run, client, prefix, "c2", "in_order") == ["102"]
    assert run(news()) == [], "nobody is free any more"
    run(heard.aclose())
