"""Voice menus' data: keys to any destination (another menu too), every bad field at once (a key
mapped twice, a destination that is not one, a timeout out of range), menus that would keep a
caller going round forever refused, and a menu something points at is not deleted."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django_tenants.utils import tenant_context

from menus.models import Menu
from menus.services import menu_delete, menu_save
from tenants.errors import NotAllowed


def key(k: str, kind: str, target: str) -> dict:
    return {"key": k, "destination_kind": kind, "destination_target": target}


def save(world, menu=None, **fields):
    return menu_save(actor=world.client_a1_op, client=world.client_a1, menu=menu, **fields)


def errors_of(call) -> dict:
    with pytest.raises(ValidationError) as error:
        call()
    return error.value.message_dict


def test_a_menu_keeps_its_keys_to_any_destination_and_another_menu(world):
    sales = save(world, name="Sales", options=[{"key": "1", "destination_kind": "user", "destination_target": "102"}])
    main = save(world, name="Main", greeting_prompt="goodbye", timeout=7, retries=1, direct_dial=True,
                timeout_kind="hangup", timeout_target="goodbye",
                options=[{"key": "1", "destination_kind": "menu", "destination_target": str(sales.pk)},
                         key("#", "external", "+1 202 555 0143")])  # fmt: skip
    with tenant_context(world.client_a1):
        keys = dict(Menu.objects.get(pk=main.pk).options.values_list("key", "destination_target"))
    assert keys == {"1": str(sales.pk), "#": "+12025550143"}  # stored as the destinations clean them
    save(world, main, name="Main menu")  # options not given: kept
    with tenant_context(world.client_a1):
        assert Menu.objects.get(pk=main.pk).options.count() == 2


def test_every_bad_field_is_said_at_once_rows_by_their_number(world):
    errors = errors_of(lambda: save(world, name="", timeout=0, retries=9, greeting_prompt="no-such-prompt",
                                    timeout_kind="voicemail", timeout_target="999", invalid_kind="teleport",
                                    options=[{"key": "1", "destination_kind": "user", "destination_target": "102"},
                                             {"key": "1", "destination_kind": "user", "destination_target": "103"},
                                             {"key": "x", "destination_kind": "user", "destination_target": "555"},
                                             key("2", "", "")]))  # fmt: skip
    assert set(errors) == {"name", "timeout", "retries", "greeting_prompt", "timeout_target", "invalid_kind",
                           "options.1.key", "options.2.key", "options.2.destination_target",
                           "options.3.destination_kind"}  # fmt: skip
    assert "mapped twice" in errors["options.1.key"][0]
    assert errors_of(lambda: save(world, name="Big", timeout=61))["timeout"]


def test_a_loop_of_menus_with_no_way_out_is_refused_and_one_way_out_is_enough(world):
    first = save(world, name="First", timeout_kind="hangup")
    second = save(world, name="Second", options=[{"key": "1", "destination_kind": "menu",
                                                  "destination_target": str(first.pk)}])  # fmt: skip
    # First points back at Second and loses its own way out: both would keep the caller forever.
    errors = errors_of(lambda: save(world, first, timeout_kind="menu", timeout_target=str(second.pk), options=[
        {"key": "9", "destination_kind": "menu", "destination_target": str(first.pk)}]))  # fmt: skip
    assert "First" in errors["options"][0] and "Second" in errors["options"][0]
    assert errors_of(lambda: save(world, name="Alone"))["options"]  # leads nowhere at all
    # One key that leaves the menus is enough.
    save(world, first, timeout_kind="menu", timeout_target=str(second.pk),
         options=[{"key": "9", "destination_kind": "menu", "destination_target": str(first.pk)},
                  {"key": "0", "destination_kind": "voicemail", "destination_target": "101"}])  # fmt: skip
    assert save(world, name="Dialer", direct_dial=True).pk  # direct dialing is a way out


def test_a_menu_something_points_at_is_not_deleted_and_says_what(world):
    from pstn.models import Number
    from telephony.models import Extension, Forwarding

    target = save(world, name="Target", timeout_kind="hangup")
    save(world, name="Pointing", timeout_kind="hangup",
         options=[{"key": "5", "destination_kind": "menu", "destination_target": str(target.pk)}])  # fmt: skip
    carrier = _carrier()
    Number.objects.create(brand=world.brand_a, e164="+4930901777", carrier=carrier, client=world.client_a1,
                          destination_kind="user", destination_target="101", closed_kind="menu",
                          closed_target=str(target.pk))  # fmt: skip
    with tenant_context(world.client_a1):
        Forwarding.objects.create(extension=Extension.objects.get(number="103"), always_kind="menu",
                                  always_target=str(target.pk))  # fmt: skip
    said = errors_of(lambda: menu_delete(actor=world.client_a1_op, client=world.client_a1, menu=target))["menu"][0]
    assert "+4930901777" in said and "103" in said and "Pointing" in said
    with pytest.raises(NotAllowed):
        menu_delete(actor=world.user_a1, client=world.client_a1, menu=target)
    lonely = save(world, name="Lonely", timeout_kind="hangup")
    menu_delete(actor=world.client_a1_op, client=world.client_a1, menu=lonely)
    with tenant_context(world.client_a1):
        assert not Menu.objects.filter(pk=lonely.pk).exists()


def test_only_the_clients_operators_make_menus_and_a_menu_is_a_destination_of_its_client_only(world):
    from telephony.destinations import clean

    with pytest.raises(NotAllowed):
        menu_save(actor=world.user_a1, client=world.client_a1, name="Mine", timeout_kind="hangup")
    with pytest.raises(NotAllowed):
        menu_save(actor=world.client_a2_op, client=world.client_a1, name="Theirs", timeout_kind="hangup")
    menu = save(world, name="Ours", timeout_kind="hangup")
    assert clean(world.client_a1, "menu", str(menu.pk)) == ("menu", str(menu.pk))
    with pytest.raises(ValidationError):
        clean(world.client_a2, "menu", str(menu.pk))  # another company's menu is no destination of A2's


def _carrier():
    from billing.models import Carrier

    return Carrier.objects.get_or_create(name="menu-test-carrier")[0]


def test_a_library_message_that_greets_callers_of_a_menu_stays(world):
    from conferencing.models import Message
    from conferencing.notifications import MessageInUse, message_delete

    with tenant_context(world.client_a1):
        message = Message.objects.create(name="Welcome", recorded=True, seconds=2.0, created_by=world.client_a1_op)
    save(world, name="Greeted", greeting_message=message.pk, timeout_kind="hangup")
    with pytest.raises(MessageInUse) as refused:
        message_delete(actor=world.client_a1_op, client=world.client_a1, message=message)
    assert "Greeted" in str(refused.value.message)
    with tenant_context(world.client_a1):
        assert Message.objects.filter(pk=message.pk).exists()
