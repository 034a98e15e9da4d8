"""Carriers' gateways over TCP and TLS and by DNS name (telephony/edge/connections.py, edge/trunks.py,
telephony/sip/locate.py): the edge opens its own connection to a TCP or TLS gateway, pings and registers
over it, reuses it and opens another after a drop; a TLS gateway's certificate must verify (against
OCX_SIP_CARRIER_CA here), else the gateway is out of service with the reason; calls go to a TCP
gateway through edge and engine, and to the port a DNS SRV record gives for a gateway by name."""

from __future__ import annotations

import socket
import subprocess
import time
import uuid

import pytest
from django.conf import settings
from django.utils import timezone

from billing.models import Carrier
from config.redis_store import get_redis, rkey
from pstn.directory import gateway_states
from pstn.models import Gateway, Number, OutboundPolicy, OutboundRoute, RouteCarrier
from records.models import Cdr
from telephony.sip import Response, StreamFramer
from tests.sip.phone import PhoneError
from tests.telephony.carrier_standin import LoopThread, StandInDns, StandInGateway, make_ca, server_context
from tests.telephony.conftest import SECRET, cdr_of, free_port, start_edge, start_engine, stop_engine
from tests.waiting import committed, wait_for

SCENARIOS = settings.BASE_DIR / "tests" / "sip" / "sipp"
NUMBER, E164 = "6502530000", "+16502530000"
USER, PASSWORD = "platform-trunk", "trunk-secret-1"
NOT_US = "192.0.2.1/32"  # the gateways' calls come from elsewhere: the test's phones are on 127.0.0.1 too
DID = "+4930901821"
SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")  # fmt: skip


@pytest.fixture(scope="module")
def loop():
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture
def carrier_with(world):
    """carrier_with(gateway fields, ...) -> (carrier, [gateways]) committed; removed afterwards."""
    made = []

    def make(*gateways: dict, brand=None):
        def create():
            carrier = Carrier.objects.create(name=f"tx-{uuid.uuid4().hex[:6]}", brand=brand, country="US")
            rows = [Gateway.objects.create(carrier=carrier, name=f"gw{i}", **{"inbound_networks": NOT_US, **fields})
                    for i, fields in enumerate(gateways)]  # fmt: skip
            return carrier, rows

        carrier, rows = committed(create)
        made.append(carrier)
        return carrier, rows

    yield make
    committed(lambda: [carrier.delete() for carrier in made])


def state(gateway: Gateway) -> dict:
    return gateway_states([gateway.pk]).get(gateway.pk, {})


def keeper_edge(**env):
    get_redis().delete(rkey("pstn:keeper"))  # (a lease left by an edge of an earlier test)
    return start_edge(OCX_SIP_GATEWAY_PING="0.5", **env)


def test_the_edge_pings_and_registers_over_its_own_tcp_connection_and_reopens_it_after_a_drop(loop, carrier_with):
    gateway = StandInGateway(loop)
    _, (row,) = carrier_with(dict(host="127.0.0.1", port=gateway.port, transport="tcp", register=True,
                                  username=USER, password=PASSWORD, realm=StandInGateway.REALM))  # fmt: skip
    edge = keeper_edge()
    try:
        wait_for(lambda: state(row).get("registered") and state(row).get("alive"), "registered over TCP", 10)
        wait_for(lambda: gateway.methods().count("OPTIONS") >= 3, "pinged again and again", 10)
        assert gateway.methods().count("REGISTER") >= 2  # challenged, then with credentials
        assert {number for _, number in gateway.requests} == {1}  # all over the one connection, kept

        gateway.drop()
        wait_for(lambda: any(number == 2 for _, number in list(gateway.requests)), "a new connection", 10)
        assert len(gateway.connections) == 2
        assert state(row)["alive"] and not state(row).get("error")
    finally:
        edge.stop()
        gateway.stop()


def test_a_gateway_connection_that_hears_nothing_is_replaced_once_the_gateway_is_out_of_service(loop, carrier_with):
    gateway = StandInGateway(loop)
    gateway.mute = True  # the first connection is a dead flow: it is accepted, then nothing is ever read
    _, (row,) = carrier_with(dict(host="127.0.0.1", port=gateway.port, transport="tcp"))
    edge = keeper_edge()
    try:
        wait_for(lambda: state(row).get("alive") is False, "out of service", 20)
        gateway.mute = False  # (a new connection would be answered)
        wait_for(lambda: state(row).get("alive"), "in service again over a new connection", 15)
        assert len(gateway.connections) >= 2
    finally:
        edge.stop()
        gateway.stop()


