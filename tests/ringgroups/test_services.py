"""Ring groups' writes: a group keeps its members in order (users by extension, external numbers as
E.164), every bad field is said at once (members' rows by their number), and a group something
points at (a number or its schedule's closed branch, a forwarding, a menu key, another group) is
not deleted; the list of what points at it is the one menus use."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ValidationError
from django_tenants.utils import tenant_context

from ringgroups.models import RingGroup
from ringgroups.services import ring_group_delete, ring_group_save
from tenants.errors import NotAllowed


def save(world, group=None, **fields):
    return ring_group_save(actor=world.client_a1_op, client=world.client_a1, group=group, **fields)


def errors_of(call) -> dict:
    with pytest.raises(ValidationError) as error:
        call()
    return error.value.message_dict


def member(kind: str, target: str) -> dict:
    return {"kind": kind, "target": target}


def test_a_group_keeps_its_members_in_order(world):
    group = save(world, name="Sales", strategy="in_order", ring_time=2, no_answer_kind="voicemail",
                 no_answer_target="101", members=[member("user", "103"), member("external", "+1 202 555 0143"),
                                                  member("user", "102")])  # fmt: skip
    with tenant_context(world.client_a1):
        stored = list(RingGroup.objects.get(pk=group.pk).members.values_list("kind", "target"))
    assert stored == [("user", "103"), ("external", "+12025550143"), ("user", "102")]
    save(world, group, ring_time=5)  # members not given: kept
    with tenant_context(world.client_a1):
        assert RingGroup.objects.get(pk=group.pk).members.count() == 3


def test_every_bad_field_is_said_at_once_rows_by_their_number(world):
    errors = errors_of(lambda: save(world, name="", strategy="random", ring_time=0, no_answer_kind="teleport",
                                    members=[member("user", "102"), member("user", "999"), member("fax", "1"),
                                             member("external", "112"), member("user", "102")]))  # fmt: skip
    assert set(errors) == {"name", "strategy", "ring_time", "no_answer_kind", "members.1.target", "members.2.kind",
                           "members.3.target", "members.4.target"}  # fmt: skip
    assert "emergency" in errors["members.3.target"][0]
    assert errors_of(lambda: save(world, name="Empty", members=[]))["members"]
    assert errors_of(lambda: save(world, name="Long", ring_time=121, members=[member("user", "102")]))["ring_time"]
    group = save(world, name="Self", members=[member("user", "102")])
    said = errors_of(lambda: save(world, group, no_answer_kind="group", no_answer_target=str(group.pk)))
    assert said["no_answer_target"]


def test_a_group_something_points_at_is_not_deleted_and_says_what(world):
    from billing.models import Carrier
    from menus.services import menu_save
    from pstn.models import Number
    from telephony.models import Extension, Forwarding

    target = save(world, name="Target", members=[member("user", "102")])
    save(world, name="Overflowing", members=[member("user", "103")], no_answer_kind="group",
         no_answer_target=str(target.pk))  # fmt: skip
    menu_save(actor=world.client_a1_op, client=world.client_a1, name="Main", timeout_kind="hangup",
              options=[{"key": "2", "destination_kind": "group", "destination_target": str(target.pk)}])  # fmt: skip
    carrier = Carrier.objects.create(name=f"test-{uuid.uuid4().hex[:6]}", country="DE")
    Number.objects.create(brand=world.brand_a, e164="+4930901778", carrier=carrier, client=world.client_a1,
                          destination_kind="user", destination_target="101", closed_kind="group",
                          closed_target=str(target.pk))  # fmt: skip
    with tenant_context(world.client_a1):
        Forwarding.objects.create(extension=Extension.objects.get(number="103"), no_answer_kind="group",
                                  no_answer_target=str(target.pk))  # fmt: skip
    said = errors_of(lambda: ring_group_delete(actor=world.client_a1_op, client=world.client_a1, group=target))
    text = said["group"][0]
    assert "+4930901778" in text and "extension 103" in text and "menu Main" in text and "Overflowing" in text
    with pytest.raises(NotAllowed):
        ring_group_delete(actor=world.user_a1, client=world.client_a1, group=target)
    lonely = save(world, name="Lonely", members=[member("user", "102")], no_answer_kind="group",
                  no_answer_target=str(target.pk))  # fmt: skip
    ring_group_delete(actor=world.client_a1_op, client=world.client_a1, group=lonely)
    with tenant_context(world.client_a1):
        assert not RingGroup.objects.filter(pk=lonely.pk).exists()


def test_only_the_clients_operators_make_groups_and_a_group_is_a_destination_of_its_client_only(world):
    from telephony.destinations import clean

    with pytest.raises(NotAllowed):
        ring_group_save(actor=world.user_a1, client=world.client_a1, name="Mine", members=[member("user", "102")])
    with pytest.raises(NotAllowed):
        ring_group_save(actor=world.client_b1_op, client=world.client_a1, name="Theirs",
                        members=[member("user", "102")])  # fmt: skip
    group = save(world, name="Ours", members=[member("user", "102")])
    assert clean(world.client_a1, "group", f" {group.pk} ") == ("group", str(group.pk))
    with pytest.raises(ValidationError):
        clean(world.client_b1, "group", str(group.pk))
