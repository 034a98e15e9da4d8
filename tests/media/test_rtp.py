"""The RTP relay: port pairs, endpoints with symmetric RTP, the relay, and RFC 3550 reception statistics.

Phones are plain UDP sockets on 127.0.0.1; each test runs on plain asyncio and on uvloop (the engine's loop).
"""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest
import uvloop

from telephony.media import PortPool, PortsExhausted, Relay, RtpEndpoint, RtpStats
from telephony.media import rtp as rtp_module
from tests.media.conftest import free_range as first_free_port
from tests.media.test_rtcp import SDES, block, receiver_report

HOST = "127.0.0.1"
SSRC = 0x5EED1234


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request):
    """Run a coroutine to the end on a fresh loop of the parametrized kind, within 3 s."""
    factory = uvloop.new_event_loop if request.param == "uvloop" else asyncio.new_event_loop

    async def closing(coro):
        try:
            return await asyncio.wait_for(coro, 3)
        finally:
            while OPENED:
                OPENED.pop().close()
            await asyncio.sleep(0.001)  # the loop closes the sockets on its next turn

    def runner(coro):
        with asyncio.Runner(loop_factory=factory) as loop_runner:
            return loop_runner.run(closing(coro))

    return runner


OPENED: list = []  # endpoints and transports of the running test, closed when it ends


async def open_endpoint(pool: PortPool, **options) -> RtpEndpoint:
    opened = await RtpEndpoint.open(pool, **options)
    OPENED.append(opened)
    return opened


def free_range(count: int) -> tuple[int, int]:
    """The first and last of `count` consecutive free UDP ports (tests/media/conftest.py)."""
    first = first_free_port(count)
    return first, first + count - 1


def rtp(seq: int, ts: int = 0, ssrc: int = SSRC, payload: bytes = b"\xd5" * 160, pt: int = 0) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


def rtcp_rr(ssrc: int = SSRC, tag: int = 0) -> bytes:
    """A receiver report with one report block (the tag varies its content)."""
    return struct.pack("!BBHI", 0x81, 201, 7, ssrc) + struct.pack("!IIIIII", 0xAB, tag, 0, 0, 0, 0)


class Socket(asyncio.DatagramProtocol):
    """A plain UDP socket: what arrives, with its source, queued."""

    def __init__(self):
        self.queue: asyncio.Queue = asyncio.Queue()
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.queue.put_nowait((data, addr))

    @property
    def address(self) -> tuple[str, int]:
        return self.transport.get_extra_info("sockname")[:2]

    def send(self, data: bytes, addr) -> None:
        self.transport.sendto(data, addr)

    async def receive(self, count: int, timeout: float = 1.0) -> list[tuple[bytes, tuple]]:
        return [await asyncio.wait_for(self.queue.get(), timeout) for _ in range(count)]

    def drain(self) -> list[tuple[bytes, tuple]]:
        received = []
        while not self.queue.empty():
            received.append(self.queue.get_nowait())
        return received


async def udp(sock: socket.socket | None = None) -> Socket:
    if sock is None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((HOST, 0))
    transport, protocol = await asyncio.get_running_loop().create_datagram_endpoint(Socket, sock=sock)
    OPENED.append(transport)
    return protocol


class Phone:
    """A phone's media: RTP on an even port, RTCP on the next one, as its SDP would announce them."""

    def __init__(self, pool: PortPool):
        self.pool = pool

    async def start(self) -> Phone:
        self.pair = self.pool.acquire()
        self.rtp = await udp(self.pair.rtp_socket)
        self.rtcp = await udp(self.pair.rtcp_socket)
        return self

    @property
    def sdp(self) -> tuple[str, int]:
        return (HOST, self.pair.rtp_port)


async def nothing_more(*sockets: Socket) -> bool:
    """True when none of the sockets gets anything (more) in the next 50 ms."""
    await asyncio.sleep(0.05)
    return all(sock.drain() == [] for sock in sockets)


async def until(condition, timeout: float = 1.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.002)


@pytest.fixture
def pools():
    """A pool for the engine's endpoints and another for the phones, on ranges free right now."""
    first, last = free_range(40)
    return PortPool(first, first + 19, HOST), PortPool(first + 20, last, HOST)


