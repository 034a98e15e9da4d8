"""Menus in the client portal: operators list, create, change (the keys as rows, each error on its
row and field) and delete menus (refused, saying what, while something points at one); users do
not see them."""

from __future__ import annotations

from django_tenants.utils import tenant_context

from menus.models import Menu


def rows(*keys: tuple[str, str, str], extra: int = 1) -> dict:
    data = {"options-TOTAL_FORMS": str(len(keys) + extra), "options-INITIAL_FORMS": "0",
            "options-MIN_NUM_FORMS": "0", "options-MAX_NUM_FORMS": "15"}  # fmt: skip
    for n, (key, kind, target) in enumerate(keys):
        data.update({f"options-{n}-key": key, f"options-{n}-destination_kind": kind,
                     f"options-{n}-destination_target": target})  # fmt: skip
    return data


def fields(**values) -> dict:
    return {"name": "", "greeting_message": "", "greeting_prompt": "", "timeout": "5", "retries": "2",
            "timeout_kind": "", "timeout_target": "", "invalid_kind": "", "invalid_target": "", **values}  # fmt: skip


def test_operators_make_change_and_delete_menus_with_their_keys_as_rows(world, portal):
    http = portal(world.client_a1_op)
    assert http.get("/menus/").status_code == 200
    assert http.get("/menus/new/").status_code == 200
    made = http.post("/menus/new/", {**fields(name="Main", greeting_prompt="closed", direct_dial="on"),
                                     **rows(("1", "user", "102"), ("0", "voicemail", "101"))})  # fmt: skip
    assert made.status_code == 302, made.context["form"].errors if made.context else made
    with tenant_context(world.client_a1):
        menu = Menu.objects.get(name="Main")
        assert dict(menu.options.values_list("key", "destination_target")) == {"1": "102", "0": "101"}
        assert menu.direct_dial and menu.greeting_prompt == "closed"
    page = http.get(f"/menus/{menu.pk}/")
    assert page.status_code == 200 and b'value="102"' in page.content
    listing = http.get("/menus/")
    assert b"Main" in listing.content
    changed = http.post(f"/menus/{menu.pk}/", {**fields(name="Main", timeout="9", timeout_kind="hangup"),
                                               **rows(("5", "user", "103"))})  # fmt: skip
    assert changed.status_code == 302
    with tenant_context(world.client_a1):
        assert list(Menu.objects.get(pk=menu.pk).options.values_list("key", flat=True)) == ["5"]
    assert http.post(f"/menus/{menu.pk}/delete/").status_code == 302
    with tenant_context(world.client_a1):
        assert not Menu.objects.filter(pk=menu.pk).exists()


def test_every_error_is_on_its_field_or_row(world, portal):
    http = portal(world.client_a1_op)
    keys = rows(("1", "user", "102"), ("1", "user", "103"), ("2", "menu", "424242"))
    bad = http.post("/menus/new/", {**fields(name="", timeout="0", retries="9", invalid_kind="voicemail",
                                             invalid_target="999"), **keys})  # fmt: skip
    assert bad.status_code == 200
    assert set(bad.context["form"].errors) == {"name", "timeout", "retries", "invalid_target"}
    row_errors = [set(row.errors) for row in bad.context["rows"].forms[:3]]
    assert row_errors == [set(), {"key"}, {"destination_target"}]
    assert "mapped twice" in bad.context["rows"].forms[1].errors["key"][0]
    assert b"mapped twice" in bad.content
    looping = http.post("/menus/new/", {**fields(name="Loop"), **rows()})
    assert looping.status_code == 200 and looping.context["form"].non_field_errors()


def test_a_menu_something_points_at_is_kept_with_the_reason(world, portal):
    from menus.services import menu_save

    target = menu_save(actor=world.client_a1_op, client=world.client_a1, name="Target", timeout_kind="hangup")
    menu_save(actor=world.client_a1_op, client=world.client_a1, name="Pointing", timeout_kind="hangup",
              options=[{"key": "4", "destination_kind": "menu", "destination_target": str(target.pk)}])  # fmt: skip
    http = portal(world.client_a1_op)
    refused = http.post(f"/menus/{target.pk}/delete/", follow=True)
    assert "Pointing" in refused.content.decode()
    with tenant_context(world.client_a1):
        assert Menu.objects.filter(pk=target.pk).exists()


def test_users_do_not_see_menus(world, portal):
    http = portal(world.user_a1)
    assert http.get("/menus/").status_code == 404
    assert http.post("/menus/new/", fields(name="Mine")).status_code == 404
    assert b"/menus/" not in http.get("/").content
