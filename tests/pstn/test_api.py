"""The phone-network API as each role uses it: carriers with gateways, numbers added one at a time
and in bulk, destinations, outbound routes and policies; bad input is a field error naming the field,
never a 500; writes leave audit rows."""

from __future__ import annotations

import pytest

from billing.models import Carrier, RateDeck
from pstn.models import Gateway, Number, OutboundPolicy, OutboundRoute
from tenants.models import AuditEvent


def _fields(answer) -> dict:
    assert answer.status_code == 400, (answer.status_code, answer.content[:300])
    return answer.json()["fields"]


def test_a_brand_adds_its_carrier_and_gateway_password_never_shown(world, api, pstn):
    http = api(world.brand_a_op)
    answer = http.post("/api/v1/carriers/", {"name": "A Second", "max_calls": 30, "number_format": "national",
                                             "country": "gb", "codecs": "pcma, g722"}, format="json")  # fmt: skip
    assert answer.status_code == 201, answer.content
    carrier = answer.json()
    assert carrier["brand"] == world.brand_a.pk and carrier["country"] == "GB" and carrier["codecs"] == "PCMA,G722"
    # Its cost deck is the brand's to fill.
    assert http.get(f"/api/v1/rate-decks/{carrier['deck']}/").status_code == 200
    gateway = {"carrier": carrier["id"], "name": "primary", "host": "sip.carrier.example", "transport": "tls",
               "register": True, "username": "acct", "password": "s3cret",
               "inbound_networks": "198.51.100.7\n2001:db8::/48\n203.0.113.9/24"}  # fmt: skip
    answer = http.post("/api/v1/gateways/", gateway, format="json")
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert "password" not in body and body["password_set"] is True
    assert body["inbound_networks"] == "198.51.100.7/32\n2001:db8::/48\n203.0.113.0/24"
    assert "s3cret" not in http.get(f"/api/v1/gateways/{body['id']}/").content.decode()
    # A PATCH without a password keeps it.
    assert http.patch(f"/api/v1/gateways/{body['id']}/", {"port": 5061}, format="json").status_code == 200
    assert Gateway.objects.get(pk=body["id"]).password == "s3cret"
    assert AuditEvent.objects.filter(action="carrier.create", target="A Second", brand=world.brand_a).exists()
    assert AuditEvent.objects.filter(action="gateway.update", brand=world.brand_a).exists()
    assert "s3cret" not in str(list(AuditEvent.objects.filter(action__startswith="gateway").values("data")))
    # A brand's carrier may not be handed to another brand.
    answer = http.patch(f"/api/v1/carriers/{carrier['id']}/", {"brand": world.brand_b.pk}, format="json")
    assert "brand" in _fields(answer)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("inbound_networks", "192.0.2.0/24\nnot-a-network"),
        ("inbound_networks", "300.1.2.3"),
        ("host", "bad host name"),
        ("host", "a" * 300),
        ("port", 70000),
        ("name", "nul\x00byte"),
        ("username", "x" * 10_000),
        ("transport", "sctp"),
    ],
)
def test_bad_gateway_input_is_a_field_error(world, api, pstn, field, value):
    http = api(world.brand_a_op)
    gateway = {"carrier": pstn.carrier_a.pk, "name": "second", "host": "192.0.2.20", field: value}
    assert field in _fields(http.post("/api/v1/gateways/", gateway, format="json"))
    assert field in _fields(http.patch(f"/api/v1/gateways/{pstn.gateway_a.pk}/", {field: value}, format="json"))


def test_carrier_field_errors_and_the_platforms_carriers(world, api, pstn):
    http = api(world.brand_a_op)
    assert "country" in _fields(http.post("/api/v1/carriers/", {"name": "X", "country": "ZZ"}, format="json"))
    assert "codecs" in _fields(http.post("/api/v1/carriers/", {"name": "X", "codecs": "G729"}, format="json"))
    assert "name" in _fields(http.post("/api/v1/carriers/", {"name": "B Trunk"}, format="json"))
    assert "max_calls" in _fields(http.post("/api/v1/carriers/", {"name": "X", "max_calls": 10**12}, format="json"))
    # The platform's carriers are god's: a brand cannot see or change them, but uses them.
    assert http.get(f"/api/v1/carriers/{pstn.platform.pk}/").status_code == 404
    god = api(world.god)
    listed = {c["name"]: c["brand"] for c in god.get("/api/v1/carriers/").json()["results"]}
    assert listed["Platform Trunk"] is None and listed["A Trunk"] == world.brand_a.pk and "B Trunk" in listed
    # A carrier numbers come from stays.
    assert http.delete(f"/api/v1/carriers/{pstn.carrier_a.pk}/").status_code == 409
    assert Carrier.objects.filter(pk=pstn.carrier_a.pk).exists()


