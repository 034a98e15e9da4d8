"""Call recording through a real edge and engine with two pjsua2 phones, each playing its own tone:
recorded always (each party on its own channel), paused and resumed (by the in-call key *2 and by the
API), started and stopped on demand by the in-call key *1 and by the API, and a conference's recording
in the same list."""

from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings

from recordings.services import recording_file
from tests.sip.audio import CANDIDATES, dominant, loud_ms, loudest_part
from tests.telephony.conftest import cdr_of, connected
from tests.telephony.recording_helpers import (
    channels,
    finished_recording,
    longest_quiet_between,
    loud_windows,
    recording_policy_fixture,  # noqa: F401  (the recording_policy fixture)
    recordings_of,
)
from tests.telephony.test_conference import live
from tests.waiting import wait_for

CALLER_TONE, CALLEE_TONE = 1000, 1700


def both_play(caller, callee, label: str, ms: int) -> None:
    caller.play_tone("c1", [CALLER_TONE], ms)
    callee.play_tone(label, [CALLEE_TONE], ms)
    caller.wait_tone_done("c1")
    callee.wait_tone_done(label)


def hang_up(caller, callee, label: str) -> None:
    time.sleep(0.3)  # the last packets' way through the jitter buffers
    caller.hangup("c1")
    callee.wait_call_state(label, "disconnected")


def assert_channel(rate, samples, freq: int, loud_at_least_ms: int) -> None:
    assert loud_ms(rate, samples) >= loud_at_least_ms, loud_ms(rate, samples)
    found, ratio = dominant(rate, loudest_part(rate, samples), CANDIDATES)
    assert found == freq and ratio > 5, (found, ratio)


def test_always_the_caller_is_on_the_left_channel_and_the_callee_on_the_right(world, lines, recording_policy, api):
    recording_policy(mode="always")
    caller, callee, domain = lines
    label = connected(caller, callee, domain)
    wait_for(lambda: recordings_of(world), "the recording row")
    both_play(caller, callee, label, 1200)
    hang_up(caller, callee, label)
    (recording,) = finished_recording(world)
    record = cdr_of(world, caller_number="101")
    assert recording.call_uuid == record.call_uuid and (recording.caller, recording.callee) == ("101", "102")
    assert sorted(recording.accounts) == sorted([world.user_a1.pk, world.user_a1b.pk])
    assert recording.seconds >= 1.0 and recording.file.startswith(f"{world.client_a1.pk}/")
    assert any(leg.get("leg") == "recording" and leg.get("recording") == recording.pk for leg in record.legs)
    rate, left, right = channels(recording_file(recording))
    assert_channel(rate, left, CALLER_TONE, 800)
    assert_channel(rate, right, CALLEE_TONE, 800)
    # The call's record links to it, and its audio is the file with both parties' tones.
    linked = api(world.client_a1_op).get(f"/api/v1/calls/{record.call_uuid}/").json()["recordings"]
    assert [r["id"] for r in linked] == [recording.pk]
    audio = api(world.client_a1_op).get(linked[0]["audio"])
    assert b"".join(audio.streaming_content) == recording_file(recording).read_bytes()


def test_paused_through_the_api_leaves_a_silent_gap_then_it_goes_on(world, lines, api, recording_policy):
    recording_policy(mode="always")
    caller, callee, domain = lines
    label = connected(caller, callee, domain)
    wait_for(lambda: recordings_of(world), "the recording row")
    call_id = str(recordings_of(world)[0].call_uuid)
    http = api(world.user_a1)
    caller.play_tone("c1", [CALLER_TONE], 1000, loop=True)  # until stopped: however slow the commands
    time.sleep(0.8)
    asked = time.monotonic()
    assert http.post(f"/api/v1/calls/{call_id}/record/", {"action": "pause"}).status_code == 200
    paused = time.monotonic()
    time.sleep(1.2)  # a card number said meanwhile
    resuming = time.monotonic()
    assert http.post(f"/api/v1/calls/{call_id}/record/", {"action": "resume"}).status_code == 200
    resumed = time.monotonic()
    stopped = http.post(f"/api/v1/calls/{call_id}/record/", {"action": "stop"})
    assert (stopped.status_code, stopped.json()["code"]) == (409, "not-possible")  # always: paused, never stopped
    assert "always recorded" in stopped.json()["detail"]
    time.sleep(0.8)
    caller.stop_tone("c1")
    hang_up(caller, callee, label)
    (recording,) = finished_recording(world)
    rate, left, _ = channels(recording_file(recording))
    flags = loud_windows(rate, left)
    gap = longest_quiet_between(flags) * 20
    # Paused from some time between `asked` and `paused` until some time between `resuming` and `resumed`.
    shortest, longest = (resuming - paused) * 1000, (resumed - asked) * 1000
    assert shortest - 100 <= gap <= longest + 100, (gap, shortest, longest)
    assert sum(flags) * 20 >= 1200, "the tone before and after the pause"


