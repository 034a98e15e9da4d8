"""A client's blocking lists: entries written the way the company's people write numbers, kept as
E.164, managed by its operators in the portal and the API (field errors naming the field, audit rows,
the engines told to read the dial plan again), invisible to its users and to other companies."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from config.redis_store import get_redis, rkey
from telephony.blocking import Blocklists, clean_entry
from telephony.directory import INVALIDATE_CHANNEL
from telephony.services import caller_blocking_of
from tenants.models import AuditEvent

API = "/api/v1/blocked-numbers/"


@pytest.mark.parametrize(
    ("country", "kind", "written", "stored"),
    [
        ("US", "number", "(650) 253-0001", "+16502530001"),
        ("DE", "number", "030 1234567", "+49301234567"),
        ("DE", "number", "0049 30 1234567", "+49301234567"),
        ("US", "number", "+44 20 7946 0958", "+442079460958"),
        ("DE", "prefix", "0900", "+49900"),
        ("DE", "prefix", "00 44 90", "+4490"),
        ("US", "prefix", "011 44 90", "+4490"),
        ("US", "prefix", "1 900", "+1900"),
        ("US", "prefix", "900", "+1900"),
        ("US", "prefix", "+882", "+882"),
    ],
)
def test_numbers_and_prefixes_are_read_as_the_companys_people_write_them(country, kind, written, stored):
    assert clean_entry("outbound", kind, written, country) == (kind, stored)


@pytest.mark.parametrize(
    ("direction", "kind", "written", "field"),
    [
        ("inbound", "number", "12", "value"),  # too short to be anyone's number
        ("inbound", "number", "call me", "value"),
        ("inbound", "number", "", "value"),
        ("inbound", "number", "1" * 41, "value"),
        ("outbound", "number", "911", "value"),  # emergency numbers are never blocked
        ("outbound", "prefix", "+8", "value"),  # no country code: a typo, not a block of half the world
        ("outbound", "prefix", "+0", "value"),
        ("outbound", "anonymous", "", "kind"),  # only callers are anonymous
        ("inbound", "anonymous", "+4490", "value"),
        ("inbound", "pattern", "+4490", "kind"),
        ("sideways", "number", "+4490", "direction"),
    ],
)
def test_what_cannot_be_meant_is_an_error_naming_the_field(direction, kind, written, field):
    with pytest.raises(ValidationError) as error:
        clean_entry(direction, kind, written, "US")
    assert set(error.value.message_dict) == {field}


def test_the_lists_match_whole_numbers_prefixes_and_anonymous_callers():
    lists = Blocklists(callers=frozenset({"+16502530001"}), caller_prefixes=frozenset({"+4490"}), anonymous=True,
                       destinations=frozenset({"+16502530002"}), destination_prefixes=frozenset({"+1900"}))  # fmt: skip
    assert lists.caller_block("+16502530001") == "+16502530001"
    assert lists.caller_block("+449012345678") == "+4490"
    assert lists.caller_block("") == "anonymous"
    assert lists.caller_block("+16502530002") is None  # a blocked destination may still call in
    assert lists.destination_block("+19005550100") == "+1900"
    assert lists.destination_block("+16502530002") == "+16502530002"
    assert lists.destination_block("+449012345678") is None
    assert Blocklists().caller_block("") is None  # anonymous callers ring unless blocked


def test_operators_keep_both_lists_through_the_api_with_field_errors(world, api, django_capture_on_commit_callbacks):
    operator = api(world.client_a1_op)
    pubsub = get_redis().pubsub()
    pubsub.subscribe(rkey(INVALIDATE_CHANNEL))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            made = operator.post(API, {"direction": "inbound", "kind": "number", "value": "(650) 253-0001",
                                       "note": "keeps selling"}, format="json")  # fmt: skip
        assert made.status_code == 201, made.json()
        assert (made.json()["value"], made.json()["note"]) == ("+16502530001", "keeps selling")
        heard = [m["data"] for _ in range(3) if (m := pubsub.get_message(timeout=1)) and m["type"] == "message"]
        assert heard == [f"room {world.client_a1.pk}".encode()]  # the engines drop the client's dial plan
    finally:
        pubsub.close()
    for entry in ({"direction": "inbound", "kind": "prefix", "value": "011 44 90"},
                  {"direction": "inbound", "kind": "anonymous"},
                  {"direction": "outbound", "kind": "prefix", "value": "1 900"}):  # fmt: skip
        assert operator.post(API, entry, format="json").status_code == 201
    assert [b["value"] for b in operator.get(API, {"direction": "inbound"}).json()["results"]] == [
        "",
        "+16502530001",
        "+4490",
    ]
    assert [b["value"] for b in operator.get(API, {"direction": "outbound"}).json()["results"]] == ["+1900"]

    def refused(body: dict, method: str = "post", url: str = API) -> set[str]:
        answer = getattr(operator, method)(url, body, format="json")
        assert answer.status_code == 400, answer.json()
        return set(answer.json()["fields"])

    assert refused({"direction": "inbound", "kind": "number", "value": "650-253-0001"}) == {"value"}  # duplicate
    assert refused({"direction": "inbound", "kind": "anonymous"}) == {"kind"}  # duplicate
    assert refused({"direction": "inbound", "kind": "number", "value": "not a number"}) == {"value"}
    assert refused({"direction": "inbound", "kind": "number", "value": "6502530\x00003"}) == {"value"}
    assert refused({"direction": "inbound", "kind": "number", "value": "6" * 100_000}) == {"value"}
    assert refused({"direction": "inbound", "kind": "number", "value": "6502530003", "note": "x" * 201}) == {"note"}
    assert refused({"direction": "outbound", "kind": "number", "value": "911"}) == {"value"}
    assert refused({"direction": "upward", "kind": "number", "value": "6502530003"}) == {"direction"}
    assert refused({"kind": "number", "value": "6502530003"}) == {"direction"}
    one = f"{API}{made.json()['id']}/"
    assert refused({"direction": "outbound"}, "patch", one) == {"direction"}  # an entry stays on its list
    changed = operator.patch(one, {"value": "+1 650 253 0009", "note": ""}, format="json")
    assert changed.status_code == 200 and changed.json()["value"] == "+16502530009"
    assert operator.delete(one).status_code == 204
    actions = set(AuditEvent.objects.filter(client=world.client_a1, action__startswith="block.").values_list(
        "action", flat=True))  # fmt: skip
    assert actions == {"block.create", "block.update", "block.delete"}


def test_the_lists_are_their_operators_only(world, api):
    operator = api(world.client_a1_op)
    made = operator.post(API, {"direction": "inbound", "kind": "prefix", "value": "+4490"}, format="json").json()
    other = api(world.client_a2_op)
    assert other.get(f"{API}{made['id']}/").status_code == 404  # another company's entry
    assert other.delete(f"{API}{made['id']}/").status_code == 404
    assert other.get(API).json()["count"] == 0
    user = api(world.user_a1)  # the company's own users: not theirs
    assert user.get(API).status_code == 404
    assert user.post(API, {"direction": "inbound", "kind": "anonymous"}, format="json").status_code == 404
    assert user.get("/api/v1/caller-blocking/").status_code == 404
    assert api(world.brand_a_op).get(API).status_code == 404  # (the brand's host has no lists)


def test_operators_choose_what_blocked_callers_get(world, api):
    operator = api(world.client_a1_op)
    before = AuditEvent.objects.filter(client=world.client_a1, action="caller_blocking.update").count()  # (committed)
    assert operator.get("/api/v1/caller-blocking/").json()["action"] == "decline"
    assert operator.put("/api/v1/caller-blocking/", {"action": "message"}, format="json").json()["action"] == "message"
    assert operator.get("/api/v1/caller-blocking/").json()["action"] == "message"
    bad = operator.put("/api/v1/caller-blocking/", {"action": "shout"}, format="json")
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"action"}
    assert AuditEvent.objects.filter(client=world.client_a1, action="caller_blocking.update").count() == before + 1


def test_the_client_portal_keeps_the_lists(world, portal):
    from django_tenants.utils import tenant_context

    from telephony.models import Block

    http = portal(world.client_a1_op)
    assert http.get("/blocking/").status_code == 200
    bad = http.post("/blocking/new/", {"direction": "inbound", "kind": "number", "value": "12", "note": ""})
    assert bad.status_code == 200 and set(bad.context["form"].errors) == {"value"}
    huge = http.post("/blocking/new/", {"direction": "inbound", "kind": "number", "value": "1" * 50_000})
    assert huge.status_code == 200 and set(huge.context["form"].errors) == {"value"}
    nul = http.post("/blocking/new/", {"direction": "inbound", "kind": "number", "value": "650\x002530001"})
    assert nul.status_code == 200 and set(nul.context["form"].errors) == {"value"}
    made = http.post("/blocking/new/", {"direction": "inbound", "kind": "number", "value": "(650) 253-0001",
                                        "note": "keeps selling"})  # fmt: skip
    assert made.status_code == 302
    again = http.post("/blocking/new/", {"direction": "inbound", "kind": "number", "value": "+16502530001"})
    assert again.status_code == 200 and set(again.context["form"].errors) == {"value"}
    assert http.post("/blocking/new/", {"direction": "outbound", "kind": "prefix", "value": "1900"}).status_code == 302
    page = http.get("/blocking/").content.decode()
    assert "(650) 253-0001" in page and "keeps selling" in page and "+1900" in page  # as the company reads them
    assert http.post("/blocking/", {"action": "forbidden"}).status_code == 302
    assert caller_blocking_of(world.client_a1).action == "forbidden"
    with tenant_context(world.client_a1):
        block = Block.objects.get(value="+16502530001")
    assert portal(world.client_a2_op).get(f"/blocking/{block.pk}/").status_code == 404  # another company
    assert portal(world.user_a1).get("/blocking/").status_code == 404
    assert portal(world.user_a1).get(f"/blocking/{block.pk}/").status_code == 404
    assert http.post(f"/blocking/{block.pk}/delete/").status_code == 302
    with tenant_context(world.client_a1):
        assert not Block.objects.filter(pk=block.pk).exists()


def test_a_blocking_entry_with_several_bad_fields_shows_each_error_in_one_submission(world, portal):
    from django_tenants.utils import tenant_context

    from telephony.models import Block
    from tests.pages import field_error

    http = portal(world.client_a1_op)
    bad = {"direction": "inbound", "kind": "number", "value": "12", "note": "n" * 201}
    answer = http.post("/blocking/new/", bad)
    assert answer.status_code == 200
    assert "200 characters" in field_error(answer, "note")
    assert field_error(answer, "value")
    answer = http.post("/blocking/new/", {**bad, "kind": "bogus"})  # a value is judged by its kind: not without it
    assert "valid choice" in field_error(answer, "kind") and "200 characters" in field_error(answer, "note")
    assert http.post("/blocking/new/", {**bad, "value": "+16502530009", "note": ""}).status_code == 302
    with tenant_context(world.client_a1):
        block = Block.objects.get(value="+16502530009")
    answer = http.post(f"/blocking/{block.pk}/", bad)
    assert "200 characters" in field_error(answer, "note") and field_error(answer, "value")
    with tenant_context(world.client_a1):
        assert Block.objects.get(pk=block.pk).value == "+16502530009" and Block.objects.count() == 1
