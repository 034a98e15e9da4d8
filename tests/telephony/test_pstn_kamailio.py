"""Kamailio as a carrier (tests/telephony/kamailio_carrier.py): the edge keeps the platform registered
at its registrar with the gateway's credentials; a call from the phone network reaches the carrier,
which sends it where the platform registered, and the client's phone rings; a user's call to an
external number goes to the carrier, which asks for credentials (407), and the engine answers the
challenge once before the carrier relays the call to the phone network (a SIPp user agent).

Addresses: the phones and the edge are on 127.0.0.1, the carrier on 127.0.0.2 (its calls are told
from the phones' by address), the phone network's user agents on 127.0.0.3.
"""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass

import pytest
from django.conf import settings

from billing.models import Carrier
from config.redis_store import get_redis, rkey
from pstn.directory import gateway_states
from pstn.models import Gateway, Number, OutboundPolicy, OutboundRoute, RouteCarrier
from records.models import Cdr
from tests.telephony import kamailio_carrier
from tests.telephony.conftest import cdr_of, free_port, start_edge
from tests.telephony.sipclient import SipClient
from tests.telephony.test_pstn_inbound import final, invite
from tests.waiting import committed, wait_for

if kamailio_carrier.registrar.kamailio_binary() is None:  # `make test` installs it (platform/test.py)
    raise RuntimeError("kamailio (Debian) is missing: run the tests with `make test`, which installs it")

SCENARIOS = settings.BASE_DIR / "tests" / "sip" / "sipp"
CARRIER_IP, PSTN_IP = "127.0.0.2", "127.0.0.3"
REALM, TRUNK, SECRET = "carrier.example", "platform-trunk", "trunk-secret-1"
OTHER, OTHER_SECRET = "platform-trunk-2", "trunk-secret-2"  # an account whose secret the platform has wrong
DID, CALLER = "+4930901820", "+4915112345678"
NUMBER, E164 = "6502530000", "+16502530000"  # as a user of client A1 (US) dials it, and in E.164


@pytest.fixture(scope="module")
def edge():
    """This module's edge (the engine fixture places its calls through it): it keeps the carriers'
    gateways (pings every 0.5 s, registers), which the session's edge does not."""
    get_redis().delete(rkey("pstn:keeper"))  # (a lease left by an edge of an earlier test)
    process = start_edge(OCX_SIP_GATEWAY_PING="0.5")
    yield process
    process.stop()


@dataclass
class Network:
    """The carrier (Kamailio) and the port of the phone network's answering side behind it."""

    carrier: kamailio_carrier.CarrierKamailio
    far_end_port: int


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    far_end_port = free_port()
    carrier = kamailio_carrier.start(
        tmp_path_factory.mktemp("kam"), ip=CARRIER_IP, port=free_port(), realm=REALM, trunk_user=TRUNK,
        accounts={TRUNK: SECRET, OTHER: OTHER_SECRET}, pstn_ip=PSTN_IP, far_end=f"{PSTN_IP}:{far_end_port}",
    )  # fmt: skip
    yield Network(carrier, far_end_port)
    carrier.stop()


@pytest.fixture
def trunk(world, network, request):
    """Brand A's carrier at Kamailio: one gateway that registers and whose credentials answer the
    carrier's challenges (its password: the test's parameter, else the right one), the carrier's
    address as its calls' network, DID for client A1 pointing at user 102, and the brand's only route
    sending everything there."""
    port, password = network.carrier.port, getattr(request, "param", SECRET)

    def create():
        carrier = Carrier.objects.create(name=f"kam-{uuid.uuid4().hex[:6]}", brand=world.brand_a, country="DE")
        gateway = Gateway.objects.create(carrier=carrier, name="trunk", host=CARRIER_IP, port=port, register=True,
                                         username=TRUNK, password=password, realm=REALM,
                                         inbound_networks=f"{CARRIER_IP}/32")  # fmt: skip
        Number.objects.create(brand=world.brand_a, e164=DID, carrier=carrier, client=world.client_a1,
                              destination_kind="user", destination_target="102")  # fmt: skip
        route = OutboundRoute.objects.create(brand=world.brand_a, name="all", pattern="", position=1)
        RouteCarrier.objects.create(route=route, carrier=carrier, priority=1)
        OutboundPolicy.objects.update_or_create(client=world.client_a1, defaults={"allow_national": True})
        return carrier, gateway

    carrier, gateway = committed(create)
    yield carrier, gateway

    def remove():
        OutboundRoute.objects.filter(brand=world.brand_a, name="all").delete()
        OutboundPolicy.objects.filter(client=world.client_a1).delete()
        Number.objects.filter(carrier=carrier).delete()
        carrier.delete()

    committed(remove)