# -- ports


def test_pairs_are_even_and_odd_ports_handed_out_once_and_taken_back():
    first, last = free_range(8)
    pool = PortPool(first, last, HOST)
    assert (pool.size, pool.free, pool.used) == (4, 4, 0)

    pairs = [pool.acquire() for _ in range(4)]
    assert [p.rtp_port for p in pairs] == [first, first + 2, first + 4, first + 6]
    for pair in pairs:
        assert pair.rtcp_port == pair.rtp_port + 1
        assert pair.rtp_socket.getsockname() == (HOST, pair.rtp_port)
        assert pair.rtcp_socket.getsockname() == (HOST, pair.rtcp_port)
    assert (pool.free, pool.used) == (0, 4)
    with pytest.raises(PortsExhausted) as exhausted:
        pool.acquire()
    assert exhausted.value.code == "rtp-ports-exhausted"
    assert f"{first}-{last}" in str(exhausted.value)

    pairs[1].rtp_socket.close()
    pairs[1].rtcp_socket.close()
    pool.release(pairs[1].rtp_port)
    assert (pool.free, pool.used) == (1, 3)
    again = pool.acquire()
    assert again.rtp_port == first + 2
    with pytest.raises(ValueError):
        pool.release(first + 2 + 100)
    for pair in [*pairs, again]:
        pair.rtp_socket.close()
        pair.rtcp_socket.close()


def test_ports_another_program_holds_are_skipped_and_an_odd_first_port_rounds_up():
    first, last = free_range(10)
    squatters = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    squatters[0].bind((HOST, first + 3))  # the RTCP port of the second pair
    squatters[1].bind((HOST, first + 4))  # the RTP port of the third
    pairs = []
    try:
        pool = PortPool(first - 1, last, HOST)  # first - 1 is odd: the first pair is (first, first + 1)
        pairs += [pool.acquire() for _ in range(3)]
        assert [pair.rtp_port for pair in pairs] == [first, first + 6, first + 8]
        with pytest.raises(PortsExhausted):
            pool.acquire()
        assert pool.free == 2  # still in the pool: free again once the other program lets go
        for squatter in squatters:
            squatter.close()
        pairs += [pool.acquire(), pool.acquire()]
        assert [pair.rtp_port for pair in pairs[3:]] == [first + 2, first + 4]
    finally:
        for sock in squatters + [s for pair in pairs for s in (pair.rtp_socket, pair.rtcp_socket)]:
            sock.close()


def test_a_range_without_a_pair_is_refused():
    with pytest.raises(ValueError):
        PortPool(30001, 30001, HOST)
    with pytest.raises(ValueError):
        PortPool(0, 100, HOST)


def test_an_endpoint_uses_a_pair_and_gives_it_back_when_closed(run, pools):
    engine_pool, _ = pools

    async def main():
        endpoint = await open_endpoint(engine_pool)
        assert engine_pool.used == 1
        assert (endpoint.host, endpoint.rtcp_port) == (HOST, endpoint.port + 1)
        endpoint.close()
        endpoint.close()
        await until(lambda: engine_pool.used == 0)
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind((HOST, endpoint.port))  # really released
        probe.close()

    run(main())


# -- relaying


async def bridged(engine_pool, phone_pool, **options):
    a, b = await Phone(phone_pool).start(), await Phone(phone_pool).start()
    ea = await open_endpoint(engine_pool, remote=options.pop("remote_a", a.sdp), **options)
    eb = await open_endpoint(engine_pool, remote=b.sdp, **options)
    return a, b, ea, eb, Relay(ea, eb)


