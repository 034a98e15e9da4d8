"""What the media tests that need the network share: a uvloop loop per test (the engine's loop), port
pools on free ranges, and phones: plain UDP sockets on 127.0.0.1 that send 20 ms RTP packets of a
tone and keep what they receive.

test_rtp.py keeps its own copies of `run` and `pools` (it runs each test on asyncio and uvloop).
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import struct

import numpy as np
import pytest
import uvloop

from telephony.media import PortPool, RtpEndpoint, parse_rtp
from telephony.media.codecs import new_decoder, new_encoder

HOST = "127.0.0.1"
RATE = 8000
CLOSE_AT_END: list = []  # endpoints and transports of the running test


@pytest.fixture
def run():
    """Run a coroutine to the end on a fresh uvloop loop, within 5 s; close what it opened."""

    async def closing(coro):
        try:
            return await asyncio.wait_for(coro, 5)
        finally:
            while CLOSE_AT_END:
                CLOSE_AT_END.pop().close()
            await asyncio.sleep(0.001)

    def runner(coro):
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as loop_runner:
            return loop_runner.run(closing(coro))

    return runner


def free_range(count: int) -> int:
    """The first of `count` consecutive UDP ports on 127.0.0.1 that bind now (even)."""
    for _ in range(200):
        first = random.randrange(20000, 32000, 2)
        socks = []
        try:
            for port in range(first, first + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind((HOST, port))
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
        return first
    raise AssertionError("no free port range")


@pytest.fixture
def pool() -> PortPool:
    """The engine's port pool, on a range free right now."""
    first = free_range(40)
    return PortPool(first, first + 39, HOST)


async def endpoint(pool: PortPool, phone: Phone | None = None) -> RtpEndpoint:
    """An engine endpoint whose remote is the phone's socket."""
    opened = await RtpEndpoint.open(pool, remote=phone.address if phone else None)
    CLOSE_AT_END.append(opened)
    return opened


def tone(freq: float, count: int, *, amplitude: float = 8000.0, start: int = 0) -> np.ndarray:
    n = np.arange(start, start + count)
    return np.round(amplitude * np.sin(2 * np.pi * freq * n / RATE)).astype(np.int16)


def power(samples: np.ndarray, freq: float) -> float:
    """The power of `freq` in the samples (a single-bin DFT, as Goertzel), per sample squared."""
    n = np.arange(len(samples))
    x = samples.astype(np.float64)
    re, im = x @ np.cos(2 * np.pi * freq * n / RATE), x @ np.sin(2 * np.pi * freq * n / RATE)
    return (re * re + im * im) / max(len(samples), 1) ** 2


def rtp_packet(seq: int, ts: int, payload: bytes, *, pt: int = 0, ssrc: int = 0x1234, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


class Phone(asyncio.DatagramProtocol):
    """A phone's RTP socket: `play()` sends 20 ms packets of a tone (or of given frames) to the
    engine, paced by the loop; everything received is kept as parsed packets."""

    def __init__(self, codec: str = "PCMU", pt: int = 0) -> None:
        self.codec, self.pt = codec, pt
        self.transport = None
        self.received: list[tuple] = []  # (marker, pt, seq, ts, ssrc, payload)
        self.ssrc = int.from_bytes(os.urandom(4), "big")
        self.seq = random.randrange(65536)
        self.ts = random.randrange(2**32)
        self.encode = new_encoder(codec)
        self.sent = 0

    @classmethod
    async def open(cls, **options) -> Phone:
        phone = cls(**options)
        await asyncio.get_running_loop().create_datagram_endpoint(lambda: phone, local_addr=(HOST, 0))
        CLOSE_AT_END.append(phone.transport)
        return phone

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.received.append(parse_rtp(data))

    @property
    def address(self) -> tuple[str, int]:
        return self.transport.get_extra_info("sockname")[:2]

    def send(self, to: RtpEndpoint, payload: bytes, *, pt: int | None = None, ts: int | None = None,
             marker: bool = False) -> None:  # fmt: skip
        packet = rtp_packet(self.seq, self.ts if ts is None else ts, payload, pt=self.pt if pt is None else pt,
                            ssrc=self.ssrc, marker=marker)  # fmt: skip
        self.transport.sendto(packet, (HOST, to.port))
        self.seq += 1
        self.sent += 1

    async def play(self, to: RtpEndpoint, seconds: float, freq: float | None = None, *, amplitude: float = 8000.0,
                   frames: list[np.ndarray] | None = None) -> None:  # fmt: skip
        """Send `seconds` of a tone (silence without `freq`; `frames` as given) every 20 ms."""
        loop = asyncio.get_running_loop()
        count = round(seconds / 0.02)
        start = loop.time()
        for k in range(count):
            if frames is not None:
                samples = frames[k % len(frames)]
            elif freq is None:
                samples = np.zeros(160, dtype=np.int16)
            else:
                samples = tone(freq, 160, amplitude=amplitude, start=self.sent * 160)
            self.send(to, self.encode(samples), marker=k == 0)
            self.ts += 160
            delay = start + (k + 1) * 0.02 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)

    def audio(self, *, pt: int | None = None, skip: float = 0.0) -> np.ndarray:
        """What it received of its voice payload type, decoded in arrival order (the loopback does not
        reorder), the first `skip` seconds left out."""
        pt = self.pt if pt is None else pt
        decode = new_decoder(self.codec)
        packets = [p for p in self.received if p[1] == pt]
        if not packets:
            return np.zeros(0, dtype=np.int16)
        samples = np.concatenate([decode(p[5]) for p in packets])
        return samples[round(skip * RATE) :]
