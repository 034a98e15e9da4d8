"""The rating pages: a brand imports a deck (the report names the bad rows), searches its rows,
sets a client's plan; a client's operator reads and downloads its statements."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from billing.models import Carrier, PricingPlan, RateDeck
from billing.rating import rate_new
from tests.billing.conftest import HEADER, SELL
from tests.pages import field_error


def test_a_brand_imports_a_deck_from_the_portal(world, portal):
    http = portal(world.brand_a_op)
    created = http.post("/rating/decks/new/", {"name": "Retail", "currency": "EUR"})
    assert created.status_code == 302
    import_url = created["Location"]
    bad = HEADER + "44,UK,0.02,0,60,60,2026-01-01,\n44,UK,0.02,0,60,60,2026-01-01,\n4x,Bad,-1,0,60,60,,\n"
    page = http.post(import_url, {"file": SimpleUploadedFile("deck.csv", bad.encode())})
    assert page.status_code == 200
    report = page.content.decode()
    assert "The file has 3 problems; nothing was imported." in report
    assert "prefix 44 is already in effect then (line 2)." in report
    assert "&#x27;4x&#x27; is not 1 to 20 digits." in report
    assert "must not be negative." in report
    done = http.post(import_url, {"file": SimpleUploadedFile("deck.csv", SELL.encode())})
    assert done.status_code == 302
    rows = http.get(done["Location"], {"q": "4420"}).content.decode()
    assert "United Kingdom London" in rows and "France" not in rows
    assert "6 in all" in http.get(done["Location"]).content.decode()
    exported = http.get(done["Location"] + "export.csv")
    assert b"".join(exported.streaming_content).decode("utf-8-sig").replace("\r\n", "\n") == SELL


def test_a_brand_sets_a_clients_plan(world, portal, deck_factory):
    deck = deck_factory()
    http = portal(world.brand_a_op)
    assert "No plan" in http.get("/rating/plans/").content.decode()
    answer = http.post(f"/rating/plans/{world.client_a2.pk}/", {"kind": "flat", "deck": deck.pk,
                       "monthly_fee": "30", "included_minutes": "500", "conference_rate": ""})  # fmt: skip
    assert answer.status_code == 302
    plan = PricingPlan.objects.get(client=world.client_a2)
    assert (plan.kind, str(plan.monthly_fee), plan.included_minutes, plan.conference_rate) == ("flat", "30.0000", 500,
                                                                                                None)  # fmt: skip
    bad = http.post(f"/rating/plans/{world.client_a2.pk}/", {"kind": "flat", "deck": deck.pk, "monthly_fee": "-5"})
    assert bad.status_code == 200 and "greater than or equal to 0" in bad.content.decode()


def test_a_plan_with_several_bad_fields_shows_each_error_in_one_submission(world, portal, deck_factory):
    deck, other = deck_factory(), deck_factory(brand=world.brand_b, name="B standard")
    http = portal(world.brand_a_op)
    url = f"/rating/plans/{world.client_a2.pk}/"
    assert http.post(url, {"kind": "flat", "deck": deck.pk, "monthly_fee": "30"}).status_code == 302
    bad = {"kind": "bogus", "deck": other.pk, "monthly_fee": "-5", "included_minutes": "x", "conference_rate": "1e99"}
    answer = http.post(url, bad)
    assert answer.status_code == 200
    for field, text in [("kind", "valid choice"), ("deck", "valid choice"), ("monthly_fee", "greater than or equal"),
                        ("included_minutes", "whole number"), ("conference_rate", "digits")]:  # fmt: skip
        assert text in field_error(answer, field), (field, field_error(answer, field))
    answer = http.post(url, {"kind": "flat", "deck": "", "monthly_fee": "x", "included_minutes": "-1"})
    for field, text in [("deck", "required"), ("monthly_fee", "number"), ("included_minutes", "greater than")]:
        assert text in field_error(answer, field), (field, field_error(answer, field))
    plan = PricingPlan.objects.get(client=world.client_a2)
    assert (plan.kind, plan.deck_id, plan.monthly_fee) == ("flat", deck.pk, 30)


def test_statements_in_each_portal(world, portal, priced, cdr_factory):
    cdr_factory(world.client_a1, number="442071234567", seconds=61)
    cdr_factory(world.client_a1, number="12125550100", seconds=61)
    rate_new()
    client = portal(world.client_a1_op)
    listing = client.get("/statements/", {"month": "2026-11"}).content.decode()
    assert f"/statements/{world.client_a1.pk}/2026-11/" in listing
    nav = client.get("/").content.decode()
    assert 'href="/statements/"' in nav and 'href="/rating/"' not in nav
    page = client.get(f"/statements/{world.client_a1.pk}/2026-11/").content.decode()
    assert "United Kingdom London" in page and "0.0110 EUR" in page and "1 (not in the total until rated)" in page
    download = client.get(f"/statements/{world.client_a1.pk}/2026-11.csv")
    assert download["Content-Disposition"] == 'attachment; filename="statement-client-a1-2026-11.csv"'
    brand = portal(world.brand_a_op).get("/statements/", {"month": "2026-11"}).content.decode()
    assert "Client a1" in brand and "Client a2" in brand and "Client b1" not in brand
    assert 'href="/rating/"' in brand
    assert "Client b1" in portal(world.god).get("/statements/", {"month": "2026-11"}).content.decode()
    assert "Give a month as YYYY-MM" in portal(world.god).get("/statements/", {"month": "x"}).content.decode()


def test_god_manages_carriers(world, portal):
    http = portal(world.god)
    made = http.post("/rating/carriers/new/", {"name": "Wholesale", "priority": "3"})
    assert made.status_code == 302
    page = http.get("/rating/carriers/").content.decode()
    assert "Wholesale" in page
    assert "Wholesale" not in portal(world.brand_a_op).get("/rating/carriers/").content.decode()
    assert portal(world.client_a1_op).get("/rating/carriers/").status_code == 404


def test_deck_and_carrier_forms_show_every_bad_field_at_once(world, portal):
    from tests.pages import field_error

    http = portal(world.brand_a_op)
    assert http.post("/rating/decks/new/", {"name": "Retail", "currency": "EUR"}).status_code == 302
    deck = http.post("/rating/decks/new/", {"name": "retail", "currency": "EURO"})
    assert "already" in field_error(deck, "name") and "at most 3" in field_error(deck, "currency")
    assert http.post("/rating/decks/new/", {"name": "Wholesale", "currency": "EUR"}).status_code == 302
    other = RateDeck.objects.get(brand=world.brand_a, name="Wholesale")
    deck = http.post(f"/rating/decks/{other.pk}/", {"name": "Retail", "currency": "EURO"})
    assert "already" in field_error(deck, "name") and "at most 3" in field_error(deck, "currency")

    assert http.post("/rating/carriers/new/", {"name": "Wholesale", "priority": "3"}).status_code == 302
    carrier = http.post("/rating/carriers/new/", {"name": "wholesale", "priority": "x", "country": "XX",
                                                  "codecs": "PCMU,MP3"})  # fmt: skip
    assert carrier.status_code == 200
    for field, text in [("name", "exists already"), ("priority", "whole number"), ("country", "ISO 3166"),
                        ("codecs", "separated by commas")]:  # fmt: skip
        assert text in field_error(carrier, field), field
    http.post("/rating/carriers/new/", {"name": "Second", "priority": "4"})
    second = Carrier.objects.get(name="Second")
    edited = http.post(f"/rating/carriers/{second.pk}/", {"name": "wholesale", "priority": "x", "country": "XX",
                                                         "codecs": "PCMU,MP3"})  # fmt: skip
    for field, text in [("name", "exists already"), ("priority", "whole number"), ("country", "ISO 3166"),
                        ("codecs", "separated by commas")]:  # fmt: skip
        assert text in field_error(edited, field), field
    assert Carrier.objects.get(pk=second.pk).name == "Second"