def test_two_phones_hear_exactly_what_the_other_sent_both_ways(run, pools):
    async def main():
        a, b, ea, eb, relay = await bridged(*pools)
        to_b = [rtp(1000 + i, 160 * i, payload=bytes([i]) * 160) for i in range(50)]
        to_a = [rtp(7 + i, 80 * i, ssrc=99, payload=bytes([255 - i]) * 80, pt=8) for i in range(50)]
        for x, y in zip(to_b, to_a, strict=True):
            a.rtp.send(x, (HOST, ea.port))
            b.rtp.send(y, (HOST, eb.port))
        got_b, got_a = await b.rtp.receive(50), await a.rtp.receive(50)
        assert [data for data, _ in got_b] == to_b
        assert [data for data, _ in got_a] == to_a
        assert {source for _, source in got_b} == {(HOST, eb.port)}  # symmetric: from the leg's own port
        assert {source for _, source in got_a} == {(HOST, ea.port)}
        assert await nothing_more(b.rtp, a.rtp)
        sa, sb = ea.stats(), eb.stats()
        assert (sa["packets_received"], sa["bytes_received"], sa["packets_sent"], sa["bytes_sent"]) == (
            50,
            8600,
            50,
            4600,
        )
        assert (sb["packets_received"], sb["bytes_received"], sb["packets_sent"], sb["bytes_sent"]) == (
            50,
            4600,
            50,
            8600,
        )
        assert (sa["packets_lost"], sb["packets_lost"], sa["loss_fraction"]) == (0, 0, 0.0)
        relay.stop()
        ea.close()
        eb.close()

    run(main())


def test_rtcp_is_relayed_between_the_rtcp_ports_and_latches_on_its_own(run, pools):
    async def main():
        engine_pool, phone_pool = pools
        a, b = await Phone(phone_pool).start(), await Phone(phone_pool).start()
        nat_rtcp = await udp()  # a's RTCP comes out of its NAT on a port of its own
        b_rtcp = await udp()  # b's SDP gives a=rtcp with the port of this one
        ea = await open_endpoint(engine_pool, remote=a.sdp)
        eb = await open_endpoint(engine_pool, remote=b.sdp, remote_rtcp=b_rtcp.address)
        assert ea.remote_rtcp == (HOST, a.pair.rtcp_port)  # default: the RTP port + 1
        assert eb.remote_rtcp == b_rtcp.address
        Relay(ea, eb)

        report_a, report_b = rtcp_rr(1, tag=1), rtcp_rr(2, tag=2)
        b_rtcp.send(report_b, (HOST, eb.rtcp_port))  # a has not spoken: to its SDP's RTCP port
        assert await a.rtcp.receive(1) == [(report_b, (HOST, ea.rtcp_port))]

        nat_rtcp.send(report_a, (HOST, ea.rtcp_port))
        assert await b_rtcp.receive(1) == [(report_a, (HOST, eb.rtcp_port))]
        b_rtcp.send(report_b, (HOST, eb.rtcp_port))
        assert await nat_rtcp.receive(1) == [(report_b, (HOST, ea.rtcp_port))]  # latched
        assert await nothing_more(a.rtcp, b.rtp, a.rtp, b.rtcp)
        assert ea.remote == a.sdp  # RTP did not move
        s = ea.stats()
        assert (s["rtcp_packets_received"], s["rtcp_packets_sent"], s["rtcp_latches"], s["packets_received"]) == (
            1, 2, 1, 0)  # fmt: skip

    run(main())


def test_a_natted_phone_is_reached_where_its_packets_come_from_not_where_its_sdp_says(run, pools):
    async def main():
        engine_pool, phone_pool = pools
        private = await udp()  # the address in the phone's SDP, behind its NAT
        a_public = await udp()  # where the phone's packets really come from
        b = await Phone(phone_pool).start()
        ea = await open_endpoint(engine_pool, remote=private.address)
        eb = await open_endpoint(engine_pool, remote=b.sdp)
        Relay(ea, eb)

        b.rtp.send(rtp(1), (HOST, eb.port))
        assert [d for d, _ in await private.receive(1)] == [rtp(1)]  # before latching: the SDP address
        assert not ea.latched

        a_public.send(rtp(500), (HOST, ea.port))
        assert await b.rtp.receive(1) == [(rtp(500), (HOST, eb.port))]
        assert ea.latched and ea.remote == a_public.address
        assert ea.remote_rtcp == (HOST, a_public.address[1] + 1)  # RTCP's best guess until RTCP arrives
        b.rtp.send(rtp(2), (HOST, eb.port))
        assert await a_public.receive(1) == [(rtp(2), (HOST, ea.port))]
        assert await nothing_more(private)
        assert ea.stats()["latches"] == 1 and ea.rtp.connected

        ea.set_remote(private.address)  # a re-INVITE: send where it says, and latch afresh
        assert not ea.latched and not ea.rtp.connected
        b.rtp.send(rtp(3), (HOST, eb.port))
        assert [d for d, _ in await private.receive(1)] == [rtp(3)]
        private.send(rtp(501), (HOST, ea.port))
        assert [d for d, _ in await b.rtp.receive(1)] == [rtp(501)]
        assert ea.remote == private.address and ea.rtp.connected and ea.stats()["latches"] == 2
        a_public.send(rtp(502), (HOST, ea.port))  # the old source is a stranger now
        assert await nothing_more(b.rtp)

    run(main())


