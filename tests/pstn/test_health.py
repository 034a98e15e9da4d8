"""Carrier health from each carrier's own calls in Redis, and concurrent-call limits (pstn/health.py)."""

from __future__ import annotations

import asyncio

import pytest

from pstn.health import (
    ANSWERED,
    DOWN,
    IN,
    OUT,
    REFUSED,
    SERVER_ERROR,
    TIMEOUT,
    TRIAL,
    Thresholds,
    busy,
    claim,
    fails_over,
    in_use,
    outcome_for,
    record,
    release,
    snapshot,
)
from pstn.models import RoutingPolicy
from tests.pstn.conftest import run

T = 1_800_000_000.0
RULES = Thresholds(min_asr=50, max_server_errors=30, window=10, quiet=30)


async def calls(redis, prefix, carrier, outcomes, *, at=T, pdd=1.5, seconds=60):
    for index, outcome in enumerate(outcomes):
        await record(redis, prefix, carrier, outcome, pdd, seconds if outcome == ANSWERED else 0, now=at + index)


def test_figures_come_from_the_carriers_recent_calls_and_far_end_refusals_are_not_its_fault(prefix):
    async def scenario(redis):
        await calls(redis, prefix, 1, [ANSWERED] * 4 + [REFUSED] * 4 + [SERVER_ERROR, TIMEOUT])
        await calls(redis, prefix, 2, [REFUSED] * 10, pdd=0.8)
        return await snapshot(redis, prefix, [1, 2, 3], thresholds=RULES, now=T + 20)

    health = run(scenario)
    one = health[1]
    assert (one.calls, one.acd, one.streak, one.pdd) == (10, 60, 2, 1.5), "timeouts have no post-dial delay"
    assert one.asr == pytest.approx(66.67, 0.01), "4 answered of 6: the 4 busy callees are left out"
    assert one.server_errors == pytest.approx(33.33, 0.01)
    assert one.state == DOWN, "33% server errors is above the brand's 30%"
    assert health[2].state == IN and health[2].calls == 10, "busy callees everywhere: the carrier is fine"
    assert health[3] == type(one)(3), "no calls: in, nothing measured"


def test_a_failing_carrier_goes_down_then_out_and_comes_back_after_a_quiet_period_and_one_trial(prefix):
    async def scenario(redis):
        seen = []
        # 10 calls, 6 answered, 4 server errors (40% > 30%): tried last
        await calls(redis, prefix, 7, [ANSWERED, SERVER_ERROR] * 4 + [ANSWERED, ANSWERED])
        seen.append((await snapshot(redis, prefix, [7], thresholds=RULES, now=T + 10))[7].state)
        # then 5 failures in a row: out, and no trial call before the quiet period
        await calls(redis, prefix, 7, [TIMEOUT, SERVER_ERROR, TIMEOUT, SERVER_ERROR, TIMEOUT], at=T + 100)
        out = (await snapshot(redis, prefix, [7], thresholds=RULES, now=T + 110))[7]
        seen.append(out.state)
        assert "5 failures in a row" in out.reason and "trial call in" in out.reason
        # after 30 quiet seconds exactly one of several concurrent decisions gets the trial call
        states = await asyncio.gather(*(snapshot(redis, prefix, [7], thresholds=RULES, now=T + 140) for _ in range(5)))
        seen.append(sorted(s[7].state for s in states))
        # the trial fails: out for another quiet period
        await record(redis, prefix, 7, SERVER_ERROR, 0, 0, now=T + 141)
        seen.append((await snapshot(redis, prefix, [7], thresholds=RULES, now=T + 150))[7].state)
        seen.append((await snapshot(redis, prefix, [7], thresholds=RULES, now=T + 175))[7].state)
        # the next trial is answered: back in
        await record(redis, prefix, 7, ANSWERED, 1.0, 30, now=T + 176)
        back = (await snapshot(redis, prefix, [7], thresholds=RULES, now=T + 177))[7]
        seen.append((back.state, back.calls, back.streak))
        return seen

    assert run(scenario) == [DOWN, OUT, [OUT, OUT, OUT, OUT, TRIAL], OUT, TRIAL, (IN, 1, 0)]


