"""Benchmark: conferences in the media mixer (telephony/media/mixer.py), CPU per conference and per tick.

    .venv/bin/python bench/mixer.py [--parties 3,50,200] [--talkers 3] [--no-gate] [--conferences 1]
                                    [--seconds 5]

This process is the engine's media side: a PortPool, an RtpEndpoint per party and one Mixer (or
`--conferences` of them, each with `--parties`), every party in G.711 u-law. A sender subprocess
(its CPU is not counted) plays the phones: one UDP socket each, a 172-byte RTP packet every 20 ms,
the phones' starts spread over the 20 ms; the first `--talkers` phones of each conference send a
tone of their own (speech-loud), the others low noise (a quiet room, under the mixer's noise gate
unless --no-gate), and every phone counts what it gets back. After a warm-up second, over
`--seconds`: the mixer process's CPU (user + system, getrusage: receiving, jitter buffers,
decoding, mixing, encoding, sending) per conference, and the CPU of a mixer's tick alone (thread
time around each tick: every party's frame, the mix, the encodings and the sendto calls; not the
receive path) with how late the ticks ran. A mixer alone in an idle process pays for cold caches
at every tick (the loop sleeps 20 ms in between): several conferences show the cost in a busy
engine. Bounded in time; traffic stays on 127.0.0.1.

`--no-sockets` measures the Python and numpy work alone: parties on stand-in endpoints (a sink and a
send that drops), packets handed to the sinks and the tick called in a loop, warm.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform as stdlib_platform
import resource
import socket
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from rtp_relay import PTIME, cpu_seconds, pace  # noqa: E402  (bench/rtp_relay.py: the senders' pacing)

from telephony.media import Mixer, PortPool, RtpEndpoint  # noqa: E402
from telephony.media.codecs import new_encoder  # noqa: E402

HOST = "127.0.0.1"


# -- the phones (sender subprocess)


class PhoneSocket(asyncio.DatagramProtocol):
    def __init__(self, index: int, frames: list[bytes]) -> None:
        self.index, self.frames = index, frames
        self.transport = None
        self.seq = self.received = 0

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.received += 1

    def send(self) -> None:
        seq = self.seq
        self.seq += 1
        header = bytes([0x80, 0]) + (seq & 0xFFFF).to_bytes(2, "big") + ((seq * 160) & 0xFFFFFFFF).to_bytes(4, "big")
        self.transport.sendto(header + self.index.to_bytes(4, "big") + self.frames[seq % len(self.frames)])


def phone_frames(index: int, talking: bool) -> list[bytes]:
    """One second of 20 ms u-law frames: a tone of the phone's own (talkers) or low noise."""
    encode = new_encoder("PCMU")
    n = np.arange(8000)
    if talking:
        samples = 6000 * np.sin(2 * np.pi * (400 + 150 * index) * n / 8000)
    else:
        samples = np.random.default_rng(index).normal(0, 20, 8000)
    samples = np.round(samples).astype(np.int16)
    return [encode(samples[k : k + 160]) for k in range(0, 8000, 160)]


def sender(parties: int, conferences: int, talkers: int, warmup: float, seconds: float) -> None:
    socks = []
    for _ in range(parties * conferences):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((HOST, 0))
        socks.append(sock)
    print(json.dumps({"phones": [sock.getsockname()[1] for sock in socks]}), flush=True)
    endpoints = json.loads(sys.stdin.readline())["endpoints"]
    for sock, port in zip(socks, endpoints, strict=True):
        sock.connect((HOST, port))
        sock.setblocking(False)
    import uvloop

    uvloop.run(talk(socks, parties, talkers, warmup, seconds))


