"""Conferences in the call engine with real phones (pjsua2): dial-in by *88<id>, *88 and a room's
access number, PINs by DTMF, mixing (each hears the others, not itself), live control, records.

The test world's room: "Team room", conference ID 4242, access number 800, participants' PIN 1111,
moderator PIN 9999, moderated by 101."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import wave
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_tenants.utils import tenant_context

from conferencing.live import conference_live
from conferencing.models import Room
from conferencing.reports import conference_usage
from records.models import Cdr
from tenants.events import group_for_user
from tests.sip.audio import assert_music, heard_ms
from tests.telephony.conftest import HOLD_NOTES, cdr_of

ROOM = "4242"


def room_of(world, conference_id: str = ROOM) -> Room:
    with tenant_context(world.client_a1):
        return Room.objects.get(conference_id=conference_id)


def live(world, action: str = "show", participant: str = "", number: str = "", room: str = ROOM) -> dict | None:
    return conference_live(actor=world.client_a1_op, client=world.client_a1, room=room_of(world, room),
                           action=action, participant=participant, number=number)  # fmt: skip


def wait_participants(world, count: int, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = live(world)
        if state is not None and len([p for p in state["participants"] if not p["waiting"]]) == count:
            return state
        time.sleep(0.2)
    raise AssertionError(f"expected {count} in the conference, have {state}")


def dial_in(phone, label: str, uri: str, *digits: str) -> None:
    phone.call(label, uri)
    phone.wait_call_state(label, "confirmed")
    for keys in digits:
        time.sleep(0.3)  # a pause between key presses, as a person makes
        phone.dtmf(label, keys)


@pytest.fixture
def members(lines, third):
    caller, callee, domain = lines
    return caller, callee, third, domain


def test_three_phones_join_each_hears_the_others_not_itself_and_muting_silences_one(world, members, tmp_path):
    t0 = timezone.now()  # the records of this test only
    moderator, second, third, domain = members
    assert live(world) is None, "nothing runs before anyone joins"
    dial_in(moderator, "m", f"sip:*88{ROOM}@{domain}", "9999#")  # the moderator, by *88<id>
    dial_in(second, "s", f"sip:800@{domain}", "1111#")  # by the room's access number
    dial_in(third, "t", f"sip:*88@{domain}", "4242#", "1111#")  # asked for the ID, then the PIN
    state = wait_participants(world, 3)
    roles = sorted((p["number"], p["role"]) for p in state["participants"])
    assert roles == [("101", "moderator"), ("102", "participant"), ("103", "participant")]
    time.sleep(0.6)  # the join tones are over

    heard = {name: tmp_path / f"{name}.wav" for name in ("m", "s", "t")}
    for phone, label in ((moderator, "m"), (second, "s"), (third, "t")):
        phone.record(label, heard[label])
    for phone, label, freq in ((moderator, "m", 1000), (second, "s", 600), (third, "t", 1300)):
        phone.play_tone(label, [freq], 500)
        phone.wait_tone_done(label)
        time.sleep(0.15)  # a gap between the tones, told apart in the recording
    # 102 is muted by the API: its next tone reaches nobody.
    muted_id = next(p["id"] for p in state["participants"] if p["number"] == "102")
    assert next(p for p in live(world, "mute", muted_id)["participants"] if p["id"] == muted_id)["muted"]
    second.play_tone("s", [1700], 500)
    second.wait_tone_done("s")
    time.sleep(0.3)  # the last packets' way through the mixer and jitter buffers
    for phone, label in ((moderator, "m"), (second, "s"), (third, "t")):
        phone.hangup(label)
        phone.wait_call_state(label, "disconnected")
        phone.wait_recorded(label)

    assert heard_ms(heard["m"], 600) >= 300 and heard_ms(heard["m"], 1300) >= 300
    assert heard_ms(heard["s"], 1000) >= 300 and heard_ms(heard["s"], 1300) >= 300
    assert heard_ms(heard["t"], 1000) >= 300 and heard_ms(heard["t"], 600) >= 300
    for label, own in (("m", 1000), ("s", 600), ("t", 1300)):
        assert heard_ms(heard[label], own) < 100, f"{label} hears itself"
    assert heard_ms(heard["m"], 1700) < 100 and heard_ms(heard["t"], 1700) < 100, "the muted one is heard"

    joins = Cdr.objects.filter(client_id=world.client_a1.pk, service="conference", conference=ROOM, started_at__gte=t0,
                               ended_at__isnull=False).order_by("-id")[:3]  # fmt: skip
    assert sorted(c.caller_number for c in joins) == ["101", "102", "103"]
    for cdr in joins:
        assert (cdr.direction, cdr.disposition, cdr.moderator_id) == ("inbound", "answered", world.user_a1.pk)
        assert cdr.answered_at > cdr.started_at and cdr.billsec >= 1
    assert live(world) is None, "the conference ended with its last participant"
    [usage] = conference_usage(world.client_a1_op, since=t0)  # the report is made of these records
    assert (usage["moderator_id"], usage["events"], usage["conferences"]) == (world.user_a1.pk, 3, 1)
    assert usage["minutes"] == round(sum(c.billsec for c in joins) / 60, 2)


def test_wrong_pins_a_locked_room_and_kicks(world, members):
    t0 = timezone.now()  # the records of this test only
    moderator, second, third, domain = members
    dial_in(third, "t", f"sip:*88{ROOM}@{domain}", "0000#", "0001#", "0002#")
    third.wait_call_state("t", "disconnected", timeout=30)
    refused = cdr_of(world, started_at__gte=t0, caller_number="103", service="conference", hangup_cause="wrong-pin")
    assert (refused.disposition, refused.hangup_cause, refused.answered_at) == ("failed", "wrong-pin", None)
    third.call("x", f"sip:*889999@{domain}")
    assert third.wait_call_state("x", "disconnected")["code"] == 404, "no such conference"

    dial_in(moderator, "m", f"sip:*88{ROOM}@{domain}", "9999#")
    dial_in(second, "s", f"sip:800@{domain}", "1111#")
    state = wait_participants(world, 2)
    moderator.dtmf("m", "*3")  # the moderator locks the room from the phone
    deadline = time.monotonic() + 5
    while not live(world)["locked"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert live(world)["locked"]
    dial_in(third, "t2", f"sip:800@{domain}", "1111#")
    third.wait_call_state("t2", "disconnected", timeout=20)
    assert (
        cdr_of(world, started_at__gte=t0, caller_number="103", service="conference", hangup_cause="locked").answered_at
        is None
    )

    kicked = next(p["id"] for p in state["participants"] if p["number"] == "102")
    live(world, "kick", kicked)
    second.wait_call_state("s", "disconnected")
    assert cdr_of(world, started_at__gte=t0, caller_number="102", hangup_cause="kicked").service == "conference"
    live(world, "end")
    moderator.wait_call_state("m", "disconnected")
    assert live(world) is None


def test_the_moderator_dials_out_and_a_hot_conference_calls_its_list_with_a_retry(world, members, tmp_path):
    t0 = timezone.now()  # the records of this test only
    moderator, second, third, domain = members
    with pytest.raises(ValidationError):
        live(world, "dial-out", number="x9")
    dial_in(moderator, "m", f"sip:*88{ROOM}@{domain}", "9999#")
    wait_participants(world, 1)
    live(world, "dial-out", number="102")  # 102 rings and answers: it joins
    at_second = second.wait_incoming()["call"]
    second.wait_call_state(at_second, "confirmed")
    state = wait_participants(world, 2)
    joined = next(p for p in state["participants"] if p["number"] == "102")
    assert joined["direction"] == "dial-out"
    heard = tmp_path / "second.wav"
    second.record(at_second, heard)
    time.sleep(0.4)  # the join tones are over before the measured tone
    moderator.play_tone("m", [1000], 500)
    moderator.wait_tone_done("m")
    time.sleep(0.3)  # the last packets' way through the mixer and jitter buffers
    live(world, "end")
    second.wait_call_state(at_second, "disconnected")
    second.wait_recorded(at_second)
    moderator.wait_call_state("m", "disconnected")
    assert heard_ms(heard, 1000) >= 300
    out = cdr_of(world, started_at__gte=t0, caller_number="102", service="conference")
    assert (out.direction, out.disposition, out.conference) == ("outbound", "answered", ROOM)

    # The trigger number: the moderator's PIN, then 102 and 103 are called; 103 refuses at first.
    third.set_incoming("103", answer=486)
    dial_in(moderator, "h", f"sip:801@{domain}", "9999#")
    at_second = second.wait_incoming()["call"]
    second.wait_call_state(at_second, "confirmed")
    state = wait_participants(world, 2)
    callout = [(c["number"], c["attempts"], c["joined"]) for c in state["callout"]]
    assert callout == [("102", 1, True), ("103", 1, False)]
    refused = third.wait_incoming()["call"]
    third.wait_call_state(refused, "disconnected")
    third.set_incoming("103", answer=200)
    at_third = third.wait_incoming(timeout=15)["call"]  # called again after the room's 5 s
    third.wait_call_state(at_third, "confirmed")
    state = wait_participants(world, 3)
    callout = [(c["number"], c["attempts"], c["joined"]) for c in state["callout"]]
    assert callout == [("102", 1, True), ("103", 2, True)]
    live(world, "end")
    for phone, label in ((moderator, "h"), (second, at_second), (third, at_third)):
        phone.wait_call_state(label, "disconnected")


def test_a_dial_out_refused_with_480_is_on_the_room_page_and_is_not_usage(world, members, portal):
    t0 = timezone.now()  # the records of this test only
    moderator, _, third, domain = members
    team = room_of(world)
    third.set_incoming("103", answer=480)
    before = Cdr.objects.filter(conference=ROOM, hangup_cause="480", started_at__gte=t0 - dt.timedelta(hours=1)).count()
    dial_in(moderator, "m", f"sip:*88{ROOM}@{domain}", "9999#")
    wait_participants(world, 1)
    group = group_for_user(world.user_a1.pk)

    async def dial_out_fails() -> dict:
        """What the moderator's open room page hears while 103 refuses."""
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        await asyncio.to_thread(live, world, "dial-out", "", "103")
        event = (await asyncio.wait_for(layer.receive(channel), 10))["event"]
        while event["type"] != "conference.dial_failed":
            event = (await asyncio.wait_for(layer.receive(channel), 10))["event"]
        await layer.group_discard(group, channel)
        return event

    failed = async_to_sync(dial_out_fails)()
    assert (failed["conference"], failed["number"], failed["cause"]) == (ROOM, "103", "480")

    def refusals_shown(count: int, timeout: float = 10) -> str:
        """The room's page once it lists `count` refusals of 103 (480) from this test on (the engine
        writes the record a moment after the call ends)."""
        deadline = time.monotonic() + timeout
        while True:
            shown = portal(world.user_a1).get(f"/conferences/{team.pk}/").content.decode()
            listed = shown.split('id="failed-dial-outs"')[1] if 'id="failed-dial-outs"' in shown else ""
            if listed.count("No answer (480)") - before >= count or time.monotonic() > deadline:
                assert listed.count("No answer (480)") - before == count, listed
                return shown
            time.sleep(0.2)

    shown = refusals_shown(1)
    assert "Calls into the conference that did not join" in shown
    live(world, "end")
    moderator.wait_call_state("m", "disconnected")

    # Into a room where nobody is: the call starts the conference, which ends with the refusal.
    live(world, "dial-out", number="103")
    refusals_shown(2)
    assert live(world) is None, "the conference started for the call ended with it"
    usage = conference_usage(world.client_a1_op, since=t0)
    assert [(r["events"], r["conferences"]) for r in usage] == [(1, 1)], "the moderator's join only"
    third.set_incoming("103", answer=200)


