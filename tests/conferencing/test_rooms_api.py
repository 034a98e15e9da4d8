"""The rooms API as its users meet it: operators manage every room of the client and choose its
moderator, a user their own rooms; bad input answers field errors; the live view of a room whose
conference does not run. (Live control with real phones: tests/telephony/test_conference.py.)

The world's room: "Team room" of client a1, conference ID 4242, access number 800, PINs 1111/9999,
moderated by user_a1 (extension 101)."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from conferencing.models import Room
from tenants.models import AuditEvent


def rooms_of(http) -> dict[str, dict]:
    return {room["conference_id"]: room for room in http.get("/api/v1/rooms/").json()["results"]}


def team_room(world) -> Room:
    with tenant_context(world.client_a1):
        return Room.objects.get(conference_id="4242")


def test_an_operator_creates_a_room_for_a_user_with_generated_id_and_pins(world, api):
    http = api(world.client_a1_op)
    response = http.post("/api/v1/rooms/", {"name": "Sales weekly", "moderator": world.user_a1b.pk}, format="json")
    assert response.status_code == 201, response.content
    room = response.json()
    assert room["moderator"] == world.user_a1b.pk
    assert len(room["conference_id"]) == 6 and room["conference_id"].isdigit()
    assert room["dial_code"] == "*88" + room["conference_id"]
    assert room["participant_pin"] != room["moderator_pin"]
    assert set(rooms_of(http)) == {"4242", "5151", room["conference_id"]}
    assert AuditEvent.objects.filter(action="room.create", actor=world.client_a1_op).exists()

    changed = http.patch(f"/api/v1/rooms/{room['id']}/", {"access_number": "805", "max_participants": 10},
                         format="json")  # fmt: skip
    assert changed.status_code == 200, changed.content
    assert (changed.json()["access_number"], changed.json()["max_participants"]) == ("805", 10)
    whole = {**changed.json(), "name": "Sales daily", "recurrence": ""}
    for read_only in ("id", "dial_code", "created_at"):
        whole.pop(read_only)
    assert http.put(f"/api/v1/rooms/{room['id']}/", whole, format="json").json()["name"] == "Sales daily"
    assert http.delete(f"/api/v1/rooms/{room['id']}/").status_code == 204
    assert set(rooms_of(http)) == {"4242", "5151"}


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"participant_pin": "12"}, "participant_pin", "4 to 8 digits"),
        ({"moderator_pin": "12ab"}, "moderator_pin", "4 to 8 digits"),
        ({"participant_pin": "5555", "moderator_pin": "5555"}, "moderator_pin", "must differ"),
        ({"conference_id": "4242"}, "conference_id", "already in use"),
        ({"conference_id": "42"}, "conference_id", "4 to 9 digits"),
        ({"access_number": "102"}, "access_number", "extension"),
        ({"access_number": "800"}, "access_number", "another room"),
        ({"access_number": "80a"}, "access_number", "2 to 4 digits"),
        ({"max_participants": 1}, "max_participants", "2"),
        ({"starts_at": "2026-12-01T10:00:00Z", "ends_at": "2026-12-01T09:00:00Z"}, "ends_at", "after the start"),
        ({"recurrence": "weekly"}, "recurrence", "needs a start"),
        ({"recurrence": "hourly"}, "recurrence", "not a valid choice"),
    ],
)
def test_bad_room_fields_answer_field_errors(world, api, fields, field, message):
    response = api(world.client_a1_op).post(
        "/api/v1/rooms/", {"name": "Bad", "moderator": world.user_a1.pk, **fields}, format="json"
    )
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid"
    assert message in " ".join(body["fields"][field]), body
    with tenant_context(world.client_a1):
        assert not Room.objects.filter(name="Bad").exists()


@pytest.mark.parametrize("moderator", ["user_b1", "client_a1_op", "missing", "text"])
def test_the_moderator_must_be_a_user_of_the_client(world, api, moderator):
    value = {"missing": 999999, "text": "someone"}.get(moderator) or getattr(world, moderator).pk
    http = api(world.client_a1_op)
    created = http.post("/api/v1/rooms/", {"name": "Nope", "moderator": value}, format="json")
    assert created.status_code == 400 and "moderator" in created.json()["fields"], created.content
    handed = http.patch(f"/api/v1/rooms/{team_room(world).pk}/", {"moderator": value}, format="json")
    assert handed.status_code == 400 and "moderator" in handed.json()["fields"]
    assert team_room(world).moderator_id == world.user_a1.pk


def test_an_operator_must_name_a_moderator(world, api):
    response = api(world.client_a1_op).post("/api/v1/rooms/", {"name": "Nobody's"}, format="json")
    assert response.status_code == 400 and "moderator" in response.json()["fields"]


def test_a_user_manages_only_their_own_rooms_and_moderates_them(world, api):
    own, colleague = api(world.user_a1), api(world.user_a1b)
    assert set(rooms_of(own)) == {"4242"}
    assert set(rooms_of(colleague)) == {"5151"}, "the test world's Board room is 102's"
    team = team_room(world)
    assert colleague.get(f"/api/v1/rooms/{team.pk}/").status_code == 404
    assert colleague.patch(f"/api/v1/rooms/{team.pk}/", {"name": "Mine"}, format="json").status_code == 404
    assert colleague.delete(f"/api/v1/rooms/{team.pk}/").status_code == 404
    assert colleague.get(f"/api/v1/rooms/{team.pk}/live/").status_code == 404
    assert colleague.post(f"/api/v1/rooms/{team.pk}/live/", {"action": "end"}, format="json").status_code == 404

    made = colleague.post("/api/v1/rooms/", {"name": "1:1", "conference_id": "5150"}, format="json")
    assert made.status_code == 201 and made.json()["moderator"] == world.user_a1b.pk
    assert set(rooms_of(colleague)) == {"5150", "5151"}
    assert set(rooms_of(api(world.client_a1_op))) == {"4242", "5150", "5151"}
    # A user neither hands a room to someone else nor makes one for them.
    handed = colleague.patch(f"/api/v1/rooms/{made.json()['id']}/", {"moderator": world.user_a1.pk}, format="json")
    assert handed.status_code == 400 and "moderator" in handed.json()["fields"]
    for_other = colleague.post("/api/v1/rooms/", {"name": "x", "moderator": world.user_a1.pk}, format="json")
    assert for_other.status_code == 400 and "moderator" in for_other.json()["fields"]
    same = colleague.patch(f"/api/v1/rooms/{made.json()['id']}/", {"moderator": world.user_a1b.pk, "record": True},
                           format="json")  # fmt: skip
    assert same.status_code == 200 and same.json()["record"] is True


def test_another_clients_room_answers_404(world, api):
    team = team_room(world)
    for account in (world.client_b1_op, world.client_a2_op, world.user_b1):
        http = api(account)
        assert "4242" not in rooms_of(http)
        assert http.get(f"/api/v1/rooms/{team.pk}/").status_code == 404
        assert http.get(f"/api/v1/rooms/{team.pk}/live/").json()["code"] == "not-found"
        assert http.post(f"/api/v1/rooms/{team.pk}/live/", {"action": "end"}, format="json").status_code == 404
    # The platform and brand hosts have no rooms at all.
    for account in (world.god, world.brand_a_op):
        http = api(account)
        assert http.get("/api/v1/rooms/").json()["results"] == []
        created = http.post("/api/v1/rooms/", {"name": "x", "moderator": world.user_a1.pk}, format="json")
        assert created.status_code == 404


def test_the_live_view_of_a_room_nobody_is_in(world, api):
    http = api(world.user_a1)
    team = team_room(world)
    live = http.get(f"/api/v1/rooms/{team.pk}/live/")
    assert live.status_code == 200
    assert live.json() == {"running": False, "conference": None, "started_at": None, "locked": False,
                           "recording": False, "participants": [], "callout": None}  # fmt: skip
    refused = http.post(f"/api/v1/rooms/{team.pk}/live/", {"action": "lock"}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "not-possible"
    bad = http.post(f"/api/v1/rooms/{team.pk}/live/", {"action": "explode"}, format="json")
    assert bad.status_code == 400 and "action" in bad.json()["fields"]
    nobody = http.post(f"/api/v1/rooms/{team.pk}/live/", {"action": "mute"}, format="json")
    assert nobody.status_code == 400 and "participant" in nobody.json()["fields"]


def test_the_openapi_schema_describes_rooms(world, api):
    schema = api(world.god).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/rooms/"])
    assert {"get", "put", "patch", "delete"} <= set(paths["/api/v1/rooms/{id}/"])
    assert {"get", "post"} <= set(paths["/api/v1/rooms/{id}/live/"])