def test_paused_by_the_in_call_key_leaves_a_silent_gap_then_it_goes_on(world, lines, recording_policy):
    """The callee (an agent, recorded always) presses *2 while the caller says a card number, *2 again
    after it: the caller's channel has a silent gap that long, and the tone before and after it."""
    recording_policy(mode="always")
    caller, callee, domain = lines
    label = connected(caller, callee, domain)
    wait_for(lambda: recordings_of(world), "the recording row")
    caller.play_tone("c1", [CALLER_TONE], 1000, loop=True)  # until stopped
    time.sleep(0.8)
    paused = time.monotonic()
    callee.dtmf(label, "*2")
    time.sleep(1.2)  # the card number
    resumed = time.monotonic()
    callee.dtmf(label, "*2")
    time.sleep(1.0)  # (the keys' own time, then the tone again)
    caller.stop_tone("c1")
    hang_up(caller, callee, label)
    (recording,) = finished_recording(world)
    rate, left, _ = channels(recording_file(recording))
    flags = loud_windows(rate, left)
    gap = longest_quiet_between(flags) * 20
    # Both presses take the same way (two RFC 4733 keys through the edge and the engine's relay).
    between = (resumed - paused) * 1000
    assert between - 300 <= gap <= between + 300, (gap, between)
    assert sum(flags) * 20 >= 1200, "the tone before and after the pause"
    assert recording.seconds >= 2.5, "the pause is in the file as silence, not cut out"


def test_on_demand_by_the_in_call_key_and_by_the_api(world, lines, api, recording_policy):
    recording_policy(mode="on_demand")
    caller, callee, domain = lines
    label = connected(caller, callee, domain)
    time.sleep(0.5)
    assert recordings_of(world) == [], "on demand: nothing is recorded until asked"
    caller.dtmf("c1", "*1")
    wait_for(lambda: recordings_of(world), "a recording started by *1")
    both_play(caller, callee, label, 800)
    time.sleep(0.3)
    caller.dtmf("c1", "*1")
    (by_key,) = finished_recording(world)
    assert by_key.seconds >= 0.8

    call_id = str(by_key.call_uuid)
    http = api(world.user_a1b)  # the callee, through the API
    assert http.post(f"/api/v1/calls/{call_id}/record/", {"action": "start"}).status_code == 200
    again = http.post(f"/api/v1/calls/{call_id}/record/", {"action": "start"})
    assert (again.status_code, again.json()["code"]) == (409, "not-possible")
    both_play(caller, callee, label, 800)
    time.sleep(0.3)
    assert http.post(f"/api/v1/calls/{call_id}/record/", {"action": "stop"}).status_code == 200
    by_key, by_api = finished_recording(world, 2)
    bad = http.post(f"/api/v1/calls/{call_id}/record/", {"action": "rewind"})
    assert bad.status_code == 400 and "action" in bad.json()["fields"]
    hang_up(caller, callee, label)
    for recording in (by_key, by_api):
        rate, left, right = channels(recording_file(recording))
        assert_channel(rate, left, CALLER_TONE, 500)
        assert_channel(rate, right, CALLEE_TONE, 500)


