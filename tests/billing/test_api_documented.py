"""Answers full of real rows (rated and unrated calls, conference joins, plans of both kinds, a
carrier's cost deck) have the shape the OpenAPI document gives: the fuzzer's world has few rows, so
shapes such as a plan, a charge or a brandless deck are checked here."""

from __future__ import annotations

import pytest

from billing.rating import rate_new
from tests.billing.test_usage import write_usage
from tests.openapi import documented_get

NOVEMBER = {"since": "2026-11-01", "until": "2026-12-01"}


@pytest.fixture
def rated(world, priced, cdr_factory):
    write_usage(world, cdr_factory)
    cdr_factory(world.client_a1, number="442071234567", seconds=61)
    cdr_factory(world.client_a1, number="12125550100", seconds=60)  # no rate: unrated
    cdr_factory(world.client_a2, number="447700900123", seconds=600)  # the flat plan's minutes
    rate_new()
    return priced


def test_reports_and_statements_answer_as_documented(world, rated):
    for account in (world.god, world.brand_a_op, world.client_a1_op, world.user_a1):
        usage = documented_get(world, account, "/api/v1/reports/usage/", query=NOVEMBER).json()
        assert usage["results"] and usage["totals"]["events"] > 0
        documented_get(world, account, "/api/v1/reports/conference-usage/", query=NOVEMBER)
        documented_get(world, account, "/api/v1/reports/conference-detail/", query=NOVEMBER)
        documented_get(world, account, "/api/v1/calls/", query=NOVEMBER)
    for group in ("brand", "company", "person"):
        documented_get(world, world.god, "/api/v1/reports/usage/", query={**NOVEMBER, "group": group})
    for account in (world.god, world.brand_a_op, world.client_a1_op):
        lines = documented_get(world, account, "/api/v1/statements/", query={"month": "2026-11"}).json()
        assert lines["results"]
    for client in (world.client_a1, world.client_a2):  # a plan per call and a flat one
        statement = documented_get(world, world.god, "/api/v1/statements/{id}/", query={"month": "2026-11"},
                                   id=str(client.pk)).json()  # fmt: skip
        assert statement["plan"] is not None and statement["charges"]
    unrated = documented_get(world, world.god, "/api/v1/unrated/").json()
    assert [u["callee_number"] for u in unrated["results"]] == ["12125550100"]


def test_decks_plans_and_carriers_answer_as_documented(world, rated):
    decks = documented_get(world, world.god, "/api/v1/rate-decks/").json()["results"]
    assert any(deck["brand"] is None for deck in decks), "a carrier's cost deck has no brand"
    documented_get(world, world.god, "/api/v1/rate-decks/{id}/", id=str(rated["carrier"].decks.get().pk))
    documented_get(world, world.brand_a_op, "/api/v1/rate-decks/{id}/rates/", id=str(rated["deck_a"].pk))
    documented_get(world, world.god, "/api/v1/carriers/")
    plans = documented_get(world, world.god, "/api/v1/pricing-plans/").json()["results"]
    assert {plan["kind"] for plan in plans} == {"deck", "flat"}
    documented_get(world, world.client_a1_op, "/api/v1/pricing-plans/")
