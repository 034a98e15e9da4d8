"""A user's call handling (do-not-disturb, forwarding, find-me) in the client portal, the user portal
and the API: saved and read back, every bad field named at once, each line only in its scope, and the
engines told to read the client's dial plan again."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from config.redis_store import get_redis, rkey
from telephony.models import Forwarding
from tests.pages import field_error, title_of
from tests.waiting import wait_for

FORM = {"dnd": "", "always_kind": "", "always_target": "", "busy_kind": "", "busy_target": "", "no_answer_kind": "",
        "no_answer_target": "", "no_answer_after": "20", "unreachable_kind": "", "unreachable_target": "",
        "find_me": "", "find_me_confirm": "on"}  # fmt: skip
# Every kind of mistake in one form: a user that does not exist, the line itself, a number that is not
# one, seconds out of range, a kind nobody registered, a NUL character.
BAD = {"always_kind": "user", "always_target": "999", "busy_kind": "user", "busy_target": "101",
       "no_answer_kind": "external", "no_answer_target": "12ab", "no_answer_after": "3", "unreachable_kind": "fax",
       "unreachable_target": "1", "find_me": "+49\x0030"}  # fmt: skip
BAD_FIELDS = {"always_target", "busy_target", "no_answer_target", "no_answer_after", "unreachable_kind", "find_me"}


def forwarding_row(world, account) -> Forwarding | None:
    with tenant_context(account.client):
        return Forwarding.objects.filter(extension__account_id=account.pk).first()


def test_an_operator_sets_a_users_call_handling_and_sees_it_in_the_users_list(world, portal):
    http = portal(world.client_a1_op)
    line = world.extension_of(world.user_a1)
    page = http.get(f"/users/{line.pk}/forwarding/")
    assert page.status_code == 200 and title_of(page) == "Call handling of 101 User a1"
    assert "Rings the line" in page.content.decode()
    assert "A user (their devices, then their forwarding)" in page.content.decode()  # the kinds' labels

    handling = {"dnd": "on", "busy_kind": "user", "busy_target": "102", "no_answer_kind": "external",
                "no_answer_target": "+49 30 1234567", "no_answer_after": "25", "find_me": "+49 151 23456789",
                "find_me_confirm": ""}  # fmt: skip
    saved = http.post(f"/users/{line.pk}/forwarding/", {**FORM, **handling})
    assert saved.status_code == 302 and saved["Location"] == f"/users/{line.pk}/"
    row = forwarding_row(world, world.user_a1)
    assert (row.dnd, row.busy_kind, row.busy_target, row.no_answer_target, row.no_answer_after) == (
        True, "user", "102", "+49301234567", 25)  # fmt: skip
    assert (row.find_me, row.find_me_confirm, row.always_kind) == ("+4915123456789", False, "")

    listed = http.get("/users/").content.decode()
    assert "Do not disturb" in listed and "Forwarded busy to user 102" in listed
    assert "Find-me +4915123456789" in listed
    assert "Forwarded not answered (25 s) to external +49301234567" in http.get(f"/users/{line.pk}/").content.decode()
    again = http.get(f"/users/{line.pk}/forwarding/")
    assert again.context["form"].initial["busy_target"] == "102" and again.context["form"].initial["dnd"] is True


def test_every_bad_field_shows_at_once_on_its_field_with_the_values_kept(world, portal):
    http = portal(world.client_a1_op)
    line = world.extension_of(world.user_a1)
    answer = http.post(f"/users/{line.pk}/forwarding/", {**FORM, **BAD})
    assert answer.status_code == 200
    assert set(answer.context["form"].errors) == BAD_FIELDS, answer.context["form"].errors
    assert "No user has extension 999" in field_error(answer, "always_target")
    assert "cannot forward to itself" in field_error(answer, "busy_target")
    assert "12ab" in field_error(answer, "no_answer_target")
    assert "Between 5 and 120" in field_error(answer, "no_answer_after")
    assert "Choose one of" in field_error(answer, "unreachable_kind")
    assert "NUL" in field_error(answer, "find_me")
    body = answer.content.decode()
    assert 'value="999"' in body and 'value="12ab"' in body and 'value="3"' in body
    assert '<option value="fax" selected>fax</option>' in body  # the unknown kind stays as sent
    too_long = http.post(f"/users/{line.pk}/forwarding/", {**FORM, "no_answer_after": "500"})
    assert "Between 5 and 120" in field_error(too_long, "no_answer_after")
    assert forwarding_row(world, world.user_a1) is None  # nothing saved


def test_seconds_that_are_not_a_number_do_not_hide_the_other_errors(world, portal):
    line = world.extension_of(world.user_a1)
    answer = portal(world.client_a1_op).post(f"/users/{line.pk}/forwarding/", {**FORM, **BAD, "no_answer_after": "x"})
    assert answer.status_code == 200
    assert set(answer.context["form"].errors) == BAD_FIELDS, answer.context["form"].errors
    assert "whole number" in field_error(answer, "no_answer_after")
    assert "No user has extension 999" in field_error(answer, "always_target")
    assert forwarding_row(world, world.user_a1) is None  # the check saved nothing


def test_a_user_keeps_their_own_call_handling_in_their_portal(world, portal):
    http = portal(world.user_a1)
    page = http.get("/phone/forwarding/")
    assert page.status_code == 200 and title_of(page) == "Call handling"
    saved = http.post("/phone/forwarding/", {**FORM, "always_kind": "user", "always_target": "103"})
    assert saved.status_code == 302 and saved["Location"] == "/phone/forwarding/"
    assert forwarding_row(world, world.user_a1).always_target == "103"
    assert "Forwarded always to user 103" in http.get("/phone/forwarding/").content.decode()
    bad = http.post("/phone/forwarding/", {**FORM, **BAD})
    assert set(bad.context["form"].errors) == BAD_FIELDS


def test_the_portals_keep_each_line_in_its_scope(world, portal):
    own, colleague = world.extension_of(world.user_a1), world.extension_of(world.user_a1b)
    elsewhere = world.extension_of(world.user_b1)
    # Another company's operator: the line does not exist for them, to read or to write.
    other = portal(world.client_b1_op)
    assert other.get(f"/users/{own.pk}/forwarding/").status_code == 404
    assert other.post(f"/users/{own.pk}/forwarding/", {**FORM, "dnd": "on"}).status_code == 404
    # A user reaches no operator page, their colleague's line and their own alike.
    user = portal(world.user_a1)
    for line in (own, colleague):
        assert user.get(f"/users/{line.pk}/forwarding/").status_code == 404
        assert user.post(f"/users/{line.pk}/forwarding/", {**FORM, "dnd": "on"}).status_code == 404
    # An operator has no "own line" page.
    assert portal(world.client_a1_op).get("/phone/forwarding/").status_code == 404
    assert portal(world.client_b1_op).get(f"/users/{elsewhere.pk}/forwarding/").status_code == 200
    assert forwarding_row(world, world.user_a1) is None and forwarding_row(world, world.user_a1b) is None


def test_the_api_saves_and_reads_back_a_users_call_handling(world, api):
    operator = api(world.client_a1_op)
    line = world.extension_of(world.user_a1)
    url = f"/api/v1/users/{line.pk}/forwarding/"
    empty = operator.get(url)
    assert empty.status_code == 200, empty.json()
    assert empty.json()["number"] == "101" and empty.json()["always_kind"] == "" and empty.json()["updated_at"] is None

    put = operator.put(url, {"dnd": True, "always_kind": "user", "always_target": "102", "no_answer_after": 30,
                             "find_me": "(202) 456-1111"}, format="json")  # fmt: skip
    assert put.status_code == 200, put.json()
    assert put.json()["find_me"] == "+12024561111" and put.json()["no_answer_after"] == 30
    patched = operator.patch(url, {"busy_kind": "hangup", "busy_target": ""}, format="json")
    assert patched.status_code == 200, patched.json()
    data = operator.get(url).json()
    assert (data["dnd"], data["always_target"], data["busy_kind"], data["no_answer_after"]) == (
        True,
        "102",
        "hangup",
        30,
    )
    # PUT is all of it: what it does not send goes back to its default.
    assert operator.put(url, {"busy_kind": "user", "busy_target": "103"}, format="json").status_code == 200
    row = forwarding_row(world, world.user_a1)
    assert (row.dnd, row.always_kind, row.busy_target, row.no_answer_after, row.find_me) == (False, "", "103", 20, "")

    unknown = operator.patch(url, {"divert": "yes", "number": "999"}, format="json")
    assert unknown.status_code == 400 and set(unknown.json()["fields"]) == {"divert", "number"}


@pytest.mark.parametrize("method", ["put", "patch"])
def test_the_api_names_every_bad_field_in_one_answer(world, api, method):
    operator = api(world.client_a1_op)
    line = world.extension_of(world.user_a1)
    bad = {**BAD, "no_answer_after": 500}
    answer = getattr(operator, method)(f"/api/v1/users/{line.pk}/forwarding/", bad, format="json")
    assert answer.status_code == 400, answer.json()
    assert answer.json()["code"] == "invalid" and set(answer.json()["fields"]) == BAD_FIELDS, answer.json()
    assert forwarding_row(world, world.user_a1) is None


def test_a_user_has_their_own_call_handling_in_the_api_and_nobody_elses(world, api):
    user = api(world.user_a1)
    assert user.get("/api/v1/me/forwarding/").json()["number"] == "101"
    changed = user.patch("/api/v1/me/forwarding/", {"dnd": True}, format="json")
    assert changed.status_code == 200 and changed.json()["dnd"] is True
    assert forwarding_row(world, world.user_a1).dnd is True
    bad = user.put("/api/v1/me/forwarding/", {**BAD, "no_answer_after": 3}, format="json")
    assert bad.status_code == 400 and set(bad.json()["fields"]) == BAD_FIELDS
    # The operators' endpoint is not a user's: their colleague's line and their own answer 404.
    for account in (world.user_a1b, world.user_a1):
        url = f"/api/v1/users/{world.extension_of(account).pk}/forwarding/"
        assert user.get(url).status_code == 404
        assert user.patch(url, {"dnd": True}, format="json").status_code == 404
    assert forwarding_row(world, world.user_a1b) is None
    # An operator has no line of their own.
    assert api(world.client_a1_op).get("/api/v1/me/forwarding/").status_code == 404


def test_another_clients_operator_cannot_read_or_change_a_line(world, api):
    url = f"/api/v1/users/{world.extension_of(world.user_a1).pk}/forwarding/"
    other = api(world.client_b1_op)
    assert other.get(url).status_code == 404
    assert other.put(url, {"dnd": True}, format="json").status_code == 404
    assert other.patch(url, {"dnd": True}, format="json").status_code == 404
    for outsider in (world.brand_a_op, world.god):  # no employees on their hosts
        assert api(outsider).get(url).status_code == 404
    assert forwarding_row(world, world.user_a1) is None


def test_a_save_tells_the_engines_to_read_the_clients_dial_plan_again(world, api, django_capture_on_commit_callbacks):
    listener = get_redis().pubsub()
    listener.subscribe(rkey("sip:invalidate"))
    listener.get_message(timeout=1)  # the subscription's confirmation
    try:
        line = world.extension_of(world.user_a1b)
        with django_capture_on_commit_callbacks(execute=True):
            saved = api(world.client_a1_op).patch(f"/api/v1/users/{line.pk}/forwarding/", {"dnd": True}, format="json")
        assert saved.status_code == 200
        expected = f"room {world.client_a1.pk}".encode()

        def heard():
            message = listener.get_message(timeout=0.2)
            return message is not None and message["data"] == expected

        wait_for(heard, f"{expected!r} on the directory channel")
    finally:
        listener.close()