def test_packets_are_dropped_and_counted_until_the_other_side_is_known(run, pools):
    async def main():
        engine_pool, phone_pool = pools
        a, b = await Phone(phone_pool).start(), await Phone(phone_pool).start()
        ea = await open_endpoint(engine_pool)  # a's SDP not known yet (an INVITE without SDP)
        eb = await open_endpoint(engine_pool, remote=b.sdp)
        Relay(ea, eb)
        for seq in range(3):
            b.rtp.send(rtp(seq), (HOST, eb.port))
        await until(lambda: eb.stats()["packets_received"] == 3)
        assert ea.stats()["packets_unsent"] == 3 and ea.stats()["packets_sent"] == 0
        a.rtp.send(rtp(40), (HOST, ea.port))
        assert [d for d, _ in await b.rtp.receive(1)] == [rtp(40)]
        b.rtp.send(rtp(3), (HOST, eb.port))
        assert [d for d, _ in await a.rtp.receive(1)] == [rtp(3)]
        assert await nothing_more(a.rtp)

    run(main())


def test_another_source_cannot_take_the_stream_while_the_phone_talks_only_after_it_fell_silent(run, pools, monkeypatch):
    monkeypatch.setattr(rtp_module, "SWEEP", 3600.0)  # only the test's sweeps, on its clock

    async def main():
        engine_pool, phone_pool = pools
        now = [0.0]
        a, b = await Phone(phone_pool).start(), await Phone(phone_pool).start()
        spoofer = await udp()
        ea = await open_endpoint(engine_pool, remote=a.sdp, relatch_after=1.0, clock=lambda: now[0])
        eb = await open_endpoint(engine_pool, remote=b.sdp)
        Relay(ea, eb)

        async def from_a(seq: int, at: float, sender=None) -> None:  # a packet that reaches the endpoint
            now[0] = at
            (sender or a.rtp).send(rtp(seq, payload=b"a" if sender is None else b"spoof"), (HOST, ea.port))
            before = ea.rtp.received + ea.rtp.refused
            await until(lambda: ea.rtp.received + ea.rtp.refused > before)

        def sweep(at: float) -> None:
            now[0] = at
            ea.poller.sweep()

        await from_a(1, 0.00)
        await from_a(2, 0.50)
        assert ea.rtp.connected  # latched: the socket takes packets from the phone only
        spoofer.send(rtp(100, payload=b"spoof"), (HOST, ea.port))  # dropped by the kernel
        await from_a(3, 0.70)  # (had the spoofed packet been let in, it would have been read first)
        sweep(1.65)  # 0.95 s of silence: still the phone's
        assert ea.rtp.connected
        spoofer.send(rtp(101, payload=b"spoof"), (HOST, ea.port))
        sweep(1.75)  # 1.05 s: the socket hears anybody again, but the phone is still the source
        assert not ea.rtp.connected and ea.remote == a.sdp
        await from_a(4, 1.76)
        await from_a(102, 1.77, spoofer)  # the phone spoke 0.01 s ago: refused
        sweep(1.78)  # the phone talks again: connected again
        assert ea.rtp.connected and ea.stats()["packets_refused"] == 1
        assert [d for d, _ in await b.rtp.receive(4)] == [rtp(seq, payload=b"a") for seq in (1, 2, 3, 4)]
        assert await nothing_more(b.rtp)

        sweep(2.80)  # 1.04 s of silence
        await from_a(103, 2.80, spoofer)  # the stream moves (the phone roamed) and connects there
        assert ea.remote == spoofer.address and ea.rtp.connected
        assert [d for d, _ in await b.rtp.receive(1)] == [rtp(103, payload=b"spoof")]
        b.rtp.send(rtp(9), (HOST, eb.port))
        assert [d for d, _ in await spoofer.receive(1)] == [rtp(9)]
        a.rtp.send(rtp(5, payload=b"a"), (HOST, ea.port))  # now the old address is the stranger
        assert await nothing_more(b.rtp, a.rtp)
        s = ea.stats()
        assert (s["latches"], s["packets_refused"], s["packets_received"]) == (2, 1, 5)

    run(main())


