"""The outbound routing decision (pstn/routing.py): routes by position and pattern, priority, weight
and least-cost order, health and limits, emergency calls, carriers' number formats."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal

from billing.models import Rate
from pstn.health import DOWN, OUT, SERVER_ERROR, TRIAL, Health, claim, record
from pstn.models import Gateway, RoutingPolicy
from pstn.routing import Router
from tests.pstn.conftest import ALWAYS, run

LONDON = "+442079460958"


def names(choices):
    return [c.carrier_name for c in choices]


def test_the_first_matching_route_by_position_gives_its_carriers_in_priority_order(world, pstn_carrier, route_factory):
    one, two, three = (pstn_carrier(n, brand=world.brand_a) for n in ("One", "Two", "Three"))
    route_factory([(three, 1), (one, 2)], name="UK", pattern="44", position=5)
    route_factory([(one, 2), (two, 1)], name="Rest", position=10)
    route_factory([(three, 1)], name="Regex first but disabled", pattern="^44", kind="regex", position=1, enabled=False)
    route_factory([(two, 1)], name="Germany", pattern=r"49[1-9]\d+", kind="regex", position=7)
    router = Router.load(world.brand_a.pk)
    assert names(router.candidates(LONDON, {}, set())) == ["Three", "One"]
    assert names(router.candidates("+493012345678", {}, set())) == ["Two"]
    assert names(router.candidates("+12015550123", {}, set())) == ["Two", "One"]
    choice = router.candidates(LONDON, {}, set())[0]
    assert choice.carrier_id == three.pk and choice.reason == "priority 1"
    assert [(g.host, g.port, g.username, g.password) for g in choice.gateways] == [
        ("192.0.2.1", 5060, "trunk", "secret")
    ]


def test_no_route_no_carrier_and_other_brands_carriers_are_never_used(world, pstn_carrier, route_factory):
    mine, theirs = pstn_carrier("Mine", brand=world.brand_a), pstn_carrier("Theirs", brand=world.brand_b)
    platform = pstn_carrier("Platform")
    route_factory([(theirs, 1), (mine, 2), (platform, 3)], pattern="44")
    router = Router.load(world.brand_a.pk)
    assert names(router.candidates(LONDON, {}, set())) == ["Mine", "Platform"]
    assert router.candidates("+12015550123", {}, set()) == [], "no route matches"
    emergency = router.candidates("911", {}, set(), emergency=True)
    assert names(emergency) == ["Mine", "Platform"], "an emergency number no route names: every route's carriers"
    assert router.explain("911", {}, set(), emergency=True).route == "(emergency: every route's carriers)"
    assert Router.load(world.brand_b.pk).candidates(LONDON, {}, set()) == [], "brand B has no routes"


def test_least_cost_orders_by_the_longest_prefix_of_each_deck_and_leaves_out_carriers_without_a_rate(
    world, pstn_carrier, route_factory
):
    cheap_uk = pstn_carrier("Cheap UK", rates={"44": "0.0100", "447": "0.0900"}, brand=world.brand_a)
    cheap_mobile = pstn_carrier("Cheap mobile", rates={"44": "0.0200", "447": "0.0300"}, brand=world.brand_a)
    no_uk = pstn_carrier("No UK", rates={"49": "0.0010"}, brand=world.brand_a)
    # a rate that has ended, and one not yet in effect, are not the current price
    deck = cheap_mobile.decks.get()
    Rate.objects.create(deck=deck, prefix="4420", description="old", price_per_minute=Decimal("0.0001"),
                        effective_from=ALWAYS, effective_to=ALWAYS.replace(year=2021))  # fmt: skip
    Rate.objects.create(deck=deck, prefix="4420", description="future", price_per_minute=Decimal("0.0001"),
                        effective_from=ALWAYS.replace(year=2099))  # fmt: skip
    route_factory([cheap_mobile, no_uk, cheap_uk], mode="lcr")
    router = Router.load(world.brand_a.pk)
    landline = router.candidates(LONDON, {}, set())
    assert [(c.carrier_name, c.cost) for c in landline] == [("Cheap UK", Decimal("0.0100")),
                                                            ("Cheap mobile", Decimal("0.0200"))]  # fmt: skip
    assert names(router.candidates("+447400123456", {}, set())) == ["Cheap mobile", "Cheap UK"]
    explained = router.explain(LONDON, {}, set())
    assert [(c.carrier_name, c.place, c.reason) for c in explained.carriers][-1] == (
        "No UK",
        None,
        "no rate for this number in its deck",
    )
    emergency = router.candidates("999", {}, set(), emergency=True)
    assert names(emergency) == ["Cheap mobile", "No UK", "Cheap UK"], "no rate: every carrier anyway"


def test_weights_share_the_first_place(world, pstn_carrier, route_factory):
    heavy, light = pstn_carrier("Heavy", brand=world.brand_a), pstn_carrier("Light", brand=world.brand_a)
    route_factory([(heavy, 1, 3), (light, 1, 1)], mode="weight")
    router = Router.load(world.brand_a.pk)
    router.rng = random.Random(7)
    firsts = Counter(router.candidates(LONDON, {}, set())[0].carrier_name for _ in range(4000))
    assert 0.70 < firsts["Heavy"] / 4000 < 0.80, firsts
    assert all(len(router.candidates(LONDON, {}, set())) == 2 for _ in range(10)), "the other is the failover"


def test_health_moves_down_carriers_last_and_leaves_out_carriers_out_or_at_their_limit(
    world, pstn_carrier, route_factory
):
    a, b, c, d = (pstn_carrier(n, brand=world.brand_a, max_calls=5) for n in "ABCD")
    route_factory([(a, 1), (b, 2), (c, 3), (d, 4)])
    router = Router.load(world.brand_a.pk)
    health = {a.pk: Health(a.pk, DOWN, reason="ASR 10%"), b.pk: Health(b.pk, OUT, reason="5 failures in a row"),
              d.pk: Health(d.pk, TRIAL, reason="a trial call")}  # fmt: skip
    assert names(router.candidates(LONDON, health, {c.pk})) == ["D", "A"]
    assert router.limits()[a.pk] == 5
    explained = {r.carrier_name: r for r in router.explain(LONDON, health, {c.pk}, in_use={c.pk: 5}).carriers}
    assert (explained["D"].place, explained["A"].place, explained["B"].place, explained["C"].place) == (
        1,
        2,
        None,
        None,
    )
    assert "moved last: ASR 10%" in explained["A"].reason
    assert "out of service: 5 failures in a row" in explained["B"].reason
    assert "at its limit of 5 calls" in explained["C"].reason and explained["C"].in_use == 5
    emergency = router.candidates("+4412345", health, {c.pk}, emergency=True)
    assert names(emergency) == ["D", "A", "B", "C"], "an emergency call is never refused for health or limits"


def test_disabled_carriers_and_carriers_without_gateways_are_never_tried(world, pstn_carrier, route_factory):
    off = pstn_carrier("Off", brand=world.brand_a, enabled=False)
    bare = pstn_carrier("Bare", brand=world.brand_a, gateways=0)
    closed = pstn_carrier("Closed gateways", brand=world.brand_a)
    Gateway.objects.filter(carrier=closed).update(enabled=False)
    good = pstn_carrier("Good", brand=world.brand_a, gateways=2)
    route_factory([off, bare, closed, good])
    router = Router.load(world.brand_a.pk)
    assert names(router.candidates("112", {}, set(), emergency=True)) == ["Good"]
    assert len(router.candidates(LONDON, {}, set())[0].gateways) == 2
    reasons = {r.carrier_name: r.reason for r in router.explain(LONDON, {}, set()).carriers}
    assert reasons == {"Off": "priority 1; disabled", "Bare": "priority 1; no enabled gateway",
                       "Closed gateways": "priority 1; no enabled gateway", "Good": "priority 1"}  # fmt: skip


def test_numbers_are_written_as_each_carrier_wants(world, pstn_carrier, route_factory):
    plus = pstn_carrier("Plus", brand=world.brand_a)
    national = pstn_carrier("National", brand=world.brand_a, number_format="national", country="GB")
    german = pstn_carrier("German", brand=world.brand_a, number_format="national", country="DE")
    route_factory([(plus, 1), (national, 2), (german, 3)])
    router = Router.load(world.brand_a.pk)
    assert [c.number for c in router.candidates(LONDON, {}, set())] == [LONDON, "02079460958", "00442079460958"]
    assert [c.number for c in router.candidates("999", {}, set(), emergency=True)] == ["999"] * 3


def test_a_route_with_a_bad_regular_expression_is_skipped_not_fatal(world, pstn_carrier, route_factory):
    good = pstn_carrier("Good", brand=world.brand_a)
    route_factory([good], name="Broken", pattern="(44", kind="regex", position=1)
    route_factory([good], name="Fine", pattern="44", position=2)
    assert names(Router.load(world.brand_a.pk).candidates(LONDON, {}, set())) == ["Good"]


def test_route_reads_health_and_limits_from_redis_with_the_brands_thresholds(
    world, prefix, pstn_carrier, route_factory
):
    RoutingPolicy.objects.create(brand=world.brand_a, min_asr=50, max_server_errors=15, window=5)
    a, b, c = (pstn_carrier(n, brand=world.brand_a, max_calls=2) for n in "ABC")
    route_factory([(a, 1), (b, 2), (c, 3)])
    router = Router.load(world.brand_a.pk)
    assert (router.thresholds.min_asr, router.thresholds.window) == (50, 5)

    async def scenario(redis):
        before = names(await router.route(redis, prefix, LONDON))
        for outcome in ["answered"] * 4 + [SERVER_ERROR]:  # 20% errors > 15%, < 30%: down
            await record(redis, prefix, a.pk, outcome, 1.0, 30)
        assert await claim(redis, prefix, b.pk, "x", 2) and await claim(redis, prefix, b.pk, "y", 2)
        after = names(await router.route(redis, prefix, LONDON))
        emergency = names(await router.route(redis, prefix, "999", emergency=True))
        return before, after, emergency

    assert run(scenario) == (["A", "B", "C"], ["C", "A"], ["C", "A", "B"])
