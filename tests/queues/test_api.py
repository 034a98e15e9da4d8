"""Queues through the API: the client's operators keep queues with their members nested; every bad
field is a 400 field error at once (a member row's as members.<n>.<field>); a queue something points
at is not deleted. Agents: a user logs in, out and pauses themselves only; an operator does it for
anyone; the live state in Redis follows."""

from __future__ import annotations

from django.conf import settings

from config.redis_store import get_redis
from queues import state


def member(ext: str, penalty: int = 0, order: int = 0) -> dict:
    return {"extension": ext, "penalty": penalty, "order": order}


def test_operators_keep_queues_with_their_members_nested(world, api):
    http = api(world.client_a1_op)
    made = http.post(
        "/api/v1/queues/",
        {
            "name": "Support",
            "number": "600",
            "strategy": "longest_idle",
            "ring_seconds": 2,
            "max_wait_seconds": 30,
            "max_wait_kind": "voicemail",
            "max_wait_target": "101",
            "max_callers": 3,
            "full_kind": "hangup",
            "full_target": "goodbye",
            "announce_every": 20,
            "members": [member("101"), member("102", penalty=1)],
        },
        format="json",
    )
    assert made.status_code == 201, made.json()
    body = http.get(f"/api/v1/queues/{made.json()['id']}/").json()
    assert (body["strategy"], body["ring_seconds"], body["number"]) == ("longest_idle", 2, "600")
    assert body["members"] == [{**member("101"), "logged_in": False}, {**member("102", 1), "logged_in": False}]
    changed = http.patch(f"/api/v1/queues/{body['id']}/", {"wrapup_seconds": 5}, format="json")
    assert changed.status_code == 200 and changed.json()["wrapup_seconds"] == 5 and len(changed.json()["members"]) == 2
    changed = http.patch(f"/api/v1/queues/{body['id']}/", {"members": [member("103")]}, format="json")
    assert [m["extension"] for m in changed.json()["members"]] == ["103"]
    assert [q["name"] for q in http.get("/api/v1/queues/").json()["results"]] == ["Support"]
    assert api(world.user_a1).get("/api/v1/queues/").json()["count"] == 0
    assert api(world.user_a1).post("/api/v1/queues/", {"name": "Mine"}, format="json").status_code in (403, 404)


def test_bad_input_is_400_with_every_field_at_once(world, api):
    http = api(world.client_a1_op)
    bad = http.post(
        "/api/v1/queues/",
        {
            "name": "",
            "number": "101",
            "strategy": "loudest",
            "ring_seconds": 0,
            "max_wait_kind": "teleport",
            "full_kind": "menu",
            "full_target": "999999",
            "announce_every": -1,
            "members": [member("101"), member("101"), member("999", penalty=500)],
        },
        format="json",
    )
    assert bad.status_code == 400, bad.json()
    assert set(bad.json()["fields"]) >= {
        "name",
        "number",
        "strategy",
        "ring_seconds",
        "max_wait_kind",
        "full_target",
        "members.1.extension",
        "members.2.extension",
        "members.2.penalty",
    }
    assert http.post("/api/v1/queues/", {"name": "X", "members": "101"}, format="json").status_code == 400
    assert http.post("/api/v1/queues/", {"name": "X", "ring_seconds": "soon"}, format="json").status_code == 400


def test_a_queue_a_menu_points_at_is_not_deleted_and_one_nobody_uses_is(world, api):
    http = api(world.client_a1_op)
    queue = http.post("/api/v1/queues/", {"name": "Sales"}, format="json").json()
    menu = http.post(
        "/api/v1/menus/",
        {
            "name": "Main",
            "timeout_kind": "queue",
            "timeout_target": str(queue["id"]),
            "options": [{"key": "1", "destination_kind": "queue", "destination_target": str(queue["id"])}],
        },
        format="json",
    )
    assert menu.status_code == 201, menu.json()
    refused = http.delete(f"/api/v1/queues/{queue['id']}/")
    assert refused.status_code == 400 and "Main" in refused.json()["fields"]["queue"][0]
    # and a menu a queue's overflow points at stays too
    other = http.post(
        "/api/v1/queues/",
        {"name": "Overflow", "max_wait_seconds": 5, "max_wait_kind": "menu", "max_wait_target": str(menu.json()["id"])},
        format="json",
    )
    assert other.status_code == 201, other.json()
    repointed = http.patch(
        f"/api/v1/menus/{menu.json()['id']}/",
        {
            "timeout_kind": "hangup",
            "timeout_target": "",
            "options": [{"key": "1", "destination_kind": "hangup", "destination_target": ""}],
        },
        format="json",
    )
    assert repointed.status_code == 200, repointed.json()
    refused = http.delete(f"/api/v1/menus/{menu.json()['id']}/")
    assert refused.status_code == 400 and "Overflow" in refused.json()["fields"]["menu"][0]
    assert http.delete(f"/api/v1/queues/{queue['id']}/").status_code == 204
    assert http.get(f"/api/v1/queues/{queue['id']}/").status_code == 404


def _redis_state(world, queue_id: int, ext: str) -> tuple[bool, bool]:
    redis, prefix = get_redis(), settings.OCX_REDIS_PREFIX
    members = redis.hgetall(state.queue_key(prefix, world.client_a1.pk, queue_id, "members"))
    paused = redis.hget(state.agent_key(prefix, world.client_a1.pk, ext), "paused")
    return ext.encode() in members, paused == b"1"


