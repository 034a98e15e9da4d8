"""Call features between real phones (pjsua2) through the edge and a call engine: park and retrieve,
attended transfer, and the call index the edges route them by (telephony/callindex.py)."""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from config.redis_store import get_redis
from records.models import Cdr
from telephony.callindex import where_key
from tenants.models import AuditEvent
from tests.sip.audio import assert_heard, assert_music, heard_ms
from tests.telephony.conftest import HOLD_NOTES, PARK_TIMEOUT, cdr_of, connected
from tests.waiting import wait_for


def index_of(world) -> dict[str, str]:
    raw = get_redis().hgetall(where_key(settings.OCX_REDIS_PREFIX, world.client_a1.pk))
    return {k.decode(): v.decode() for k, v in raw.items()}


def test_a_phone_parks_the_call_and_another_line_retrieves_it_by_slot(world, lines, third, api, tmp_path):
    caller, callee, domain = lines
    before = Cdr.objects.filter(callee_number="*711").count()
    label = connected(caller, callee, domain)
    index = wait_for(lambda: {"line:101", "line:102"} <= index_of(world).keys() and index_of(world), what="lines")
    engine_id = index["line:101"]
    assert index["line:102"] == engine_id, "both lines are on the engine that holds their call"

    parked = callee.transfer(label, f"sip:*70@{domain}")  # the callee parks the caller
    assert (parked["code"], parked["reason"]) == (200, "Parked In Slot 1")
    callee.wait_call_state(label, "disconnected")
    assert index_of(world)["park:1"].split(" ")[0] == engine_id
    music = tmp_path / "parked.wav"
    caller.record("c1", music)
    time.sleep(1.5)  # a second and a half of what the parked caller hears
    call_id = api(world.client_a1_op).get("/api/v1/calls/?active=1").json()["results"][0]["id"]
    assert index_of(world)["park:1"] == f"{engine_id} {call_id}"

    third.call("r1", f"sip:*711@{domain}")  # 103 takes it back
    third.wait_call_state("r1", "confirmed")
    heard = tmp_path / "retrieved.wav"
    third.record("r1", heard)
    caller.play_tone("c1", [1000], 500)
    caller.wait_tone_done("c1")
    time.sleep(0.3)  # the last packets' way through the jitter buffer
    caller.hangup("c1")
    third.wait_call_state("r1", "disconnected")
    third.wait_recorded("r1")
    caller.wait_recorded("c1")
    assert_music(music, HOLD_NOTES, loud_at_least_ms=800)
    assert_heard(heard, 1000, loud_at_least_ms=300)

    cdr = cdr_of(world, call_uuid=call_id)
    assert (cdr.disposition, cdr.caller_number, cdr.callee_number) == ("answered", "101", "102")
    assert [leg.get("parked_in") for leg in cdr.legs if "parked_in" in leg] == [1]
    assert [(leg.get("retrieved_by"), leg.get("from_slot")) for leg in cdr.legs if "retrieved_by" in leg] == [
        ("103", 1)
    ]
    # Who talked: 101 with 102, then 101 alone in the slot, then 101 with 103 (issue 12).
    assert [(s["caller"], s["callee"], s["reason"]) for s in cdr.segments] == [
        ("101", "102", "answer"),
        ("101", "", "park"),
        ("101", "103", "retrieve"),
    ]
    assert cdr.segments[2]["callee_account"] == world.user_a1c.pk
    assert Cdr.objects.filter(callee_number="*711").count() == before, "no record of its own"
    wait_for(lambda: not index_of(world), what="the index to empty")

    third.call("r2", f"sip:*711@{domain}")
    assert third.wait_call_state("r2", "disconnected")["code"] == 404, "the slot is free again"


def test_the_api_parks_and_retrieves_and_an_unretrieved_call_rings_back(world, lines, third, api):
    caller, callee, domain = lines
    label = connected(caller, callee, domain)
    call_id = api(world.user_a1b).get("/api/v1/calls/?active=1").json()["results"][0]["id"]
    bad = api(world.client_a1_op).post(f"/api/v1/calls/{call_id}/park/", {"parked": "both"})
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"parked"}
    parked = api(world.user_a1b).post(f"/api/v1/calls/{call_id}/park/")  # 102 parks its other party
    assert (parked.status_code, parked.json()["slot"]) == (200, 1), parked.json()
    callee.wait_call_state(label, "disconnected")
    nobody = api(world.client_a1_op).post(f"/api/v1/calls/{call_id}/retrieve/", {"line": "999"})
    assert nobody.status_code == 400 and set(nobody.json()["fields"]) == {"line"}

    taken = api(world.client_a1_op).post(f"/api/v1/calls/{call_id}/retrieve/", {"line": "103"})
    assert taken.status_code == 200, taken.json()
    at_third = third.wait_incoming()["call"]
    third.wait_call_state(at_third, "confirmed")
    again = api(world.client_a1_op).post(f"/api/v1/calls/{call_id}/retrieve/", {"line": "103"})
    assert again.status_code == 409 and "not parked" in again.json()["detail"]

    # Parked again by 103 and left there: after the park timeout it rings 103 back.
    assert api(world.client_a1_op).post(f"/api/v1/calls/{call_id}/park/", {"parked": "caller"}).json()["slot"] == 1
    third.wait_call_state(at_third, "disconnected")
    started = time.monotonic()
    back = third.wait_incoming(timeout=PARK_TIMEOUT + 10)["call"]
    assert time.monotonic() - started >= PARK_TIMEOUT - 2
    third.wait_call_state(back, "confirmed")
    caller.hangup("c1")
    third.wait_call_state(back, "disconnected")
    cdr = cdr_of(world, call_uuid=call_id)
    assert [leg.get("transferred_to") for leg in cdr.legs if "transferred_to" in leg] == ["103", "103"]


