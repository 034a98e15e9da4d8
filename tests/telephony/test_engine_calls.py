"""Calls between real phones (pjsua2) through the edge and a call engine (`manage.py call_engine`):
the engine answers the caller, rings the callee back through the edge, relays the media between
them and writes the call's record."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

from asgiref.sync import async_to_sync
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers
from django.utils import timezone

from records.models import Cdr
from tenants.events import group_for_client, group_for_user
from tests.sip.audio import assert_heard, assert_music
from tests.telephony.conftest import HOLD_NOTES, SECRET, cdr_of, connected, tone_then_hang_up
from tests.waiting import committed, wait_for


def test_a_calls_b_both_hear_each_other_and_the_call_is_recorded(world, lines, tmp_path):
    caller, callee, domain = lines
    before = Cdr.objects.count()
    caller.call("c1", f"sip:102@{domain}")
    incoming = callee.wait_incoming()
    label = incoming["call"]
    assert incoming["from"].startswith('"') and "<sip:101@" in incoming["from"], "caller ID from the profile"
    caller.wait_call_state("c1", "confirmed")
    callee.wait_call_state(label, "confirmed")

    heard_by_callee, heard_by_caller = tmp_path / "callee.wav", tmp_path / "caller.wav"
    callee.record(label, heard_by_callee)
    caller.record("c1", heard_by_caller)
    caller.play_tone("c1", [1000], 600)
    callee.play_tone(label, [600], 400)
    caller.wait_tone_done("c1")
    callee.wait_tone_done(label)
    time.sleep(0.3)  # the last packets' way through the jitter buffers
    caller.hangup("c1")
    callee.wait_call_state(label, "disconnected")
    callee.wait_recorded(label)
    caller.wait_recorded("c1")

    assert_heard(heard_by_callee, 1000, loud_at_least_ms=400)
    assert_heard(heard_by_caller, 600, loud_at_least_ms=250)

    cdr = cdr_of(world)
    assert Cdr.objects.count() == before + 1
    assert (cdr.caller_number, cdr.callee_number, cdr.disposition) == ("101", "102", "answered")
    assert (cdr.direction, cdr.hangup_side, cdr.account_id) == ("internal", "caller", world.user_a1.pk)
    assert cdr.answered_at and cdr.billsec >= 1 and cdr.duration >= cdr.billsec
    assert cdr.quality["caller"]["packets_received"] > 20 and cdr.quality["callee"]["packets_received"] > 20


def test_busy_unregistered_and_unknown_numbers_get_clear_answers_and_records(world, lines):
    caller, callee, domain = lines
    callee.set_incoming("102", answer=486)
    caller.call("busy", f"sip:102@{domain}")
    assert caller.wait_call_state("busy", "disconnected")["code"] == 486
    assert cdr_of(world, disposition="busy").callee_number == "102"

    caller.call("nobody", f"sip:999@{domain}")
    assert caller.wait_call_state("nobody", "disconnected")["code"] == 404
    assert cdr_of(world, callee_number="999").disposition == "failed"

    callee.unregister("102")
    caller.call("away", f"sip:102@{domain}")
    assert caller.wait_call_state("away", "disconnected")["code"] == 480


def test_the_caller_cancels_while_it_rings(world, lines):
    caller, callee, domain = lines
    callee.set_incoming("102", answer=180)
    caller.call("c1", f"sip:102@{domain}")
    label = callee.wait_incoming()["call"]
    caller.wait_call_state("c1", "early")
    caller.hangup("c1")
    assert caller.wait_call_state("c1", "disconnected")["code"] == 487
    callee.wait_call_state(label, "disconnected")
    assert cdr_of(world, disposition="cancelled").hangup_side == "caller"


def test_active_calls_are_listed_in_scope_and_hung_up_through_the_api(world, lines, api):
    caller, callee, domain = lines
    label = connected(caller, callee, domain)

    listed = api(world.client_a1_op).get("/api/v1/calls/?active=1").json()["results"]
    assert [(c["caller_number"], c["callee_number"], c["active"]) for c in listed] == [("101", "102", True)]
    call_id = listed[0]["id"]
    assert [c["id"] for c in api(world.user_a1b).get("/api/v1/calls/?active=1").json()["results"]] == [call_id]
    assert api(world.user_b1).get("/api/v1/calls/?active=1").json()["results"] == []
    assert api(world.user_b1).post(f"/api/v1/calls/{call_id}/hangup/").status_code == 404

    assert api(world.user_a1).post(f"/api/v1/calls/{call_id}/hangup/").status_code == 202
    assert caller.wait_call_state("c1", "disconnected")
    callee.wait_call_state(label, "disconnected")
    cdr = cdr_of(world, call_uuid=call_id)
    assert (cdr.disposition, cdr.hangup_side) == ("answered", "api")
    ended = api(world.user_a1).post(f"/api/v1/calls/{call_id}/hangup/")
    assert (ended.status_code, ended.json()["code"]) == (409, "call-ended")


def test_a_call_on_a_dead_engine_answers_a_clear_error_and_bad_filters_name_the_field(world, api, cdr_factory):
    lost = cdr_factory(engine="gone:1:5070", direction="internal", number="102", started_at=timezone.now(),
                       ended=False)  # fmt: skip
    answer = api(world.client_a1_op).post(f"/api/v1/calls/{lost.call_uuid}/hangup/")
    assert (answer.status_code, answer.json()["code"]) == (503, "engine-unavailable")
    assert "gone:1:5070" in answer.json()["detail"]
    bad = api(world.client_a1_op).get("/api/v1/calls/?since=yesterday&disposition=maybe&until=2026-02-30")
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"since", "disposition", "until"}
    day = api(world.client_a1_op).get(f"/api/v1/calls/?since={timezone.now().date().isoformat()}&direction=internal")
    assert lost.call_uuid.hex in [c["id"].replace("-", "") for c in day.json()["results"]]


def test_records_left_open_by_a_dead_engine_are_closed_by_a_survivor(world, engine, cdr_factory):
    """An engine that dies (kill -9, lost host) cannot close its calls' records: a live one does."""
    lost = committed(cdr_factory, engine="dead:1:5070", direction="internal", number="102", answer_after=10,
                     started_at=timezone.now() - dt.timedelta(minutes=1), ended=False)  # fmt: skip
    try:
        closed = wait_for(lambda: committed(Cdr.objects.filter(pk=lost.pk, ended_at__isnull=False).first),
                          "the survivor closes the dead engine's record", timeout=12)  # fmt: skip
        assert (closed.disposition, closed.hangup_cause, closed.hangup_side) == ("answered", "engine-lost", "engine")
        assert closed.billsec >= 50
    finally:
        committed(Cdr.objects.filter(pk=lost.pk).delete)


