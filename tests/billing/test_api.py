"""The rating API: decks with CSV import and export, plans, statements, unrated calls; field
errors as JSON, never a 500."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from billing.models import PricingPlan, RateDeck
from billing.rating import rate_new
from tests.billing.conftest import COST, HEADER, SELL


def upload(text: str | bytes, name: str = "deck.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode() if isinstance(text, str) else text, content_type="text/csv")


def test_a_brand_creates_imports_and_exports_a_deck(world, api):
    http = api(world.brand_a_op)
    created = http.post("/api/v1/rate-decks/", {"name": "Retail", "currency": "usd"}, format="json")
    assert created.status_code == 201, created.content
    deck = created.json()
    assert (deck["brand"], deck["currency"], deck["rate_count"]) == (world.brand_a.pk, "USD", 0)
    imported = http.post(f"/api/v1/rate-decks/{deck['id']}/import/", {"file": upload(SELL)}, format="multipart")
    assert imported.status_code == 200, imported.content
    assert imported.json() == {"imported": 6}
    exported = http.get(f"/api/v1/rate-decks/{deck['id']}/export/")
    assert exported.status_code == 200
    assert exported["Content-Type"].startswith("text/csv")
    assert b"".join(exported.streaming_content).decode().replace("\r\n", "\n") == SELL
    rates = http.get(f"/api/v1/rate-decks/{deck['id']}/rates/", {"search": "447"}).json()
    assert [(r["prefix"], r["price_per_minute"]) for r in rates["results"]] == [("447", "0.1000"), ("447", "0.0800")]
    assert http.get(f"/api/v1/rate-decks/{deck['id']}/rates/", {"search": "london"}).json()["count"] == 1
    assert http.get("/api/v1/rate-decks/").json()["results"][0]["rate_count"] == 6


def test_a_bad_file_answers_every_problem_and_changes_nothing(world, api, deck_factory):
    deck = deck_factory()
    http = api(world.brand_a_op)
    bad = HEADER + "44,UK,0.02,0,60,60,2026-01-01,\nabc,UK,zero,0,60,60,2026-01-01,\n"
    answer = http.post(f"/api/v1/rate-decks/{deck.pk}/import/", {"file": upload(bad)}, format="multipart")
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == "invalid-deck"
    assert body["detail"] == "The file has 2 problems; nothing was imported."
    assert [(p["line"], p["column"]) for p in body["problems"]] == [(3, "prefix"), (3, "price_per_minute")]
    assert body["fields"]["file"][0] == "Line 3, prefix: 'abc' is not 1 to 20 digits."
    assert deck.rates.count() == 6


@pytest.mark.parametrize(
    ("method", "url", "data", "field"),
    [
        ("post", "/api/v1/rate-decks/", {"name": "", "currency": "EUR"}, "name"),
        ("post", "/api/v1/rate-decks/", {"name": "X", "currency": "euro"}, "currency"),
        ("post", "/api/v1/rate-decks/", {"name": "Standard"}, "name"),  # taken
        ("post", "/api/v1/rate-decks/{deck}/import/", {}, "file"),
        ("post", "/api/v1/rate-decks/{deck}/import/", {"file": "not a file"}, "file"),
        ("post", "/api/v1/pricing-plans/", {"client": "{a1}", "deck": "{deck}", "monthly_fee": "-1"}, "monthly_fee"),
        ("post", "/api/v1/pricing-plans/", {"client": "{a1}", "deck": "{deck}", "kind": "gold"}, "kind"),
        ("post", "/api/v1/pricing-plans/", {"client": "{a1}", "deck": "{deck_b}"}, "deck"),  # another brand's deck
        ("post", "/api/v1/pricing-plans/", {"client": "{b1}", "deck": "{deck}"}, "client"),  # another brand's client
        (
            "post",
            "/api/v1/pricing-plans/",
            {"client": "{a1}", "deck": "{deck}", "conference_rate": "0.00001"},
            "conference_rate",
        ),
        ("post", "/api/v1/pricing-plans/", {"client": "{a2}", "deck": "{deck}"}, "client"),  # has a plan
        ("get", "/api/v1/statements/", {"month": "2026-13"}, "month"),
        ("get", "/api/v1/statements/{a1}/", {"month": "November"}, "month"),
        ("get", "/api/v1/unrated/", {"since": "yesterday"}, "since"),
        ("post", "/api/v1/unrated/retry/", {"until": "soon"}, "until"),
    ],
)
def test_field_errors_never_500(world, api, deck_factory, method, url, data, field):
    deck, deck_b = deck_factory(), deck_factory(brand=world.brand_b, name="B")
    PricingPlan.objects.create(client=world.client_a2, deck=deck)
    ids = {"deck": deck.pk, "deck_b": deck_b.pk, "a1": world.client_a1.pk, "a2": world.client_a2.pk,
           "b1": world.client_b1.pk}  # fmt: skip
    url = url.format(**ids)
    data = {key: value.format(**ids) if isinstance(value, str) else value for key, value in data.items()}
    http = api(world.brand_a_op)
    answer = http.get(url, data) if method == "get" else http.post(url, data, format="multipart")
    assert answer.status_code == 400, answer.content
    assert answer.json()["code"] in ("invalid", "invalid-deck")
    assert field in answer.json()["fields"], answer.json()


def test_plans_through_the_api(world, api, deck_factory):
    deck = deck_factory()
    http = api(world.brand_a_op)
    made = http.post("/api/v1/pricing-plans/", {"client": world.client_a1.pk, "deck": deck.pk, "kind": "flat",
                     "monthly_fee": "19.9900", "included_minutes": 100}, format="json")  # fmt: skip
    assert made.status_code == 201, made.content
    plan = made.json()
    assert (plan["kind"], plan["monthly_fee"], plan["included_minutes"]) == ("flat", "19.9900", 100)
    changed = http.patch(f"/api/v1/pricing-plans/{plan['id']}/", {"conference_rate": "0.0200"}, format="json")
    assert changed.status_code == 200
    assert (changed.json()["conference_rate"], changed.json()["monthly_fee"]) == ("0.0200", "19.9900")
    assert api(world.client_a1_op).get("/api/v1/pricing-plans/").json()["count"] == 1, "the client reads its plan"
    assert api(world.client_a1_op).patch(f"/api/v1/pricing-plans/{plan['id']}/", {"kind": "deck"},
                                         format="json").status_code == 403  # fmt: skip
    assert http.delete(f"/api/v1/pricing-plans/{plan['id']}/").status_code == 204
    assert not PricingPlan.objects.filter(client=world.client_a1).exists()


def test_platform_carriers_are_gods_brands_have_their_own(world, api):
    god = api(world.god)
    made = god.post("/api/v1/carriers/", {"name": "Wholesale", "priority": 5}, format="json")
    assert made.status_code == 201, made.content
    deck_id = made.json()["deck"]
    assert RateDeck.objects.get(pk=deck_id).carrier_id == made.json()["id"]
    imported = god.post(f"/api/v1/rate-decks/{deck_id}/import/", {"file": upload(COST)}, format="multipart")
    assert imported.json() == {"imported": 3}
    assert god.get("/api/v1/rate-decks/", {"carrier": made.json()["id"]}).json()["count"] == 1
    brand = api(world.brand_a_op)
    assert brand.get("/api/v1/carriers/").json()["count"] == 0
    assert brand.get(f"/api/v1/rate-decks/{deck_id}/").status_code == 404, "a carrier's deck is the platform's"
    mine = brand.post("/api/v1/carriers/", {"name": "Mine"}, format="json")
    assert mine.status_code == 201 and mine.json()["brand"] == world.brand_a.pk, "a brand's own carrier"
    assert brand.get(f"/api/v1/rate-decks/{mine.json()['deck']}/").status_code == 200
    assert api(world.client_a1_op).post("/api/v1/carriers/", {"name": "Ours"}, format="json").status_code == 403


def test_statements_and_unrated_through_the_api(world, api, priced, cdr_factory):
    cdr_factory(world.client_a1, number="442071234567", seconds=61)
    cdr_factory(world.client_a1, number="12125550100", seconds=60)
    rate_new()
    client = api(world.client_a1_op)
    listing = client.get("/api/v1/statements/", {"month": "2026-11"}).json()
    assert listing["month"] == "2026-11"
    assert [(line["company"], line["rated_calls"], line["unrated_calls"]) for line in listing["results"]] == [
        ("Client a1", 1, 1)]  # fmt: skip
    detail = client.get(f"/api/v1/statements/{world.client_a1.pk}/", {"month": "2026-11"}).json()
    assert (detail["total"], detail["unrated_calls"], detail["currency"]) == ("0.0110", 1, "EUR")
    assert detail["charges"][0]["description"] == "United Kingdom London"
    assert detail["plan"]["deck_name"] == "Standard"
    as_csv = client.get(f"/api/v1/statements/{world.client_a1.pk}/", {"month": "2026-11", "format": "csv"})
    assert as_csv.status_code == 200
    assert b"".join(as_csv.streaming_content).decode().splitlines()[-1] == "total,,,Total,,,,0.0110,EUR"
    unrated = api(world.brand_a_op).get("/api/v1/unrated/").json()
    assert [(u["callee_number"], u["reason"]) for u in unrated["results"]] == [
        ("12125550100", "No rate for 12125550100 in the deck Standard.")]  # fmt: skip
    retried = api(world.brand_a_op).post("/api/v1/unrated/retry/", {}, format="json")
    assert retried.json() == {"rated": 0, "unrated": 1}
    assert Decimal(detail["usage_total"]) == Decimal("0.0110")


def test_list_filters_are_checked_as_documented(world, api, deck_factory, carrier_factory, cdr_factory):
    """The calls' and the decks' list filters are in the OpenAPI document and read by the same
    serializers: a bad value is a field error (a Unicode digit in ?brand= was a 500)."""
    answered = cdr_factory(world.client_a1, direction="outbound")
    ringing = cdr_factory(world.client_a1, direction="internal", ended=False)
    calls = api(world.client_a1_op)

    def ids(**params) -> set[str]:
        answer = calls.get("/api/v1/calls/", params)
        assert answer.status_code == 200, answer.content
        return {c["id"] for c in answer.json()["results"]}

    assert ids() == {str(answered.call_uuid), str(ringing.call_uuid)}
    assert ids(active="1") == ids(active="true") == {str(ringing.call_uuid)}
    assert ids(active="0", direction="outbound", disposition="answered") == {str(answered.call_uuid)}
    assert ids(direction="", disposition="", since="", until="") == ids(), "an empty filter is no filter"
    bad = calls.get("/api/v1/calls/", {"active": "maybe", "direction": "sideways", "since": "2026-11-02T10:00:00Z",
                                       "until": "2026-11-02T09:00:00Z"})  # fmt: skip
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"active", "direction"}
    backwards = calls.get("/api/v1/calls/", {"since": "2026-11-02T10:00:00Z", "until": "2026-11-02T09:00:00Z"})
    assert backwards.json()["fields"] == {"until": ["Until must come after since."]}

    deck, carrier = deck_factory(), carrier_factory()
    god = api(world.god)
    assert [d["id"] for d in god.get("/api/v1/rate-decks/", {"brand": world.brand_a.pk}).json()["results"]] == [deck.pk]
    [cost] = god.get("/api/v1/rate-decks/", {"carrier": carrier.pk}).json()["results"]
    assert cost["brand"] is None and cost["carrier"] == carrier.pk, "a carrier's cost deck has no brand"
    for value in ("²", "abc", "0"):
        answer = god.get("/api/v1/rate-decks/", {"brand": value})
        assert answer.status_code == 400 and list(answer.json()["fields"]) == ["brand"], (value, answer.status_code)