def test_a_tls_gateway_is_reached_when_its_certificate_verifies_and_out_of_service_when_not(
    loop, carrier_with, tmp_path
):  # fmt: skip
    trusted, stranger = make_ca(tmp_path, "carrier-ca"), make_ca(tmp_path, "stranger-ca")
    good = StandInGateway(loop, server_context(tmp_path, trusted))
    bad = StandInGateway(loop, server_context(tmp_path, stranger))
    _, (ok, refused) = carrier_with(
        dict(host="127.0.0.1", port=good.port, transport="tls", register=True, username=USER, password=PASSWORD),
        dict(host="127.0.0.1", port=bad.port, transport="tls"),
    )
    edge = keeper_edge(OCX_SIP_CARRIER_CA=str(tmp_path / "carrier-ca.pem"))
    try:
        wait_for(lambda: state(ok).get("registered") and state(ok).get("alive"), "registered over TLS", 10)
        assert "OPTIONS" in good.methods() and {number for _, number in good.requests} == {1}
        wait_for(lambda: state(refused).get("error"), "the refused certificate's reason", 10)
        assert state(refused)["alive"] is False
        assert "certificate" in state(refused)["error"], state(refused)
        assert bad.requests == []  # nothing was said to it
    finally:
        edge.stop()
        good.stop()
        bad.stop()


# Calls: an edge and an engine that ask the test's DNS server ---------------------------------------------


@pytest.fixture(scope="module")
def dns_server(loop):
    server = StandInDns(loop, {})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def network(dns_server, django_db_blocker):
    """An edge and an engine of their own, both asking the test's DNS server for gateways by name."""
    env = {"OCX_SIP_DNS_SERVERS": f"127.0.0.1:{dns_server.port}"}
    started = timezone.now()
    edge = start_edge(**env)
    engine = start_engine(edge, **env)
    edge.engine = engine  # (its log: engine.log)
    yield edge
    stop_engine(engine, started, django_db_blocker)
    edge.stop()