def test_one_direction_can_be_switched_off_and_a_stopped_relay_forwards_nothing(run, pools):
    async def main():
        a, b, ea, eb, relay = await bridged(*pools)
        relay.a_to_b = False  # a on hold: what a sends is not passed on; b is still heard
        a.rtp.send(rtp(1), (HOST, ea.port))
        b.rtp.send(rtp(2), (HOST, eb.port))
        assert [d for d, _ in await a.rtp.receive(1)] == [rtp(2)]
        assert await nothing_more(b.rtp)
        assert ea.stats()["packets_received"] == 1
        relay.a_to_b = True
        a.rtp.send(rtp(3), (HOST, ea.port))
        assert [d for d, _ in await b.rtp.receive(1)] == [rtp(3)]

        relay.stop()
        assert ea.sink is None and eb.sink is None and ea.rtcp_sink is None
        a.rtp.send(rtp(4), (HOST, ea.port))
        b.rtp.send(rtp(5), (HOST, eb.port))
        assert await nothing_more(a.rtp, b.rtp)

    run(main())


def test_invalid_packets_are_dropped_counted_and_never_latch(run, pools):
    async def main():
        a, b, ea, eb, _ = await bridged(*pools)
        stranger = await udp()
        bad_rtp = [
            b"",
            rtp(1)[:11],  # shorter than the fixed header
            bytes([0x40]) + rtp(1)[1:],  # version 1
            bytes([0xC0]) + rtp(1)[1:],  # version 3
            b"\x00" * 172,  # version 0
            rtcp_rr(),  # RTCP sent to the RTP port
        ]
        for packet in bad_rtp:
            if packet:
                stranger.send(packet, (HOST, ea.port))
            else:  # an asyncio transport does not send empty datagrams
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
                    raw.sendto(packet, (HOST, ea.port))
        for packet in (b"\x81\xc9\x00\x01", b"\x01\xc9" + b"\x00" * 30, rtp(7)):  # short, version 0, not RTCP
            stranger.send(packet, (HOST, ea.rtcp_port))
        await until(lambda: ea.stats()["packets_invalid"] == len(bad_rtp) and ea.stats()["rtcp_packets_invalid"] == 3)
        assert not ea.latched and ea.remote == a.sdp
        a.rtp.send(rtp(1), (HOST, ea.port))
        assert [d for d, _ in await b.rtp.receive(1)] == [rtp(1)]
        assert await nothing_more(b.rtp, b.rtcp, stranger)
        s = ea.stats()
        assert (s["packets_received"], s["rtcp_packets_received"], s["latches"], s["rtcp_latches"]) == (1, 0, 1, 0)
        assert eb.stats()["packets_sent"] == 1 and eb.stats()["rtcp_packets_sent"] == 0

    run(main())


# -- statistics


# One phone's stream: (sequence number, RTP timestamp, transit in ms), in the order the packets arrive.
# 20 ms packets (160 timestamp units); the timestamps wrap past 2**32 at the 4th, the sequence numbers
# after 65535; 65534, 4 and 5 are lost; 1 arrives after 2. Transit alternates by 10 ms (|D| = 80 units)
# except around the late packet (30 ms: |D| = 240).
TS0 = 2**32 - 3 * 160
STREAM = [
    (65530, 0, 20),
    (65531, 1, 30),
    (65532, 2, 20),
    (65533, 3, 30),
    (65535, 5, 20),
    (0, 6, 30),
    (2, 8, 20),
    (1, 7, 50),
    (3, 9, 20),
    (6, 12, 30),
    (7, 13, 20),
]
D_UNITS = [80, 80, 80, 80, 80, 80, 240, 240, 80, 80]


