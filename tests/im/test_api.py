"""Instant messages and presence through the API (/api/v1/im/...): conversations, history, sending, read
pointers, the colleagues' directory and one's own presence; bad input as field errors (never a 500),
the sender's rate as 429, and another client's or other colleagues' conversations as 404."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from im.models import Conversation, Message


def _start(api, world, actor, to, body="hello", **more):
    return api(actor).post("/api/v1/im/conversations/", {"to": [u.pk for u in to], "body": body, **more},
                           format="json")  # fmt: skip


def test_a_conversation_its_history_and_unread_counts(world, api):
    started = _start(api, world, world.user_a1, [world.user_a1b], "first <b>bold</b>")
    assert started.status_code == 201, started.content
    conversation = started.json()
    assert conversation["kind"] == "direct"
    assert {m["id"] for m in conversation["members"]} == {world.user_a1.pk, world.user_a1b.pk}
    pk = conversation["id"]
    me, other = api(world.user_a1), api(world.user_a1b)
    for n in range(4):
        assert me.post(f"/api/v1/im/conversations/{pk}/messages/", {"body": f"m{n}"}, format="json").status_code == 201
    assert other.get("/api/v1/im/unread/").json() == {"unread": 5}
    [listed] = other.get("/api/v1/im/conversations/").json()["results"]
    assert (listed["id"], listed["unread"], listed["name"]) == (pk, 5, world.user_a1.name)
    page = other.get(f"/api/v1/im/conversations/{pk}/messages/", {"limit": 2}).json()
    assert [m["body"] for m in page] == ["m2", "m3"]
    older = other.get(f"/api/v1/im/conversations/{pk}/messages/", {"before": page[0]["id"]}).json()
    assert [m["body"] for m in older] == ["first <b>bold</b>", "m0", "m1"]
    assert older[0]["via"] == "api" and older[0]["sender_name"] == world.user_a1.name
    read = other.post(f"/api/v1/im/conversations/{pk}/read/", {"up_to": page[0]["id"]}, format="json")
    assert read.json() == {"unread": 1}
    assert other.post(f"/api/v1/im/conversations/{pk}/read/", {}, format="json").json() == {"unread": 0}


def test_a_message_to_colleagues_by_id_and_a_group(world, api):
    http = api(world.user_a1)
    sent = http.post("/api/v1/im/messages/", {"to": [world.user_a1b.pk], "body": "hi"}, format="json")
    assert sent.status_code == 201
    again = http.post("/api/v1/im/messages/", {"to": [world.user_a1b.pk], "body": "again"}, format="json")
    assert again.json()["conversation"] == sent.json()["conversation"]
    group = _start(api, world, world.user_a1, [world.user_a1b, world.user_a1c, world.client_a1_op], "all",
                   title="Everyone")  # fmt: skip
    assert (group.json()["kind"], group.json()["name"]) == ("group", "Everyone")
    assert api(world.client_a1_op).get("/api/v1/im/unread/").json() == {"unread": 1}


@pytest.mark.parametrize(
    ("body", "field", "why"),
    [
        ({"to": [], "body": "x"}, "to", "at least one"),
        ({"to": "abc", "body": "x"}, "to", "at least one"),
        ({"to": [{"a": 1}], "body": "x"}, "to", "by their ids"),
        ({"to": ["me"], "body": "x"}, "to", "by their ids"),
        ({"to": [-5], "body": "x"}, "to", "No such colleague"),
        ({"to": [1], "body": "\u0000binary"}, "body", "binary"),
        ({"to": [1], "body": "x" * 5000}, "body", "at most"),
        ({"to": [1], "body": ["a"]}, "body", "is text"),
        ({"to": [1], "body": None, "title": 5}, "title", "control"),
        ({"to": [1], "body": "x", "title": "a\u0001"}, "title", "control"),
    ],
)
def test_bad_input_is_a_field_error(world, api, body, field, why):
    if body.get("to") == [1]:
        body = {**body, "to": [world.user_a1b.pk]}
    answer = api(world.user_a1).post("/api/v1/im/conversations/", body, format="json")
    assert answer.status_code == 400, answer.content
    assert why in " ".join(answer.json()["fields"][field])
    with tenant_context(world.client_a1):
        assert not Message.objects.exists()
        assert not Conversation.objects.exists()  # (all or nothing)


def test_bad_history_parameters_and_bodies(world, api):
    pk = _start(api, world, world.user_a1, [world.user_a1b]).json()["id"]
    http = api(world.user_a1)
    for params in ({"before": "x"}, {"limit": "0"}, {"limit": "-3"}, {"before": "1e9"}):
        answer = http.get(f"/api/v1/im/conversations/{pk}/messages/", params)
        assert answer.status_code == 400 and answer.json()["code"] == "invalid", params
    assert (
        http.post(f"/api/v1/im/conversations/{pk}/messages/", "not json", content_type="application/json").status_code
        == 400
    )
    assert http.post(f"/api/v1/im/conversations/{pk}/read/", {"up_to": "x"}, format="json").status_code == 400
    answer = http.post(f"/api/v1/im/conversations/{pk}/messages/", {"body": "\x1b[31mred"}, format="json")
    assert answer.status_code == 400 and "body" in answer.json()["fields"]


def test_the_senders_rate_answers_429(world, api, settings):
    settings.OCX_IM = {**settings.OCX_IM, "per_window": 2}
    http = api(world.user_a1)
    codes = [http.post("/api/v1/im/messages/", {"to": [world.user_a1b.pk], "body": "x"}, format="json").status_code
             for _ in range(3)]  # fmt: skip
    assert codes == [201, 201, 429]


def test_colleagues_and_own_presence(world, api, django_capture_on_commit_callbacks):
    http = api(world.user_a1)
    people = {p["id"]: p for p in http.get("/api/v1/im/colleagues/").json()}
    assert people[world.user_a1b.pk]["extension"] == "102"
    assert world.user_b1.pk not in people
    with django_capture_on_commit_callbacks(execute=True):
        answer = http.put("/api/v1/im/presence/", {"state": "dnd"}, format="json")
    assert answer.status_code == 200
    assert answer.json()["state"] == "offline"  # (no phone registered, no socket open: offline shows first)
    assert api(world.user_a1).get("/api/v1/users/me/forwarding/").status_code in (200, 404)
    forwarding = http.get(f"/api/v1/users/{world.extension_of(world.user_a1).pk}/forwarding/")
    assert forwarding.status_code in (200, 404)
    for bad in ({"state": "on_call"}, {"state": ""}, {}, {"state": ["away"]}):
        answer = http.put("/api/v1/im/presence/", bad, format="json")
        assert answer.status_code == 400 and "state" in answer.json()["fields"], bad
    assert api(world.client_a1_op).put("/api/v1/im/presence/", {"state": "dnd"}, format="json").status_code == 400


def test_other_portals_and_roles_have_no_messages(world, api):
    for actor in (world.brand_a_op, world.god):  # (their hosts have no client: nothing of anyone's)
        assert api(actor).get("/api/v1/im/conversations/").json()["results"] == []
        for path in ("/api/v1/im/colleagues/", "/api/v1/im/unread/", "/api/v1/im/presence/"):
            assert api(actor).get(path).status_code == 404, path


def test_colleagues_conversations_and_another_clients_answer_404(world, api):
    theirs = _start(api, world, world.user_a1b, [world.user_a1c]).json()["id"]
    foreign = _start(api, world, world.user_b1, [world.client_b1_op]).json()["id"]
    for actor, pk in ((world.user_a1, theirs), (world.client_a1_op, theirs), (world.user_a1, foreign)):
        http = api(actor)
        assert http.get(f"/api/v1/im/conversations/{pk}/").status_code == 404
        assert http.get(f"/api/v1/im/conversations/{pk}/messages/").status_code == 404
        assert http.post(f"/api/v1/im/conversations/{pk}/messages/", {"body": "x"}, format="json").status_code == 404
        assert http.post(f"/api/v1/im/conversations/{pk}/read/", {}, format="json").status_code == 404
    # a colleague of another client is not known here (no hint that the id exists)
    answer = api(world.user_a1).post("/api/v1/im/messages/", {"to": [world.user_b1.pk], "body": "x"}, format="json")
    assert answer.status_code == 400 and "No such colleague" in answer.json()["fields"]["to"][0]