async def talk(socks: list[socket.socket], parties: int, talkers: int, warmup: float, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    phones = []
    for index, sock in enumerate(socks):
        frames = phone_frames(index, index % parties < talkers)
        _, phone = await loop.create_datagram_endpoint(lambda i=index, f=frames: PhoneSocket(i, f), sock=sock)
        phones.append(phone)
    start = time.monotonic()
    await pace(phones, start, start + warmup)
    print("start", flush=True)
    received0, measured0 = sum(p.received for p in phones), time.monotonic()
    await pace(phones, start + warmup, start + warmup + seconds)
    received, measured = sum(p.received for p in phones) - received0, time.monotonic() - measured0
    print("stop", flush=True)
    await asyncio.sleep(0.3)
    report = {"sent": sum(p.seq for p in phones), "received_measured": received, "seconds_measured": measured}
    print(json.dumps(report), flush=True)


# -- the mixer (this process)


async def conference(args: argparse.Namespace, parties: int) -> dict:
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--sender", "--parties", str(parties), "--talkers", str(args.talkers),
        "--conferences", str(args.conferences),
        "--seconds", str(args.seconds), "--warmup", str(args.warmup),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:

        async def line(timeout: float) -> str:
            text = await asyncio.wait_for(process.stdout.readline(), timeout)
            if not text:
                raise RuntimeError("the sender process ended early")
            return text.decode()

        phones = json.loads(await line(30))["phones"]
        pool = PortPool(args.first_port, args.first_port + 2 * len(phones) + 99, HOST)
        endpoints = [await RtpEndpoint.open(pool, remote=(HOST, port)) for port in phones]
        mixers = [Mixer(gate_level=None if args.no_gate else 60) for _ in range(args.conferences)]
        for index, endpoint in enumerate(endpoints):
            mixers[index // parties].add(endpoint, "PCMU", voice_pt=0)
            await asyncio.sleep(0.02 / len(endpoints))  # the conferences' clocks spread over the 20 ms
        process.stdin.write((json.dumps({"endpoints": [e.port for e in endpoints]}) + "\n").encode())
        await process.stdin.drain()

        ticks: list[float] = []
        walls: list[float] = []
        lateness: list[float] = []
        measuring = [False]

        def timed(mixer: Mixer) -> None:
            tick = mixer._tick

            def timed_tick() -> None:  # the mixer schedules `self._tick`: this wrapper, from now on
                late = time.monotonic() - (mixer._start + mixer._count * PTIME)  # loop.time()'s clock, to the us
                before, wall = time.thread_time(), time.perf_counter()
                tick()
                if measuring[0]:
                    ticks.append(time.thread_time() - before)
                    walls.append(time.perf_counter() - wall)
                    lateness.append(late)

            mixer._tick = timed_tick

        for mixer in mixers:
            timed(mixer)
        assert (await line(args.warmup + 30)).strip() == "start"
        measuring[0] = True
        cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        sent0 = sum(mixer.sent for mixer in mixers)
        assert (await line(args.seconds + 30)).strip() == "stop"
        cpu1, wall1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        sent_rate = (sum(mixer.sent for mixer in mixers) - sent0) / (wall1 - wall0) / len(endpoints)
        measuring[0] = False
        talking = sum(party.talking for mixer in mixers for party in mixer.parties)
        phones_report = json.loads(await line(30))
        await asyncio.wait_for(process.wait(), 10)
        for mixer in mixers:
            mixer.close()
        for endpoint in endpoints:
            endpoint.close()
        lateness.sort()
        return {
            "parties": parties,
            "core": cpu_seconds(cpu0, cpu1) / (wall1 - wall0) / args.conferences,
            "sent_rate": sent_rate,
            "tick_us": statistics.mean(ticks) * 1e6,
            "tick_wall_us": statistics.mean(walls) * 1e6,
            "tick_p99_us": sorted(ticks)[int(0.99 * len(ticks))] * 1e6,
            "late_p50_ms": lateness[len(lateness) // 2] * 1e3,
            "late_p99_ms": lateness[int(0.99 * len(lateness))] * 1e3,
            "ticks": len(ticks),
            "talking": talking,
            "phones": phones_report,
        }
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


class StandInEndpoint:
    """What the mixer uses of an RtpEndpoint, without a socket."""

    def __init__(self, port: int) -> None:
        self.port, self.sink, self.clock_rate = port, None, 8000

    def send_rtp(self, data: bytes) -> None:
        pass


async def without_sockets(args: argparse.Namespace, parties: int, ticks: int = 500) -> dict:
    mixer = Mixer(gate_level=None if args.no_gate else 60)
    endpoints = [StandInEndpoint(index) for index in range(parties)]
    for endpoint in endpoints:
        mixer.add(endpoint, "PCMU", voice_pt=0)
    mixer._timer.cancel()
    frames = [phone_frames(index, index < args.talkers)[0] for index in range(parties)]
    headers = [[bytes([0x80, 0]) + seq.to_bytes(2, "big") + (seq * 160).to_bytes(4, "big") + bytes(4)]
               for seq in range(ticks + 10)]  # fmt: skip
    push = receive = 0.0
    for seq in range(ticks + 10):
        before = time.perf_counter()
        for endpoint, frame in zip(endpoints, frames, strict=True):
            endpoint.sink(headers[seq][0] + frame)
        between = time.perf_counter()
        mixer._tick()
        after = time.perf_counter()
        mixer._timer.cancel()
        if seq >= 10:
            push, receive = push + between - before, receive + after - between
    mixer.close()
    return {"parties": parties, "push_us": push / ticks / parties * 1e6, "tick_us": receive / ticks * 1e6}


async def run_all(args: argparse.Namespace) -> list[dict]:
    if args.no_sockets:
        return [await without_sockets(args, parties) for parties in args.parties]
    return [await conference(args, parties) for parties in args.parties]


def report(args: argparse.Namespace, results: list[dict]) -> None:
    import uvloop

    print("Conditions:")
    print(f"  {args.conferences} Mixer(s), G.711 u-law, {args.talkers} talking in each (a tone each), the others "
          f"low noise; noise gate {'off' if args.no_gate else 'on'}")  # fmt: skip
    print(f"  uvloop {uvloop.__version__}, Python {stdlib_platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    if args.no_sockets:
        print("  stand-in endpoints, no sockets; 500 ticks after 10, warm")
        for r in results:
            n = r["parties"]
            print(f"{n} parties without sockets: tick {r['tick_us']:.0f} us ({r['tick_us'] / n:.2f} us a party), "
                  f"{r['push_us']:.2f} us a received packet")  # fmt: skip
            print(f"RESULT mixer_{n}{'_nogate' if args.no_gate else ''}_nosockets_tick={r['tick_us']:.0f} us")
        return
    print(f"  phones in a separate process; {args.warmup:g} s warm-up, {args.seconds:g} s measured")
    for r in results:
        n = r["parties"]
        phones = r["phones"]
        rate = phones["received_measured"] / phones["seconds_measured"] / (n * args.conferences)
        tick = r["tick_us"]
        print(f"{n} parties: process {r['core'] * 100:.1f}% of a core per conference")
        print(f"  tick {tick:.0f} us of CPU ({tick / 200:.2f}% of a core, {tick / n:.1f} us a party; wall "
              f"{r['tick_wall_us']:.0f} us, p99 {r['tick_p99_us']:.0f} us)")  # fmt: skip
        print(f"  ticks late p50 {r['late_p50_ms']:.2f} ms, p99 {r['late_p99_ms']:.2f} ms; the mixer sent "
              f"{r['sent_rate']:.1f} packets/s a party, each phone got {rate:.1f}/s (50 due); talking at the end "
              f"{r['talking']}")  # fmt: skip
        tag = (
            f"mixer_{n}"
            + ("_nogate" if args.no_gate else "")
            + (f"_x{args.conferences}" if args.conferences > 1 else "")
        )
        print(f"RESULT {tag}_core={r['core'] * 100:.1f} %")
        print(f"RESULT {tag}_tick={tick:.0f} us")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parties", type=lambda text: [int(x) for x in text.split(",")], default=[3, 50, 200])
    parser.add_argument("--talkers", type=int, default=3)
    parser.add_argument("--conferences", type=int, default=1)
    parser.add_argument("--no-gate", action="store_true", help="mix every frame, however quiet (worst case)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--first-port", type=int, default=24000)
    parser.add_argument("--no-sockets", action="store_true", help="the Python and numpy work alone")
    parser.add_argument("--sender", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not all(1 <= n * args.conferences <= 1000 for n in args.parties) or not 0 < args.seconds <= 60:
        parser.error("--parties x --conferences 1-1000 and --seconds up to 60")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.sender:
        sender(args.parties[0], args.conferences, args.talkers, args.warmup, args.seconds)
        return 0
    import uvloop

    report(args, uvloop.run(run_all(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