def test_agents_log_in_and_pause_themselves_and_operators_do_it_for_anyone(
    world, api, django_capture_on_commit_callbacks
):
    op = api(world.client_a1_op)
    queue = op.post(
        "/api/v1/queues/", {"name": "Help", "members": [member("101"), member("102")]}, format="json"
    ).json()
    me = api(world.user_a1)
    lines = me.get("/api/v1/queues/agents/").json()
    mine = lines[0] if isinstance(lines, list) else lines["results"][0]
    assert mine["extension"] == "101" and mine["queues"] == [{"queue": queue["id"], "name": "Help", "logged_in": False}]
    line = mine_id = _line_id(world, "101")
    with django_capture_on_commit_callbacks(execute=True):
        logged = me.post(f"/api/v1/queues/agents/{line}/login/", {}, format="json")
    assert logged.status_code == 200 and logged.json()["queues"][0]["logged_in"] is True
    assert _redis_state(world, queue["id"], "101") == (True, False)
    with django_capture_on_commit_callbacks(execute=True):
        paused = me.post(f"/api/v1/queues/agents/{mine_id}/pause/", {"reason": "lunch"}, format="json")
    assert paused.json()["paused"] is True and paused.json()["pause_reason"] == "lunch"
    assert _redis_state(world, queue["id"], "101") == (True, True)
    assert me.post(f"/api/v1/queues/agents/{mine_id}/pause/", {"reason": "x" * 61}, format="json").status_code == 400
    # another user's line is not theirs: 404
    other = _line_id(world, "102")
    assert me.post(f"/api/v1/queues/agents/{other}/login/", {}, format="json").status_code == 404
    assert me.get(f"/api/v1/queues/agents/{other}/").status_code == 404
    # the operator logs 102 in to the one queue, unpauses 101
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            op.post(f"/api/v1/queues/agents/{other}/login/", {"queue": queue["id"]}, format="json").status_code == 200
        )
        assert op.post(f"/api/v1/queues/agents/{mine_id}/unpause/", {}, format="json").json()["paused"] is False
    assert _redis_state(world, queue["id"], "102") == (True, False)
    assert _redis_state(world, queue["id"], "101") == (True, False)
    assert op.post(f"/api/v1/queues/agents/{other}/login/", {"queue": 999999}, format="json").status_code == 400
    assert len(op.get("/api/v1/queues/agents/").json()["results"]) == 2


def test_the_live_state_is_rebuilt_from_postgresql(world, api, django_capture_on_commit_callbacks):
    from django_tenants.utils import tenant_context

    op = api(world.client_a1_op)
    queue = op.post("/api/v1/queues/", {"name": "Help", "members": [member("101")]}, format="json").json()
    with django_capture_on_commit_callbacks(execute=True):
        op.post(f"/api/v1/queues/agents/{_line_id(world, '101')}/login/", {}, format="json")
    redis, prefix = get_redis(), settings.OCX_REDIS_PREFIX
    for key in redis.scan_iter(f"{state.base(prefix, world.client_a1.pk)}:*"):
        redis.delete(key)
    assert _redis_state(world, queue["id"], "101") == (False, False)
    with tenant_context(world.client_a1):
        state.rebuild(redis, prefix, world.client_a1)
    assert _redis_state(world, queue["id"], "101") == (True, False)


def _line_id(world, number: str) -> int:
    from django_tenants.utils import tenant_context

    from telephony.models import Extension

    with tenant_context(world.client_a1):
        return Extension.objects.get(number=number).pk


def test_callback_and_rating_options_are_kept_and_bad_ones_are_field_errors(world, api):
    http = api(world.client_a1_op)
    bad = http.post("/api/v1/queues/", {"name": "Back", "callback_key": "*"}, format="json")
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"callback_key"}, bad.json()
    bad = http.post("/api/v1/queues/", {"name": "Back", "callback_retries": 11, "callback_retry_seconds": -1},
                    format="json")  # fmt: skip
    assert bad.status_code == 400, bad.json()
    assert set(bad.json()["fields"]) == {"callback_retries", "callback_retry_seconds"}
    made = http.post("/api/v1/queues/", {"name": "Back", "callback_key": "1", "callback_retries": 3,
                                         "callback_retry_seconds": 30, "rating": True}, format="json")  # fmt: skip
    assert made.status_code == 201, made.json()
    got = http.get(f"/api/v1/queues/{made.json()['id']}/").json()
    assert (got["callback_key"], got["callback_retries"], got["callback_retry_seconds"], got["rating"]) == (
        "1", 3, 30, True)  # fmt: skip


def test_operators_name_a_queues_supervisors_and_bad_ones_are_field_errors(world, api):
    http = api(world.client_a1_op)
    bad = http.post("/api/v1/queues/", {"name": "Watched", "supervisors": ["103", "999"]}, format="json")
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"supervisors"}, bad.json()
    made = http.post("/api/v1/queues/", {"name": "Watched", "supervisors": ["103", "102"]}, format="json")
    assert made.status_code == 201 and sorted(made.json()["supervisors"]) == ["102", "103"], made.json()
    kept = http.patch(f"/api/v1/queues/{made.json()['id']}/", {"supervisors": ["102"]}, format="json")
    assert kept.json()["supervisors"] == ["102"]
    assert api(world.user_a1).get(f"/api/v1/queues/{made.json()['id']}/").status_code == 404
