"""The test phone (tests/sip/phone.py) makes and takes real calls: two pjsua2 agents call each other by IP.

These prove test infrastructure, not a product feature: that the phone answers, rejects, rings,
sends and receives DTMF, plays tones and records what it hears, so that when the same phones
meet our SIP edge and call engine, a failure points at the platform. No database, no server:
the phones talk to each other on 127.0.0.1.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.sip import phone as phone_helpers
from tests.sip.audio import (
    CANDIDATES,
    dominant,
    loud_ms,
    loudest_part,
    read_wav,
    rms,
    share_of_windows_dominated_by,
)
from tests.sip.phone import MAX_CALLS, Phone, PhoneError

phones = phone_helpers.phones

RING_MS = 300


# -- helpers --------------------------------------------------------------------------------------


def two_phones(phones, *, incoming: dict | None = None) -> tuple[Phone, Phone]:
    alice, bob = phones(name="alice"), phones(name="bob")
    alice.account("alice")
    bob.account("bob", incoming=incoming if incoming is not None else {"answer": 200, "ring_ms": RING_MS})
    return alice, bob


def connect(phones, **kwargs) -> tuple[Phone, Phone, str]:
    """alice calls bob, bob answers; returns (alice, bob, bob's label); alice's label is "c1"."""
    alice, bob = two_phones(phones, **kwargs)
    alice.call("c1", bob.uri("bob"))
    label = bob.wait_incoming()["call"]
    alice.wait_call_state("c1", "confirmed")
    bob.wait_call_state(label, "confirmed")
    alice.wait_media("c1")
    bob.wait_media(label)
    return alice, bob, label


# -- tests ----------------------------------------------------------------------------------------


def test_a_call_by_ip_is_answered_and_confirmed_on_both_sides(phones) -> None:
    alice, bob = two_phones(phones)
    started = time.monotonic()
    calling = alice.call("c1", bob.uri("bob"), headers={"X-Ocx-Test": "hello 1"})
    assert calling["state"] == "calling" and calling["role"] == "caller"

    incoming = bob.wait_incoming()
    label = incoming["call"]
    assert label == "in-1"
    assert incoming["id"] == "bob"
    assert incoming["request_uri"] == bob.uri("bob")
    assert "sip:alice@127.0.0.1" in incoming["from"]
    assert incoming["headers"]["x-ocx-test"] == "hello 1"
    assert incoming["source"] == f"127.0.0.1:{alice.sip_port}"
    assert "m=audio" in incoming["sdp"]

    early = alice.wait_call_state("c1", "early")
    assert (early["code"], early["reason"]) == (180, "Ringing")
    confirmed = alice.wait_call_state("c1", "confirmed")
    assert confirmed["code"] == 200
    assert time.monotonic() - started >= RING_MS / 1000  # bob rang for ring_ms before answering
    callee = bob.wait_call_state(label, "confirmed")
    assert callee["role"] == "callee"
    assert confirmed["sip_call_id"] == callee["sip_call_id"] == incoming["sip_call_id"] != ""
    assert alice.call_states("c1") == ["calling", "early", "connecting", "confirmed"]
    assert bob.call_states(label) == ["incoming", "early", "connecting", "confirmed"]

    out_media, in_media = alice.wait_media("c1"), bob.wait_media(label)
    assert out_media["status"] == in_media["status"] == "active"
    assert out_media["codec"] == in_media["codec"]


def test_media_keeps_flowing_after_the_first_second(phones) -> None:
    # Regression guard: with pjsua's default sndAutoCloseTime (1 s) the idle null sound device
    # closes, the conference clock stops, and no RTP leaves either phone after about 1 s.
    alice, bob, label = connect(phones)
    time.sleep(1.3)  # past sndAutoCloseTime: the regression this guards appears after about 1 s
    before_a, before_b = alice.stats("c1"), bob.stats(label)
    time.sleep(0.5)  # the RTP counted over half a second
    after_a, after_b = alice.stats("c1"), bob.stats(label)
    for before, after in ((before_a, after_a), (before_b, after_b)):
        # 20 ms packets: 25 in 0.5 s; allow for the scheduling of this test.
        assert after["tx_packets"] - before["tx_packets"] >= 18, (before, after)
        assert after["rx_packets"] - before["rx_packets"] >= 18, (before, after)
        assert after["rx_lost"] == 0


def test_dtmf_sent_by_one_is_received_by_the_other(phones) -> None:
    alice, bob, label = connect(phones)
    assert alice.dtmf("c1", "159*#0D")["method"] == "rfc2833"
    assert bob.wait_dtmf(label, 7) == "159*#0D"
    # A second burst on the same call, the other way, by SIP INFO this time.
    bob.dtmf(label, "42", method="info")
    assert alice.wait_dtmf("c1", 2) == "42"
    received = [e for e in alice.events() if e["event"] == "dtmf"]
    assert {e["method"] for e in received} == {"info"}
    with pytest.raises(PhoneError):  # nothing more arrives
        alice.wait_for("dtmf", timeout=0.3)


def test_a_tone_is_heard_in_the_other_phones_recording(phones, tmp_path: Path) -> None:
    alice, bob, label = connect(phones)
    heard_by_bob, heard_by_alice = tmp_path / "bob.wav", tmp_path / "alice.wav"
    bob.record(label, heard_by_bob)
    alice.record("c1", heard_by_alice)
    alice.play_tone("c1", [1000], 600)
    bob.play_tone(label, [600], 400)
    alice.wait_tone_done("c1")
    bob.wait_tone_done(label)
    time.sleep(0.15)  # the last packets' way through the jitter buffer
    alice.hangup("c1")
    bob.wait_call_state(label, "disconnected")
    stopped = bob.wait_recorded(label)
    alice.wait_recorded("c1")
    assert stopped["bytes"] > 44

    rate, samples = read_wav(heard_by_bob)
    assert rate in (8000, 16000, 32000)
    assert len(samples) / rate >= 0.6
    assert 500 <= loud_ms(rate, samples) <= 800
    # Normally the 1000 Hz power beats the runner-up 10^5 times and rules every 20 ms window; on a
    # loaded CPU, jitter buffer concealment smears it (measured with 6-8 runs of this file in
    # parallel: 19 times, 70% of the windows). A wrong or missing tone scores about 0 on both.
    freq, ratio = dominant(rate, loudest_part(rate, samples), CANDIDATES)
    assert freq == 1000 and ratio > 5, (freq, ratio)
    assert share_of_windows_dominated_by(rate, samples, 1000, CANDIDATES) >= 0.5

    rate, samples = read_wav(heard_by_alice)
    assert 300 <= loud_ms(rate, samples) <= 600
    freq, ratio = dominant(rate, loudest_part(rate, samples), CANDIDATES)
    assert freq == 600 and ratio > 5, (freq, ratio)
    assert share_of_windows_dominated_by(rate, samples, 600, CANDIDATES) >= 0.5


def test_a_recording_without_a_tone_is_silent(phones, tmp_path: Path) -> None:
    # The negative control of the test above: the same analysis finds nothing in silence.
    _alice, bob, label = connect(phones)
    path = tmp_path / "silence.wav"
    bob.record(label, path)
    time.sleep(0.5)  # half a second of silence recorded
    assert bob.stop_record(label)["path"] == str(path)
    rate, samples = read_wav(path)
    assert len(samples) / rate >= 0.4
    assert rms(samples) < 50
    assert loud_ms(rate, samples) == 0


def test_hangup_ends_the_call_on_both_sides(phones) -> None:
    alice, bob, label = connect(phones)
    alice.hangup("c1")
    mine = alice.wait_call_state("c1", "disconnected")
    theirs = bob.wait_call_state(label, "disconnected")
    assert mine["sip_call_id"] == theirs["sip_call_id"]
    assert theirs["reason"] == "Normal call clearing", theirs
    assert alice.wait_media("c1", active=False)["status"] == "none"
    assert bob.wait_media(label, active=False)["status"] == "none"
    # The agent dropped the call: it is no longer known.
    alice.send("hangup", call="c1")
    assert "no call 'c1'" in alice.wait_for("error", lambda e: e.get("call") == "c1")["message"]


def test_a_reject_with_486_gives_the_caller_486(phones) -> None:
    alice, bob = two_phones(phones, incoming={"answer": 486})
    alice.call("c1", bob.uri("bob"))
    label = bob.wait_incoming()["call"]
    ended = alice.wait_call_state("c1", "disconnected")
    assert (ended["code"], ended["reason"]) == (486, "Busy Here")
    assert "confirmed" not in alice.call_states("c1")
    assert bob.wait_call_state(label, "disconnected")["code"] == 486


def test_a_ringing_call_is_answered_by_command(phones) -> None:
    alice, bob = two_phones(phones, incoming={"answer": 486})
    assert bob.set_incoming("bob", answer=180)["incoming"]["answer"] == 180  # rings from now on
    alice.call("c1", bob.uri("bob"))
    label = bob.wait_incoming()["call"]
    assert alice.wait_call_state("c1", "early")["code"] == 180
    time.sleep(0.3)  # nobody answers for a while: the call stays early
    assert alice.call_states("c1")[-1] == "early"  # still ringing: nobody answered
    bob.answer(label)
    assert alice.wait_call_state("c1", "confirmed")["code"] == 200
    bob.wait_call_state(label, "confirmed")


def test_the_caller_cancels_a_ringing_call(phones) -> None:
    alice, bob = two_phones(phones, incoming={"answer": 180})
    alice.call("c1", bob.uri("bob"))
    label = bob.wait_incoming()["call"]
    alice.wait_call_state("c1", "early")
    alice.hangup("c1")
    assert bob.wait_call_state(label, "disconnected")["code"] == 487
    assert alice.wait_call_state("c1", "disconnected")["code"] == 487


def test_early_media_with_183_then_answer(phones) -> None:
    alice, bob = two_phones(phones, incoming={"answer": 183})
    alice.call("c1", bob.uri("bob"))
    label = bob.wait_incoming()["call"]
    assert alice.wait_call_state("c1", "early")["code"] == 183
    alice.wait_media("c1")  # media before the answer
    assert "confirmed" not in alice.call_states("c1")
    bob.answer(label)
    alice.wait_call_state("c1", "confirmed")


def test_a_fifth_call_is_refused_cleanly(phones) -> None:
    alice, bob = two_phones(phones, incoming={"answer": 180})
    labels = [f"c{n}" for n in range(1, MAX_CALLS + 1)]
    for label in labels:
        alice.call(label, bob.uri("bob"))
        alice.wait_call_state(label, "early")
    # Outgoing: the agent refuses the 5th before pjsua would (PJ_ETOOMANY).
    alice.call("c5", bob.uri("bob"), wait=False)
    error = alice.wait_for("error", lambda e: e.get("call") == "c5")
    assert f"at most {MAX_CALLS} calls" in error["message"]
    assert alice.call_states("c5") == []
    # Incoming: bob already holds 4 calls, pjsua turns the 5th INVITE away by itself.
    carol = phones(name="carol")
    carol.account("carol")
    carol.call("x", bob.uri("bob"))
    busy = carol.wait_call_state("x", "disconnected")
    assert busy["code"] == 486, busy
    turned_away = bob.wait_for("rejected")
    assert turned_away["code"] == 486 and turned_away["sip_call_id"] == busy["sip_call_id"], turned_away
    assert "sip:carol@127.0.0.1" in turned_away["from"]
    assert len([e for e in bob.events() if e["event"] == "incoming"]) == MAX_CALLS
    # Both phones are alive, and a slot freed by a hangup is usable again.
    assert alice.proc.poll() is None and bob.proc.poll() is None
    alice.hangup("c1")
    alice.wait_call_state("c1", "disconnected")
    alice.call("c5", bob.uri("bob"))
    assert alice.wait_call_state("c5", "early")["code"] == 180


def test_a_phone_that_quits_hangs_up_its_calls(phones) -> None:
    alice, bob, label = connect(phones)
    started = time.monotonic()
    alice.close()
    assert alice.proc.returncode == 0
    assert time.monotonic() - started < 2
    assert bob.wait_call_state(label, "disconnected")["reason"] == "Normal call clearing"


def test_both_phones_can_be_held_to_g711(phones) -> None:
    alice, bob = phones(name="alice"), phones(name="bob")
    assert alice.set_codecs("PCMU", "PCMA") == ["PCMU/8000/1", "PCMA/8000/1"]
    assert bob.set_codecs("PCMA") == ["PCMA/8000/1"]
    alice.account("alice")
    bob.account("bob", incoming={"answer": 200})
    alice.call("c1", bob.uri("bob"))
    incoming = bob.wait_incoming()
    label = incoming["call"]
    offered = [line.split(" ", 1)[1] for line in incoming["sdp"].splitlines() if line.startswith("a=rtpmap:")]
    assert [codec for codec in offered if not codec.startswith("telephone-event")] == ["PCMU/8000", "PCMA/8000"]
    assert alice.wait_media("c1")["codec"] == bob.wait_media(label)["codec"] == "PCMA/8000"
    alice.send("codecs", order=["opus"])
    assert "none of ['opus'] is available" in alice.wait_for("error", lambda e: e.get("cmd") == "codecs")["message"]
