"""Debian's baresip 1.0.0, a phone the platform did not write, against the edge's DEFAULT
configuration: it registers, calls a pjsua2 phone through the edge and a call engine, and takes a
call, with audio flowing both ways. (It gives up on any digest challenge that names SHA-256.)"""

from __future__ import annotations

import time

import pytest

from telephony.selectors import registrations_of
from tests.sip.audio import assert_heard
from tests.sip.baresip import Baresip
from tests.telephony.conftest import SECRET

BARESIP_TONE, PHONE_TONE = 1000, 600  # Hz: what each side sends, so each hears the other, not itself


@pytest.fixture
def baresip(world, sip_lines, edge, engine, tmp_path):
    """baresip as line 101 of client A1, registered through the session's edge."""
    extension = sip_lines(world.user_a1, SECRET)
    phone = Baresip(tmp_path, user="101", domain=world.client_a1.sip_domain, secret=SECRET,
                    proxy=edge.address, tone=BARESIP_TONE)  # fmt: skip
    try:
        deadline = time.monotonic() + 10  # it registers as it starts, before its control port can tell
        while not (bindings := registrations_of(client=world.client_a1, extension=extension)):
            assert time.monotonic() < deadline, f"baresip did not register\n{phone.log_tail()}"
            time.sleep(0.1)
        yield phone, bindings
    finally:
        phone.close()


@pytest.fixture
def pjsua_102(world, sip_lines, phones, edge):
    """A pjsua2 phone registered as 102, answering at once."""
    sip_lines(world.user_a1b, SECRET)
    phone = phones(name="pjsua-102")
    assert phone.register(username="102", domain=world.client_a1.sip_domain, secret=SECRET,
                          proxy=f"127.0.0.1:{edge.port}", incoming={"answer": 200})["code"] == 200  # fmt: skip
    return phone


def test_baresip_registers_and_calls_a_phone_with_audio_both_ways(world, baresip, pjsua_102, tmp_path):
    phone, (binding,) = baresip
    assert "baresip" in binding["user_agent"]

    phone.command("dial", f"sip:102@{world.client_a1.sip_domain}")
    label = pjsua_102.wait_incoming()["call"]
    pjsua_102.wait_call_state(label, "confirmed")
    phone.wait_event("CALL_ESTABLISHED", fail_on=("CALL_CLOSED",))
    pjsua_102.wait_media(label)
    pjsua_102.record(label, tmp_path / "pjsua-heard.wav")
    pjsua_102.play_tone(label, [PHONE_TONE], 1500)
    pjsua_102.wait_tone_done(label)
    phone.command("hangup")
    phone.wait_event("CALL_CLOSED")
    pjsua_102.wait_call_state(label, "disconnected")
    pjsua_102.wait_recorded(label)
    assert_heard(tmp_path / "pjsua-heard.wav", BARESIP_TONE, loud_at_least_ms=800)
    assert_heard(phone.heard(), PHONE_TONE, loud_at_least_ms=800)


def test_baresip_takes_a_call_from_a_phone_with_audio_both_ways(world, baresip, pjsua_102, tmp_path):
    phone, _ = baresip
    pjsua_102.call("c1", f"sip:101@{world.client_a1.sip_domain}")
    assert phone.wait_event("CALL_ESTABLISHED", fail_on=("CALL_CLOSED",))["direction"] == "incoming"  # auto answer
    pjsua_102.wait_call_state("c1", "confirmed")
    pjsua_102.wait_media("c1")
    pjsua_102.record("c1", tmp_path / "pjsua-heard.wav")
    pjsua_102.play_tone("c1", [PHONE_TONE], 1500)
    pjsua_102.wait_tone_done("c1")
    pjsua_102.hangup("c1")
    phone.wait_event("CALL_CLOSED")
    pjsua_102.wait_call_state("c1", "disconnected")
    pjsua_102.wait_recorded("c1")
    assert_heard(tmp_path / "pjsua-heard.wav", BARESIP_TONE, loud_at_least_ms=800)
    assert_heard(phone.heard(), PHONE_TONE, loud_at_least_ms=800)


def test_baresip_sends_a_text_message_to_a_pjsua2_phone(world, baresip, pjsua_102):
    """baresip's contact module ("/message", Debian 1.0.0) sends SIP MESSAGE to its current contact: the
    edge challenges it (407), an engine finds 102 and the pjsua2 phone shows the text."""
    phone, _bindings = baresip
    (phone.folder / "contacts").write_text(f'"Colleague" <sip:102@{world.client_a1.sip_domain}>\n')
    since = pjsua_102.mark()
    phone.command("insmod", "contact.so")  # (loaded now: it reads the contacts file as it starts)
    phone.command("message", "hello from baresip")
    got = pjsua_102.wait_for("message", None, 10, since=since)
    assert got["body"] == "hello from baresip" and f"sip:101@{world.client_a1.sip_domain}" in got["from"]
