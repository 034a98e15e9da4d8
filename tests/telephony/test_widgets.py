"""Click-to-call widgets (telephony/widgets.py): the public endpoint answers pages of the widget's own
web sites only (CORS; another origin gets 403 and nothing else), refuses what is not a phone number,
emergency numbers and what the client's policy or blocked destinations refuse, and limits how many
calls a visitor address and a widget may ask for (429); a real call rings the client's user (a pjsua2
phone) first, then the visitor's number through a carrier (a pjsua2 phone standing in for the mobile),
joins them, and leaves an outbound record that names the widget."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from config.redis_store import get_redis, rkey
from tests.sip.audio import heard_ms
from tests.telephony.conftest import cdr_of
from tests.waiting import committed

SHOP = "https://shop.example.com"
NUMBER, E164 = "6502530000", "+16502530000"  # a US mobile (client A1 is in the US)


@pytest.fixture
def widget(world):
    """A widget of client A1 ringing user 102, allowed on SHOP (committed: the engine reads the plan)."""
    from telephony.models import Widget
    from telephony.widgets import widget_save

    made = committed(widget_save, actor=world.client_a1_op, client=world.client_a1, name="Shop",
                     destination_kind="user", destination_target="102",
                     origins=f"{SHOP}\nhttps://www.example.com")  # fmt: skip
    yield made
    counters = list(get_redis().scan_iter(match=rkey("c2c", "*"), count=500))  # (Redis: not rolled back)
    if counters:
        get_redis().delete(*counters)

    def remove():
        with tenant_context(world.client_a1):
            Widget.objects.filter(pk=made.pk).delete()

    committed(remove)


@pytest.fixture
def public(world, portal):
    """post(key, body, origin=SHOP) on client A1's host as an anonymous visitor's browser would."""
    http = portal(None, host=world.host_of(world.client_a1_op))

    def post(key: str, body, origin: str | None = SHOP, method: str = "post"):
        headers = {"HTTP_ORIGIN": origin} if origin else {}
        data = body if isinstance(body, str | bytes) else __import__("json").dumps(body)
        return getattr(http, method)(f"/c2c/{key}/call/", data, content_type="application/json", **headers)

    return post


def test_another_origin_gets_403_and_nothing_else(world, widget, public):
    preflight = public(widget.key, "", origin=SHOP, method="options")
    assert preflight.status_code == 204 and preflight["Access-Control-Allow-Origin"] == SHOP
    for origin in ("https://evil.example.com", "http://shop.example.com", None):
        refused = public(widget.key, {"number": NUMBER}, origin=origin)
        assert refused.status_code == 403, origin
        assert "Access-Control-Allow-Origin" not in refused and refused.json()["code"] == "origin-refused"
        assert public(widget.key, "", origin=origin, method="options").status_code == 403
    assert public("no-such-key", {"number": NUMBER}).status_code == 404


@pytest.mark.parametrize("body", [{"number": ""}, {"number": "call me"}, {"number": "12"}, {"number": ["1"]},
                                  {"number": "9" * 500}, {}, "not json", [NUMBER],
                                  "[" * 100_000 + "]" * 100_000])  # fmt: skip
def test_what_is_not_a_phone_number_is_400_never_500(world, widget, public, settings, body):
    settings.OCX_CLICK_TO_CALL = {**settings.OCX_CLICK_TO_CALL, "per_address": 1000}
    answer = public(widget.key, body)
    assert answer.status_code == 400, answer.content
    assert answer["Access-Control-Allow-Origin"] == SHOP and answer.json()["code"] == "invalid"


def test_emergency_blocked_and_disallowed_numbers_are_refused(world, widget, public, settings):
    from pstn.models import OutboundPolicy
    from telephony.models import Block

    settings.OCX_CLICK_TO_CALL = {**settings.OCX_CLICK_TO_CALL, "per_address": 1000}
    OutboundPolicy.objects.update_or_create(client=world.client_a1, defaults={"allow_national": True,
                                            "allow_mobile": True, "allow_international": False})  # fmt: skip
    with tenant_context(world.client_a1):
        Block.objects.create(direction="outbound", kind="number", value=E164)
    for number in ("911", "112", NUMBER, "+44 20 7946 0958"):  # emergency, emergency, blocked, abroad
        refused = public(widget.key, {"number": number})
        assert refused.status_code == 403 and refused.json()["code"] == "number-refused", number


def test_a_visitor_address_past_its_limit_gets_429(world, widget, public, settings):
    settings.OCX_CLICK_TO_CALL = {"per_address": 2, "per_widget": 100, "window": 60}
    answers = [public(widget.key, {"number": "911"}).status_code for _ in range(3)]
    assert answers == [403, 403, 429]
    assert public(widget.key, {"number": "911"}, origin="https://evil.example.com").status_code == 403


def test_a_visitor_address_counts_across_the_clients_widgets_and_an_ipv6_address_by_its_64(world, widget, portal,
                                                                                          settings):  # fmt: skip
    """More widgets of one client do not multiply what one visitor may ask for, nor do the addresses of
    one IPv6 network (a /64 is one subscriber's: they pick any address in it at will)."""
    from telephony.models import Widget

    settings.OCX_CLICK_TO_CALL = {"per_address": 2, "per_widget": 100, "window": 60}
    with tenant_context(world.client_a1):
        other = Widget.objects.create(name="Shop too", destination_target="102", origins=SHOP, key="second-key")
    http = portal(None, host=world.host_of(world.client_a1_op))

    def ask(key: str, address: str) -> int:
        return http.post(f"/c2c/{key}/call/", '{"number": "911"}', content_type="application/json",
                         HTTP_ORIGIN=SHOP, REMOTE_ADDR=address).status_code  # fmt: skip

    try:
        assert [ask(widget.key, "198.51.100.7"), ask(other.key, "198.51.100.7"), ask(other.key, "198.51.100.7")] == [
            403, 403, 429]  # fmt: skip
        assert ask(widget.key, "198.51.100.8") == 403  # (another visitor)
        assert [ask(widget.key, "2001:db8:1:2::1"), ask(widget.key, "2001:db8:1:2:ffff::9"),
                ask(other.key, "2001:db8:1:2:a:b:c:d")] == [403, 403, 429]  # fmt: skip
        assert ask(widget.key, "2001:db8:1:3::1") == 403  # (another /64)
    finally:
        with tenant_context(world.client_a1):
            other.delete()


def test_a_real_call_rings_the_user_then_the_visitor_and_joins_them(world, lines, widget, public, phone_carrier,
                                                                     tmp_path):  # fmt: skip
    _caller, user, _domain = lines  # 102 (user) answers after a short ring
    far, _carrier = phone_carrier()
    far.set_incoming("mobile", answer=200)
    asked = public(widget.key, {"number": "(650) 253-0000"})
    assert asked.status_code == 202, asked.content
    ringing = user.wait_incoming(timeout=15)
    assert E164 in ringing["from"], ringing  # the user sees who asked to be called
    user.wait_call_state(ringing["call"], "confirmed")
    visitor = far.wait_incoming(timeout=15)  # only once the user answered
    far.wait_call_state(visitor["call"], "confirmed")
    heard = tmp_path / "visitor-heard.wav"
    far.record(visitor["call"], heard)
    user.play_tone(ringing["call"], [1000], 1200)
    user.wait_tone_done(ringing["call"])
    far.hangup(visitor["call"])
    user.wait_call_state(ringing["call"], "disconnected")
    far.wait_recorded(visitor["call"])
    assert heard_ms(heard, 1000) >= 800, "the visitor hears the user"
    cdr = cdr_of(world, timeout=10, legs__contains=[{"leg": "widget", "widget": widget.pk}])
    assert (cdr.direction, cdr.callee_number, cdr.disposition) == ("outbound", E164, "answered")


def test_operators_keep_widgets_in_the_api_with_every_error_at_once(world, api):
    http = api(world.client_a1_op)
    made = http.post("/api/v1/widgets/", {"name": "Shop", "destination_target": "102", "origins": f"{SHOP}/"},
                     format="json")  # fmt: skip
    assert made.status_code == 201, made.json()
    body = made.json()
    assert body["origins"] == SHOP and body["destination_kind"] == "user" and len(body["key"]) >= 24
    assert f'data-ocx-widget="{body["key"]}"' in body["snippet"] and "/static/clicktocall.js" in body["snippet"]
    bad = http.post("/api/v1/widgets/", {"name": "Shop", "destination_kind": "menu", "origins": "shop.example.com"},
                    format="json")  # fmt: skip
    assert bad.status_code == 400
    assert set(bad.json()["fields"]) == {"name", "destination_kind", "destination_target", "origins"}
    bad = http.post("/api/v1/widgets/", {"name": "Other", "destination_target": "999"}, format="json")
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"destination_target"}
    off = http.patch(f"/api/v1/widgets/{body['id']}/", {"enabled": False}, format="json")
    assert off.status_code == 200 and off.json()["enabled"] is False and off.json()["key"] == body["key"]
    assert api(world.client_a2_op).get(f"/api/v1/widgets/{body['id']}/").status_code == 404
    assert api(world.user_a1).get("/api/v1/widgets/").status_code in (200, 403, 404)
    assert http.delete(f"/api/v1/widgets/{body['id']}/").status_code == 204


