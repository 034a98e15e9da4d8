"""Ring groups through the API: the client's operators create, read, change and delete groups with their
members nested; every bad field is a 400 field error at once (a member's as members.<n>.<field>); a
group something points at is not deleted; another client's group answers 404 (and the isolation
matrix, tests/tenants/test_isolation_api.py); users see none."""

from __future__ import annotations


def member(kind: str, target: str) -> dict:
    return {"kind": kind, "target": target}


def test_operators_keep_groups_with_their_members_nested(world, api):
    http = api(world.client_a1_op)
    members = [member("user", "102"), member("external", "+1 202 555 0143")]
    made = http.post("/api/v1/ring-groups/", {"name": "Sales", "strategy": "rotating", "ring_time": 2,
                                              "no_answer_kind": "voicemail", "no_answer_target": "101",
                                              "members": members}, format="json")  # fmt: skip
    assert made.status_code == 201, made.json()
    body = http.get(f"/api/v1/ring-groups/{made.json()['id']}/").json()
    assert (body["strategy"], body["ring_time"], body["no_answer_kind"]) == ("rotating", 2, "voicemail")
    assert body["members"] == [member("user", "102"), member("external", "+12025550143")]
    changed = http.patch(f"/api/v1/ring-groups/{body['id']}/", {"ring_time": 4}, format="json")
    assert changed.status_code == 200 and changed.json()["ring_time"] == 4 and len(changed.json()["members"]) == 2
    changed = http.patch(f"/api/v1/ring-groups/{body['id']}/", {"members": [member("user", "103")]}, format="json")
    assert changed.json()["members"] == [member("user", "103")]
    assert [g["name"] for g in http.get("/api/v1/ring-groups/").json()["results"]] == ["Sales"]
    assert api(world.user_a1).get("/api/v1/ring-groups/").json()["count"] == 0
    refused = api(world.user_a1).post("/api/v1/ring-groups/", {"name": "Mine"}, format="json")
    assert refused.status_code in (403, 404)
    assert api(world.client_b1_op).get(f"/api/v1/ring-groups/{body['id']}/").status_code == 404
    assert api(world.client_b1_op).delete(f"/api/v1/ring-groups/{body['id']}/").status_code == 404


def test_bad_input_is_400_with_every_field_at_once(world, api):
    http = api(world.client_a1_op)
    bad = http.post("/api/v1/ring-groups/", {"name": "", "strategy": "random", "ring_time": 600,
                                             "no_answer_kind": "menu", "no_answer_target": "424242",
                                             "members": [member("user", "102"), member("user", "999"),
                                                         member("pager", "1")]}, format="json")  # fmt: skip
    assert bad.status_code == 400, bad.json()
    assert set(bad.json()["fields"]) == {"name", "strategy", "ring_time", "no_answer_target", "members.1.target",
                                         "members.2.kind"}  # fmt: skip
    assert http.post("/api/v1/ring-groups/", {"name": "X", "members": "102"}, format="json").status_code == 400
    assert http.post("/api/v1/ring-groups/", {"name": "X", "ring_time": "soon"}, format="json").status_code == 400
    empty = http.post("/api/v1/ring-groups/", {"name": "Empty"}, format="json")
    assert empty.status_code == 400 and "members" in empty.json()["fields"]


def test_a_group_a_menu_points_at_is_not_deleted_and_one_nobody_uses_is(world, api):
    http = api(world.client_a1_op)
    target = http.post("/api/v1/ring-groups/", {"name": "Target", "members": [member("user", "102")]},
                       format="json").json()  # fmt: skip
    http.post("/api/v1/menus/", {"name": "Pointing", "timeout_kind": "hangup",
                                 "options": [{"key": "3", "destination_kind": "group",
                                              "destination_target": str(target["id"])}]}, format="json")  # fmt: skip
    refused = http.delete(f"/api/v1/ring-groups/{target['id']}/")
    assert refused.status_code == 400 and "Pointing" in refused.json()["fields"]["group"][0]
    lonely = http.post("/api/v1/ring-groups/", {"name": "Lonely", "members": [member("user", "103")]},
                       format="json").json()  # fmt: skip
    assert http.delete(f"/api/v1/ring-groups/{lonely['id']}/").status_code == 204
    assert http.get(f"/api/v1/ring-groups/{lonely['id']}/").status_code == 404
