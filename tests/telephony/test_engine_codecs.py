"""Calls between real phones (pjsua2) that speak different codecs, through the edge and a call engine:
the engine transcodes G.711 <-> G.722 (telephony/media/transcode.py) and relays G.722 as it is.
pjsua2 has no Opus: Opus is tested at the packet level (tests/media/test_codecs.py)."""

from __future__ import annotations

import time

from tests.sip.audio import assert_heard, assert_music, loudest_part, read_wav, tone_power
from tests.telephony.conftest import HOLD_NOTES, cdr_of, connected


def talk_both_ways(caller, callee, label: str, tmp_path, caller_tone: int, callee_tone: int):
    """Each phone plays its tone while the other records; then the caller hangs up. The two recordings."""
    heard_by_callee, heard_by_caller = tmp_path / "callee.wav", tmp_path / "caller.wav"
    callee.record(label, heard_by_callee)
    caller.record("c1", heard_by_caller)
    caller.play_tone("c1", [caller_tone], 600)
    callee.play_tone(label, [callee_tone], 600)
    caller.wait_tone_done("c1")
    callee.wait_tone_done(label)
    time.sleep(0.3)  # the last packets' way through the jitter buffers
    caller.hangup("c1")
    callee.wait_call_state(label, "disconnected")
    callee.wait_recorded(label)
    caller.wait_recorded("c1")
    return heard_by_callee, heard_by_caller


def codecs_in_use(caller, callee, label: str) -> tuple[str, str]:
    return caller.wait_media("c1")["codec"], callee.wait_media(label)["codec"]


def test_a_pcmu_phone_and_a_g722_phone_hear_each_other_and_dtmf_passes(world, lines, tmp_path):
    caller, callee, domain = lines
    caller.set_codecs("PCMU")
    callee.set_codecs("G722")
    label = connected(caller, callee, domain)
    assert codecs_in_use(caller, callee, label) == ("PCMU/8000", "G722/16000")

    caller.dtmf("c1", "27#")
    assert callee.wait_dtmf(label, 3) == "27#"  # RFC 4733 events, payload type mapped
    callee.dtmf(label, "5")
    assert caller.wait_dtmf("c1", 1) == "5"

    heard_by_callee, heard_by_caller = talk_both_ways(caller, callee, label, tmp_path, 1000, 600)
    assert_heard(heard_by_callee, 1000, loud_at_least_ms=400)
    assert_heard(heard_by_caller, 600, loud_at_least_ms=400)
    quality = cdr_of(world).quality
    assert quality["caller"]["packets_sent"] > 20 and quality["callee"]["packets_sent"] > 20


def test_a_g722_caller_reaches_a_pcma_phone_through_the_codecs_the_engine_adds_to_the_offer(world, lines, tmp_path):
    caller, callee, domain = lines
    caller.set_codecs("G722")
    callee.set_codecs("PCMA")
    label = connected(caller, callee, domain)
    assert codecs_in_use(caller, callee, label) == ("G722/16000", "PCMA/8000")
    heard_by_callee, heard_by_caller = talk_both_ways(caller, callee, label, tmp_path, 600, 1300)
    assert_heard(heard_by_callee, 600, loud_at_least_ms=400)
    assert_heard(heard_by_caller, 1300, loud_at_least_ms=400)


def test_two_g722_phones_are_relayed_and_keep_wideband_audio(world, lines, tmp_path):
    """5 kHz is above anything 8 kHz audio carries: it arrives only if G.722 went through untouched."""
    caller, callee, domain = lines
    caller.set_codecs("G722")
    callee.set_codecs("G722")
    label = connected(caller, callee, domain)
    assert codecs_in_use(caller, callee, label) == ("G722/16000", "G722/16000")
    heard_by_callee, heard_by_caller = talk_both_ways(caller, callee, label, tmp_path, 5000, 1000)
    assert_heard(heard_by_caller, 1000, loud_at_least_ms=400)
    rate, samples = read_wav(heard_by_callee)
    assert rate == 16000
    tone = loudest_part(rate, samples)
    assert len(tone) >= rate * 4 // 10, len(tone)  # 400 ms of it at least
    wideband = tone_power(rate, tone, 5000)
    assert all(wideband > 5 * tone_power(rate, tone, f) for f in (1000, 3000, 3400, 6000)), wideband


def test_a_g722_phone_on_hold_hears_the_music(world, lines, tmp_path):
    caller, callee, domain = lines
    caller.set_codecs("G722")
    callee.set_codecs("G722")
    label = connected(caller, callee, domain)
    assert caller.hold("c1")["status"] == "local_hold"
    on_hold = tmp_path / "on-hold.wav"
    callee.record(label, on_hold)
    time.sleep(1.0)  # a second of what the held party hears
    callee.stop_record(label)
    assert_music(on_hold, HOLD_NOTES, loud_at_least_ms=300)
    caller.hangup("c1")
    callee.wait_call_state(label, "disconnected")
