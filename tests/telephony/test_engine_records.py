"""What a call's record and the live view say about who talked (issue 12): after a transfer, a pickup
or a supervision, between real phones (pjsua2) through the edge and a call engine. The record's
segments (who talked with whom, how long), the line that answered, the supervisions; the API, the
CSV and the portal show them; the live view shows who is in a call now, held and supervised."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re

from asgiref.sync import async_to_sync
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers
from django.conf import settings
from django.utils import timezone

from config.redis_store import get_redis
from exports.selectors import cdr_csv
from records.models import Cdr
from records.writer import cdr_close_lost
from telephony.callindex import live_calls
from tenants.events import group_for_client, group_for_user
from tenants.models import AuditEvent
from tests.telephony.conftest import cdr_of, connected
from tests.waiting import wait_for


def live(world, call_id: str) -> dict | None:
    return live_calls(get_redis(), settings.OCX_REDIS_PREFIX, world.client_a1.pk).get(str(call_id))


def csv_row(cdr: Cdr) -> dict:
    text = b"".join(cdr_csv(Cdr.objects.filter(pk=cdr.pk))).decode()
    return next(csv.DictReader(io.StringIO(text)))


def active_call_id(api, account) -> str:
    return wait_for(lambda: api(account).get("/api/v1/calls/?active=1").json()["results"], what="the call")[0]["id"]


def test_a_blind_transfer_is_two_segments_and_the_live_view_follows_the_parties(world, lines, third, api, portal):
    """101 calls 102, 102 transfers 101 to 103: the record says 101 talked with 102, then with 103."""
    caller, callee, domain = lines
    label = connected(caller, callee, domain)
    call_id = active_call_id(api, world.user_a1b)
    assert wait_for(lambda: live(world, call_id), what="the live entry")["callee"] == "102"

    moved = api(world.user_a1b).post(f"/api/v1/calls/{call_id}/transfer/", {"to": "103"})
    assert moved.status_code == 200, moved.json()
    at_third = third.wait_incoming()["call"]
    third.wait_call_state(at_third, "confirmed")
    callee.wait_call_state(label, "disconnected")
    now = wait_for(lambda: (e := live(world, call_id)) and e["callee"] == "103" and e, what="103 in the live entry")
    assert (now["caller"], now["dialled"], now["state"]) == ("101", "102", "answered")
    page = portal(world.client_a1_op).get("/calls/").content.decode()
    row = page.split(f'data-call="{call_id}"')[1].split("</tr>")[0]
    assert "103" in row and "(dialled 102)" in row and "talking" in row, row
    during = api(world.user_a1c).get(f"/api/v1/calls/{call_id}/")
    assert during.status_code == 200, "103 talks in the call: it is theirs too"
    assert [(s["caller"], s["callee"], s["ended_at"] is None) for s in during.json()["segments"]] == [
        ("101", "102", False),
        ("101", "103", True),
    ]

    held = api(world.client_a1_op).post(f"/api/v1/calls/{call_id}/hold/", {"held": "caller"})
    assert held.status_code == 200, held.json()
    wait_for(lambda: live(world, call_id)["held"] == "caller", what="held in the live entry")
    page = portal(world.client_a1_op).get("/calls/").content.decode()
    assert "on hold (caller hears music)" in page.split(f'data-call="{call_id}"')[1].split("</tr>")[0]
    assert api(world.client_a1_op).post(f"/api/v1/calls/{call_id}/resume/").status_code == 200
    wait_for(lambda: live(world, call_id)["held"] is None, what="resumed in the live entry")

    caller.hangup("c1")
    third.wait_call_state(at_third, "disconnected")
    cdr = cdr_of(world, call_uuid=call_id)
    assert (cdr.callee_number, cdr.answered_by, cdr.disposition) == ("102", "102", "answered")
    assert [(s["caller"], s["callee"], s["reason"]) for s in cdr.segments] == [
        ("101", "102", "answer"),
        ("101", "103", "transfer"),
    ]
    first, second = cdr.segments
    assert (first["caller_account"], first["callee_account"]) == (world.user_a1.pk, world.user_a1b.pk)
    assert second["callee_account"] == world.user_a1c.pk
    assert first["ended_at"] == second["began_at"] and second["ended_at"] is not None
    assert abs(first["seconds"] + second["seconds"] - cdr.billsec) <= 1
    assert cdr.quality["callee"]["number"] == "103", "the figures at the end are 103's leg"
    assert [(q["side"], q["number"]) for q in cdr.quality["former"]] == [("callee", "102")]
    cell = csv_row(cdr)["segments"]
    assert re.fullmatch(r"answer 101-102 \d+s; transfer 101-103 \d+s", cell), cell
    history = portal(world.client_a1_op).get("/calls/").content.decode()
    assert "101 ↔ 103" in history and "(transfer)" in history
    wait_for(lambda: live(world, call_id) is None, what="the live entry to go")


def test_a_pickup_names_the_line_that_answered(world, lines, third, api, portal):
    caller, callee, domain = lines
    callee.set_incoming("102", answer=180)  # 102 rings and rings
    caller.call("c1", f"sip:102@{domain}")
    ringing = callee.wait_incoming()["call"]
    caller.wait_call_state("c1", "early")
    third.call("p1", f"sip:**102@{domain}")
    third.wait_call_state("p1", "confirmed")
    caller.wait_call_state("c1", "confirmed")
    callee.wait_call_state(ringing, "disconnected")
    call_id = active_call_id(api, world.client_a1_op)
    entry = wait_for(lambda: (e := live(world, call_id)) and e["callee"] == "103" and e, what="103 in the live entry")
    assert entry["dialled"] == "102"
    third.hangup("p1")
    caller.wait_call_state("c1", "disconnected")

    cdr = cdr_of(world, call_uuid=call_id)
    assert (cdr.callee_number, cdr.answered_by) == ("102", "103"), "102 never answered"
    assert [(s["caller"], s["callee"], s["reason"]) for s in cdr.segments] == [("101", "103", "pickup")]
    shown = api(world.client_a1_op).get(f"/api/v1/calls/{call_id}/").json()
    assert (shown["callee_number"], shown["answered_by"]) == ("102", "103")
    assert "answered by 103" in portal(world.client_a1_op).get("/calls/").content.decode()
    found = api(world.client_a1_op).get("/api/v1/calls/", {"search": "103"}).json()["results"]
    assert [c["id"] for c in found] == [call_id], "the line that answered is searchable"
    assert "answered by 103" in portal(world.client_a1_op).get("/calls/", {"q": "103"}).content.decode()
    assert csv_row(cdr)["answered_by"] == "103"


def test_a_supervision_is_in_the_record_the_api_the_csv_the_history_and_the_audit(world, lines, third, api, portal):
    caller, callee, domain = lines
    label = connected(caller, callee, domain)
    call_id = active_call_id(api, world.client_a1_op)
    third.call("s1", f"sip:*81102@{domain}")  # 103 monitors 102's call
    third.wait_call_state("s1", "confirmed")
    entry = wait_for(lambda: (e := live(world, call_id)) and e["supervisors"] and e, what="the supervisor")
    assert entry["supervisors"] == [{"number": "103", "mode": "monitor", "agent": "callee"}]
    page = portal(world.client_a1_op).get("/calls/").content.decode()
    assert "monitor: 103" in page.split(f'data-call="{call_id}"')[1].split("</tr>")[0]
    monitored = portal(world.user_a1b).get("/calls/").content.decode()
    row = monitored.split(f'data-call="{call_id}"')[1].split("</tr>")[0]
    assert "talking" in row and "103" not in row, "the monitored party is not told"
    during = api(world.client_a1_op).get(f"/api/v1/calls/{call_id}/").json()["supervisions"]
    assert [(v["supervisor"], v["mode"], v["ended_at"]) for v in during] == [("103", "monitor", None)]
    third.hangup("s1")
    third.wait_call_state("s1", "disconnected")
    wait_for(lambda: not live(world, call_id)["supervisors"], what="the supervisor to leave the live entry")
    caller.hangup("c1")
    callee.wait_call_state(label, "disconnected")

    cdr = cdr_of(world, call_uuid=call_id)
    [seen] = cdr.supervisions
    assert (seen["supervisor"], seen["supervisor_account"], seen["mode"]) == ("103", world.user_a1c.pk, "monitor")
    assert (seen["agent"], seen["agent_number"]) == ("callee", "102")
    assert seen["began_at"] < seen["ended_at"] and seen["ended_at"] <= cdr.ended_at.isoformat()
    shown = api(world.client_a1_op).get(f"/api/v1/calls/{call_id}/").json()["supervisions"]
    assert [(v["supervisor"], v["mode"], v["agent_number"]) for v in shown] == [("103", "monitor", "102")]
    assert csv_row(cdr)["supervisions"].startswith("monitor 103 102 "), csv_row(cdr)["supervisions"]
    assert "103 monitor (callee 102)" in portal(world.client_a1_op).get("/calls/").content.decode()
    own = api(world.user_a1c).get(f"/api/v1/calls/{call_id}/")
    assert [v["supervisor"] for v in own.json()["supervisions"]] == ["103"], "the supervisor's own history"
    assert api(world.user_a1b).get(f"/api/v1/calls/{call_id}/").json()["supervisions"] == [], "not the monitored's"
    assert "103 monitor" not in portal(world.user_a1b).get("/calls/").content.decode()
    exported = api(world.user_a1b).get("/api/v1/cdrs/export.csv")
    mine = next(r for r in csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode().lstrip("\ufeff")))
                if r["call_uuid"] == call_id)  # fmt: skip
    assert mine["segments"] and mine["supervisions"] == "", "a user's export: their own supervisions only"
    audit = wait_for(lambda: AuditEvent.objects.filter(action="call.supervise", target=call_id).first(), what="audit")
    assert (audit.client_id, audit.data["supervisor"], audit.data["mode"]) == (world.client_a1.pk, "103", "monitor")


def test_click_to_call_to_a_number_that_does_not_exist_is_a_field_error(world, api):
    nobody = api(world.user_a1).post("/api/v1/calls/", {"to": "999"})
    assert nobody.status_code == 400 and set(nobody.json()["fields"]) == {"to"}, nobody.json()
    itself = api(world.user_a1).post("/api/v1/calls/", {"to": "101"})
    assert itself.status_code == 400 and set(itself.json()["fields"]) == {"to"}, itself.json()


def test_a_dead_engines_record_keeps_its_segments_and_supervisions_ended(world, cdr_factory):
    """The engine writes the segments as they change: a survivor closing the record of a dead engine
    ends the open segment and supervision at the moment it closes the call."""
    started = timezone.now() - dt.timedelta(seconds=30)
    talking = {"reason": "transfer", "caller": "101", "caller_account": world.user_a1.pk, "callee": "103",
               "callee_account": world.user_a1c.pk, "began_at": (started + dt.timedelta(seconds=10)).isoformat(),
               "ended_at": None, "seconds": 0}  # fmt: skip
    listening = {"supervisor": "104", "supervisor_account": None, "mode": "monitor", "agent": "callee",
                 "agent_number": "103", "began_at": (started + dt.timedelta(seconds=20)).isoformat(),
                 "ended_at": None, "seconds": 0}  # fmt: skip
    cdr = cdr_factory(
        engine="gone", direction="internal", number="102", answered_by="102", started_at=started, answer_after=0,
        ended=False, segments=[{**talking, "reason": "answer", "callee": "102", "ended_at": talking[
            "began_at"], "seconds": 10}, talking], supervisions=[listening],
    )  # fmt: skip
    at = started + dt.timedelta(seconds=30)
    assert cdr_close_lost({"alive"}, last_seen={"gone": at}, now=timezone.now()) == 1
    cdr.refresh_from_db()
    assert [(s["callee"], s["ended_at"], s["seconds"]) for s in cdr.segments] == [
        ("102", talking["began_at"], 10),
        ("103", at.isoformat(), 20),
    ]
    assert (cdr.supervisions[0]["ended_at"], cdr.supervisions[0]["seconds"]) == (at.isoformat(), 10)


def test_call_events_carry_who_is_in_the_call_now_to_everyone_in_it(world, lines, third):
    """102 holds, then transfers 101 to 103 by REFER: the events say who is held and, after the
    transfer, that 101 talks with 103; 103's own group gets the call's events from then on."""
    caller, callee, domain = lines

    def hold_transfer_hang_up() -> None:
        label = connected(caller, callee, domain)
        callee.hold(label)
        assert callee.transfer(label, f"sip:103@{domain}")["code"] == 200
        at_third = third.wait_incoming()["call"]
        third.wait_call_state(at_third, "confirmed")
        caller.hangup("c1")
        third.wait_call_state(at_third, "disconnected")

    async def call_events(layer, channel: str) -> list[dict]:
        seen: list[dict] = []
        while not seen or seen[-1]["type"] != "call.ended":
            message = await asyncio.wait_for(layer.receive(channel), 15)
            if message["event"]["type"].startswith("call."):
                seen.append(message["event"])
        return seen

    async def scenario() -> tuple[list[dict], list[dict]]:
        layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        client_channel, third_channel = await layer.new_channel(), await layer.new_channel()
        await layer.group_add(group_for_client(world.client_a1.pk), client_channel)
        await layer.group_add(group_for_user(world.user_a1c.pk), third_channel)
        await asyncio.to_thread(hold_transfer_hang_up)
        return await call_events(layer, client_channel), await call_events(layer, third_channel)

    for_client, for_third = async_to_sync(scenario)()
    by_type = {event["type"]: event["call"] for event in for_client}
    assert by_type["call.held"]["held"] == "caller" and by_type["call.held"]["callee"] == "102"
    moved = by_type["call.transferred"]
    assert (moved["caller"], moved["callee"], moved["dialled"], moved["held"]) == ("101", "103", "102", None)
    assert [event["type"] for event in for_third][-2:] == ["call.transferred", "call.ended"]
