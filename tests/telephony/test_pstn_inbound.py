"""Calls from the phone network: a carrier's gateway (a test user agent on a carrier's network) calls
one of the platform's numbers through the real edge and engine, and the client's phone rings; a
number the platform does not have, or an address that is no carrier's, gets nothing without digest."""

from __future__ import annotations

import time
import uuid

import pytest

from pstn.models import Number
from records.models import Cdr
from tests.telephony.conftest import cdr_of
from tests.telephony.sipclient import Call, SipClient
from tests.waiting import committed, wait_for

DID = "+4930901820"
CALLER = "+4915112345678"
SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n")  # fmt: skip


@pytest.fixture
def carrier(world, carrier_factory_pstn):
    """A carrier whose gateway is 127.0.0.1 (where the test's user agent sends from), with DID for
    client A1 pointing at user 102."""
    return carrier_factory_pstn([(world.brand_a, DID, world.client_a1, "user", "102")])


def invite(agent: SipClient, number: str) -> Call:
    call = Call(to_uri=f"sip:{number}@127.0.0.1", call_id=uuid.uuid4().hex, from_tag=uuid.uuid4().hex[:8])
    call.branch = "z9hG4bK" + uuid.uuid4().hex[:16]
    call.sent = agent.request_message("INVITE", call.to_uri, call, headers=(("Content-Type", "application/sdp"),),
                                      body=SDP)  # fmt: skip
    agent.send_raw(call.sent)
    return call