def test_phones_without_a_common_codec_are_transcoded_between_pcmu_and_pcma(world, lines, tmp_path):
    caller, callee, domain = lines
    caller.set_codecs("PCMU")
    callee.set_codecs("PCMA")
    label = connected(caller, callee, domain)
    heard = tmp_path / "callee.wav"
    tone_then_hang_up(caller, callee, label, heard, 600)
    assert_heard(heard, 1000, loud_at_least_ms=400)
    assert cdr_of(world).quality["callee"]["packets_sent"] > 20


def test_dtmf_passes_both_ways_as_rfc4733_events_and_as_sip_info(world, lines):
    caller, callee, domain = lines
    label = connected(caller, callee, domain)
    caller.dtmf("c1", "159#")
    assert callee.wait_dtmf(label, 4) == "159#"
    callee.dtmf(label, "42", method="info")
    assert caller.wait_dtmf("c1", 2) == "42"
    caller.hangup("c1")
    callee.wait_call_state(label, "disconnected")


def test_a_phone_puts_the_call_on_hold_the_other_hears_music_then_the_call_resumes(world, lines, tmp_path):
    caller, callee, domain = lines
    label = connected(caller, callee, domain)
    assert caller.hold("c1")["status"] == "local_hold"
    on_hold = tmp_path / "on-hold.wav"
    callee.record(label, on_hold)
    time.sleep(1.0)  # a second of what the held party hears
    callee.stop_record(label)
    assert_music(on_hold, HOLD_NOTES, loud_at_least_ms=300)

    caller.unhold("c1")
    after = tmp_path / "after.wav"
    tone_then_hang_up(caller, callee, label, after, 500)
    assert_heard(after, 1000, loud_at_least_ms=300)


def test_hold_and_resume_through_the_api(world, lines, api, tmp_path):
    caller, callee, domain = lines
    label = connected(caller, callee, domain)
    call_id = api(world.client_a1_op).get("/api/v1/calls/?active=1").json()["results"][0]["id"]
    assert api(world.client_a1_op).post(f"/api/v1/calls/{call_id}/hold/").status_code == 400  # who? an operator says
    held = api(world.user_a1).post(f"/api/v1/calls/{call_id}/hold/")
    assert (held.status_code, held.json()["held"]) == (200, "callee")
    on_hold = tmp_path / "on-hold.wav"
    callee.record(label, on_hold)
    time.sleep(1.0)  # a second of what the held party hears
    callee.stop_record(label)
    assert_music(on_hold, HOLD_NOTES, loud_at_least_ms=300)
    assert api(world.client_a1_op).post(f"/api/v1/calls/{call_id}/resume/").status_code == 200
    again = api(world.client_a1_op).post(f"/api/v1/calls/{call_id}/resume/")
    assert (again.status_code, again.json()["code"]) == (409, "not-possible")
    caller.hangup("c1")
    callee.wait_call_state(label, "disconnected")