def test_attended_transfer_by_refer_with_replaces(world, lines, third, tmp_path):
    """102 takes 101's call, holds it, consults 103, then transfers: 101 and 103 talk."""
    caller, callee, domain = lines
    label = connected(caller, callee, domain)
    callee.hold(label)
    callee.call("k1", f"sip:103@{domain}")
    at_third = third.wait_incoming()["call"]
    callee.wait_call_state("k1", "confirmed")
    third.wait_call_state(at_third, "confirmed")

    done = callee.transfer_replaces(label, "k1")
    assert done["code"] == 200, done
    callee.wait_call_state(label, "disconnected")
    callee.wait_call_state("k1", "disconnected")
    heard_by_third, heard_by_caller = tmp_path / "third.wav", tmp_path / "caller.wav"
    third.record(at_third, heard_by_third)
    caller.record("c1", heard_by_caller)
    caller.play_tone("c1", [1000], 500)
    third.play_tone(at_third, [600], 400)
    caller.wait_tone_done("c1")
    third.wait_tone_done(at_third)
    time.sleep(0.3)  # the last packets' way through the jitter buffers
    caller.hangup("c1")
    third.wait_call_state(at_third, "disconnected")
    third.wait_recorded(at_third)
    caller.wait_recorded("c1")
    assert_heard(heard_by_third, 1000, loud_at_least_ms=300)
    assert_heard(heard_by_caller, 600, loud_at_least_ms=200)

    consultation = cdr_of(world, callee_number="103", caller_number="102")
    assert (consultation.disposition, consultation.hangup_cause) == ("answered", "transferred")
    cdr = cdr_of(world, callee_number="102", caller_number="101")
    moved = [leg for leg in cdr.legs if leg.get("attended")]
    assert [(leg["transferred_to"], leg["consultation"]) for leg in moved] == [("103", str(consultation.call_uuid))]
    assert cdr.hangup_side == "caller"
    assert [(s["caller"], s["callee"], s["reason"]) for s in cdr.segments] == [
        ("101", "102", "answer"),
        ("101", "103", "attended-transfer"),
    ]
    assert [(s["caller"], s["callee"]) for s in consultation.segments] == [("102", "103")]


def test_attended_transfer_through_the_api(world, lines, third, api):
    caller, callee, domain = lines
    label = connected(caller, callee, domain)
    callee.call("k1", f"sip:103@{domain}")
    at_third = third.wait_incoming()["call"]
    callee.wait_call_state("k1", "confirmed")
    mine = api(world.user_a1b)
    calls = {
        (c["caller_number"], c["callee_number"]): c["id"] for c in mine.get("/api/v1/calls/?active=1").json()["results"]
    }
    first, consultation = calls[("101", "102")], calls[("102", "103")]
    nothing = mine.post(f"/api/v1/calls/{first}/transfer/", {})
    assert nothing.status_code == 400 and set(nothing.json()["fields"]) == {"to"}
    stranger = api(world.user_a1).post(f"/api/v1/calls/{first}/transfer/", {"consultation": consultation})
    assert stranger.status_code == 400 and set(stranger.json()["fields"]) == {"consultation"}, "not 101's call"

    joined = mine.post(f"/api/v1/calls/{first}/transfer/", {"consultation": consultation})
    assert joined.status_code == 200, joined.json()
    callee.wait_call_state(label, "disconnected")
    callee.wait_call_state("k1", "disconnected")
    caller.hangup("c1")
    third.wait_call_state(at_third, "disconnected")
    assert cdr_of(world, call_uuid=consultation).hangup_cause == "transferred"