def test_operators_keep_widgets_in_the_portal_and_see_the_snippet(world, portal):
    from telephony.models import Widget

    http = portal(world.client_a1_op)
    assert http.get("/widgets/").status_code == 200 and http.get("/widgets/new/").status_code == 200
    bad = http.post("/widgets/new/", {"name": "", "destination_target": "999", "origins": "ftp://x"})
    assert bad.status_code == 200 and set(bad.context["form"].errors) == {"name", "destination_target", "origins"}
    made = http.post("/widgets/new/", {"name": "Shop", "destination_target": "102", "origins": SHOP, "enabled": "on"})
    assert made.status_code == 302
    with tenant_context(world.client_a1):
        widget = Widget.objects.get(name="Shop")
    page = http.get(f"/widgets/{widget.pk}/")
    assert page.status_code == 200 and widget.key.encode() in page.content and b"clicktocall.js" in page.content
    assert b"&lt;script src=" in page.content  # shown as code to copy, never run on the portal itself
    assert portal(world.client_a2_op).get(f"/widgets/{widget.pk}/").status_code == 404
    assert portal(world.user_a1).get("/widgets/").status_code in (403, 404)
    assert http.post(f"/widgets/{widget.pk}/delete/").status_code == 302


def test_a_widget_with_several_bad_fields_shows_each_error_in_one_submission(world, portal):
    """A name the form refuses (too long) does not hide the service's refusals of the other fields."""
    from telephony.models import Widget
    from tests.pages import field_error

    http = portal(world.client_a1_op)
    bad = {"name": "w" * 61, "destination_target": "999", "origins": "ftp://x"}
    answer = http.post("/widgets/new/", bad)
    assert answer.status_code == 200
    assert "60 characters" in field_error(answer, "name")
    assert field_error(answer, "destination_target") and field_error(answer, "origins")
    with tenant_context(world.client_a1):
        assert not Widget.objects.exists()
