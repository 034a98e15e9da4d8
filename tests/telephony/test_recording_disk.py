"""The recordings' disk under its hard threshold (simulated: OCX_DISK_FULL of 100% makes any disk
full): a call its policy would record is not recorded, goes on and completes, and its record's legs
say why."""

from __future__ import annotations

import time

from tests.sip.audio import assert_heard
from tests.telephony.conftest import cdr_of, connected, tone_then_hang_up
from tests.telephony.recording_helpers import recording_policy_fixture, recordings_of  # noqa: F401

ENGINE_SETTINGS = {"OCX_DISK_FULL": "100%", "OCX_DISK_CHECK_SECONDS": "1"}


def test_a_full_disk_refuses_the_recording_and_the_call_goes_on(world, lines, recording_policy, tmp_path):
    recording_policy(mode="always", announce=True)
    caller, callee, domain = lines
    label = connected(caller, callee, domain)
    time.sleep(0.5)  # when the recording would have started
    heard = tmp_path / "heard.wav"
    tone_then_hang_up(caller, callee, label, heard, 800)
    assert_heard(heard, 1000, loud_at_least_ms=500)  # the call carried its audio, no announcement in the way
    record = cdr_of(world, caller_number="101")
    assert record.disposition == "answered" and record.hangup_cause == "bye"
    refused = [leg for leg in record.legs if leg.get("leg") == "recording"]
    assert [leg["refused"] for leg in refused] == ["disk-full"]
    assert recordings_of(world) == []
