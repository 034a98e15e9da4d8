"""Locating a carrier's gateway by DNS (telephony/sip/locate.py) against a real DNS server on a local
port: SRV by transport, priority then weight, then A; A only when the gateway has a port; answers
kept for their TTL."""

from __future__ import annotations

import asyncio

import pytest

from telephony.sip.locate import Resolver, parse_servers
from tests.telephony.carrier_standin import LoopThread, StandInDns
from tests.waiting import wait_for

RECORDS = {
    ("_sip._tcp.trunk.test", "SRV"): ["20 1 5080 backup.trunk.test.", "10 0 5070 main.trunk.test."],
    ("_sips._tcp.trunk.test", "SRV"): ["10 0 5071 main.trunk.test."],
    ("main.trunk.test", "A"): ["127.0.0.2"],
    ("backup.trunk.test", "A"): ["127.0.0.3"],
    ("trunk.test", "A"): ["127.0.0.4"],
    ("weighted.test", "A"): ["127.0.0.9"],
    ("_sip._udp.weighted.test", "SRV"): ["10 0 5001 weighted.test.", "10 1000 5002 weighted.test."],
}


@pytest.fixture(scope="module")
def server():
    loop = LoopThread()
    dns = StandInDns(loop, dict(RECORDS), ttl=1)
    yield dns
    dns.stop()
    loop.close()


def targets(resolver: Resolver, host: str, port: int | None, transport: str):
    return asyncio.run(resolver.targets(host, port, transport))


def test_srv_by_transport_and_priority_then_a_and_a_alone_with_a_port(server):
    resolver = Resolver([f"127.0.0.1:{server.port}"])
    assert targets(resolver, "trunk.test", None, "tcp") == [("127.0.0.2", 5070), ("127.0.0.3", 5080)]
    assert targets(resolver, "trunk.test", None, "tls") == [("127.0.0.2", 5071)]
    assert targets(resolver, "trunk.test", None, "udp") == [("127.0.0.4", 5060)]  # no _sip._udp: A, default port
    assert targets(resolver, "trunk.test", 5099, "tcp") == [("127.0.0.4", 5099)]
    assert ("_sip._tcp.trunk.test", "SRV") not in server.queries[-2:]  # a port: no SRV asked
    assert targets(resolver, "192.0.2.7", None, "tls") == [("192.0.2.7", 5061)]
    assert targets(resolver, "nothing.test", None, "udp") == []


def test_within_a_priority_the_heavier_weight_comes_first_nearly_always(server):
    resolver = Resolver([f"127.0.0.1:{server.port}"])
    firsts = [targets(resolver, "weighted.test", None, "udp")[0][1] for _ in range(20)]
    assert firsts.count(5002) >= 18, firsts


def test_answers_are_kept_for_their_ttl(server):
    resolver = Resolver([f"127.0.0.1:{server.port}"])

    async def twice():
        first = await resolver.targets("main.trunk.test", 5060, "udp")
        asked = len(server.queries)
        again = await resolver.targets("main.trunk.test", 5060, "udp")
        return first, again, asked

    first, again, asked = asyncio.run(twice())
    assert first == again == [("127.0.0.2", 5060)] and len(server.queries) == asked  # from the cache
    server.records[("main.trunk.test", "A")] = ["127.0.0.5"]
    try:
        assert targets(resolver, "main.trunk.test", 5060, "udp") == [("127.0.0.2", 5060)]  # still cached
        wait_for(lambda: targets(resolver, "main.trunk.test", 5060, "udp") == [("127.0.0.5", 5060)],
                 "the new address once the TTL ran out", 5)  # fmt: skip
    finally:
        server.records[("main.trunk.test", "A")] = ["127.0.0.2"]


def test_dns_servers_setting_is_checked():
    assert parse_servers(["10.0.0.1", "127.0.0.1:5353", "[::1]:53"]) == [("10.0.0.1", 53), ("127.0.0.1", 5353),
                                                                        ("::1", 53)]  # fmt: skip
    with pytest.raises(ValueError, match="OCX_SIP_DNS_SERVERS"):
        parse_servers(["dns.example:53"])
