"""Another brand's carrier, gateway, number, route or routing policy, and another client's number or
outbound policy, answer 404 in the API and the portals, for reads and writes, and nothing changes.
Users get none of it."""

from __future__ import annotations

import pytest

from billing.models import Carrier
from pstn.models import Gateway, Number, OutboundPolicy, OutboundRoute, RoutingPolicy


def _api_urls(p, world) -> list[str]:
    return [
        f"/api/v1/carriers/{p.carrier_b.pk}/",
        f"/api/v1/gateways/{p.gateway_b.pk}/",
        f"/api/v1/numbers/{p.number_b1.pk}/",
        f"/api/v1/outbound-routes/{p.route_b.pk}/",
        f"/api/v1/routing-policies/{world.brand_b.pk}/",
        f"/api/v1/outbound-policies/{world.client_b1.pk}/",
    ]


def _unchanged(p) -> None:
    assert Carrier.objects.get(pk=p.carrier_b.pk).name == "B Trunk"
    assert Gateway.objects.get(pk=p.gateway_b.pk).name == "b-gw"
    number = Number.objects.get(pk=p.number_b1.pk)
    assert number.client_id is not None and number.destination_kind == ""
    assert OutboundRoute.objects.get(pk=p.route_b.pk).name == "US"
    assert not RoutingPolicy.objects.filter(brand_id=p.route_b.brand_id, min_asr=1).exists()
    assert OutboundPolicy.objects.get(client_id=number.client_id).allow_international is False


@pytest.mark.parametrize("actor", ["brand_a_op", "client_a1_op", "user_a1"])
def test_another_brands_rows_answer_404_in_the_api(world, api, pstn, actor):
    http = api(getattr(world, actor))
    body = {"name": "hijacked", "min_asr": 1, "allow_international": True, "destination_kind": "hangup",
            "destination_target": "", "client": None}  # fmt: skip
    for url in _api_urls(pstn, world):
        assert http.get(url).status_code == 404, url
        assert http.patch(url, body, format="json").status_code in (404, 405), url
        assert http.delete(url).status_code in (404, 405), url
    _unchanged(pstn)
    for listing in ("carriers", "gateways", "numbers", "outbound-routes"):
        text = http.get(f"/api/v1/{listing}/").content.decode()
        for foreign in ("B Trunk", "b-gw", "+12125550100", '"US"'):
            assert foreign not in text, (listing, foreign)


def test_another_clients_number_and_policy_answer_404(world, api, portal, pstn):
    http = api(world.client_a1_op)
    a2 = pstn.number_a2
    assert http.get(f"/api/v1/numbers/{a2.pk}/").status_code == 404
    answer = http.patch(f"/api/v1/numbers/{a2.pk}/", {"destination_kind": "hangup"}, format="json")
    assert answer.status_code == 404
    assert http.get(f"/api/v1/outbound-policies/{world.client_a2.pk}/").status_code == 404
    assert http.patch(f"/api/v1/outbound-policies/{world.client_a2.pk}/", {"caller_id": "user"}).status_code == 404
    assert [n["e164"] for n in http.get("/api/v1/numbers/").json()["results"]] == ["+442079460001"]
    page = portal(world.client_a1_op)
    assert page.get(f"/numbers/{a2.pk}/").status_code == 404
    assert page.post(f"/numbers/{a2.pk}/", {"destination_kind": "hangup"}).status_code == 404
    assert Number.objects.get(pk=a2.pk).destination_kind == ""
    assert "+442079460002" not in page.get("/numbers/").content.decode()


def test_users_get_none_of_it(world, api, portal, pstn):
    http = api(world.user_a1)
    for listing in ("carriers", "gateways", "numbers", "outbound-routes"):
        assert http.get(f"/api/v1/{listing}/").json()["count"] == 0, listing
    assert http.get(f"/api/v1/numbers/{pstn.number_a1.pk}/").status_code == 404
    assert http.get(f"/api/v1/outbound-policies/{world.client_a1.pk}/").status_code == 404
    assert http.patch(f"/api/v1/outbound-policies/{world.client_a1.pk}/", {"caller_id": "user"}).status_code == 404
    assert http.post("/api/v1/numbers/bulk/", {"numbers": "+442079460050"}).status_code in (400, 403)
    page = portal(world.user_a1)
    for url in ("/numbers/", f"/numbers/{pstn.number_a1.pk}/", "/outbound-policy/"):
        assert page.get(url).status_code == 404, url
    assert not Number.objects.filter(e164="+442079460050").exists()


@pytest.mark.parametrize("actor", ["brand_a_op", "brand_b_op"])
def test_another_brands_rows_answer_404_in_the_portal(world, portal, pstn, actor):
    http = portal(getattr(world, actor))
    mine_b = actor == "brand_b_op"
    p = pstn
    carrier, gateway, number, route, client = (
        (p.carrier_a, p.gateway_a, p.number_a1, p.route_a, world.client_a1)
        if mine_b
        else (p.carrier_b, p.gateway_b, p.number_b1, p.route_b, world.client_b1)
    )
    urls = [
        f"/rating/carriers/{carrier.pk}/", f"/rating/carriers/{carrier.pk}/delete/",
        f"/rating/carriers/{carrier.pk}/gateways/new/", f"/rating/gateways/{gateway.pk}/",
        f"/rating/gateways/{gateway.pk}/delete/", f"/numbers/{number.pk}/", f"/numbers/{number.pk}/delete/",
        f"/routes/{route.pk}/", f"/routes/{route.pk}/delete/", f"/clients/{client.pk}/outbound-policy/",
    ]  # fmt: skip
    body = {"name": "hijacked", "host": "203.0.113.1", "priority": 1, "max_calls": 0, "number_format": "plus",
            "country": "US", "codecs": "PCMU", "transport": "udp", "carrier": carrier.pk, "monthly_cost": 0,
            "monthly_price": 0, "pattern_kind": "prefix", "mode": "priority", "position": 1,
            "caller_id": "main", "international_calls_per_hour": 1, "international_minutes_per_hour": 1}  # fmt: skip
    for url in urls:
        assert http.get(url).status_code == 404, url
        assert http.post(url, body).status_code == 404, url
    for url in (f"/routes/{route.pk}/carriers/", f"/routes/{route.pk}/carriers/{route.members.first().pk}/remove/"):
        assert http.post(url, {"carrier": carrier.pk, "priority": 1, "weight": 1}).status_code == 404, url
    assert Carrier.objects.get(pk=carrier.pk).name == carrier.name
    assert Gateway.objects.filter(pk=gateway.pk, name=gateway.name).exists()
    assert Number.objects.filter(pk=number.pk).exists() and OutboundRoute.objects.filter(pk=route.pk).exists()
    assert route.members.count() >= 1
    listing = http.get("/numbers/").content.decode() + http.get("/routes/").content.decode()
    listing += http.get("/rating/carriers/").content.decode()
    assert number.e164 not in listing and carrier.name not in listing


def test_client_operators_have_no_provider_pages(world, portal, pstn):
    http = portal(world.client_a1_op)
    for url in ("/rating/carriers/", "/routes/", "/numbers/new/", "/numbers/bulk/", "/routing-policy/",
                f"/rating/gateways/{pstn.gateway_a.pk}/"):  # fmt: skip
        assert http.get(url).status_code == 404, url