@pytest.mark.parametrize(
    ("code", "mode", "caller_hears", "callee_hears"),
    [("*81", "monitor", False, False), ("*82", "whisper", False, True), ("*83", "barge", True, True)],
)
def test_a_granted_line_monitors_whispers_or_barges_by_dial_code(world, lines, third, tmp_path, code, mode,
                                                                 caller_hears, callee_hears):  # fmt: skip
    """103 may (the test world grants it), 101 may not; 103 joins 102's call with 101."""
    caller, callee, domain = lines
    label = connected(caller, callee, domain)
    caller.call("p1", f"sip:{code}102@{domain}")
    assert caller.wait_call_state("p1", "disconnected")["code"] == 403

    third.call("s1", f"sip:{code}102@{domain}")
    third.wait_call_state("s1", "confirmed")
    at_caller, at_callee, at_third = tmp_path / "caller.wav", tmp_path / "callee.wav", tmp_path / "third.wav"
    caller.record("c1", at_caller)
    callee.record(label, at_callee)
    third.record("s1", at_third)
    for phone, call, freq in ((caller, "c1", 1000), (callee, label, 600), (third, "s1", 1300)):
        phone.play_tone(call, [freq], 500)
        phone.wait_tone_done(call)
        time.sleep(0.15)  # a gap between the tones, told apart in the recording
    time.sleep(0.3)  # the last packets' way through the jitter buffers
    third.hangup("s1")
    third.wait_recorded("s1")
    caller.hangup("c1")
    callee.wait_call_state(label, "disconnected")
    caller.wait_recorded("c1")
    callee.wait_recorded(label)

    assert heard_ms(at_third, 1000) >= 300 and heard_ms(at_third, 600) >= 300, "the supervisor hears both"
    assert heard_ms(at_callee, 1000) >= 300 and heard_ms(at_caller, 600) >= 300, "the parties hear each other"
    assert (heard_ms(at_caller, 1300) >= 300) is caller_hears, heard_ms(at_caller, 1300)
    assert (heard_ms(at_callee, 1300) >= 300) is callee_hears, heard_ms(at_callee, 1300)
    assert heard_ms(at_caller, 1300) < 60 or caller_hears
    cdr = cdr_of(world, callee_number="102", caller_number="101")
    joined = [leg for leg in cdr.legs if leg.get("supervisor")]
    assert [(leg["supervisor"], leg["mode"], leg["agent"]) for leg in joined] == [("103", mode, "callee")]
    assert any(leg.get("left") for leg in cdr.legs), "the supervisor's leaving is in the record"


def test_supervision_through_the_api_needs_a_granted_line(world, lines, third, api):
    caller, callee, domain = lines
    label = connected(caller, callee, domain)
    call_id = api(world.client_a1_op).get("/api/v1/calls/?active=1").json()["results"][0]["id"]
    refused = api(world.user_a1).post(f"/api/v1/calls/{call_id}/supervise/", {"mode": "barge"})
    assert refused.status_code == 403, refused.json()
    bad = api(world.client_a1_op).post(f"/api/v1/calls/{call_id}/supervise/", {"mode": "spy", "line": "103"})
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"mode"}
    other_client = api(world.user_b1).post(f"/api/v1/calls/{call_id}/supervise/", {"mode": "barge"})
    assert other_client.status_code == 404

    joined = api(world.client_a1_op).post(f"/api/v1/calls/{call_id}/supervise/", {"mode": "barge", "line": "103"})
    assert joined.status_code == 200, joined.json()
    at_third = third.wait_incoming()["call"]
    third.wait_call_state(at_third, "confirmed")
    caller.hangup("c1")
    callee.wait_call_state(label, "disconnected")
    third.wait_call_state(at_third, "disconnected")  # the call ended: its supervisor is let go
    cdr = cdr_of(world, call_uuid=call_id)
    assert [(leg["supervisor"], leg["mode"]) for leg in cdr.legs if leg.get("supervisor")] == [("103", "barge")]
    asked = AuditEvent.objects.get(action="call.supervise.request", target=call_id)
    assert (asked.actor, asked.client, asked.data["line"], asked.data["mode"]) == (
        world.client_a1_op, world.client_a1, "103", "barge")  # fmt: skip


def test_the_portal_parks_retrieves_and_supervises(world, lines, third, portal):
    caller, callee, domain = lines
    label = connected(caller, callee, domain)
    call_id = Cdr.objects.filter(client_id=world.client_a1.pk, ended_at__isnull=True).latest("started_at").call_uuid
    http = portal(world.client_a1_op)
    assert f"/calls/{call_id}/park/" in http.get("/calls/").content.decode()
    parked = http.post(f"/calls/{call_id}/park/", {"party": "caller"}, follow=True).content.decode()
    assert "is parked in slot 1 (dial *711 to take it back)" in parked
    callee.wait_call_state(label, "disconnected")
    page = http.get("/calls/").content.decode()
    assert "parked in slot 1" in page and f"/calls/{call_id}/retrieve/" in page
    missing = http.post(f"/calls/{call_id}/retrieve/", {}, follow=True).content.decode()
    assert "Name the extension whose phones ring" in missing
    taken = http.post(f"/calls/{call_id}/retrieve/", {"to": "103"}, follow=True).content.decode()
    assert "is retrieved to 103" in taken
    at_third = third.wait_incoming()["call"]
    third.wait_call_state(at_third, "confirmed")
    own = http.post(f"/calls/{call_id}/supervise/", {"mode": "monitor", "to": "103"}, follow=True).content.decode()
    assert "the line is in this call" in own
    refused = http.post(f"/calls/{call_id}/supervise/", {"mode": "monitor", "to": "101"}, follow=True).content.decode()
    assert "may not monitor, whisper or barge" in refused
    caller.hangup("c1")
    third.wait_call_state(at_third, "disconnected")
