"""A client's blocking lists through the real edge and engine: a carrier's call from a blocked number,
a blocked prefix or an anonymous caller is refused as the company chose and leaves a record naming the
entry, while another caller rings; a user dialling a blocked destination, or a number forwarded to
one, is refused with 403 and a record, while an emergency number passes whatever the list says."""

from __future__ import annotations

import time
import uuid

import pytest
from django_tenants.utils import tenant_context

from records.models import Cdr
from telephony.directory import sip_directory_rooms_changed
from telephony.models import Block, CallerBlocking
from telephony.services import block_save, caller_blocking_update
from tests.telephony.conftest import cdr_of
from tests.telephony.sipclient import SipClient, _tag, reply_to
from tests.telephony.test_pstn_inbound import invite, known_as_carrier
from tests.telephony.test_pstn_outbound import E164, NUMBER, carriers  # noqa: F401 (a fixture)
from tests.waiting import committed

DID = "+4930901822"
BLOCKED, PREFIXED, WELCOME = "+4915112345678", "+449012345678", "+4915199999999"


@pytest.fixture
def blocked(world):
    """blocked(direction, kind, value="") adds an entry to client A1's lists as its operator does (the
    engines are told); every entry and the action are removed afterwards."""
    client, operator = world.client_a1, world.client_a1_op

    def add(direction: str, kind: str, value: str = "") -> Block:
        return committed(block_save, actor=operator, client=client, direction=direction, kind=kind, value=value)

    yield add

    def remove():
        with tenant_context(client):
            Block.objects.all().delete()
            CallerBlocking.objects.all().delete()
        sip_directory_rooms_changed(client)

    committed(remove)


@pytest.fixture
def did(world, carrier_factory_pstn):
    """A carrier at 127.0.0.1 whose number DID rings client A1's user 102."""
    return carrier_factory_pstn([(world.brand_a, DID, world.client_a1, "user", "102")])


def final_answer(agent: SipClient, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        answer = agent.receive(timeout=left)
        if answer is not None and answer.status >= 200:
            return answer
    raise AssertionError(f"no final answer within {timeout} s")


def answered(agent: SipClient, call) -> None:
    """The 200 to the agent's INVITE, acknowledged."""
    ok = agent.expect(200, timeout=10)
    call.established(ok)
    target = ok.get("Contact").strip().lstrip("<").split(">")[0]
    agent.send_raw(agent.request_message("ACK", target, call, branch="z9hG4bK" + uuid.uuid4().hex[:12]))


def refused(agent: SipClient, number: str) -> int:
    """INVITE number from the carrier's agent; the final answer's status (a refusal is acknowledged)."""
    call = invite(agent, number)
    answer = final_answer(agent)
    if answer.status >= 300:
        call.to_tag = _tag(answer.get("To"))
        agent.send_raw(agent.request_message("ACK", call.to_uri, call))  # (the INVITE's branch: RFC 3261 17.1.1.3)
    return answer.status


def test_blocked_callers_are_refused_with_a_record_naming_the_entry_and_others_ring(world, lines, edge, did,
                                                                                     blocked):  # fmt: skip
    _, callee, _ = lines
    blocked("inbound", "number", "+49 1511 2345678")  # (client A1 is in the US: foreign numbers with +)
    blocked("inbound", "prefix", "011 44 90")  # the US international prefix, then 44 90
    blocked("inbound", "anonymous")
    agents = {who: SipClient(edge.address, who, "carrier.example") for who in (BLOCKED, PREFIXED, "anonymous", WELCOME)}
    try:
        known_as_carrier(agents[WELCOME])
        for who, entry in ((BLOCKED, BLOCKED), (PREFIXED, "+4490"), ("anonymous", "anonymous")):
            assert refused(agents[who], DID) == 603, who  # the default: declined
            cdr = cdr_of(world, caller_number=who)
            assert (cdr.direction, cdr.carrier_id, cdr.callee_number, cdr.disposition, cdr.hangup_cause) == (
                Cdr.Direction.INBOUND, did.pk, DID, "failed", f"blocked-caller {entry}"
            ), who  # fmt: skip
        welcome = agents[WELCOME]
        call = invite(welcome, DID)
        label = callee.wait_incoming(timeout=10)["call"]  # an unblocked caller rings the user
        answered(welcome, call)
        callee.hangup(label)
        welcome.send_raw(reply_to(welcome.expect("BYE", timeout=10), 200, "OK"))
    finally:
        for agent in agents.values():
            agent.close()
    assert cdr_of(world, caller_number=WELCOME).disposition == "answered"


def test_the_company_may_refuse_blocked_callers_with_403_or_a_message(world, edge, engine, did, blocked):
    blocked("inbound", "number", "+49 1511 2345678")
    committed(caller_blocking_update, actor=world.client_a1_op, client=world.client_a1, action="forbidden")
    agent = SipClient(edge.address, BLOCKED, "carrier.example")
    try:
        known_as_carrier(agent)
        assert refused(agent, DID) == 403
        committed(caller_blocking_update, actor=world.client_a1_op, client=world.client_a1, action="message")
        answered(agent, invite(agent, DID))  # answered, to hear why
        bye = agent.expect("BYE", timeout=15)  # the message said, the engine hangs up
        agent.send_raw(reply_to(bye, 200, "OK"))
    finally:
        agent.close()
    cdr = cdr_of(world, caller_number=BLOCKED, hangup_side="engine")
    assert (cdr.disposition, cdr.hangup_cause) == ("failed", f"blocked-caller {BLOCKED}")


@pytest.mark.usefixtures("carriers")  # brand A's route to SIPp carriers
def test_a_blocked_destination_is_refused_with_a_record_while_an_emergency_number_passes(world, lines, blocked):
    caller, _, domain = lines
    blocked("outbound", "prefix", "1 650")  # as people in the US write it
    caller.call("c1", f"sip:{NUMBER}@{domain}")
    assert caller.wait_call_state("c1", "disconnected", timeout=10)["code"] == 403
    cdr = cdr_of(world, callee_number=E164)
    assert (cdr.direction, cdr.disposition, cdr.hangup_cause, cdr.carrier_id) == (
        Cdr.Direction.OUTBOUND, "failed", "blocked-destination +1650", None
    )  # fmt: skip
    blocked("outbound", "prefix", "+1")  # every number of the country
    caller.call("c2", f"sip:911@{domain}")  # never blocked; it reaches a carrier
    caller.wait_call_state("c2", "confirmed", timeout=15)
    caller.hangup("c2")
    assert cdr_of(world, callee_number="911").disposition == "answered"


@pytest.mark.usefixtures("carriers")
def test_a_number_pointed_at_a_blocked_destination_is_refused_with_a_record(world, edge, engine, carrier_factory_pstn,
                                                                            blocked):  # fmt: skip
    carrier_factory_pstn([(world.brand_a, DID, world.client_a1, "external", E164)])
    blocked("outbound", "number", "(650) 253-0000")
    agent = SipClient(edge.address, WELCOME, "carrier.example")
    try:
        known_as_carrier(agent)
        assert refused(agent, DID) == 403
    finally:
        agent.close()
    cdr = cdr_of(world, callee_number=E164)
    assert (cdr.direction, cdr.hangup_cause) == (Cdr.Direction.OUTBOUND, f"blocked-destination {E164}")