def test_numbers_one_and_many_with_per_line_errors(world, api, pstn):
    http = api(world.brand_a_op)
    answer = http.post("/api/v1/numbers/", {"e164": "+44 20 7946 0010", "carrier": pstn.platform.pk,
                                            "monthly_cost": "1.5", "monthly_price": "4"}, format="json")  # fmt: skip
    assert answer.status_code == 201, answer.content
    assert answer.json()["e164"] == "+442079460010" and answer.json()["client"] is None
    for bad in ("12345", "+44207946", "+4420794600101234", "+44 20 \x00 7946"):
        assert "e164" in _fields(http.post("/api/v1/numbers/", {"e164": bad, "carrier": pstn.carrier_a.pk}))
    # Another brand's carrier is not one this brand may use.
    assert "carrier" in _fields(http.post("/api/v1/numbers/", {"e164": "+442079460011", "carrier": pstn.carrier_b.pk}))
    lines = "number,monthly_cost,monthly_price\n+442079460020-+442079460029\n+442079460001\nnonsense\n+442079460030,x"
    answer = http.post("/api/v1/numbers/bulk/", {"carrier": pstn.carrier_a.pk, "numbers": lines}, format="json")
    errors = _fields(answer)["numbers"]
    assert any(e.startswith("Line 3:") and "+442079460001" in e for e in errors), errors
    assert any(e.startswith("Line 4:") for e in errors) and any(e.startswith("Line 5:") for e in errors), errors
    assert not Number.objects.filter(e164="+442079460020").exists()
    good = "+442079460020-+442079460029\n+44 20 7946-0030,0.5,2"
    answer = http.post("/api/v1/numbers/bulk/", {"carrier": pstn.carrier_a.pk, "numbers": good,
                                                 "client": world.client_a1.pk}, format="json")  # fmt: skip
    assert answer.status_code == 201 and answer.json()["created"] == 11, answer.content
    assert Number.objects.get(e164="+442079460030").monthly_price == 2
    assert Number.objects.filter(brand=world.brand_a, client=world.client_a1).count() == 12
    too_many = "+442079460100-+442079462100"
    assert "numbers" in _fields(http.post("/api/v1/numbers/bulk/", {"carrier": pstn.carrier_a.pk, "numbers": too_many}))
    assert AuditEvent.objects.filter(action="number.bulk_add", brand=world.brand_a).count() == 1


def test_a_client_operator_points_its_number_at_a_destination(world, api, pstn):
    number = pstn.number_a1
    http = api(world.client_a1_op)
    seen = http.get(f"/api/v1/numbers/{number.pk}/").json()
    assert seen["national"] == "011 44 20 7946 0001"  # client a1 is in the US: dialled from there
    assert seen["monthly_cost"] is None
    assert "destination_target" in _fields(
        http.patch(f"/api/v1/numbers/{number.pk}/", {"destination_kind": "user", "destination_target": "999"})
    )
    assert "destination_kind" in _fields(http.patch(f"/api/v1/numbers/{number.pk}/", {"destination_kind": "moon"}))
    assert "schedule" in _fields(http.patch(f"/api/v1/numbers/{number.pk}/", {"schedule": 0}))
    office = http.post("/api/v1/schedules/", {"name": "Office", "hours": "mon-fri 09:00-17:00"}).json()["id"]
    assert "schedule" in _fields(
        http.patch(f"/api/v1/numbers/{number.pk}/", {"schedule": office + 1000, "closed_kind": "hangup"})
    )  # none such
    assert "closed_kind" in _fields(http.patch(f"/api/v1/numbers/{number.pk}/", {"schedule": office}))
    # What only the brand changes is refused, naming the field.
    assert "monthly_price" in _fields(http.patch(f"/api/v1/numbers/{number.pk}/", {"monthly_price": "0"}))
    assert "client" in _fields(http.patch(f"/api/v1/numbers/{number.pk}/", {"client": None}, format="json"))
    routed = {"destination_kind": "user", "destination_target": "102", "schedule": office, "closed_kind": "hangup",
              "closed_target": "closed"}  # fmt: skip
    answer = http.patch(f"/api/v1/numbers/{number.pk}/", routed, format="json")
    assert answer.status_code == 200, answer.content
    number.refresh_from_db()
    assert (number.destination_kind, number.destination_target, number.schedule) == ("user", "102", office)
    assert AuditEvent.objects.filter(action="number.update", client=world.client_a1).exists()
    # In the client's own country the number reads nationally.
    world.client_a1.country = "GB"
    world.client_a1.save(update_fields=["country"])
    assert http.get(f"/api/v1/numbers/{number.pk}/").json()["national"] == "020 7946 0001"
    # Handed to another client by the brand, it goes nowhere until that client says.
    brand = api(world.brand_a_op)
    assert brand.patch(f"/api/v1/numbers/{number.pk}/", {"client": world.client_a2.pk}).status_code == 200
    number.refresh_from_db()
    assert number.client_id == world.client_a2.pk and number.destination_kind == "" and number.schedule is None
    assert "client" in _fields(brand.patch(f"/api/v1/numbers/{number.pk}/", {"client": world.client_b1.pk}))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"pattern_kind": "regex", "pattern": "^44(20"}, "pattern"),
        ({"pattern_kind": "regex", "pattern": "4" * 201}, "pattern"),
        ({"pattern_kind": "prefix", "pattern": "44a"}, "pattern"),
        ({"mode": "random"}, "mode"),
        ({"position": 10**12}, "position"),
        ({"name": "x\x00"}, "name"),
    ],
)
def test_bad_routes_are_field_errors(world, api, pstn, body, field):
    http = api(world.brand_a_op)
    assert field in _fields(http.post("/api/v1/outbound-routes/", {"name": "R", **body}, format="json"))
    assert field in _fields(http.patch(f"/api/v1/outbound-routes/{pstn.route_a.pk}/", body, format="json"))