def final(agent: SipClient, timeout: float = 3.0) -> int:
    """The status of the next final answer (0: none within `timeout`)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        answer = agent.receive(timeout=left)
        if answer is not None and answer.status and answer.status >= 200:
            return answer.status
    return 0


def known_as_carrier(agent: SipClient) -> None:
    """The edge reads the carriers' table when the directory announces a change: until then a
    carrier is challenged like anyone. Known once a number the platform lacks gets 404, not 407."""
    wait_for(lambda: invite(agent, "+4930000000") and final(agent) == 404, "the edge knows the carrier", 10)


def test_a_carriers_call_to_a_number_rings_the_user_it_points_at(world, lines, edge, carrier):
    _, callee, _ = lines
    agent = SipClient(edge.address, CALLER, "carrier.example")
    try:
        known_as_carrier(agent)
        call = invite(agent, DID)
        incoming = callee.wait_incoming(timeout=10)
        label = incoming["call"]
        assert incoming["from"].startswith('"+49 1511 2345678" <sip:+4915112345678@'), incoming["from"]
        ok = agent.expect(200, timeout=10)
        call.established(ok)
        target = ok.get("Contact").strip().lstrip("<").split(">")[0]  # the engine, reached through the edge
        agent.send_raw(agent.request_message("ACK", target, call, branch="z9hG4bK" + uuid.uuid4().hex[:12]))
        callee.wait_call_state(label, "confirmed")
        call.cseq += 1
        agent.send_raw(agent.request_message("BYE", target, call, branch="z9hG4bK" + uuid.uuid4().hex[:12]))
        while (answer := agent.expect(200)).cseq_method != "BYE":  # (a 200 to the INVITE sent again meanwhile)
            assert answer.cseq_method == "INVITE"
        callee.wait_call_state(label, "disconnected")
    finally:
        agent.close()
    cdr = cdr_of(world, callee_number="102")
    assert (cdr.direction, cdr.carrier_id, cdr.disposition, cdr.hangup_side) == (
        Cdr.Direction.INBOUND,
        carrier.pk,
        "answered",
        "caller",
    )
    assert (cdr.caller_number, cdr.caller_name) == (CALLER, "+49 1511 2345678")  # client A1 is in the US
    assert cdr.account_id is None and cdr.callee_account_id == world.user_a1b.pk


def test_nobody_else_reaches_a_number_without_digest_and_a_carrier_reaches_only_the_platforms(edge, carrier):
    agent = SipClient(edge.address, CALLER, "carrier.example")
    stranger = SipClient(edge.address, CALLER, "carrier.example", bind_ip="127.0.0.2")
    try:
        known_as_carrier(agent)  # (and: a number the platform does not have is 404 for the carrier)
        invite(stranger, DID)
        assert final(stranger) == 407  # not a carrier's address: challenged like any phone
        invite(agent, "not-a-number")
        assert final(agent) == 404
    finally:
        agent.close()
        stranger.close()


def test_while_its_schedule_says_closed_a_number_rings_its_closed_destination(world, lines, third, edge, carrier):
    from django_tenants.utils import tenant_context

    from telephony.models import Schedule

    def closed_schedule():
        with tenant_context(world.client_a1):
            schedule = Schedule.objects.create(name=f"never-{uuid.uuid4().hex[:6]}", hours="")  # no hours: closed
        Number.objects.filter(e164=DID).update(schedule=schedule.pk, closed_kind="user", closed_target="103")
        return schedule

    schedule = committed(closed_schedule)
    agent = SipClient(edge.address, CALLER, "carrier.example")
    try:
        known_as_carrier(agent)
        invite(agent, DID)
        label = third.wait_incoming(timeout=10)["call"]  # 103, not 102
        third.wait_call_state(label, "confirmed")
        third.hangup(label)
    finally:
        agent.close()

        def remove():
            with tenant_context(world.client_a1):
                Schedule.objects.filter(pk=schedule.pk).delete()

        committed(remove)
    cdr = cdr_of(world, callee_number="103")
    assert (cdr.direction, cdr.carrier_id, cdr.caller_number) == (Cdr.Direction.INBOUND, carrier.pk, CALLER)


def test_a_user_calling_one_of_the_clients_own_numbers_reaches_it_without_a_carrier(world, lines, carrier_factory_pstn):
    # (its calls would come from elsewhere: the phones are on 127.0.0.1; and no outbound route, so a
    # call that went out would find no carrier)
    carrier_factory_pstn([(world.brand_a, DID, world.client_a1, "user", "102")], networks="192.0.2.1/32")
    caller, callee, domain = lines
    caller.call("c1", f"sip:+{DID[1:]}@{domain}")
    label = callee.wait_incoming(timeout=10)["call"]
    caller.wait_call_state("c1", "confirmed")
    caller.hangup("c1")
    callee.wait_call_state(label, "disconnected")
    cdr = cdr_of(world, callee_number="102")
    assert (cdr.direction, cdr.carrier_id, cdr.disposition) == (Cdr.Direction.INTERNAL, None, "answered")


def test_a_trunk_that_calls_our_registered_contact_names_the_number_in_to(world, lines, edge, carrier):
    _, callee, _ = lines
    agent = SipClient(edge.address, CALLER, "carrier.example")
    try:
        known_as_carrier(agent)
        call = Call(to_uri=f"sip:{DID}@carrier.example", call_id=uuid.uuid4().hex, from_tag=uuid.uuid4().hex[:8])
        call.branch = "z9hG4bK" + uuid.uuid4().hex[:16]
        agent.send_raw(agent.request_message("INVITE", f"sip:platform-trunk@{edge.address[0]}", call,
                                             headers=(("Content-Type", "application/sdp"),), body=SDP))  # fmt: skip
        label = callee.wait_incoming(timeout=10)["call"]
        callee.hangup(label, 486)
        assert final(agent) == 486
    finally:
        agent.close()
    assert cdr_of(world, callee_number="102").carrier_id == carrier.pk


def test_numbers_of_the_client_that_point_out_at_each_other_are_a_loop_not_a_trip_through_a_carrier(
    world, lines, carrier_factory_pstn
):  # fmt: skip
    # (no outbound route: a call sent out would find no carrier, 503)
    other = "+4930901822"
    numbers = [(world.brand_a, DID, world.client_a1, "external", other),
               (world.brand_a, other, world.client_a1, "external", DID)]  # fmt: skip
    carrier_factory_pstn(numbers, networks="192.0.2.1/32")
    caller, _callee, domain = lines
    caller.call("c1", f"sip:+{DID[1:]}@{domain}")
    assert caller.wait_call_state("c1", "disconnected", timeout=10)["code"] == 482
