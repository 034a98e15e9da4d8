"""The phone-network pages as each role uses them: brands add carriers, gateways and numbers and
assign them; clients point their numbers somewhere; bad input shows next to its field."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from billing.models import Carrier
from pstn.models import Gateway, Number, OutboundPolicy, OutboundRoute, RoutingPolicy
from pstn.services import routing_policy_of
from tests.pages import field_error, messages_of, title_of

PAGES = {
    "god": [("/rating/carriers/", "Carriers"), ("/rating/carriers/new/", "New carrier"),
            ("/rating/carriers/{carrier_a}/", "Carrier A Trunk"), ("/numbers/", "Numbers"),
            ("/numbers/new/", "New number"), ("/numbers/bulk/", "Add numbers"), ("/routes/", "Outbound routes"),
            ("/routes/new/", "New outbound route"), ("/routes/{route_a}/", "Outbound route UK"),
            ("/clients/{client_a1}/outbound-policy/", "Outbound policy of Client a1")],
    "brand_a_op": [("/rating/carriers/", "Carriers"), ("/rating/carriers/{carrier_a}/", "Carrier A Trunk"),
                   ("/rating/carriers/{carrier_a}/gateways/new/", "New gateway of A Trunk"),
                   ("/rating/gateways/{gateway_a}/", "Gateway a-gw of A Trunk"), ("/numbers/", "Numbers"),
                   ("/numbers/{number_a1}/", "Number +442079460001"), ("/numbers/bulk/", "Add numbers"),
                   ("/routes/", "Outbound routes"), ("/routes/{route_a}/", "Outbound route UK"),
                   ("/routing-policy/", "Routing policy"),
                   ("/clients/{client_a1}/outbound-policy/", "Outbound policy of Client a1")],
    "client_a1_op": [("/numbers/", "Numbers"), ("/numbers/{number_a1}/", "Number +442079460001"),
                     ("/outbound-policy/", "Outbound policy of Client a1")],
}  # fmt: skip


@pytest.mark.parametrize("account_name", list(PAGES))
def test_each_page_renders_with_its_title(world, portal, pstn, account_name):
    http = portal(getattr(world, account_name))
    ids = {"carrier_a": pstn.carrier_a.pk, "gateway_a": pstn.gateway_a.pk, "number_a1": pstn.number_a1.pk,
           "route_a": pstn.route_a.pk, "client_a1": world.client_a1.pk}  # fmt: skip
    for url, title in PAGES[account_name]:
        response = http.get(url.format(**ids))
        assert response.status_code == 200, url
        assert title_of(response) == title, url
    assert 'href="/numbers/"' in http.get("/").content.decode()


def test_a_brand_adds_a_carrier_a_gateway_and_numbers(world, portal, pstn):
    http = portal(world.brand_a_op)
    body = {"name": "A Local", "priority": 5, "enabled": "on", "max_calls": 10, "number_format": "national",
            "country": "GB", "codecs": "PCMA"}  # fmt: skip
    answer = http.post("/rating/carriers/new/", body)
    carrier = Carrier.objects.get(name="A Local")
    assert answer.status_code == 302 and carrier.brand_id == world.brand_a.pk
    gateway = {"name": "edge", "host": "192.0.2.50", "transport": "udp", "username": "u", "password": "pw-1",
               "inbound_networks": "192.0.2.0/24\nfoo", "enabled": "on"}  # fmt: skip
    answer = http.post(f"/rating/carriers/{carrier.pk}/gateways/new/", gateway)
    assert answer.status_code == 200 and "Line 2: foo" in field_error(answer, "inbound_networks")
    answer = http.post(f"/rating/carriers/{carrier.pk}/gateways/new/", {**gateway, "inbound_networks": "192.0.2.0/24"})
    assert answer.status_code == 302
    saved = Gateway.objects.get(carrier=carrier)
    page = http.get(f"/rating/gateways/{saved.pk}/").content.decode()
    assert "pw-1" not in page and "Set: leave empty to keep it." in page
    assert ">set<" in http.get(f"/rating/carriers/{carrier.pk}/").content.decode()
    http.post(f"/rating/gateways/{saved.pk}/", {**gateway, "inbound_networks": "", "password": ""})
    assert Gateway.objects.get(pk=saved.pk).password == "pw-1"
    answer = http.post("/numbers/bulk/", {"carrier": carrier.pk, "monthly_cost": "1", "monthly_price": "3",
                                          "numbers": "+442079460040-+442079460042\n+4420"})  # fmt: skip
    assert "Line 2:" in field_error(answer, "numbers") and not Number.objects.filter(e164="+442079460040").exists()
    body = {"carrier": carrier.pk, "monthly_cost": "1", "monthly_price": "3",
            "numbers": "+442079460040-+442079460042", "client": world.client_a1.pk}  # fmt: skip
    answer = http.post("/numbers/bulk/", body)
    assert answer.status_code == 302
    assert Number.objects.filter(carrier=carrier, client=world.client_a1).count() == 3
    # Or a CSV file: number, monthly cost, monthly price.
    upload = SimpleUploadedFile("numbers.csv", b"\xef\xbb\xbfnumber,monthly_cost,monthly_price\n+442079460044,1,5\n")
    answer = http.post("/numbers/bulk/", {"carrier": carrier.pk, "monthly_cost": "0", "monthly_price": "0",
                                          "numbers": "", "file": upload})  # fmt: skip
    assert answer.status_code == 302 and Number.objects.get(e164="+442079460044").monthly_price == 5
    upload = SimpleUploadedFile("numbers.csv", b"+442079460045\n+99\n")
    answer = http.post("/numbers/bulk/", {"carrier": carrier.pk, "monthly_cost": "0", "monthly_price": "0",
                                          "file": upload})  # fmt: skip
    assert "Line 2:" in field_error(answer, "numbers") and not Number.objects.filter(e164="+442079460045").exists()
    answer = http.post("/numbers/bulk/", {"carrier": carrier.pk, "monthly_cost": "0", "monthly_price": "0"})
    assert field_error(answer, "numbers")
    # Another brand's carrier is no choice for this brand's numbers.
    answer = http.post("/numbers/new/", {"e164": "+442079460043", "carrier": pstn.carrier_b.pk, "monthly_cost": 0,
                                         "monthly_price": 0})  # fmt: skip
    assert field_error(answer, "carrier")


def test_gateway_and_number_forms_show_every_bad_field_at_once(world, portal, pstn):
    http = portal(world.brand_a_op)
    gateway = {"name": "a-gw", "host": "not a host!", "port": "x", "transport": "udp", "register": "on",
               "inbound_networks": "foo", "enabled": "on"}  # fmt: skip
    for url in (f"/rating/carriers/{pstn.carrier_a.pk}/gateways/new/", f"/rating/gateways/{pstn.gateway_a.pk}/"):
        answer = http.post(url, gateway)
        assert answer.status_code == 200, url
        for field, text in [("port", "whole number"), ("host", "IP address or a DNS name"),
                            ("inbound_networks", "Line 1: foo"), ("username", "needs a username")]:  # fmt: skip
            assert text in field_error(answer, field), (url, field)
    assert "already" in field_error(http.post(f"/rating/carriers/{pstn.carrier_a.pk}/gateways/new/", gateway), "name")
    assert Gateway.objects.get(pk=pstn.gateway_a.pk).host == pstn.gateway_a.host

    number = {"e164": pstn.number_a1.e164, "carrier": pstn.carrier_b.pk, "monthly_cost": "x", "monthly_price": "1"}
    answer = http.post("/numbers/new/", number)
    assert "valid choice" in field_error(answer, "carrier")
    assert "number" in field_error(answer, "monthly_cost")
    assert "in an inventory already" in field_error(answer, "e164")


def test_a_route_form_shows_every_bad_field_at_once(world, portal, pstn):
    http = portal(world.brand_a_op)
    bad = {"name": "", "pattern_kind": "regex", "pattern": "(", "mode": "priority", "position": "x"}
    for url in ("/routes/new/", f"/routes/{pstn.route_a.pk}/"):
        answer = http.post(url, bad)
        assert answer.status_code == 200, url
        assert "required" in field_error(answer, "name"), url
        assert "whole number" in field_error(answer, "position"), url
        assert field_error(answer, "pattern").startswith("Not a regular expression"), url
    assert OutboundRoute.objects.get(pk=pstn.route_a.pk).name == pstn.route_a.name


def test_a_client_operator_points_a_number_at_a_user(world, portal, pstn):
    http = portal(world.client_a1_op)
    url = f"/numbers/{pstn.number_a1.pk}/"
    answer = http.post(url, {"destination_kind": "user", "destination_target": "555"})
    assert "No user has extension 555" in field_error(answer, "destination_target")
    answer = http.post(url, {"destination_kind": "user", "destination_target": "101"})
    assert answer.status_code == 302
    number = Number.objects.get(pk=pstn.number_a1.pk)
    assert (number.destination_kind, number.destination_target) == ("user", "101")
    listing = http.get("/numbers/").content.decode()
    assert "011 44 20 7946 0001" in listing and "+442079460001" in listing and "user 101" in listing
    # The policy page: caller ID and main number only.
    answer = http.post("/outbound-policy/", {"caller_id": "user", "main_number": pstn.number_a1.pk,
                                             "allow_premium": "on"})  # fmt: skip
    assert answer.status_code == 302
    policy = OutboundPolicy.objects.get(client=world.client_a1)
    assert policy.caller_id == "user" and policy.main_number_id == pstn.number_a1.pk and not policy.allow_premium


def test_routes_and_policies_in_the_brand_portal(world, portal, pstn):
    http = portal(world.brand_a_op)
    answer = http.post("/routes/new/", {"name": "Bad", "pattern_kind": "regex", "pattern": "(", "mode": "priority",
                                        "position": 5, "enabled": "on"})  # fmt: skip
    assert answer.status_code == 200 and field_error(answer, "pattern").startswith("Not a regular expression")
    answer = http.post("/routes/new/", {"name": "Long", "pattern_kind": "regex", "pattern": "1" * 201,
                                        "mode": "priority", "position": 5})  # fmt: skip
    assert "200" in field_error(answer, "pattern")
    answer = http.post("/routes/new/", {"name": "London", "pattern_kind": "prefix", "pattern": "+4420",
                                        "mode": "lcr", "position": 1, "enabled": "on"})  # fmt: skip
    route = OutboundRoute.objects.get(name="London")
    assert answer.status_code == 302 and route.pattern == "4420" and route.brand_id == world.brand_a.pk
    http.post(f"/routes/{route.pk}/carriers/", {"carrier": pstn.platform.pk, "priority": 1, "weight": 1})
    http.post(f"/routes/{route.pk}/carriers/", {"carrier": pstn.carrier_b.pk, "priority": 2, "weight": 1})
    assert [m.carrier_id for m in route.members.all()] == [pstn.platform.pk]
    member = route.members.get()
    assert http.post(f"/routes/{route.pk}/carriers/{member.pk}/remove/").status_code == 302
    assert route.members.count() == 0
    answer = http.post("/routing-policy/", {"min_asr": 150, "max_server_errors": 30, "window": 20})
    assert field_error(answer, "min_asr")
    assert http.post("/routing-policy/", {"min_asr": 40, "max_server_errors": 25, "window": 50}).status_code == 302
    assert RoutingPolicy.objects.get(brand=world.brand_a).min_asr == 40
    url = f"/clients/{world.client_a1.pk}/outbound-policy/"
    base = {"caller_id": "main", "international_calls_per_hour": 10, "international_minutes_per_hour": 60}
    answer = http.post(url, {**base, "blocked_prefixes": "+4490\nabc"})
    assert "abc" in field_error(answer, "blocked_prefixes")
    assert http.post(url, {**base, "allow_international": "on", "blocked_prefixes": "+4490"}).status_code == 302
    assert OutboundPolicy.objects.get(client=world.client_a1).allow_international


def test_client_country_is_edited_with_the_clients_settings(world, portal):
    http = portal(world.brand_a_op)
    page = http.get(f"/clients/{world.client_a1.pk}/")
    assert 'name="country"' in page.content.decode()
    form = page.context["form"]
    data = {name: value for name, value in form.initial.items() if value is not None and name != "logo"}
    answer = http.post(f"/clients/{world.client_a1.pk}/", {**data, "country": "FR"})
    assert answer.status_code == 302, field_error(answer, "country")
    world.client_a1.refresh_from_db()
    assert world.client_a1.country == "FR"


def test_god_gives_a_brand_a_carrier_and_adds_numbers_for_any_brand(world, portal, pstn):
    http = portal(world.god)
    body = {"brand": world.brand_b.pk, "name": "B Extra", "priority": 7, "enabled": "on", "country": "US",
            "codecs": "PCMU", "number_format": "plus", "max_calls": 0}  # fmt: skip
    assert http.post("/rating/carriers/new/", body).status_code == 302
    extra = Carrier.objects.get(name="B Extra")
    assert extra.brand_id == world.brand_b.pk
    assert "B Extra" in portal(world.brand_b_op).get("/rating/carriers/").content.decode()
    number = {"brand": world.brand_b.pk, "e164": "+12125550111", "carrier": extra.pk, "monthly_cost": 0,
              "monthly_price": 1, "client": world.client_b1.pk}  # fmt: skip
    assert http.post("/numbers/new/", number).status_code == 302
    assert Number.objects.get(e164="+12125550111").brand_id == world.brand_b.pk
    # Brand A's carrier is not brand B's to use, whoever asks.
    answer = http.post("/numbers/new/", {**number, "e164": "+12125550112", "carrier": pstn.carrier_a.pk})
    assert "brand's own" in field_error(answer, "carrier")
    listing = http.get("/numbers/").content.decode()
    assert "Brand A" in listing and "Brand B" in listing


@pytest.mark.parametrize("value", ["\x00", "9" * 40, "-1", "x" * 5000])
def test_bad_values_in_every_form_are_field_errors_never_500(world, portal, pstn, value):
    brand, client = portal(world.brand_a_op), portal(world.client_a1_op)
    posts = [
        (brand, "/rating/carriers/new/", ["name", "priority", "max_calls", "country", "codecs"]),
        (brand, f"/rating/carriers/{pstn.carrier_a.pk}/gateways/new/", ["name", "host", "port", "inbound_networks"]),
        (brand, f"/rating/gateways/{pstn.gateway_a.pk}/", ["username", "password", "realm"]),
        (brand, "/numbers/new/", ["e164", "monthly_cost", "monthly_price", "client"]),
        (brand, "/numbers/bulk/", ["numbers", "monthly_cost"]),
        (brand, "/routes/new/", ["name", "pattern", "position"]),
        (brand, f"/routes/{pstn.route_a.pk}/", ["name", "pattern", "position"]),
        (brand, "/routing-policy/", ["min_asr", "window"]),
        (
            brand,
            f"/clients/{world.client_a1.pk}/outbound-policy/",
            ["blocked_prefixes", "international_calls_per_hour"],
        ),
        (client, f"/numbers/{pstn.number_a1.pk}/", ["destination_target", "schedule", "closed_target"]),
        (client, "/outbound-policy/", ["caller_id", "main_number"]),
    ]
    base = {"name": "ok", "host": "192.0.2.9", "priority": 1, "max_calls": 0, "country": "GB", "codecs": "PCMU",
            "number_format": "plus", "transport": "udp", "e164": "+442079460077", "carrier": pstn.carrier_a.pk,
            "monthly_cost": 0, "monthly_price": 0, "numbers": "+442079460078", "pattern_kind": "regex",
            "pattern": "^44", "mode": "priority", "position": 1, "min_asr": 20, "max_server_errors": 30,
            "window": 20, "caller_id": "main", "international_calls_per_hour": 1,
            "international_minutes_per_hour": 1, "destination_kind": "user", "destination_target": "101"}  # fmt: skip
    for http, url, fields in posts:
        for field in fields:
            answer = http.post(url, {**base, field: value})
            assert answer.status_code in (200, 302), (url, field, answer.status_code)
            if answer.status_code == 200 and value == "\x00":
                page = answer.content.decode()
                assert 'class="error"' in page or 'class="errors"' in page, (url, field)


def _every_pstn_form(world, pstn) -> list[tuple]:
    """Each phone-network form with several bad fields at once: (who, url, typed, {field: text})."""
    a1 = f"/numbers/{pstn.number_a1.pk}/"
    return [
        ("brand_a_op", "/routing-policy/", {"min_asr": "150", "max_server_errors": "-1", "window": "2"},
         {"min_asr": "less than or equal to 100", "max_server_errors": "greater than or equal to 0",
          "window": "greater than or equal to 5"}),
        ("brand_a_op", f"/clients/{world.client_a1.pk}/outbound-policy/",
         {"caller_id": "bogus", "main_number": pstn.number_b1.pk, "international_calls_per_hour": "-1",
          "international_minutes_per_hour": "x", "blocked_prefixes": "+4490\nabc"},
         {"caller_id": "valid choice", "main_number": "valid choice",
          "international_calls_per_hour": "greater than or equal to 0",
          "international_minutes_per_hour": "whole number", "blocked_prefixes": "abc is not a prefix"}),
        ("client_a1_op", "/outbound-policy/", {"caller_id": "bogus", "main_number": pstn.number_b1.pk},
         {"caller_id": "valid choice", "main_number": "valid choice"}),
        ("client_a1_op", a1, {"destination_kind": "user", "destination_target": "555", "schedule": "x",
                              "closed_kind": "user", "closed_target": "556"},
         {"destination_target": "No user has extension 555", "schedule": "whole number",
          "closed_target": "No user has extension 556"}),
        ("client_a1_op", a1, {"destination_kind": "user", "destination_target": "555", "schedule": "999",
                              "closed_kind": "bogus"},
         {"destination_target": "No user has extension 555", "closed_kind": "valid choice",
          "schedule": "no such schedule"}),
        ("brand_a_op", a1, {"carrier": pstn.carrier_b.pk, "monthly_cost": "x", "monthly_price": "-1",
                            "client": world.client_b1.pk},
         {"carrier": "valid choice", "monthly_cost": "number", "monthly_price": "greater than or equal to 0",
          "client": "valid choice"}),
        ("brand_a_op", "/numbers/bulk/", {"carrier": pstn.carrier_a.pk, "monthly_cost": "x", "monthly_price": "-1",
                                          "numbers": "+442079460050\n+4420"},
         {"monthly_cost": "number", "monthly_price": "greater than or equal to 0", "numbers": "Line 2:"}),
        ("god", "/numbers/bulk/", {"brand": world.brand_a.pk, "carrier": pstn.carrier_b.pk, "monthly_cost": "x",
                                   "numbers": "foo"},
         {"carrier": "brand's own", "monthly_cost": "number", "numbers": "Line 1:"}),
    ]  # fmt: skip


def _pstn_state(world) -> tuple:
    """What the forms above would change: client a1's caller ID, brand A's thresholds, the numbers."""
    policy = RoutingPolicy.objects.get(brand=world.brand_a)
    caller_id = OutboundPolicy.objects.get(client=world.client_a1).caller_id
    return caller_id, policy.min_asr, policy.max_server_errors, policy.window, Number.objects.count()


@pytest.mark.parametrize("case", range(8))
def test_every_pstn_form_shows_every_bad_field_in_one_submission(world, portal, pstn, case):
    who, url, typed, expected = _every_pstn_form(world, pstn)[case]
    routing_policy_of(world.brand_a)  # (the page makes it with the defaults)
    before = _pstn_state(world)
    answer = portal(getattr(world, who)).post(url, typed)
    assert answer.status_code == 200, (url, answer.status_code)
    for field, text in expected.items():
        assert text in field_error(answer, field), (url, field, field_error(answer, field))
    after = _pstn_state(world)
    assert after == before
    number = Number.objects.get(pk=pstn.number_a1.pk)
    assert (number.carrier_id, number.destination_kind) == (pstn.carrier_a.pk, pstn.number_a1.destination_kind)


def test_a_carrier_added_to_a_route_with_several_bad_fields_says_each_at_once(world, portal, pstn):
    """The route page adds a carrier from a one-line form; its refusals come back as messages, all of them."""
    url = f"/routes/{pstn.route_a.pk}/carriers/"
    answer = portal(world.brand_a_op).post(url, {"carrier": pstn.carrier_b.pk, "priority": "x", "weight": "-1"},
                                           follow=True)  # fmt: skip
    said = " ".join(messages_of(answer))
    for text in ("Carrier: Select a valid choice", "Priority: Enter a whole number",
                 "Weight: Ensure this value is greater than or equal to 0"):  # fmt: skip
        assert text in said, said
    assert not pstn.route_a.members.filter(carrier=pstn.carrier_b).exists()