def expected_jitter_ms() -> float:
    jitter = 0.0
    for d in D_UNITS:  # RFC 3550 A.8: J += (|D| - J) / 16
        jitter += (d - jitter) / 16
    return jitter / 8  # 8000 units a second


def arrivals() -> list[float]:
    return [10.0 + k * 0.020 + transit / 1000 for _, k, transit in STREAM]


def test_loss_and_jitter_of_a_stream_with_gaps_reordering_and_wrap():
    stats = RtpStats(8000)
    for (seq, k, _), arrival in zip(STREAM, arrivals(), strict=True):
        stats.update(seq, (TS0 + 160 * k) & 0xFFFFFFFF, SSRC, arrival)
    # The first packet is the source's probation (A.1); counting starts at 65531: 65531..7 is 13 packets.
    assert (stats.expected, stats.counted, stats.lost) == (13, 10, 3)
    assert stats.fraction_lost == pytest.approx(3 / 13)
    assert stats.jitter_ms == pytest.approx(expected_jitter_ms(), abs=1e-9)
    assert stats.jitter_ms == pytest.approx(6.8840, abs=1e-4)
    assert stats.interval_fraction_lost() == (3 * 256) // 13
    assert stats.interval_fraction_lost() == 0  # nothing new since

    for i, seq in enumerate(range(8, 18)):  # ten more, all there: 3 lost out of 23
        stats.update(seq, (TS0 + 160 * (14 + i)) & 0xFFFFFFFF, SSRC, 10.3 + i * 0.02)
    assert (stats.expected, stats.lost, stats.interval_fraction_lost()) == (23, 3, 0)


def test_a_restarted_or_new_source_keeps_the_legs_totals():
    stats = RtpStats()
    for seq in range(100, 110):
        stats.update(seq, seq * 160, SSRC, seq * 0.02)
    assert (stats.expected, stats.lost) == (9, 0)  # 100 was probation
    stats.update(40000, 0, SSRC, 3.0)  # a jump: one such packet is ignored ...
    assert (stats.expected, stats.counted) == (9, 9)
    stats.update(40001, 160, SSRC, 3.02)  # ... two in sequence are a restart
    stats.update(40003, 480, SSRC, 3.06)
    assert (stats.expected, stats.counted, stats.lost) == (9 + 3, 11, 1)
    stats.update(5, 0, SSRC + 1, 4.0)  # another sender (a transfer): probation again, totals kept
    stats.update(6, 160, SSRC + 1, 4.02)
    stats.update(8, 480, SSRC + 1, 4.06)
    assert (stats.expected, stats.counted, stats.lost) == (12 + 3, 13, 2)


def test_an_endpoint_reports_the_statistics_of_what_it_received(run, pools):
    async def main():
        engine_pool, phone_pool = pools
        times = iter(arrivals())
        phone = await Phone(phone_pool).start()
        endpoint = await open_endpoint(engine_pool, remote=phone.sdp, clock=lambda: next(times))
        endpoint.sink = lambda data: None
        for seq, k, _ in STREAM:
            phone.rtp.send(rtp(seq, TS0 + 160 * k), (HOST, endpoint.port))
        phone.rtp.send(rtp(1, 0)[:8], (HOST, endpoint.port))  # invalid: takes no arrival time
        await until(lambda: endpoint.stats()["packets_received"] == len(STREAM))
        await until(lambda: endpoint.stats()["packets_invalid"] == 1)
        s = endpoint.stats()
        assert (s["packets_received"], s["bytes_received"]) == (11, 11 * 172)
        assert (s["packets_expected"], s["packets_lost"]) == (13, 3)
        assert s["loss_fraction"] == pytest.approx(3 / 13)
        assert s["jitter_ms"] == pytest.approx(expected_jitter_ms(), abs=1e-9)
        assert s["local"] == f"{HOST}:{endpoint.port}" and s["remote"] == f"{HOST}:{phone.pair.rtp_port}"

    run(main())


