"""Menus through the API: the client's operators create, read, change and delete menus with their keys
nested; every bad field is a 400 field error at once (a row's as options.<n>.<field>); a menu
something points at is not deleted; users see none."""

from __future__ import annotations


def key(k: str, kind: str, target: str = "") -> dict:
    return {"key": k, "destination_kind": kind, "destination_target": target}


def test_operators_keep_menus_with_their_keys_nested(world, api):
    http = api(world.client_a1_op)
    sales = http.post("/api/v1/menus/", {"name": "Sales", "timeout_kind": "hangup",
                                         "options": [key("1", "user", "102")]}, format="json")  # fmt: skip
    assert sales.status_code == 201, sales.json()
    main = http.post("/api/v1/menus/", {"name": "Main", "greeting_prompt": "closed", "direct_dial": True,
                                        "timeout": 8, "retries": 1, "timeout_kind": "hangup",
                                        "options": [key("1", "menu", str(sales.json()["id"])),
                                                    key("*", "voicemail", "101")]}, format="json")  # fmt: skip
    assert main.status_code == 201, main.json()
    body = http.get(f"/api/v1/menus/{main.json()['id']}/").json()
    assert (body["timeout"], body["retries"], body["direct_dial"]) == (8, 1, True)
    assert body["options"] == [key("*", "voicemail", "101"), key("1", "menu", str(sales.json()["id"]))]
    changed = http.patch(f"/api/v1/menus/{main.json()['id']}/", {"timeout": 4}, format="json")
    assert changed.status_code == 200 and changed.json()["timeout"] == 4 and len(changed.json()["options"]) == 2
    changed = http.patch(f"/api/v1/menus/{main.json()['id']}/", {"options": [key("0", "user", "103")]}, format="json")
    assert changed.json()["options"] == [key("0", "user", "103")]
    assert [m["name"] for m in http.get("/api/v1/menus/").json()["results"]] == ["Main", "Sales"]
    assert api(world.user_a1).get("/api/v1/menus/").json()["count"] == 0
    assert api(world.user_a1).post("/api/v1/menus/", {"name": "Mine"}, format="json").status_code in (403, 404)


def test_bad_input_is_400_with_every_field_at_once(world, api):
    http = api(world.client_a1_op)
    bad = http.post("/api/v1/menus/", {"name": "", "timeout": 600, "retries": -1, "invalid_kind": "teleport",
                                       "greeting_message": 999999,
                                       "options": [key("1", "user", "102"), key("1", "hangup", "goodbye"),
                                                   key("A", "menu", "424242")]}, format="json")  # fmt: skip
    assert bad.status_code == 400, bad.json()
    assert set(bad.json()["fields"]) == {"name", "timeout", "retries", "invalid_kind", "greeting_message",
                                         "options.1.key", "options.2.key", "options.2.destination_target"}  # fmt: skip
    assert http.post("/api/v1/menus/", {"name": "X", "options": "1"}, format="json").status_code == 400
    assert http.post("/api/v1/menus/", {"name": "X", "timeout": "soon"}, format="json").status_code == 400
    looping = http.post("/api/v1/menus/", {"name": "Loop"}, format="json")
    assert looping.status_code == 400 and "options" in looping.json()["fields"]


def test_a_menu_another_points_at_is_not_deleted_and_one_nobody_uses_is(world, api):
    http = api(world.client_a1_op)
    target = http.post("/api/v1/menus/", {"name": "Target", "timeout_kind": "hangup"}, format="json").json()
    http.post("/api/v1/menus/", {"name": "Pointing", "timeout_kind": "menu", "timeout_target": str(target["id"]),
                                 "options": [key("9", "hangup")]}, format="json")  # fmt: skip
    refused = http.delete(f"/api/v1/menus/{target['id']}/")
    assert refused.status_code == 400 and "Pointing" in refused.json()["fields"]["menu"][0]
    lonely = http.post("/api/v1/menus/", {"name": "Lonely", "timeout_kind": "hangup"}, format="json").json()
    assert http.delete(f"/api/v1/menus/{lonely['id']}/").status_code == 204
    assert http.get(f"/api/v1/menus/{lonely['id']}/").status_code == 404