def sipp_gateway(tmp_path, transport: str, scenario: str = "engine_uas.xml") -> tuple[subprocess.Popen, int]:
    """SIPp answering calls (tests/sip/sipp/engine_uas.xml) over UDP ("u1") or TCP ("t1")."""
    port = free_port()
    process = subprocess.Popen(
        ["sipp", "-sf", str(SCENARIOS / scenario), "-i", "127.0.0.1", "-bind_local", "-p", str(port),
         "-mp", str(free_port()), "-cp", str(free_port()), "-nostdin", "-aa", "-t", transport],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    kind = socket.SOCK_STREAM if transport == "t1" else socket.SOCK_DGRAM

    def listening() -> bool:  # the port is SIPp's once we can no longer bind it
        probe = socket.socket(socket.AF_INET, kind)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
        finally:
            probe.close()
        return process.poll() is not None

    wait_for(listening, "SIPp listening", 5)
    return process, port


@pytest.fixture
def routed(world):
    """routed(carrier, ...): brand A's calls to every number go to those carriers in order; undone afterwards."""
    made = []

    def route(*carriers):
        def create():
            route = OutboundRoute.objects.create(brand=world.brand_a, name="all", pattern="", position=1)
            for priority, carrier in enumerate(carriers, start=1):
                RouteCarrier.objects.create(route=route, carrier=carrier, priority=priority)
            OutboundPolicy.objects.update_or_create(client=world.client_a1, defaults={"allow_national": True})
            return route

        made.append(committed(create))

    yield route

    def remove():
        for route in made:
            route.delete()
        OutboundPolicy.objects.filter(client=world.client_a1).delete()

    committed(remove)


@pytest.fixture
def caller(world, sip_lines, phones, network):
    sip_lines(world.user_a1, SECRET)
    phone = phones(name="caller")
    domain = world.client_a1.sip_domain
    assert (
        phone.register(username="101", domain=domain, secret=SECRET, proxy=f"127.0.0.1:{network.port}")["code"] == 200
    )
    return phone


def call_out(world, caller, carrier) -> Cdr:
    caller.call("c1", f"sip:{NUMBER}@{world.client_a1.sip_domain}")
    caller.wait_call_state("c1", "confirmed", timeout=15)
    caller.hangup("c1")
    caller.wait_call_state("c1", "disconnected")
    cdr = cdr_of(world, callee_number=E164)
    assert (cdr.direction, cdr.carrier_id, cdr.disposition) == (Cdr.Direction.OUTBOUND, carrier.pk, "answered")
    return cdr


def test_an_outbound_call_reaches_a_tcp_gateway_and_is_answered(world, tmp_path, carrier_with, routed, caller):
    sipp, port = sipp_gateway(tmp_path, "t1")
    try:
        carrier, _ = carrier_with(dict(host="127.0.0.1", port=port, transport="tcp"), brand=world.brand_a)
        routed(carrier)
        call_out(world, caller, carrier)
    finally:
        sipp.terminate()
        sipp.wait(5)


def test_a_tcp_gateway_that_refuses_the_connection_fails_over_to_the_next_carrier_at_once(
    world, tmp_path, carrier_with, routed, caller
):  # fmt: skip
    sipp, port = sipp_gateway(tmp_path, "u1")
    try:
        closed, _ = carrier_with(dict(host="127.0.0.1", port=free_port(), transport="tcp"), brand=world.brand_a)
        answering, _ = carrier_with(dict(host="127.0.0.1", port=port, transport="udp"), brand=world.brand_a)
        routed(closed, answering)
        # (without the transport error the INVITE would wait 32 s for timer B before the next carrier)
        call_out(world, caller, answering)
    finally:
        sipp.terminate()
        sipp.wait(5)


def test_a_tcp_gateways_own_bye_comes_back_over_the_edges_connection_and_ends_the_call(
    world, tmp_path, carrier_with, routed, caller
):  # fmt: skip
    sipp, port = sipp_gateway(tmp_path, "t1", "carrier_hangs_up.xml")
    try:
        carrier, _ = carrier_with(dict(host="127.0.0.1", port=port, transport="tcp"), brand=world.brand_a)
        routed(carrier)
        caller.call("c1", f"sip:{NUMBER}@{world.client_a1.sip_domain}")
        caller.wait_call_state("c1", "confirmed", timeout=15)
        caller.wait_call_state("c1", "disconnected", timeout=10)  # the far end hung up
        cdr = cdr_of(world, callee_number=E164)
        assert (cdr.carrier_id, cdr.disposition, cdr.hangup_side) == (carrier.pk, "answered", "callee")
    finally:
        sipp.terminate()
        sipp.wait(5)


def test_a_tcp_connection_on_which_an_invite_hears_nothing_is_not_used_for_the_next_call(
    world, loop, carrier_with, routed, caller
):  # fmt: skip
    gateway = StandInGateway(loop)
    gateway.mute = True  # its first connection is a dead flow: accepted, then nothing is ever read
    carrier, _ = carrier_with(dict(host="127.0.0.1", port=gateway.port, transport="tcp"), brand=world.brand_a)
    routed(carrier)
    try:
        caller.call("c1", f"sip:{NUMBER}@{world.client_a1.sip_domain}")
        caller.wait_call_state("c1", "disconnected", timeout=15)  # silent for the carrier timeout: no other carrier
        gateway.mute = False
        caller.call("c2", f"sip:{NUMBER}@{world.client_a1.sip_domain}")
        wait_for(lambda: ("INVITE", 2) in gateway.requests, "the next call's INVITE heard over a new connection", 10)
        assert caller.wait_call_state("c2", "disconnected", timeout=10)["code"] == 486
    finally:
        gateway.stop()


def test_a_gateway_by_name_gets_its_calls_at_the_port_its_srv_record_gives(
    world, tmp_path, carrier_with, routed, caller, dns_server
):  # fmt: skip
    sipp, port = sipp_gateway(tmp_path, "u1")
    name = f"trunk-{uuid.uuid4().hex[:6]}.ocx.test"
    dns_server.records.update({
        (f"_sip._udp.{name}", "SRV"): [f"10 5 {port} media1.{name}."],
        (f"media1.{name}", "A"): ["127.0.0.1"],
    })  # fmt: skip
    try:
        carrier, _ = carrier_with(dict(host=name, port=None, transport="udp"), brand=world.brand_a)
        routed(carrier)
        call_out(world, caller, carrier)
        assert (f"_sip._udp.{name}", "SRV") in dns_server.queries
    finally:
        sipp.terminate()
        sipp.wait(5)


class StreamAgent:
    """A carrier's user agent over TCP: requests written by hand, answers framed off the stream."""

    def __init__(self, edge_port: int):
        self.sock = socket.create_connection(("127.0.0.1", edge_port), timeout=5)
        self.port = self.sock.getsockname()[1]
        self.framer = StreamFramer()
        self.waiting: list = []

    def send(self, method: str, uri: str, call_id: str, branch: str, *, to_tag: str = "", body: str = "") -> None:
        head = (f"{method} {uri} SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:{self.port};branch={branch}\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:+4915112345678@carrier.example>;tag=c1\r\n"
                f"To: <{uri}>{to_tag}\r\nCall-ID: {call_id}\r\nCSeq: 1 {method}\r\n"
                f"Contact: <sip:carrier@127.0.0.1:{self.port};transport=tcp>\r\n")  # fmt: skip
        if body:
            head += "Content-Type: application/sdp\r\n"
        self.sock.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n{body}".encode())

    def final(self, method: str, timeout: float = 5.0) -> int:
        """The status of the next final answer to `method`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while self.waiting:
                answer = self.waiting.pop(0)
                if isinstance(answer, Response) and answer.status >= 200 and answer.cseq[1] == method:
                    return answer.status
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                self.waiting += self.framer.feed(self.sock.recv(65536))
            except TimeoutError:
                break
        return 0

    def close(self) -> None:
        self.sock.close()


def test_a_carriers_call_over_tcp_from_its_gateway_by_name_is_trusted_and_rings_the_user(
    world, carrier_with, caller, phones, sip_lines, network, dns_server
):  # fmt: skip
    name = f"inbound-{uuid.uuid4().hex[:6]}.ocx.test"
    dns_server.records[(name, "A")] = ["127.0.0.1"]
    sip_lines(world.user_a1b, SECRET)
    callee = phones(name="callee")
    assert callee.register(username="102", domain=world.client_a1.sip_domain, secret=SECRET,
                           proxy=f"127.0.0.1:{network.port}")["code"] == 200  # fmt: skip
    # No networks of its own: its calls may come from the address its name has.
    carrier, _ = carrier_with(dict(host=name, port=5060, transport="tcp", inbound_networks=""))
    committed(lambda: Number.objects.create(brand=world.brand_a, e164=DID, carrier=carrier, client=world.client_a1,
                                            destination_kind="user", destination_target="102"))  # fmt: skip
    agent = StreamAgent(network.port)
    try:

        def unknown_number_refused() -> bool:  # a carrier's: 404 for a number the platform lacks, not 407
            branch = f"z9hG4bK{uuid.uuid4().hex[:12]}"
            agent.send("INVITE", f"sip:+4930000000@127.0.0.1:{network.port}", uuid.uuid4().hex, branch, body=SDP)
            return agent.final("INVITE") == 404

        wait_for(unknown_number_refused, "the edge trusts the gateway's address over TCP", 10)
        call_id, branch = uuid.uuid4().hex, f"z9hG4bK{uuid.uuid4().hex[:12]}"
        agent.send("INVITE", f"sip:{DID}@127.0.0.1:{network.port}", call_id, branch, body=SDP)
        callee.wait_incoming(timeout=10)
        agent.send("CANCEL", f"sip:{DID}@127.0.0.1:{network.port}", call_id, branch)
        assert agent.final("INVITE") == 487  # the edge's answers came back over the carrier's connection
    finally:
        agent.close()
        committed(lambda: Number.objects.filter(e164=DID).delete())


def test_a_call_cancelled_while_the_gateways_name_is_looked_up_ends_cleanly_and_never_rings_the_gateway(
    world, carrier_with, routed, caller, phones, dns_server, network
):  # fmt: skip
    far = phones(name="far")  # the carrier's gateway: a phone that rings (and would say so)
    far.account("far", domain="127.0.0.1", default=True, incoming={"answer": 180})
    name = f"slow-{uuid.uuid4().hex[:6]}.ocx.test"
    dns_server.records[(name, "A")] = ["127.0.0.1"]
    carrier, _ = carrier_with(dict(host=name, port=far.sip_port, transport="udp"), brand=world.brand_a)
    routed(carrier)
    wait_for(lambda: (name, "A") in dns_server.queries, "the edge looked the gateway up", 10)
    asked = dns_server.queries.count((name, "A"))
    dns_server.delay = 1.5  # the engine's own look-up, at call time, takes that long
    since = len(network.engine.log.read_text())
    try:
        caller.call("c1", f"sip:{NUMBER}@{world.client_a1.sip_domain}")
        wait_for(lambda: dns_server.queries.count((name, "A")) > asked, "the engine looks the gateway up", 10)
        caller.hangup("c1")  # CANCEL while the engine waits for the name
        caller.wait_call_state("c1", "disconnected")
        cdr = cdr_of(world, callee_number=E164)
        assert cdr.disposition == Cdr.Disposition.CANCELLED
        with pytest.raises(PhoneError):  # the name's answer came: still, nobody is called for a caller gone
            far.wait_incoming(timeout=4)
        logged = network.engine.log.read_text()[since:]
        assert " ERROR " not in logged and "Traceback" not in logged, logged
    finally:
        dns_server.delay = 0.0
    caller.call("c2", f"sip:{NUMBER}@{world.client_a1.sip_domain}")  # (a call not cancelled rings it)
    far.wait_incoming()
    caller.hangup("c2")
    caller.wait_call_state("c2", "disconnected")