def test_an_asr_well_below_the_minimum_takes_a_carrier_out_without_a_streak(prefix):
    async def scenario(redis):
        await calls(redis, prefix, 5, [SERVER_ERROR, ANSWERED, SERVER_ERROR, REFUSED, SERVER_ERROR, REFUSED] * 2)
        return await snapshot(redis, prefix, [5], thresholds=RULES, now=T + 15, trials=False)

    health = run(scenario)[5]
    assert health.state == OUT and "well below" in health.reason
    assert (health.calls, health.streak) == (10, 0), "the window: the last 10 calls; a busy callee ends a streak"
    assert (health.asr, health.server_errors) == (pytest.approx(16.67, 0.01), pytest.approx(83.33, 0.01))


def test_too_few_calls_say_nothing(prefix):
    async def scenario(redis):
        await calls(redis, prefix, 4, [SERVER_ERROR, SERVER_ERROR, ANSWERED])
        return await snapshot(redis, prefix, [4], thresholds=RULES, now=T + 5)

    health = run(scenario)[4]
    assert health.state == IN and "too few" in health.reason


def test_the_brands_routing_policy_gives_the_thresholds(world):
    assert Thresholds.for_brand(world.brand_a.pk) == Thresholds()
    RoutingPolicy.objects.create(brand=world.brand_a, min_asr=40, max_server_errors=10, window=50)
    assert Thresholds.for_brand(world.brand_a.pk) == Thresholds(40, 10, 50)


def test_a_carriers_concurrent_calls_are_limited_and_released(prefix):
    async def scenario(redis):
        taken = await asyncio.gather(*(claim(redis, prefix, 9, f"call-{i}", 3) for i in range(10)))
        winner = next(f"call-{i}" for i, ok in enumerate(taken) if ok)
        again = await claim(redis, prefix, 9, winner, 3)  # the same call again: still its one slot
        counts = await in_use(redis, prefix, [9, 10])
        full = await busy(redis, prefix, {9: 3, 10: 5, 11: 0})
        await release(redis, prefix, 9, winner)
        after = await busy(redis, prefix, {9: 3})
        unlimited = all(await asyncio.gather(*(claim(redis, prefix, 10, f"c{i}", 0) for i in range(20))))
        return taken.count(True), again, counts, full, after, unlimited

    assert run(scenario) == (3, True, {9: 3, 10: 0}, {9}, set(), True)


def test_the_edges_pipelined_redis_connection_serves_as_well(prefix):
    """The engine may hand the modules the edge's FastRedis (EVALSHA) instead of redis-py's client."""
    from django.conf import settings

    from pstn.policy import Policy, admit_international
    from telephony.edge.fastredis import FastRedis

    async def scenario():
        fast = FastRedis(settings.REDIS_URL)
        try:
            await calls(fast, prefix, 21, [SERVER_ERROR] * 5)
            found = await snapshot(fast, prefix, [21, 22], thresholds=RULES, now=T + 10)
            taken = [await claim(fast, prefix, 21, f"c{i}", 2) for i in range(3)]
            await release(fast, prefix, 21, "c0")
            counts = await in_use(fast, prefix, [21])
            policy = Policy(client_id=5, international_calls_per_hour=1)
            admitted = [await admit_international(fast, prefix, 5, policy, now=T, notify=lambda *a: None) for _ in "ab"]
            return found[21].state, found[22].state, taken, counts, admitted
        finally:
            fast.close()

    assert asyncio.run(scenario()) == (OUT, IN, [True, True, False], {21: 1}, [True, False])


@pytest.mark.parametrize(
    ("status", "outcome", "next_carrier"),
    [(200, ANSWERED, False), (486, REFUSED, False), (404, REFUSED, False), (603, REFUSED, False),
     (480, REFUSED, False), (487, REFUSED, False), (503, SERVER_ERROR, True), (500, SERVER_ERROR, True),
     (408, TIMEOUT, True), (None, TIMEOUT, True)],
)  # fmt: skip
def test_final_answers_are_outcomes_and_only_the_carriers_failures_fail_over(status, outcome, next_carrier):
    assert outcome_for(status) == outcome
    assert fails_over(outcome) is next_carrier