def test_never_the_api_cannot_start_a_recording(world, lines, api, recording_policy):
    recording_policy(mode="never")
    caller, callee, domain = lines
    label = connected(caller, callee, domain)
    call_id = api(world.client_a1_op).get("/api/v1/calls/?active=1").json()["results"][0]["id"]
    refused = api(world.client_a1_op).post(f"/api/v1/calls/{call_id}/record/", {"action": "start"})
    assert (refused.status_code, refused.json()["code"]) == (409, "not-possible")
    assert "off" in refused.json()["detail"]
    caller.dtmf("c1", "*1")
    time.sleep(0.5)
    hang_up(caller, callee, label)
    assert recordings_of(world) == []


def test_a_users_own_choice_records_their_calls_where_the_client_lets_them_choose(world, lines, recording_policy):
    from recordings.services import line_choice_update
    from tests.waiting import committed

    recording_policy(mode="never", users_choose=True)
    committed(line_choice_update, actor=world.user_a1b, client=world.client_a1,
              extension=world.extension_of(world.user_a1b), mode="always")  # fmt: skip
    caller, callee, domain = lines
    label = connected(caller, callee, domain)
    wait_for(lambda: recordings_of(world), "the callee's choice records the call")
    hang_up(caller, callee, label)
    finished_recording(world)


def test_a_conference_recording_is_listed_with_the_calls(world, phones, sip_lines, edge, engine, recording_policy,
                                                          api):  # fmt: skip
    from tests.telephony.conftest import SECRET

    recording_policy(mode="never")
    sip_lines(world.user_a1, SECRET)
    moderator = phones(name="moderator")
    domain = world.client_a1.sip_domain
    proxy = f"127.0.0.1:{edge.port}"
    assert moderator.register(username="101", domain=domain, secret=SECRET, proxy=proxy)["code"] == 200
    moderator.call("m", f"sip:*884242@{domain}")
    moderator.wait_call_state("m", "confirmed")
    time.sleep(0.3)
    moderator.dtmf("m", "9999#")
    wait_for(lambda: (state := live(world)) is not None and state["participants"], "the moderator in the room", 10)
    moderator.dtmf("m", "*4")  # the moderator starts recording
    wait_for(lambda: recordings_of(world, kind="conference"), "the conference's recording row")
    moderator.play_tone("m", [CALLER_TONE], 500)
    moderator.wait_tone_done("m")
    moderator.hangup("m")
    (recording,) = finished_recording(world, kind="conference")
    assert recording.conference == "4242" and world.user_a1.pk in recording.accounts
    assert (Path(settings.OCX_RECORDINGS_DIR) / recording.file).exists()
    listed = api(world.client_a1_op).get("/api/v1/recordings/").json()["results"]
    assert [(r["id"], r["kind"]) for r in listed] == [(recording.pk, "conference")]


def ruled_ms(rate, samples, freq: int) -> int:
    """How many ms of one channel are loud and ruled by `freq`."""
    window, ruled = rate // 50, 0
    for start in range(0, len(samples) - window + 1, window):
        part = samples[start : start + window]
        if loud_ms(rate, part) and dominant(rate, part, CANDIDATES)[0] == freq:
            ruled += 20
    return ruled


def test_a_transcoded_call_is_recorded_from_each_partys_own_codec(world, lines, recording_policy):
    recording_policy(mode="always")
    caller, callee, domain = lines
    caller.set_codecs("PCMU")
    callee.set_codecs("G722")
    label = connected(caller, callee, domain)
    assert (caller.wait_media("c1")["codec"], callee.wait_media(label)["codec"]) == ("PCMU/8000", "G722/16000")
    wait_for(lambda: recordings_of(world), "the recording row")
    both_play(caller, callee, label, 1000)
    hang_up(caller, callee, label)
    (recording,) = finished_recording(world)
    rate, left, right = channels(recording_file(recording))
    assert_channel(rate, left, CALLER_TONE, 600)
    assert_channel(rate, right, CALLEE_TONE, 600)


