"""Voicemail's notices with real phones (pjsua2 reports the NOTIFYs with onMwiInfo) through the edge
and a real engine, and a real Celery worker mailing through a real SMTP server (aiosmtpd):
- message waiting (RFC 3842): a phone that subscribes sees its lamp set when a message is left and
  cleared when the message is heard in the portal; a phone that does not subscribe is told
  unsolicited when the client's voicemail options say so;
- the new-message mail with the WAV attached (the caller's tone in it), and the missed-call mail.

The call from 101 goes to 102's box at once (always forwarded to voicemail), so 102's phones never
ring; its greetings are short tones (tests/telephony/test_voicemail.py), so that what the caller says
comes after the beep. The portal marks the message heard through its view, as a user's click would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest
from django.conf import settings
from django.utils import timezone
from django_tenants.utils import tenant_context

from tests.mailbox import smtp_server_fixture  # noqa: F401 (the SMTP server fixture)
from tests.sip.audio import heard_ms
from tests.telephony.conftest import SECRET, database_url
from tests.telephony.sipclient import Answer, Call, reply_to
from tests.telephony.test_voicemail import ENGINE_SETTINGS, SPOKEN, _voicemail, forward, leave, messages, with_greetings  # noqa: F401
from tests.waiting import committed, wait_for
from voicemail.models import Mailbox, Message, Options


def _lamp(phone, *, waiting: str, voice: str, since: int = 0, timeout: float = 15) -> dict:
    return phone.wait_for("mwi", lambda e: e["waiting"] == waiting and e["voice"].startswith(voice),
                          timeout, since=since)  # fmt: skip


def heard_in_portal(world, message_id: int) -> None:
    """The user marks the message heard in the user portal (the button of the box's list)."""
    from django.test import Client as Browser

    browser = Browser(HTTP_HOST=world.host_of(world.user_a1b))
    browser.force_login(world.user_a1b)
    response = browser.post(f"/voicemail/messages/{message_id}/", {"action": "heard"})
    assert response.status_code == 302, response.content[:500]


def test_a_subscribed_phone_sees_the_lamp_set_by_a_message_and_cleared_when_it_is_heard_in_the_portal(
    world, lines, phones, edge
):
    caller, _callee, domain = lines
    desk = phones(name="desk")
    registered = desk.register(username="102", domain=domain, secret=SECRET, proxy=f"127.0.0.1:{edge.port}",
                               mwi=True, incoming={"answer": 486})  # fmt: skip
    assert registered["code"] == 200
    _lamp(desk, waiting="no", voice="0/0")  # the NOTIFY that answers the SUBSCRIBE at once
    with_greetings(world, "102")  # short ones: the caller's tone and # come after the beep
    forward(world, always_kind="voicemail", always_target="102")
    mark = desk.mark()
    leave(caller, domain)
    _lamp(desk, waiting="yes", voice="1/0", since=mark)
    [message] = wait_for(lambda: messages(world, "102"), "the message's row", timeout=10)
    mark = desk.mark()
    committed(heard_in_portal, world, message.pk)
    _lamp(desk, waiting="no", voice="0/1", since=mark)


def test_a_phone_that_does_not_subscribe_is_told_unsolicited_when_the_client_says_so(world, lines):
    caller, callee, domain = lines

    def unsolicited(on: bool) -> None:
        with tenant_context(world.client_a1):
            options = Options.current()
            options.unsolicited_mwi = on
            options.save()

    committed(unsolicited, True)
    try:
        with_greetings(world, "102")
        forward(world, always_kind="voicemail", always_target="102")
        leave(caller, domain)
        _lamp(callee, waiting="yes", voice="1/0")
    finally:
        committed(unsolicited, False)


def _notified(phone, timeout: float) -> Answer | None:
    """The next NOTIFY the phone gets within `timeout` (answered 200), or None."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        message = phone.receive(timeout=left)
        if message is not None and message.method == "NOTIFY":
            phone.send_raw(reply_to(message, 200, "OK"))
            return message
    return None


def test_a_phone_that_registers_anew_is_told_its_box_unsolicited_when_the_client_says_so(
    world, sip_lines, sip_client, engine
):
    """A phone that restarted (or a new one) shows the lamp at once, not at the box's next change; a
    refresh of its registration is not told again; a client that does not tell phones costs none."""
    from voicemail.services import options_save

    sip_lines(world.user_a1b, SECRET)
    phone = sip_client(world.user_a1b)
    with_greetings(world, "102")
    committed(options_save, actor=world.client_a1_op, client=world.client_a1, unsolicited_mwi=True)
    try:

        def a_message() -> None:  # a row only: no box change is published (its NOTIFY would race the test's)
            with tenant_context(world.client_a1):
                Message.objects.create(mailbox=Mailbox.objects.get(number="102"), received_at=timezone.now(),
                                       seconds=2.0, file=f"test/{uuid.uuid4().hex}.wav")  # fmt: skip

        committed(a_message)
        assert phone.register(SECRET).status == 200
        notify = _notified(phone, 10)
        assert notify is not None, "no NOTIFY for a phone that registered"
        assert notify.get("Event") == "message-summary" and notify.get("To").startswith(f"<sip:{phone.user}@")
        assert "Messages-Waiting: yes" in notify.body and "Voice-Message: 1/0" in notify.body
        assert phone.register(SECRET).status == 200  # a refresh (the same Call-ID): nothing new
        assert _notified(phone, 2) is None, "a refresh was told again"
        phone.call_id = uuid.uuid4().hex  # the phone restarted: a new Call-ID
        assert phone.register(SECRET).status == 200
        assert _notified(phone, 10) is not None, "a phone that restarted was not told"

        committed(options_save, actor=world.client_a1_op, client=world.client_a1, unsolicited_mwi=False)
        phone.call_id = uuid.uuid4().hex
        assert phone.register(SECRET).status == 200
        assert _notified(phone, 2) is None, "told although the client does not tell phones that do not subscribe"
    finally:
        committed(options_save, actor=world.client_a1_op, client=world.client_a1, unsolicited_mwi=False)


@pytest.fixture
def mail_worker(smtp_server):
    """A Celery worker process (as in production) that mails through the test's SMTP server; its mailbox."""
    box, port = smtp_server
    from config.celeryconf import app

    # Only what this test queues: the missed-call mails earlier modules' calls queued (no worker ran
    # them) would be sent now, under the options this test sets.
    app.control.purge()
    env = {**os.environ, "DATABASE_URL": database_url(), **ENGINE_SETTINGS, "EMAIL_HOST": "127.0.0.1",
           "EMAIL_PORT": str(port), "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend"}  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--queues",
         settings.CELERY_TASK_DEFAULT_QUEUE, "--without-heartbeat", "--without-gossip", "--without-mingle",
         "--loglevel", "WARNING"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield box
    finally:
        worker.terminate()
        worker.wait(timeout=20)


def mail_options(world, number: str, **fields) -> None:
    def write():
        with tenant_context(world.client_a1):
            Mailbox.objects.filter(number=number).update(**fields)

    committed(write)


def test_a_new_message_is_mailed_with_its_audio_attached(world, lines, mail_worker, tmp_path):
    caller, _callee, domain = lines
    with_greetings(world, "102")
    forward(world, always_kind="voicemail", always_target="102")
    mail_options(world, "102", email_new_message=True, email_attach_audio=True)
    try:
        leave(caller, domain)
        to = world.user_a1b.email
        [mail] = wait_for(lambda: [m for m in mail_worker.messages if m["To"] == to], "the new-message mail", 60)
    finally:
        mail_options(world, "102", email_new_message=False)
    assert "User a1" in mail["Subject"]  # the caller's name
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_content_type() == "audio/wav"
    wav = tmp_path / "attached.wav"
    wav.write_bytes(attachment.get_content())
    assert heard_ms(wav, SPOKEN) >= 1500  # the caller's 2.5 s tone, playable from the mail
    body = mail.get_body(("plain",)).get_content()
    assert "101" in body and "attached" in body


def test_a_missed_call_is_mailed_when_the_user_says_so(world, lines, mail_worker):
    caller, callee, domain = lines
    callee.set_incoming("102", answer=486)  # busy, and no forwarding: nobody answers, no message
    mail_options(world, "102", email_missed_call=True)
    try:
        caller.call("c1", f"sip:102@{domain}")
        caller.wait_call_state("c1", "disconnected", timeout=20)
        to = world.user_a1b.email
        [mail] = wait_for(lambda: [m for m in mail_worker.messages if m["To"] == to], "the missed-call mail", 60)
    finally:
        mail_options(world, "102", email_missed_call=False)
    assert "Missed call from" in mail["Subject"] and "101" in mail.get_body(("plain",)).get_content()


def _subscribe(phone, target: str, dialog, *, expires: int, event: str = "message-summary", auth: str = "") -> None:
    dialog.cseq += 1
    dialog.branch = "z9hG4bK" + uuid.uuid4().hex[:16]
    headers = [("Event", event), ("Accept", "application/simple-message-summary"), ("Expires", str(expires))]
    if auth:
        headers.append(("Proxy-Authorization", auth))
    phone.send_raw(phone.request_message("SUBSCRIBE", target, dialog, headers=tuple(headers)))


def _answer_and_notify(phone, status: int = 200):
    """The SUBSCRIBE's answer and the NOTIFY that follows it (each NOTIFY answered 200)."""
    answer = notify = None
    deadline = time.monotonic() + 5
    while (answer is None or notify is None) and time.monotonic() < deadline:
        message = phone.receive(timeout=max(0.1, deadline - time.monotonic()))
        if message is None:
            continue
        if message.method == "NOTIFY":
            phone.send_raw(reply_to(message, 200, "OK"))
            notify = message
        elif message.status == status and message.cseq_method == "SUBSCRIBE":
            answer = message
    assert answer is not None and notify is not None, (answer, notify)
    return answer, notify


def test_a_subscription_is_answered_refreshed_and_ended_as_rfc_3842_says(world, sip_lines, sip_client, engine):
    sip_lines(world.user_a1b, SECRET)
    phone = sip_client(world.user_a1b)
    target = f"sip:{phone.user}@{phone.domain}"
    dialog = Call(to_uri=target, call_id=uuid.uuid4().hex, from_tag=uuid.uuid4().hex[:8])
    _subscribe(phone, target, dialog, expires=120)
    challenge = phone.expect(407).challenge("MD5", "Proxy-Authenticate")
    auth = phone.authorization(challenge, SECRET, method="SUBSCRIBE", uri=target)
    _subscribe(phone, target, dialog, expires=120, auth=auth)
    answer, notify = _answer_and_notify(phone)
    assert answer.get("Expires") == "120"
    assert notify.get("Event") == "message-summary" and notify.get("Subscription-State") == "active;expires=120"
    assert "Messages-Waiting: no" in notify.body and "Voice-Message: 0/0" in notify.body
    dialog.established(answer)
    engine_contact = answer.get("Contact").strip("<>")

    _subscribe(phone, engine_contact, dialog, expires=60)  # a refresh in the dialog: answered, told again
    answer, again = _answer_and_notify(phone)
    assert answer.get("Expires") == "60" and again.get("Subscription-State").startswith("active;expires=")
    assert int(again.get("CSeq").split()[0]) > int(notify.get("CSeq").split()[0])

    _subscribe(phone, engine_contact, dialog, expires=0)  # unsubscribe: a last NOTIFY
    _, last = _answer_and_notify(phone)
    assert last.get("Subscription-State").startswith("terminated")
    _subscribe(phone, engine_contact, dialog, expires=60)
    assert phone.expect(481).status == 481  # gone

    other = Call(to_uri=target, call_id=uuid.uuid4().hex, from_tag=uuid.uuid4().hex[:8])
    _subscribe(phone, target, other, expires=120, event="presence", auth=phone.authorization(
        challenge, SECRET, method="SUBSCRIBE", uri=target, nc=2))  # fmt: skip
    assert phone.expect(489).get("Allow-Events") == "dialog, message-summary"  # (busy lamps: blf.py)
    someone_else = f"sip:101@{phone.domain}"
    other = Call(to_uri=someone_else, call_id=uuid.uuid4().hex, from_tag=uuid.uuid4().hex[:8])
    _subscribe(phone, someone_else, other, expires=120, auth=phone.authorization(
        challenge, SECRET, method="SUBSCRIBE", uri=someone_else, nc=3))  # fmt: skip
    assert phone.expect(403).status == 403  # one's own box only


def test_a_member_of_a_shared_box_subscribes_to_it_and_nobody_else_does(world, sip_lines, sip_client, engine):
    from voicemail.services import mailbox_delete, mailbox_save

    member = world.extension_of(world.user_a1b)
    sales = committed(mailbox_save, actor=world.client_a1_op, client=world.client_a1, number="800", name="Sales",
                      members=[member.pk])  # fmt: skip
    try:
        for account, allowed in ((world.user_a1b, True), (world.user_a1, False)):
            sip_lines(account, SECRET)
            phone = sip_client(account)
            target = f"sip:800@{phone.domain}"
            dialog = Call(to_uri=target, call_id=uuid.uuid4().hex, from_tag=uuid.uuid4().hex[:8])
            _subscribe(phone, target, dialog, expires=120)
            challenge = phone.expect(407).challenge("MD5", "Proxy-Authenticate")
            _subscribe(phone, target, dialog, expires=120, auth=phone.authorization(
                challenge, SECRET, method="SUBSCRIBE", uri=target))  # fmt: skip
            if allowed:
                _, notify = _answer_and_notify(phone)
                assert f"Message-Account: sip:800@{phone.domain}" in notify.body
            else:
                assert phone.expect(403).reason == "Not Your Box"
    finally:
        committed(mailbox_delete, actor=world.client_a1_op, client=world.client_a1, mailbox=sales)


def test_a_call_the_box_answered_but_that_left_no_message_is_a_missed_call(world, lines, mail_worker):
    caller, _callee, domain = lines
    forward(world, always_kind="voicemail", always_target="102")  # the platform's greeting: a few seconds
    mail_options(world, "102", email_missed_call=True)
    try:
        caller.call("c1", f"sip:102@{domain}")
        caller.wait_call_state("c1", "confirmed", timeout=20)
        caller.hangup("c1")  # during the greeting: no message
        caller.wait_call_state("c1", "disconnected")
        to = world.user_a1b.email
        [mail] = wait_for(lambda: [m for m in mail_worker.messages if m["To"] == to], "the missed-call mail", 60)
    finally:
        mail_options(world, "102", email_missed_call=False)
    assert "Missed call from" in mail["Subject"]
    assert messages(world, "102") == []
