"""Voicemail's mails through a real SMTP server (aiosmtpd), the tasks run in the test: the audio
attached when the box says so and it is small enough, else a link to the portal; a shared box mails
its own address; nothing when the box's owner turned the mail off."""

from __future__ import annotations

from tests.mailbox import mailbox_fixture, smtp_server_fixture  # noqa: F401 (the mailbox fixtures)
from tests.voicemail.test_portal import box
from voicemail.services import mailbox_save
from voicemail.tasks import message_mail, missed_call_mail


def test_the_audio_is_attached_when_small_enough_else_linked(world, mailbox, left_message, settings):
    client, op = world.client_a1, world.client_a1_op
    mailbox_save(actor=op, client=client, mailbox=box(world, "102"), email_new_message=True, email_attach_audio=True)
    small = left_message(client, "102", caller_number="5550100", seconds=0.5)
    assert message_mail(client_id=client.pk, message_id=small.pk)
    [mail] = mailbox.messages
    assert mail["To"] == world.user_a1b.email
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_content() == small.path.read_bytes()

    settings.OCX_VOICEMAIL_MAIL_MAX_BYTES = 1000  # too large now: a link instead
    assert message_mail(client_id=client.pk, message_id=small.pk)
    linked = mailbox.messages[1]
    assert not list(linked.iter_attachments())
    assert f"/voicemail/messages/{small.pk}/" in linked.get_body(("plain",)).get_content()

    mailbox_save(actor=op, client=client, mailbox=box(world, "102"), email_new_message=False)
    assert not message_mail(client_id=client.pk, message_id=small.pk)
    assert len(mailbox.messages) == 2


def test_a_shared_box_mails_its_address_and_missed_calls_their_user(world, mailbox, left_message):
    client, op = world.client_a1, world.client_a1_op
    sales = mailbox_save(actor=op, client=client, number="800", name="Sales", pin="2468",
                         email="sales@client-a1.example", email_new_message=True, email_attach_audio=False)  # fmt: skip
    message = left_message(client, sales.number, caller_number="5550200")
    assert message_mail(client_id=client.pk, message_id=message.pk)
    assert mailbox.messages[-1]["To"] == "sales@client-a1.example"
    assert "5550200" in mailbox.messages[-1].get_body(("plain",)).get_content()

    call = {"client_id": client.pk, "number": "102", "caller_number": "5550300", "caller_name": "Ann",
            "at": "2026-12-05T10:00:00+00:00"}  # fmt: skip
    assert not missed_call_mail(**call)  # off by default
    mailbox_save(actor=op, client=client, mailbox=box(world, "102"), email_missed_call=True)
    assert missed_call_mail(**call)
    assert mailbox.messages[-1]["To"] == world.user_a1b.email and "Ann" in mailbox.messages[-1]["Subject"]


def test_no_missed_call_mail_for_a_call_that_left_a_message(world, mailbox, left_message):
    client = world.client_a1
    mailbox_save(actor=world.client_a1_op, client=client, mailbox=box(world, "102"), email_missed_call=True)
    message = left_message(client, "102", call_uuid="0b1b4c1e-6f0e-4c5e-9a55-2f4c0e7d1a10")
    call = {"client_id": client.pk, "number": "102", "caller_number": "5550400", "caller_name": "",
            "at": "2026-12-05T10:00:00+00:00"}  # fmt: skip
    assert not missed_call_mail(**call, call_uuid=str(message.call_uuid))  # its box took a message
    assert missed_call_mail(**call, call_uuid="9c1b4c1e-6f0e-4c5e-9a55-2f4c0e7d1a10")
    assert [m["Subject"] for m in mailbox.messages] == ["Missed call from 5550400"]
