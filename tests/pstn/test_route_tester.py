"""The route tester page and API: a number in, the carriers a brand would try now out, with why;
another brand's routes are a 404 (pstn/route_tester.py)."""

from __future__ import annotations

from django.conf import settings

from pstn.health import SERVER_ERROR, claim, record
from tests.pages import title_of
from tests.pstn.conftest import run

LONDON_DE = "0044 20 7946 0958"


def setup_routes(world, pstn_carrier, route_factory):
    cheap = pstn_carrier("Cheap", brand=world.brand_a, rates={"44": "0.0100"})
    dear = pstn_carrier("Dear", brand=world.brand_a, rates={"44": "0.0500"}, max_calls=1)
    failing = pstn_carrier("Failing", brand=world.brand_a, rates={"44": "0.0010"})
    route_factory([cheap, dear, failing], name="UK least cost", pattern="44", mode="lcr")
    return cheap, dear, failing


def live_state(prefix_name, failing, dear):
    async def scenario(redis):
        for _ in range(5):
            await record(redis, prefix_name, failing.pk, SERVER_ERROR, 0, 0)
        assert await claim(redis, prefix_name, dear.pk, "call-1", 1)

    run(scenario)


def test_a_brand_operator_sees_the_order_and_why_in_the_portal(world, portal, pstn_carrier, route_factory):
    _, dear, failing = setup_routes(world, pstn_carrier, route_factory)
    live_state(settings.OCX_REDIS_PREFIX, failing, dear)
    empty = portal(world.brand_a_op).get("/routing/test/")
    assert (
        empty.status_code == 200
        and title_of(empty) == "Route tester"
        and "route-carriers" not in empty.content.decode()
    )
    page = portal(world.brand_a_op).get("/routing/test/", {"number": LONDON_DE, "country": "DE"})
    assert page.status_code == 200
    rows = page.context["rows"]
    assert [(r["carrier_name"], r["place"]) for r in rows] == [("Cheap", 1), ("Failing", None), ("Dear", None)]
    assert "out of service: 5 failures in a row" in rows[1]["reason"]
    assert "at its limit of 1 calls" in rows[2]["reason"] and rows[2]["in_use"] == 1
    text = page.content.decode()
    assert "UK least cost" in text and "+442079460958 (international)" in text and "0.0100" in text


def test_the_api_answers_for_the_callers_brand_and_god_names_the_brand(world, api, pstn_carrier, route_factory):
    setup_routes(world, pstn_carrier, route_factory)
    answer = api(world.brand_a_op).get("/api/v1/route-test/", {"number": "+44 20 7946 0958"})
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["brand"], body["number"], body["kind"], body["route"], body["mode"]) == (
        world.brand_a.pk, "+442079460958", "international", "UK least cost", "lcr")  # fmt: skip
    assert [(c["carrier_name"], c["place"], c["cost"]) for c in body["carriers"]] == [
        ("Failing", 1, "0.0010"), ("Cheap", 2, "0.0100"), ("Dear", 3, "0.0500")]  # fmt: skip
    god = api(world.god).get("/api/v1/route-test/", {"number": "+442079460958", "brand": world.brand_a.pk})
    assert god.status_code == 200 and len(god.json()["carriers"]) == 3
    emergency = api(world.brand_a_op).get("/api/v1/route-test/", {"number": "112", "country": "DE"})
    assert emergency.json()["kind"] == "emergency" and len(emergency.json()["carriers"]) == 3


def test_another_brands_routes_are_a_404_and_bad_input_a_field_error(world, api, portal, pstn_carrier, route_factory):
    setup_routes(world, pstn_carrier, route_factory)
    other = api(world.brand_b_op).get("/api/v1/route-test/", {"number": "+442079460958", "brand": world.brand_a.pk})
    assert other.status_code == 404
    page = portal(world.brand_b_op).get("/routing/test/", {"number": "+442079460958", "brand": world.brand_a.pk})
    assert page.status_code == 404
    assert api(world.god).get("/api/v1/route-test/", {"number": "+442079460958", "brand": 999999}).status_code == 404
    for account in (world.client_a1_op, world.user_a1):
        assert api(account).get("/api/v1/route-test/", {"number": "+442079460958"}).status_code == 404
        assert portal(account).get("/routing/test/", {"number": "+442079460958"}).status_code == 404
    mine = api(world.brand_b_op).get("/api/v1/route-test/", {"number": "+442079460958"})
    assert mine.status_code == 200 and mine.json()["route"] is None and mine.json()["carriers"] == []
    for query, field in (({"number": "abc"}, "number"), ({"number": "*72"}, "number"), ({"number": "\x00"}, "number"),
                         ({"number": "1" * 100}, "number"), ({"number": "+4420", "country": "XX"}, "country"),
                         ({}, "number")):  # fmt: skip
        bad = api(world.brand_a_op).get("/api/v1/route-test/", query)
        assert bad.status_code == 400 and field in bad.json()["fields"], (query, bad.content)
    no_brand = api(world.god).get("/api/v1/route-test/", {"number": "+442079460958"})
    assert no_brand.status_code == 400 and "brand" in no_brand.json()["fields"]
    page = portal(world.brand_a_op).get("/routing/test/", {"number": "abc", "country": "DE"})
    assert page.status_code == 200 and "Not a phone number" in page.content.decode()
    page = portal(world.god).get("/routing/test/", {"number": "+442079460958"})
    assert page.status_code == 200 and "Name the brand" in page.content.decode(), page.content.decode()[-1500:]