def test_call_events_reach_the_clients_and_the_users_groups(world, lines):
    caller, callee, domain = lines

    def call_and_hang_up() -> None:
        label = connected(caller, callee, domain)
        caller.hangup("c1")
        callee.wait_call_state(label, "disconnected")

    async def call_events(layer, channel: str) -> list[str]:
        seen: list[str] = []
        while "call.ended" not in seen:
            message = await asyncio.wait_for(layer.receive(channel), 10)
            if message["event"]["type"].startswith("call."):  # not the phones' registration events
                seen.append(message["event"]["type"])
        return seen

    async def scenario() -> tuple[list[str], list[str]]:
        # A layer of this test's own (receiving binds a layer to its event loop), in one loop; the phones
        # are driven from a thread meanwhile.
        layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        client_channel, user_channel = await layer.new_channel(), await layer.new_channel()
        await layer.group_add(group_for_client(world.client_a1.pk), client_channel)
        await layer.group_add(group_for_user(world.user_a1b.pk), user_channel)
        await asyncio.to_thread(call_and_hang_up)
        return await call_events(layer, client_channel), await call_events(layer, user_channel)

    for_client, for_user = async_to_sync(scenario)()
    assert for_client == for_user == ["call.ringing", "call.answered", "call.ended"]


def test_the_callee_transfers_the_caller_to_a_third_phone_by_refer(world, lines, third, tmp_path):
    caller, callee, domain = lines
    label = connected(caller, callee, domain)
    done = callee.transfer(label, f"sip:103@{domain}")
    assert done["code"] == 200
    callee.wait_call_state(label, "disconnected")
    at_third = third.wait_incoming()["call"]
    third.wait_call_state(at_third, "confirmed")

    heard = tmp_path / "third.wav"
    third.record(at_third, heard)
    caller.play_tone("c1", [1000], 500)
    caller.wait_tone_done("c1")
    time.sleep(0.3)  # the last packets' way through the jitter buffer
    caller.hangup("c1")
    third.wait_call_state(at_third, "disconnected")
    third.wait_recorded(at_third)
    assert_heard(heard, 1000, loud_at_least_ms=300)
    cdr = cdr_of(world)
    assert cdr.disposition == "answered" and [leg.get("transferred_to") for leg in cdr.legs][-1] == "103"


def test_a_transfer_to_nobody_keeps_the_call_and_the_api_transfers_too(world, lines, third, api):
    caller, callee, domain = lines
    label = connected(caller, callee, domain)
    assert callee.transfer(label, f"sip:999@{domain}")["code"] == 404
    call_id = api(world.client_a1_op).get("/api/v1/calls/?active=1").json()["results"][0]["id"]
    bad = api(world.client_a1_op).post(f"/api/v1/calls/{call_id}/transfer/", {"to": "x1"})
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"to"}
    moved = api(world.user_a1).post(f"/api/v1/calls/{call_id}/transfer/", {"to": "103"})  # the caller leaves
    assert (moved.status_code, moved.json()["leaving"]) == (200, "caller")
    caller.wait_call_state("c1", "disconnected")
    at_third = third.wait_incoming()["call"]
    third.wait_call_state(at_third, "confirmed")
    callee.hangup(label)
    third.wait_call_state(at_third, "disconnected")


def test_a_delayed_offer_is_answered_in_the_ack_and_unknown_extensions_get_420(world, lines, sip_client, edge):
    _, callee, domain = lines
    phone = sip_client(world.user_a1, target=edge)
    call = phone.invite(f"sip:102@{domain}", SECRET)  # no SDP: the engine must offer in its 200
    label = callee.wait_incoming()["call"]
    ok = phone.expect(200, timeout=5)
    offer = [line for line in ok.body.splitlines() if line.startswith("m=audio")]
    assert offer and offer[0].split()[3] in ("0", "8"), ok.body  # the engine's offer, G.711 first
    call.established(ok)
    contact = ok.get("Contact").strip("<>").split(">")[0]
    answer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40010 RTP/AVP 0\r\n"
    ack = phone.request_message("ACK", contact, call, branch="z9hG4bKack" + call.call_id[:8],
                                headers=(("Content-Type", "application/sdp"),), body=answer)  # fmt: skip
    phone.send_raw(ack)
    callee.wait_call_state(label, "confirmed")
    call.cseq += 1
    phone.send_raw(phone.request_message("BYE", contact, call, branch="z9hG4bKbye" + call.call_id[:8]))
    assert phone.expect(200).cseq_method == "BYE"
    callee.wait_call_state(label, "disconnected")

    strict = sip_client(world.user_a1, target=edge)
    strict.invite(f"sip:102@{domain}", SECRET, headers=(("Require", "100rel"),))
    refused = strict.expect(420, timeout=5)
    assert refused.get("Unsupported") == "100rel"