def test_routes_carriers_and_the_routing_policy(world, api, pstn):
    http = api(world.brand_a_op)
    members = [{"carrier": pstn.carrier_a.pk, "weight": 3}, {"carrier": pstn.platform.pk, "weight": 1}]
    body = {"name": "Mobiles", "pattern_kind": "regex", "pattern": "^447[0-9]{9}$", "mode": "weight",
            "carriers": members}  # fmt: skip
    answer = http.post("/api/v1/outbound-routes/", body, format="json")
    assert answer.status_code == 201, answer.content
    route = answer.json()
    assert [(c["carrier"], c["weight"]) for c in route["carriers"]] == [(pstn.carrier_a.pk, 3), (pstn.platform.pk, 1)]
    foreign = {"carriers": [{"carrier": pstn.carrier_b.pk}]}
    assert "carriers" in _fields(http.patch(f"/api/v1/outbound-routes/{route['id']}/", foreign, format="json"))
    answer = http.patch(f"/api/v1/outbound-routes/{route['id']}/", {"carriers": []}, format="json")
    assert answer.status_code == 200 and answer.json()["carriers"] == []
    assert OutboundRoute.objects.get(pk=route["id"]).members.count() == 0
    policy = http.get(f"/api/v1/routing-policies/{world.brand_a.pk}/").json()
    assert policy == {"brand": world.brand_a.pk, "min_asr": 20, "max_server_errors": 30, "window": 20}
    assert "min_asr" in _fields(http.patch(f"/api/v1/routing-policies/{world.brand_a.pk}/", {"min_asr": 101}))
    assert "window" in _fields(http.patch(f"/api/v1/routing-policies/{world.brand_a.pk}/", {"window": 2}))
    answer = http.patch(f"/api/v1/routing-policies/{world.brand_a.pk}/", {"min_asr": 35})
    assert answer.status_code == 200 and answer.json()["min_asr"] == 35
    assert AuditEvent.objects.filter(action="routing_policy.update", brand=world.brand_a).exists()
    assert http.delete(f"/api/v1/outbound-routes/{route['id']}/").status_code == 204
    assert AuditEvent.objects.filter(action="route.delete", brand=world.brand_a).exists()


def test_outbound_policy_brand_edits_all_client_the_caller_id(world, api, pstn):
    url = f"/api/v1/outbound-policies/{world.client_a1.pk}/"
    OutboundPolicy.objects.filter(client=world.client_a1).delete()  # created with the defaults when missing
    client = api(world.client_a1_op)
    policy = client.get(url).json()
    assert policy["allow_international"] is False and policy["caller_id"] == "main"
    assert "allow_premium" in _fields(client.patch(url, {"allow_premium": True}, format="json"))
    # Another client's number is not one of this client's.
    assert "main_number" in _fields(client.patch(url, {"main_number": pstn.number_a2.pk}, format="json"))
    answer = client.patch(url, {"caller_id": "user", "main_number": pstn.number_a1.pk}, format="json")
    assert answer.status_code == 200 and answer.json()["main_number"] == pstn.number_a1.pk
    brand = api(world.brand_a_op)
    assert "blocked_prefixes" in _fields(brand.patch(url, {"blocked_prefixes": "+4490\nabc"}, format="json"))
    answer = brand.patch(url, {"allow_international": True, "blocked_prefixes": "4490\n+4487 1"}, format="json")
    assert answer.status_code == 200 and answer.json()["blocked_prefixes"] == "+4490\n+44871"
    assert "international_calls_per_hour" in _fields(brand.patch(url, {"international_calls_per_hour": -1}))
    assert AuditEvent.objects.filter(action="outbound_policy.update", client=world.client_a1).count() == 2


def test_client_country_in_the_api(world, api):
    http = api(world.brand_a_op)
    url = f"/api/v1/clients/{world.client_a1.pk}/"
    assert "country" in _fields(http.patch(url, {"country": "XX"}))
    answer = http.patch(url, {"country": "DE"})
    assert answer.status_code == 200 and answer.json()["country"] == "DE"
    assert api(world.client_a1_op).patch(url, {"country": "FR"}).status_code == 403  # the brand's to set


def test_a_brand_manages_its_own_carriers_deck(world, api, pstn):
    deck = RateDeck.objects.get(carrier=pstn.carrier_a)
    http = api(world.brand_a_op)
    assert http.get(f"/api/v1/rate-decks/{deck.pk}/").status_code == 200
    assert http.get(f"/api/v1/rate-decks/{RateDeck.objects.get(carrier=pstn.carrier_b).pk}/").status_code == 404
    assert http.get(f"/api/v1/rate-decks/{RateDeck.objects.get(carrier=pstn.platform).pk}/").status_code == 404