def test_an_endpoint_keeps_the_phones_last_report(run, pools):
    async def main():
        engine_pool, phone_pool = pools
        phone = await Phone(phone_pool).start()
        endpoint = await open_endpoint(engine_pool, remote=phone.sdp)
        assert endpoint.stats()["phone_report"] is None
        phone.rtcp.send(receiver_report(9, block(5, 128, 40, 100, 16)), (HOST, endpoint.rtcp_port))
        await until(lambda: endpoint.stats()["phone_report"] is not None)
        assert endpoint.stats()["phone_report"] == {"fraction_lost": 0.5, "packets_lost": 40, "jitter_ms": 2.0}
        phone.rtcp.send(SDES, (HOST, endpoint.rtcp_port))  # no report in it: the last one stays
        await until(lambda: endpoint.stats()["rtcp_packets_received"] == 2)
        assert endpoint.stats()["phone_report"]["packets_lost"] == 40

    run(main())


def test_a_consumer_that_fails_loses_its_own_packet_and_no_other(run, pools):
    async def main():
        engine_pool, phone_pool = pools
        a = await Phone(phone_pool).start()
        broken, working = await open_endpoint(engine_pool, remote=a.sdp), await open_endpoint(engine_pool, remote=a.sdp)
        got = []

        def fails(data: bytes) -> None:
            raise RuntimeError("a consumer's bug")

        broken.sink, working.sink = fails, got.append
        for seq, endpoint in ((1, broken), (2, working), (3, broken), (4, working)):  # read in the same turns
            a.rtp.send(rtp(seq), (HOST, endpoint.port))
        await until(lambda: len(got) == 2 and broken.rtp.received == 2)
        assert got == [rtp(2), rtp(4)]
        broken.close()
        assert engine_pool.used == 1, "a closed endpoint's pair is back in the pool at once"
        a.rtp.send(rtp(5), (HOST, working.port))
        await until(lambda: len(got) == 3)

    run(main())


def test_what_strangers_queued_before_the_latch_is_refused_not_taken_for_the_phones(run, pools):
    async def main():
        engine_pool, phone_pool = pools
        a, b = await Phone(phone_pool).start(), await Phone(phone_pool).start()
        stranger = await udp()
        ea, eb = await open_endpoint(engine_pool, remote=a.sdp), await open_endpoint(engine_pool, remote=b.sdp)
        Relay(ea, eb)
        a.rtp.send(rtp(1, payload=b"a"), (HOST, ea.port))  # all three queued before the engine reads
        stranger.send(rtp(100, payload=b"x"), (HOST, ea.port))
        stranger.send(rtp(101, payload=b"x"), (HOST, ea.port))
        await until(lambda: ea.rtp.refused == 2)
        assert ea.rtp.connected and ea.remote == a.sdp
        assert [d for d, _ in await b.rtp.receive(1)] == [rtp(1, payload=b"a")]
        a.rtp.send(rtp(2, payload=b"a"), (HOST, ea.port))
        assert [d for d, _ in await b.rtp.receive(1)] == [rtp(2, payload=b"a")]
        assert await nothing_more(b.rtp)

    run(main())


def test_a_socket_bound_to_every_address_stays_unconnected_and_hears_each_of_them(run, pools):
    async def main():
        first, last = free_range(4)
        wildcard = PortPool(first, last, "0.0.0.0")
        _, phone_pool = pools
        a = await Phone(phone_pool).start()
        got = []
        endpoint = await RtpEndpoint.open(wildcard, remote=a.sdp)
        endpoint.sink = got.append
        try:
            for seq, local in enumerate(("127.0.0.1", "127.0.0.2", "127.0.0.1")):  # the host's other address too
                a.rtp.send(rtp(seq), (local, endpoint.port))
                await until(lambda n=seq + 1: len(got) == n)
            assert endpoint.latched and not endpoint.rtp.connected
            assert endpoint.stats()["latches"] == 1
        finally:
            endpoint.close()

    run(main())
