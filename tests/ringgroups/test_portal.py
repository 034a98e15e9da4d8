"""Ring groups in the client portal: operators list, create, change (the members as rows, each error on
its row and field, all at once) and delete groups (refused, saying what, while something points at
one); users do not see them; another client's group answers 404 (and the isolation matrix)."""

from __future__ import annotations

from django_tenants.utils import tenant_context

from ringgroups.models import RingGroup


def rows(*members: tuple[str, str], extra: int = 1) -> dict:
    data = {"members-TOTAL_FORMS": str(len(members) + extra), "members-INITIAL_FORMS": "0",
            "members-MIN_NUM_FORMS": "0", "members-MAX_NUM_FORMS": "30"}  # fmt: skip
    for n, (kind, target) in enumerate(members):
        data.update({f"members-{n}-kind": kind, f"members-{n}-target": target})
    return data


def fields(**values) -> dict:
    return {"name": "", "strategy": "simultaneous", "ring_time": "20", "no_answer_kind": "", "no_answer_target": "",
            **values}  # fmt: skip


def test_operators_make_change_and_delete_groups_with_their_members_as_rows(world, portal):
    http = portal(world.client_a1_op)
    assert http.get("/ring-groups/").status_code == 200
    assert b"/ring-groups/" in http.get("/").content  # in the portal's navigation
    assert http.get("/ring-groups/new/").status_code == 200
    made = http.post("/ring-groups/new/", {**fields(name="Support", strategy="in_order", ring_time="3"),
                                           **rows(("user", "102"), ("external", "+12025550143"))})  # fmt: skip
    assert made.status_code == 302, made.context["form"].errors if made.context else made
    with tenant_context(world.client_a1):
        group = RingGroup.objects.get(name="Support")
        assert list(group.members.values_list("target", flat=True)) == ["102", "+12025550143"]
        assert (group.strategy, group.ring_time) == ("in_order", 3)
    page = http.get(f"/ring-groups/{group.pk}/")
    assert page.status_code == 200 and b'value="+12025550143"' in page.content
    assert b"Support" in http.get("/ring-groups/").content
    overflow = fields(name="Support", no_answer_kind="voicemail", no_answer_target="101")
    changed = http.post(f"/ring-groups/{group.pk}/", {**overflow, **rows(("user", "103"))})
    assert changed.status_code == 302
    with tenant_context(world.client_a1):
        assert list(RingGroup.objects.get(pk=group.pk).members.values_list("target", flat=True)) == ["103"]
    assert http.post(f"/ring-groups/{group.pk}/delete/").status_code == 302
    with tenant_context(world.client_a1):
        assert not RingGroup.objects.filter(pk=group.pk).exists()


def test_every_error_is_on_its_field_or_row_at_once(world, portal):
    http = portal(world.client_a1_op)
    members = rows(("user", "102"), ("user", "999"), ("external", "112"), ("user", "102"))
    bad = http.post("/ring-groups/new/", {**fields(name="", ring_time="0", no_answer_kind="voicemail",
                                                   no_answer_target="999"), **members})  # fmt: skip
    assert bad.status_code == 200
    assert set(bad.context["form"].errors) == {"name", "ring_time", "no_answer_target"}
    row_errors = [set(row.errors) for row in bad.context["rows"].forms[:4]]
    assert row_errors == [set(), {"target"}, {"target"}, {"target"}]
    assert b"emergency number" in bad.content
    empty = http.post("/ring-groups/new/", {**fields(name="Empty"), **rows()})
    assert empty.status_code == 200 and empty.context["form"].non_field_errors()


def test_a_group_something_points_at_is_kept_with_the_reason_and_others_see_404(world, portal):
    from menus.services import menu_save
    from ringgroups.services import ring_group_save

    target = ring_group_save(actor=world.client_a1_op, client=world.client_a1, name="Target",
                             members=[{"kind": "user", "target": "102"}])  # fmt: skip
    menu_save(actor=world.client_a1_op, client=world.client_a1, name="Pointing", timeout_kind="hangup",
              options=[{"key": "4", "destination_kind": "group", "destination_target": str(target.pk)}])  # fmt: skip
    http = portal(world.client_a1_op)
    refused = http.post(f"/ring-groups/{target.pk}/delete/", follow=True)
    assert "Pointing" in refused.content.decode()
    with tenant_context(world.client_a1):
        assert RingGroup.objects.filter(pk=target.pk).exists()
    other = portal(world.client_a2_op)
    assert other.get(f"/ring-groups/{target.pk}/").status_code == 404
    assert other.post(f"/ring-groups/{target.pk}/delete/").status_code == 404


def test_users_do_not_see_ring_groups(world, portal):
    http = portal(world.user_a1)
    assert http.get("/ring-groups/").status_code == 404
    assert http.post("/ring-groups/new/", fields(name="Mine")).status_code == 404
    assert b"/ring-groups/" not in http.get("/").content
