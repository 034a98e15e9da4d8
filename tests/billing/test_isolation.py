"""Another brand's deck, plan or unrated call and another client's statement answer 404, in the API
and the portals, and nothing changes."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from billing.models import PricingPlan
from billing.rating import rate_new
from tests.billing.conftest import SELL


@pytest.fixture
def foreign(world, priced, cdr_factory):
    cdr_factory(world.client_b1, number="12125550100")  # an unrated call of brand B
    cdr_factory(world.client_a2, number="442071234567")
    rate_new()
    return priced


def test_another_brands_deck_answers_404_in_the_api(world, api, foreign):
    deck_b = foreign["deck_b"]
    http = api(world.brand_a_op)
    assert deck_b.pk not in [d["id"] for d in http.get("/api/v1/rate-decks/").json()["results"]]
    for url in (f"/api/v1/rate-decks/{deck_b.pk}/", f"/api/v1/rate-decks/{deck_b.pk}/rates/",
                f"/api/v1/rate-decks/{deck_b.pk}/export/"):  # fmt: skip
        assert http.get(url).status_code == 404, url
    assert http.patch(f"/api/v1/rate-decks/{deck_b.pk}/", {"name": "x"}, format="json").status_code == 404
    upload = SimpleUploadedFile("d.csv", b"prefix,description,price_per_minute\n1,x,1\n")
    assert http.post(f"/api/v1/rate-decks/{deck_b.pk}/import/", {"file": upload}, format="multipart").status_code == 404
    assert http.delete(f"/api/v1/rate-decks/{deck_b.pk}/").status_code == 404
    assert deck_b.rates.count() == 6
    plan_b = PricingPlan.objects.get(client=world.client_b1)
    assert http.get(f"/api/v1/pricing-plans/{plan_b.pk}/").status_code == 404
    assert http.delete(f"/api/v1/pricing-plans/{plan_b.pk}/").status_code == 404
    assert "12125550100" not in http.get("/api/v1/unrated/").content.decode()
    assert "12125550100" in api(world.brand_b_op).get("/api/v1/unrated/").content.decode()
    # Client operators and users see no decks at all.
    for account in (world.client_a1_op, world.user_a1):
        assert api(account).get("/api/v1/rate-decks/").json()["count"] == 0
        assert api(account).get(f"/api/v1/rate-decks/{foreign['deck_a'].pk}/").status_code == 404


@pytest.mark.parametrize(
    ("actor", "owner"),
    [("client_a1_op", "client_a2"), ("client_a1_op", "client_b1"), ("brand_a_op", "client_b1"),
     ("user_a1", "client_a1"), ("client_b1_op", "client_a1")],
)  # fmt: skip
def test_another_clients_statement_answers_404(world, api, portal, foreign, actor, owner):
    account, client = getattr(world, actor), getattr(world, owner)
    http = api(account)
    assert http.get(f"/api/v1/statements/{client.pk}/", {"month": "2026-11"}).status_code == 404
    assert http.get(f"/api/v1/statements/{client.pk}/", {"month": "2026-11", "format": "csv"}).status_code == 404
    assert client.name not in http.get("/api/v1/statements/", {"month": "2026-11"}).content.decode()
    page = portal(account)
    assert page.get(f"/statements/{client.pk}/2026-11/").status_code == 404
    assert page.get(f"/statements/{client.pk}/2026-11.csv").status_code == 404


def test_another_brands_rows_answer_404_in_the_portal(world, portal, foreign):
    deck_b, http = foreign["deck_b"], portal(world.brand_a_op)
    d, p = f"/rating/decks/{deck_b.pk}", f"/rating/plans/{world.client_b1.pk}"
    for method, url in [("get", f"{d}/"), ("post", f"{d}/"), ("get", f"{d}/import/"), ("post", f"{d}/import/"),
                        ("get", f"{d}/export.csv"), ("post", f"{d}/delete/"), ("get", f"{p}/"), ("post", f"{p}/"),
                        ("post", f"{p}/delete/")]:  # fmt: skip
        answer = getattr(http, method)(url, {"name": "hijacked", "file": SimpleUploadedFile("d.csv", SELL.encode())})
        assert answer.status_code == 404, (method, url)
    assert deck_b.rates.count() == 6 and PricingPlan.objects.filter(client=world.client_b1).exists()
    assert "12125550100" not in http.get("/rating/unrated/").content.decode()
    assert "Client b1" not in http.get("/rating/plans/").content.decode()
    assert "B standard" not in http.get("/rating/").content.decode()
    # Clients' operators and users have no rating pages; users no statements.
    assert portal(world.client_a1_op).get("/rating/").status_code == 404
    assert portal(world.user_a1).get("/statements/").status_code == 404