def test_the_recording_follows_a_transfer_to_a_third_phone(world, lines, third, recording_policy):
    recording_policy(mode="always")
    caller, callee, domain = lines
    label = connected(caller, callee, domain)
    wait_for(lambda: recordings_of(world), "the recording row")
    both_play(caller, callee, label, 800)
    assert callee.transfer(label, f"sip:103@{domain}")["code"] == 200
    callee.wait_call_state(label, "disconnected")
    at_third = third.wait_incoming()["call"]
    third.wait_call_state(at_third, "confirmed")
    time.sleep(0.3)
    third.play_tone(at_third, [2200], 800)
    caller.play_tone("c1", [CALLER_TONE], 800)
    third.wait_tone_done(at_third)
    time.sleep(0.3)
    caller.hangup("c1")
    third.wait_call_state(at_third, "disconnected")
    (recording,) = finished_recording(world)
    rate, left, right = channels(recording_file(recording))
    assert ruled_ms(rate, left, CALLER_TONE) >= 1000, "the caller before and after the transfer"
    assert ruled_ms(rate, right, CALLEE_TONE) >= 400, "the callee before the transfer"
    assert ruled_ms(rate, right, 2200) >= 400, "the third phone after it"
    assert world.user_a1c.pk in recording.accounts, "the new party's user may hear it too"


def test_the_recording_goes_on_while_a_supervisor_barges_in(world, lines, third, recording_policy):
    recording_policy(mode="always")
    caller, callee, domain = lines
    label = connected(caller, callee, domain)
    wait_for(lambda: recordings_of(world), "the recording row")
    third.call("s", f"sip:*83102@{domain}")  # 103 may barge
    third.wait_call_state("s", "confirmed")
    time.sleep(0.3)
    both_play(caller, callee, label, 1000)
    third.hangup("s")
    hang_up(caller, callee, label)
    (recording,) = finished_recording(world)
    rate, left, right = channels(recording_file(recording))
    assert ruled_ms(rate, left, CALLER_TONE) >= 600
    assert ruled_ms(rate, right, CALLEE_TONE) >= 600


def test_both_parties_hear_the_announcement_when_recording_starts(world, lines, recording_policy, tmp_path):
    from tests.sip.audio import read_wav

    recording_policy(mode="always", announce=True)
    caller, callee, domain = lines
    caller.call("c1", f"sip:102@{domain}")
    label = callee.wait_incoming()["call"]
    heard = {"caller": tmp_path / "caller.wav", "callee": tmp_path / "callee.wav"}
    callee.wait_call_state(label, "confirmed")
    callee.record(label, heard["callee"])
    caller.wait_call_state("c1", "confirmed")
    caller.record("c1", heard["caller"])
    time.sleep(1.5)  # nobody talks: what they hear is the engine's
    caller.stop_record("c1")
    callee.stop_record(label)
    for path in heard.values():
        rate, samples = read_wav(path)
        assert loud_ms(rate, samples, threshold=300) >= 300, path.name
    hang_up(caller, callee, label)
    finished_recording(world)


def test_a_call_picked_up_by_a_colleague_is_recorded_too(world, lines, third, recording_policy):
    recording_policy(mode="always")
    caller, callee, domain = lines
    callee.set_incoming("102", answer=180)  # 102 rings and rings
    caller.call("c1", f"sip:102@{domain}")
    callee.wait_incoming()
    caller.wait_call_state("c1", "early")
    third.call("p", f"sip:**102@{domain}")  # 103 picks it up
    third.wait_call_state("p", "confirmed")
    caller.wait_call_state("c1", "confirmed")
    wait_for(lambda: recordings_of(world), "the recording row")
    time.sleep(0.3)
    third.play_tone("p", [2200], 800)
    caller.play_tone("c1", [CALLER_TONE], 800)
    third.wait_tone_done("p")
    time.sleep(0.3)
    third.hangup("p")
    caller.wait_call_state("c1", "disconnected")
    (recording,) = finished_recording(world)
    rate, left, right = channels(recording_file(recording))
    assert ruled_ms(rate, left, CALLER_TONE) >= 500 and ruled_ms(rate, right, 2200) >= 500
    assert world.user_a1c.pk in recording.accounts