def state(gateway: Gateway) -> dict:
    return gateway_states([gateway.pk]).get(gateway.pk, {})


def sipp(tmp_path, *args: str, port: int) -> subprocess.Popen:
    """A SIPp user agent of the phone network on 127.0.0.3:port, its output in tmp_path, once it listens."""
    process = subprocess.Popen(
        ["sipp", *args, "-i", PSTN_IP, "-bind_local", "-p", str(port), "-mp", str(free_port()), "-cp",
         str(free_port()), "-nostdin", "-t", "u1", "-trace_err", "-trace_msg"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip

    wait_for(lambda: kamailio_carrier.udp_bound(PSTN_IP, port) or process.poll() is not None,
             f"SIPp listening on {PSTN_IP}:{port}", 5)  # fmt: skip
    return process


def sipp_messages(tmp_path) -> str:
    return "\n".join(path.read_text(errors="replace") for path in tmp_path.glob("*_messages.log"))


def test_the_edge_registers_at_the_carrier_and_a_wrong_secret_shows_in_the_gateways_state(world, edge, network,
                                                                                           trunk):  # fmt: skip
    carrier, gateway = trunk
    kamailio = network.carrier

    def wrong_account():
        return Gateway.objects.create(carrier=carrier, name="second account", host=CARRIER_IP, port=kamailio.port,
                                      register=True, username=OTHER, password="not-the-secret", realm=REALM,
                                      inbound_networks="192.0.2.7/32")  # fmt: skip

    wrong = committed(wrong_account)
    wait_for(lambda: state(gateway).get("registered"), "registered at the carrier", 10)
    assert state(gateway)["registration"] == "200 OK" and state(gateway)["alive"]
    contact = f"sip:{TRUNK}@127.0.0.1:{edge.port}"  # the edge's address, where the carrier sends our calls
    bindings = wait_for(lambda: (dump := kamailio.bindings()) and contact in dump and dump,
                        "Kamailio holding the edge's binding", 5)  # fmt: skip
    assert f"AoR: {TRUNK}" in bindings, bindings

    wait_for(lambda: state(wrong).get("registration") == "403 Forbidden", "the wrong secret refused", 10)
    assert state(wrong)["registered"] is False and state(wrong)["alive"], "refused, but the gateway answers"
    assert f"AoR: {OTHER}" not in kamailio.bindings()
    assert edge.process.poll() is None, edge.log_tail()
    checked = state(gateway)["checked_at"]  # the edge goes on keeping the good one
    wait_for(lambda: state(gateway)["checked_at"] > checked and state(gateway)["registered"], "kept up", 5)


def test_a_call_from_the_phone_network_through_the_carrier_rings_the_user_its_number_points_at(
    world, lines, edge, network, trunk, tmp_path
):
    _, callee, _ = lines
    carrier, gateway = trunk
    kamailio = network.carrier
    wait_for(lambda: state(gateway).get("registered"), "registered at the carrier", 10)
    agent = SipClient(edge.address, CALLER, REALM, bind_ip=CARRIER_IP)  # the edge knows the carrier's address
    try:
        wait_for(lambda: invite(agent, "+4930000000") and final(agent) == 404, "the edge knows the carrier", 10)
    finally:
        agent.close()

    caller = sipp(tmp_path, f"{CARRIER_IP}:{kamailio.port}", "-sf", str(SCENARIOS / "carrier_uac.xml"), "-s", DID,
                  "-set", "carrier", REALM, "-m", "1", "-timeout", "20", "-timeout_error",
                  port=free_port())  # fmt: skip
    try:
        incoming = callee.wait_incoming(timeout=10)
        assert incoming["from"].startswith('"+49 1511 2345678" <sip:+4915112345678@'), incoming["from"]
        callee.wait_call_state(incoming["call"], "confirmed")
        callee.wait_call_state(incoming["call"], "disconnected")  # the caller hung up, through the carrier
        assert caller.wait(20) == 0, sipp_messages(tmp_path)[-3000:]
    finally:
        if caller.poll() is None:
            caller.kill()
            caller.wait()
    assert f"to customer sip:{DID}@127.0.0.1:{edge.port}" in "\n".join(kamailio.events()), kamailio.log_tail()
    cdr = cdr_of(world, callee_number="102")
    assert (cdr.direction, cdr.carrier_id, cdr.disposition, cdr.caller_number) == (
        Cdr.Direction.INBOUND,
        carrier.pk,
        "answered",
        CALLER,
    )


def test_a_call_to_the_phone_network_answers_the_carriers_challenge_once_and_is_relayed(
    world, lines, network, trunk, tmp_path
):
    caller, _, domain = lines
    carrier, _ = trunk
    kamailio = network.carrier
    far_end = sipp(tmp_path, "-sf", str(SCENARIOS / "engine_uas.xml"), "-m", "1", port=network.far_end_port)
    before = len(kamailio.events())
    try:
        caller.call("c1", f"sip:{NUMBER}@{domain}")
        caller.wait_call_state("c1", "confirmed", timeout=15)
        caller.hangup("c1")
        caller.wait_call_state("c1", "disconnected")
        assert far_end.wait(10) == 0, sipp_messages(tmp_path)[-3000:]  # its one call answered and hung up
    finally:
        if far_end.poll() is None:
            far_end.kill()
            far_end.wait()
    events = kamailio.events()[before:]
    assert [e.split(" ci=")[0] for e in events] == ["challenge", f"authorized {TRUNK}"], events
    assert len({e.split(" ci=")[1] for e in events}) == 1, "the challenge and its answer are of one call"
    messages = sipp_messages(tmp_path)
    assert "Proxy-Authorization" not in messages, "the carrier keeps the credentials (consume_credentials)"
    assert f"INVITE sip:{E164}@{CARRIER_IP}:{kamailio.port}" in messages, "the number as the carrier writes it"
    cdr = cdr_of(world, callee_number=E164)
    assert (cdr.direction, cdr.carrier_id, cdr.disposition) == (Cdr.Direction.OUTBOUND, carrier.pk, "answered")


@pytest.mark.parametrize("trunk", ["not-the-secret"], indirect=True)
def test_credentials_the_carrier_refuses_are_tried_once_and_the_call_fails_cleanly(world, lines, network, trunk):
    caller, _, domain = lines
    _, gateway = trunk
    kamailio = network.carrier
    before = len(kamailio.events())
    caller.call("c1", f"sip:{NUMBER}@{domain}")
    ended = caller.wait_call_state("c1", "disconnected", timeout=15)
    assert ended["code"] == 503, ended  # no other carrier to fail over to
    events = kamailio.events()[before:]
    assert [e.split(" ci=")[0] for e in events] == ["challenge", f"refused {TRUNK} rc=-2"], events  # once
    cdr = cdr_of(world, callee_number=E164)
    assert (cdr.direction, cdr.carrier_id) == (Cdr.Direction.OUTBOUND, gateway.carrier_id)


def test_each_gateway_of_a_carrier_answers_a_challenge_with_its_own_credentials(world, lines, network, trunk,
                                                                                tmp_path):  # fmt: skip
    """A carrier with two points of presence, each with an account of its own: the first one is silent
    (out of service), the call goes to the second, Kamailio, whose challenge is answered with the
    second one's account."""
    caller, _, domain = lines
    carrier, _ = trunk
    kamailio = network.carrier

    def first_gateway():  # (the gateways of a carrier are tried in the order of their names)
        return Gateway.objects.create(carrier=carrier, name="a-first", host="127.0.0.1", port=free_port(),
                                      username="pop-a-account", password="pop-a-secret", realm=REALM,
                                      inbound_networks="192.0.2.8/32")  # fmt: skip

    first = committed(first_gateway)
    far_end = sipp(tmp_path, "-sf", str(SCENARIOS / "engine_uas.xml"), "-m", "1", port=network.far_end_port)
    try:
        wait_for(lambda: state(first).get("alive") is False, "the silent gateway out of service", 10)
        before = len(kamailio.events())
        caller.call("c1", f"sip:{NUMBER}@{domain}")
        caller.wait_call_state("c1", "confirmed", timeout=15)
        caller.hangup("c1")
        caller.wait_call_state("c1", "disconnected")
        events = kamailio.events()[before:]
        assert [e.split(" ci=")[0] for e in events] == ["challenge", f"authorized {TRUNK}"], events
    finally:
        if far_end.poll() is None:
            far_end.kill()
            far_end.wait()
