"""Clients' outbound policies: classes and prefixes refused, emergency always allowed, the caller ID,
and the spending guard on international calls in Redis (pstn/policy.py)."""

from __future__ import annotations

import asyncio
import dataclasses

from channels.layers import get_channel_layer

from pstn.models import OutboundPolicy
from pstn.numbering import classify
from pstn.policy import Policy, admit_international, caller_id, load_policy, refusal, spent
from tenants.events import group_for_brand
from tenants.models import AuditEvent
from tests.pstn.conftest import run

HOUR0 = 1_800_000_000.0  # a fixed moment, so the tests' hour never changes under them


def test_a_client_without_a_policy_gets_the_defaults(world, number_factory):
    policy = load_policy(world.client_a1.pk)
    assert policy == Policy(client_id=world.client_a1.pk, brand_id=world.brand_a.pk, country="US")
    number_factory("+12015550100")
    assert load_policy(world.client_a1.pk).main_number == "+12015550100", "the client's first number"


def test_the_policy_is_read_with_its_main_number_as_e164(world, number_factory):
    world.client_a1.country = "DE"
    world.client_a1.save()
    number_factory("+493012345600")
    main = number_factory("+493012345699")
    OutboundPolicy.objects.create(client=world.client_a1, allow_mobile=False, allow_international=True,
                                  blocked_prefixes="+4490\n0044 70\n\n", caller_id="user", main_number=main,
                                  international_calls_per_hour=5, international_minutes_per_hour=7)  # fmt: skip
    policy = load_policy(world.client_a1.pk)
    assert (policy.country, policy.allow_mobile, policy.allow_international) == ("DE", False, True)
    assert policy.blocked_prefixes == ("+4490", "+4470")
    assert (policy.caller_id, policy.main_number) == ("user", "+493012345699")
    assert (policy.international_calls_per_hour, policy.international_minutes_per_hour) == (5, 7)


def test_classes_and_blocked_prefixes_are_refused_with_a_clear_reason():
    policy = Policy(client_id=1, country="DE", allow_mobile=False, blocked_prefixes=("+4930999",))
    national, mobile = classify("030 12345678", "DE"), classify("0151 23456789", "DE")
    abroad, premium = classify("0044 20 7946 0958", "DE"), classify("0900 1234567", "DE")
    assert refusal(policy, national) is None
    assert refusal(policy, classify("0800 1234567", "DE")) is None, "toll-free costs nothing"
    assert refusal(policy, mobile) == (403, "Calls to mobile numbers are not allowed by the company's outbound policy")
    assert refusal(policy, abroad)[0] == 403 and "international" in refusal(policy, abroad)[1]
    assert refusal(policy, premium)[0] == 403 and "premium" in refusal(policy, premium)[1], "premium: off by default"
    status, reason = refusal(policy, classify("030 99912345", "DE"))
    assert (status, reason) == (403, "Numbers starting +4930999 are blocked by the company's outbound policy")
    assert refusal(dataclasses.replace(policy, allow_international=True), abroad) is None


def test_emergency_numbers_are_never_refused_even_by_a_policy_that_blocks_everything():
    nothing = Policy(
        client_id=1, country="DE", allow_national=False, allow_mobile=False, blocked_prefixes=("+", "1", "11")
    )
    assert refusal(nothing, classify("112", "DE")) is None
    assert refusal(nothing, classify("110", "DE")) is None
    assert refusal(nothing, classify("030 12345678", "DE"))[0] == 403


def test_the_caller_id_is_the_users_number_when_the_policy_says_so_else_the_main_number():
    main = Policy(client_id=1, main_number="+493012345600")
    assert caller_id(main, ["+493012345601"]) == "+493012345600"
    assert caller_id(dataclasses.replace(main, caller_id="user"), ["+493012345601"]) == "+493012345601"
    assert caller_id(dataclasses.replace(main, caller_id="user"), []) == "+493012345600"
    assert caller_id(Policy(client_id=1), ["+493012345601"]) == "+493012345601", "no main number"
    assert caller_id(Policy(client_id=1), []) == ""


def test_a_burst_of_international_calls_is_stopped_at_the_limit_and_the_operators_are_told_once(world, prefix):
    policy = load_policy(world.client_a1.pk)
    policy = dataclasses.replace(policy, international_calls_per_hour=10)
    before = AuditEvent.objects.filter(action="pstn.spending_guard").count()

    async def burst(redis):
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(group_for_brand(world.brand_a.pk), channel)
        answers = await asyncio.gather(
            *(admit_international(redis, prefix, world.client_a1.pk, policy, now=HOUR0) for _ in range(50))
        )
        event = await asyncio.wait_for(layer.receive(channel), 10)
        later = await admit_international(redis, prefix, world.client_a1.pk, policy, now=HOUR0 + 60)
        next_hour = await admit_international(redis, prefix, world.client_a1.pk, policy, now=HOUR0 + 3600)
        await layer.group_discard(group_for_brand(world.brand_a.pk), channel)
        return answers, event, later, next_hour

    answers, event, later, next_hour = run(burst)
    try:
        assert answers.count(True) == 10, "exactly the limit goes through a concurrent burst"
        assert (later, next_hour) == (False, True)
        assert event["event"]["type"] == "pstn.spending_guard"
        assert "10 international calls" in event["event"]["message"]
        notices = AuditEvent.objects.filter(action="pstn.spending_guard")
        assert notices.count() == before + 1, "one notice an hour, not one per refused call"
        assert notices.first().client_id == world.client_a1.pk
    finally:  # written by the engine's thread, so committed: not rolled back with the test
        AuditEvent.objects.filter(action="pstn.spending_guard", client=world.client_a1).delete()


def test_minutes_spent_over_the_limit_refuse_the_next_international_call(prefix):
    policy = Policy(client_id=99, international_calls_per_hour=100, international_minutes_per_hour=2)
    told = []

    async def scenario(redis):
        def notify(*args):
            told.append(args)

        assert await admit_international(redis, prefix, 99, policy, now=HOUR0, notify=notify)
        await spent(redis, prefix, 99, 90, now=HOUR0)
        assert await admit_international(redis, prefix, 99, policy, now=HOUR0, notify=notify), "90 s < 2 min"
        await spent(redis, prefix, 99, 30, now=HOUR0)
        assert not await admit_international(redis, prefix, 99, policy, now=HOUR0, notify=notify)
        assert not await admit_international(redis, prefix, 99, policy, now=HOUR0, notify=notify)

    run(scenario)
    assert told == [(99, None, "2 international minutes this hour")]
