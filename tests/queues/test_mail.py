"""A queue's missed-call mail (queues/tasks.py) through Django's SMTP backend to a real SMTP server
(aiosmtpd, tests/mailbox.py): sent to the queue's addresses for a caller who hung up or timed out,
with the caller, the queue and the wait; none when the queue has no addresses or the caller was
answered. The engine queueing it for a real call is tests/telephony/test_queue_stats_calls.py."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from queues.services import queue_save
from queues.tasks import queue_missed_call_mail
from tests.mailbox import mailbox_fixture, smtp_server_fixture  # noqa: F401 (the SMTP server fixtures)

AT = "2026-03-01T15:00:00+00:00"


def _mail(world, queue, outcome="abandoned", wait=42.4):
    return queue_missed_call_mail.delay(client_id=world.client_a1.pk, queue_id=queue.pk, caller_number="0612345678",
                                        caller_name="Ann", wait=wait, outcome=outcome, at=AT).get()  # fmt: skip


def test_a_caller_who_hangs_up_while_waiting_is_mailed_to_the_queues_addresses(world, mailbox):
    queue = queue_save(actor=world.client_a1_op, client=world.client_a1, name="Support",
                       missed_call_emails="team@example.com, boss@example.com")  # fmt: skip
    assert _mail(world, queue) is True
    [mail] = mailbox.messages
    assert mail["To"] == "team@example.com, boss@example.com"
    assert "Ann" in mail["Subject"] and "Support" in mail["Subject"]
    body = mail.get_body(("plain",)).get_content()
    assert "hung up while waiting in the queue Support" in body
    assert "0612345678 (Ann)" in body and "42 seconds" in body


def test_a_timeout_says_so_and_answered_calls_or_queues_without_addresses_mail_nobody(world, mailbox):
    queue = queue_save(actor=world.client_a1_op, client=world.client_a1, name="Support",
                       missed_call_emails="team@example.com")  # fmt: skip
    assert _mail(world, queue, outcome="timeout", wait=90) is True
    assert "until its maximum wait sent them on" in mailbox.messages[0].get_body(("plain",)).get_content()
    assert _mail(world, queue, outcome="answered") is False
    quiet = queue_save(actor=world.client_a1_op, client=world.client_a1, name="Quiet")
    assert _mail(world, quiet) is False
    assert len(mailbox.messages) == 1


@pytest.mark.parametrize("language", ["fr", "de", "es"])
def test_the_mail_speaks_the_clients_language(world, mailbox, language):
    client = world.client_a1
    before = client.language
    client.language = language
    client.save(update_fields=["language"])
    try:
        queue = queue_save(actor=world.client_a1_op, client=client, name="Support", missed_call_emails="t@example.com")
        _mail(world, queue)
    finally:
        client.language = before
        client.save(update_fields=["language"])
    body = mailbox.messages[0].get_body(("plain",)).get_content()
    assert "hung up while waiting" not in body and "Support" in body


def test_operators_set_the_addresses_and_the_service_level_on_the_queues_page(world, portal):
    from queues.models import Queue
    from tests.queues.test_portal import fields, rows

    http = portal(world.client_a1_op)
    bad = http.post("/queues/new/", {**fields(name="Support", missed_call_emails="team@example.com, not-an-address",
                                             service_level_seconds="0"), **rows()})  # fmt: skip
    assert bad.status_code == 200
    assert set(bad.context["form"].errors) == {"missed_call_emails", "service_level_seconds"}
    assert "not-an-address is no e-mail address." in bad.content.decode()
    made = http.post("/queues/new/", {**fields(name="Support", missed_call_emails="team@example.com",
                                              service_level_seconds="30"), **rows()})  # fmt: skip
    assert made.status_code == 302
    with tenant_context(world.client_a1):
        queue = Queue.objects.get(name="Support")
    assert (queue.missed_call_emails, queue.service_level_seconds) == ("team@example.com", 30)