def test_an_offer_that_is_not_sdp_gets_415_with_what_the_engine_accepts(world, lines, sip_client, edge):
    """RFC 3261 8.2.3 / 21.4.13: a body the engine cannot read is 415 with Accept (or Accept-Encoding)."""
    _, callee, domain = lines
    text = sip_client(world.user_a1, target=edge)
    text.invite(f"sip:102@{domain}", SECRET, headers=(("Content-Type", "text/plain"),), body="hello")
    refused = text.expect(415, timeout=5)
    assert refused.get("Accept") == "application/sdp"
    sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40010 RTP/AVP 0\r\n"
    packed = sip_client(world.user_a1, target=edge)
    packed.invite(f"sip:102@{domain}", SECRET, body=sdp,
                  headers=(("Content-Type", "application/sdp"), ("Content-Encoding", "gzip")))  # fmt: skip
    assert packed.expect(415, timeout=5).get("Accept-Encoding") == "identity"
    assert not [e for e in callee.events() if e.get("event") == "incoming"]  # nothing rang


def test_click_to_call_rings_the_users_phone_then_the_target(world, lines, api):
    caller, callee, _ = lines
    caller.set_incoming("101", answer=200)
    bad = api(world.user_a1).post("/api/v1/calls/", {"to": "abc"})
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"to"}
    assert api(world.client_a1_op).post("/api/v1/calls/", {"to": "102"}).json()["fields"].keys() == {"line"}

    placed = api(world.user_a1).post("/api/v1/calls/", {"to": "102"})
    assert placed.status_code == 202
    mine = caller.wait_incoming()
    assert "<sip:102@" in mine["from"], "the user's phone shows whom it is about to call"
    theirs = callee.wait_incoming()
    assert "<sip:101@" in theirs["from"], "the target sees the user, not the engine"
    callee.wait_call_state(theirs["call"], "confirmed")
    caller.hangup(mine["call"])
    callee.wait_call_state(theirs["call"], "disconnected")
    cdr = cdr_of(world, call_uuid=placed.json()["id"])
    assert (cdr.caller_number, cdr.callee_number, cdr.disposition, cdr.hangup_side) == ("101", "102", "answered",
                                                                                      "caller")  # fmt: skip


def test_the_portal_holds_resumes_and_transfers_a_call_in_progress(world, lines, third, portal):
    caller, callee, domain = lines
    label = connected(caller, callee, domain)
    ours = Cdr.objects.filter(client_id=world.client_a1.pk, ended_at__isnull=True).order_by("-started_at").first()
    call_id = ours.call_uuid
    http = portal(world.client_a1_op)
    page = http.get("/calls/").content.decode()
    assert f"/calls/{call_id}/hold/" in page and f"/calls/{call_id}/transfer/" in page
    held = http.post(f"/calls/{call_id}/hold/", {"party": "callee"}, follow=True).content.decode()
    assert "is on hold (callee hears music)" in held
    assert "is resumed" in http.post(f"/calls/{call_id}/resume/", follow=True).content.decode()
    wrong = http.post(f"/calls/{call_id}/transfer/", {"to": "x", "party": "caller"}, follow=True).content.decode()
    assert "Transfer to an extension number" in wrong
    assert http.post(f"/calls/{call_id}/explode/").status_code == 404
    moved = http.post(f"/calls/{call_id}/transfer/", {"to": "103", "party": "caller"}, follow=True)
    assert "is transferred to 103" in moved.content.decode()
    caller.wait_call_state("c1", "disconnected")
    at_third = third.wait_incoming()["call"]
    callee.hangup(label)
    third.wait_call_state(at_third, "disconnected")


def test_a_granted_line_picks_up_a_colleagues_ringing_call_and_others_may_not(world, lines, third):
    """103 may intercept (the test world grants it), 101 may not."""
    caller, callee, domain = lines
    callee.set_incoming("102", answer=180)  # 102 rings and rings
    third.call("p0", f"sip:*8@{domain}")
    assert third.wait_call_state("p0", "disconnected")["code"] == 404  # nothing rings
    caller.call("c1", f"sip:102@{domain}")
    ringing = callee.wait_incoming()["call"]
    caller.wait_call_state("c1", "early")
    assert caller.call("p1", f"sip:**102@{domain}") and caller.wait_call_state("p1", "disconnected")["code"] == 403

    third.call("p2", f"sip:**102@{domain}")
    third.wait_call_state("p2", "confirmed")
    caller.wait_call_state("c1", "confirmed")
    callee.wait_call_state(ringing, "disconnected")  # its ringing stopped
    third.hangup("p2")
    caller.wait_call_state("c1", "disconnected")
    cdr = cdr_of(world, callee_number="102", disposition="answered")
    assert cdr.legs[-1]["intercepted_by"] == "103"