def test_the_api_and_the_pages_show_and_control_the_running_conference(world, members, api, portal):
    t0 = timezone.now()  # the records of this test only
    moderator, second, _, domain = members
    team = room_of(world)
    url = f"/api/v1/rooms/{team.pk}/live/"
    http = api(world.user_a1)  # the room's moderator
    assert http.get(url).json()["running"] is False
    dial_in(moderator, "m", f"sip:*88{ROOM}@{domain}", "9999#")
    wait_participants(world, 1)

    group = group_for_user(world.user_a1.pk)

    async def second_joins() -> list[dict]:
        """What the moderator's open room page hears (its socket's group) while 102 joins."""
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        await asyncio.to_thread(dial_in, second, "s", f"sip:800@{domain}", "1111#")
        events = [(await asyncio.wait_for(layer.receive(channel), 10))["event"]]
        while events[-1]["type"] != "conference.joined":
            events.append((await asyncio.wait_for(layer.receive(channel), 10))["event"])
        await layer.group_discard(group, channel)
        return events

    joined = async_to_sync(second_joins)()[-1]
    assert (joined["conference"], joined["client"]) == (ROOM, world.client_a1.pk)  # the page filters on "conference"
    assert joined["participant"]["number"] == "102"
    state = http.get(url).json()
    assert state["running"] and state["conference"] == ROOM and not state["locked"] and not state["recording"]
    people = {p["number"]: p for p in state["participants"]}
    assert {n: (p["role"], p["muted"]) for n, p in people.items()} == {"101": ("moderator", False),
                                                                        "102": ("participant", False)}  # fmt: skip
    assert {"id", "number", "name", "role", "joined_at", "muted", "talking"} <= set(people["102"])

    muted = http.post(url, {"action": "mute", "participant": people["102"]["id"]}, format="json")
    assert muted.status_code == 200 and {p["number"]: p["muted"] for p in muted.json()["participants"]}["102"]
    page = portal(world.client_a1_op).get(f"/conferences/{team.pk}/").content.decode()
    assert "Running since" in page and 'value="unmute"' in page and 'value="kick"' in page
    assert portal(world.user_a1).post(f"/conferences/{team.pk}/live/", {"action": "lock"}).status_code == 302
    assert live(world)["locked"]
    # The provider and the room's brand see it running; the other brand does not.
    for account, sees in ((world.god, True), (world.brand_a_op, True), (world.brand_b_op, False)):
        listing = portal(account).get("/conferences/").content.decode()
        assert ("Team room" in listing and "Client a1" in listing) is sees, account

    kicked = http.post(url, {"action": "kick", "participant": people["102"]["id"]}, format="json")
    assert kicked.status_code == 200
    second.wait_call_state("s", "disconnected")
    assert cdr_of(world, started_at__gte=t0, caller_number="102", hangup_cause="kicked").service == "conference"
    assert http.post(url, {"action": "kick", "participant": people["102"]["id"]}, format="json").status_code == 409
    assert http.post(url, {"action": "end"}, format="json").status_code == 200
    moderator.wait_call_state("m", "disconnected")
    deadline = time.monotonic() + 5
    while http.get(url).json()["running"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert http.get(url).json()["running"] is False


def test_music_until_the_moderator_a_full_room_keys_recording_and_the_end_with_the_moderator(world, members,
                                                                                               tmp_path):  # fmt: skip
    """Board (5151, for two, moderated by 102): waits for its moderator, ends when they leave."""
    caller, moderator, third, domain = members
    board = "5151"
    dial_in(third, "p", f"sip:*88{board}@{domain}", "2222#")
    waiting = tmp_path / "waiting.wav"
    third.record("p", waiting)
    time.sleep(2.5)  # what the early participant hears while waiting: recorded for 2.5 s
    dial_in(moderator, "m", f"sip:*88{board}@{domain}", "8888#")
    deadline = time.monotonic() + 10
    while (state := live(world, room=board)) is None or len(state["participants"]) < 2:
        assert time.monotonic() < deadline, state
        time.sleep(0.2)
    assert not any(p["waiting"] for p in state["participants"]), "the moderator came: the music stops"

    dial_in(caller, "x", f"sip:*88{board}@{domain}", "2222#")  # a third one: the room is for two
    caller.wait_call_state("x", "disconnected", timeout=20)

    moderator.dtmf("m", "*4")  # the moderator starts recording
    third.dtmf("p", "*6")  # and the participant mutes itself
    deadline = time.monotonic() + 5
    while not ((state := live(world, room=board))["recording"] and any(p["muted"] for p in state["participants"])):
        assert time.monotonic() < deadline, state
        time.sleep(0.1)
    recording = Path(state["recording_path"])
    moderator.play_tone("m", [1000], 600)
    moderator.wait_tone_done("m")
    time.sleep(0.4)  # the last packets' way through the mixer and jitter buffers
    moderator.hangup("m")  # the moderator leaves: the conference ends for everyone
    third.wait_call_state("p", "disconnected")
    third.wait_recorded("p")
    assert live(world, room=board) is None
    first = tmp_path / "waiting-first.wav"  # what it heard before the moderator came
    with wave.open(str(waiting)) as whole, wave.open(str(first), "wb") as part:
        part.setparams(whole.getparams())
        part.writeframes(whole.readframes(int(whole.getframerate() * 2.3)))
    assert_music(first, HOLD_NOTES, loud_at_least_ms=1200)
    assert heard_ms(recording, 1000) >= 400, "the recording holds the conference"
    full = cdr_of(world, caller_number="101", service="conference", hangup_cause="full")
    assert (full.conference, full.answered_at) == (board, None)
