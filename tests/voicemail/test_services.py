"""Voicemail's data: a user's box made with their extension and kept in step with it, shared boxes that
never take an extension's number (nor an extension theirs), PINs stored hashed, every bad field at once,
and the engine's writes (a message row written twice is one message; the counts message waiting reads)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.core.exceptions import ValidationError
from django_tenants.utils import tenant_context

from telephony.services import extension_create, extension_delete, extension_update
from tenants.errors import NotAllowed
from voicemail.models import Mailbox, Message
from voicemail.selectors import MessageCounts, mailbox_counts, mailbox_message_count, messages_for_phone
from voicemail.services import (
    mailbox_pin_check,
    mailbox_pin_try,
    mailbox_save,
    message_deposit,
    message_file,
    message_heard,
    message_move,
    message_remove,
)


def box(client, number) -> Mailbox:
    with tenant_context(client):
        return Mailbox.objects.select_related("extension").get(number=number)


def test_a_user_box_comes_and_goes_with_the_extension(world):
    client, op = world.client_a1, world.client_a1_op
    line, _ = extension_create(actor=op, client=client, email="vm@client-a1.example", name="Vee Em",
                               password="a-long-password-1", number="150")  # fmt: skip
    assert box(client, "150").extension_id == line.pk
    extension_update(actor=op, client=client, extension=line, number="151")
    assert box(client, "151").extension_id == line.pk
    with tenant_context(client):
        assert not Mailbox.objects.filter(number="150").exists()
    extension_delete(actor=op, client=client, extension=line)
    with tenant_context(client):
        assert not Mailbox.objects.filter(number="151").exists()


def test_shared_boxes_and_extensions_never_share_a_number(world):
    client, op = world.client_a1, world.client_a1_op
    with pytest.raises(ValidationError) as refused:
        mailbox_save(actor=op, client=client, number="101", name="Sales")
    assert "extension" in refused.value.message_dict["number"][0]
    sales = mailbox_save(actor=op, client=client, number="850", name="Sales", pin="4321")
    with pytest.raises(ValidationError) as taken:
        extension_create(actor=op, client=client, email="x@client-a1.example", name="X",
                         password="a-long-password-1", number="850")  # fmt: skip
    assert "voicemail" in taken.value.message_dict["number"][0]
    line = world.extension_of(world.user_a1c)
    with pytest.raises(ValidationError):
        extension_update(actor=op, client=client, extension=line, number="850")
    assert sales.pin_hash and "4321" not in sales.pin_hash


def test_every_bad_field_is_named_at_once(world):
    client, op = world.client_a1, world.client_a1_op
    with pytest.raises(ValidationError) as refused:
        mailbox_save(actor=op, client=client, number="8x", pin="12", max_seconds=0, max_messages=0,
                     operator_kind="user", operator_target="999", email="not-mail")  # fmt: skip
    assert set(refused.value.message_dict) == {"number", "pin", "max_seconds", "max_messages", "operator_target",
                                               "email"}  # fmt: skip


def test_a_user_sets_their_own_box_only(world):
    client = world.client_a1
    own, other = box(client, "101"), box(client, "102")
    mailbox_save(actor=world.user_a1, client=client, mailbox=own, pin="2468", email_new_message=True)
    assert mailbox_pin_check(client.pk, own.pk, "2468") and not mailbox_pin_check(client.pk, own.pk, "2469")
    with pytest.raises(NotAllowed):
        mailbox_save(actor=world.user_a1, client=client, mailbox=other, pin="2468")
    with pytest.raises(ValidationError) as refused:
        mailbox_save(actor=world.user_a1, client=client, mailbox=own, max_messages=5000)
    assert "max_messages" in refused.value.message_dict
    with pytest.raises(NotAllowed):
        mailbox_save(actor=world.user_b1, client=client, mailbox=own, pin="2468")


def test_wrong_pins_by_phone_lock_the_box_and_the_line_across_calls(world, settings):
    """A robot that calls *98 again and again: three tries a call, but the box (and the calling line)
    keeps count across calls; past the limit even the right PIN opens nothing for a while."""
    settings.OCX_VOICEMAIL_PIN = {"account_failures": 5, "address_failures": 8, "window": 60, "lockout": 60}
    client, op = world.client_a1, world.client_a1_op
    sales = mailbox_save(actor=op, client=client, number="851", name="Sales", pin="4321")
    support = mailbox_save(actor=op, client=client, number="852", name="Support", pin="8765")
    assert mailbox_pin_try(client.pk, "851", sales.pk, "4321", "102")  # the right PIN opens it
    for call in range(2):  # two calls of three wrong tries, from line 102
        for pin in ("0000", "1111", "2222")[: 3 if call == 0 else 2]:
            assert not mailbox_pin_try(client.pk, "851", sales.pk, pin, "102")
    assert not mailbox_pin_try(client.pk, "851", sales.pk, "4321", "103")  # locked: from any line
    assert mailbox_pin_try(client.pk, "852", support.pk, "8765", "103")  # another box is not
    for tried in range(8):  # line 103 tries boxes that do not exist: they count against the line
        assert not mailbox_pin_try(client.pk, f"90{tried}", None, "1234", "103")
    assert not mailbox_pin_try(client.pk, "852", support.pk, "8765", "103")  # that line is locked
    assert mailbox_pin_try(client.pk, "852", support.pk, "8765", "101")


def test_engine_writes_and_the_counts(world):
    client = world.client_a1
    own = box(client, "101")
    file = f"{client.pk}/{own.pk}/m1.wav"
    when = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
    call = uuid.uuid4()
    first = message_deposit(client.pk, own.pk, file, caller_number="+12025550100", caller_name="Ann",
                            call_uuid=call, received_at=when, seconds=3.14)  # fmt: skip
    again = message_deposit(client.pk, own.pk, file, caller_number="+12025550100", caller_name="Ann",
                            call_uuid=call, received_at=when, seconds=3.14)  # fmt: skip
    assert first == again
    assert mailbox_counts(client=client, number="101") == MessageCounts(new=1, total=1)
    assert mailbox_counts(client=client.pk, number="777") is None
    assert mailbox_message_count(client.pk, own.pk) == 1
    message_heard(client.pk, first)
    assert mailbox_counts(client=client, number="101") == MessageCounts(new=0, total=1)
    message_file(client.pk, first, Message.SAVED)
    [seen] = messages_for_phone(client.pk, own.pk)
    assert (seen.folder, seen.heard, seen.seconds, seen.caller_name) == ("saved", True, 3.1, "Ann")
    with tenant_context(client):
        message = Message.objects.get(pk=first)
    with pytest.raises(ValidationError):
        message_move(actor=world.user_a1, client=client, message=message, folder="bad/name")
    with pytest.raises(NotAllowed):
        message_move(actor=world.user_a1b, client=client, message=message, folder="Later")
    message_move(actor=world.user_a1, client=client, message=message, folder="Later")
    message_remove(client.pk, first)
    assert mailbox_counts(client=client, number="101") == MessageCounts(new=0, total=0)
