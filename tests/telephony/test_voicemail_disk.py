"""Voicemail when the disk is under its hard threshold (simulated: OCX_DISK_FULL of 100% makes any disk
full, recordings/disk.py): a caller sent to a box is told that no message can be recorded now and the
call ends, nothing is written, and the call's record says why; a greeting cannot be recorded either."""

from __future__ import annotations

from tests.sip.audio import longest_heard_ms
from tests.telephony.conftest import cdr_of
from tests.telephony.test_voicemail import (  # noqa: F401  (_voicemail: this module's directory, put back after)
    SPOKEN,
    VOICEMAIL_DIR,
    _voicemail,
    forward,
    messages,
)

ENGINE_SETTINGS = {"OCX_VOICEMAIL_DIR": str(VOICEMAIL_DIR), "OCX_DISK_FULL": "100%", "OCX_DISK_CHECK_SECONDS": "1"}


def test_a_full_disk_takes_no_message_and_says_so(world, lines, tmp_path):
    caller, callee, domain = lines
    forward(world, busy_kind="voicemail", busy_target="102")
    callee.set_incoming("102", answer=486)
    heard = tmp_path / "caller-heard.wav"
    caller.call("c1", f"sip:102@{domain}")
    caller.wait_call_state("c1", "confirmed", timeout=20)
    caller.record("c1", heard)
    caller.play_tone("c1", [SPOKEN], 1500)
    caller.wait_call_state("c1", "disconnected", timeout=20)
    caller.wait_recorded("c1")
    cdr = cdr_of(world, callee_number="102")
    assert (cdr.answered_by, cdr.hangup_cause, cdr.hangup_side) == ("voicemail:102", "disk-full", "engine")
    assert [leg.get("refused") for leg in cdr.legs if leg.get("leg") == "voicemail"] == ["disk-full"]
    # the beep is 300 ms of 1000 Hz; the spoken refusal may touch 1000 Hz for a few windows, never that long
    assert longest_heard_ms(heard, 1000) < 200, "no beep: nothing is recorded"
    assert messages(world, "102") == []
    assert not list(VOICEMAIL_DIR.glob("*/*/*.wav"))
