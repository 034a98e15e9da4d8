"""Benchmark: bridged G.711 calls through the media relay (telephony/media), CPU per call and loss.

    .venv/bin/python bench/rtp_relay.py [--calls 200] [--seconds 10] [--loop uvloop|asyncio]

This process is the call engine's media side: a PortPool, two RtpEndpoints per call (the SDP
addresses of the phones as their remotes) and a Relay between them. A sender subprocess (so its
CPU is not counted) plays both phones of every call: one UDP socket per phone, a 172-byte RTP
packet (12-byte header + 160 bytes of G.711) every 20 ms from each, the phones' starts spread
over the 20 ms; it checks that each phone receives its partner's packets and measures their delay
through the relay. After a warm-up second, the relay's CPU (user + system, getrusage) is measured
over `--seconds`; then the senders stop, in-flight packets drain, and loss is what the phones sent
against what their partners received. The last lines are RESULT lines (bench/README.md). Bounded:
every phase has a time limit, all traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform as stdlib_platform
import resource
import socket
import struct
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from telephony.media import PortPool, Relay, RtpEndpoint  # noqa: E402

HOST = "127.0.0.1"
PACKET = 172
PTIME = 0.020
SLOTS = 20  # phones start in one of 20 one-millisecond slots of the 20 ms period
HEADER = struct.Struct("!BBHIIq")  # RTP header, then the send time (monotonic ns) in the payload
PAD = b"\xd5" * (PACKET - HEADER.size)


# -- the phones (sender subprocess)


class PhoneSocket(asyncio.DatagramProtocol):
    """One phone: receives its partner's packets through the relay and measures their delay."""

    def __init__(self, index: int, partner: int, stats: dict) -> None:
        self.index = index
        self.partner = partner
        self.stats = stats
        self.transport = None
        self.seq = 0
        self.last_seq = -1
        self.received = 0

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        _, _, seq, _, ssrc, sent_ns = HEADER.unpack_from(data)
        self.received += 1
        stats = self.stats
        if ssrc != self.partner or len(data) != PACKET:
            stats["foreign"] += 1
        if seq <= self.last_seq:
            stats["reordered"] += 1
        self.last_seq = seq
        if stats["measuring"]:
            stats["delays"].append(time.monotonic_ns() - sent_ns)

    def send(self) -> None:
        seq = self.seq
        self.seq = seq + 1
        self.transport.sendto(HEADER.pack(0x80, 0, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, self.index,
                                          time.monotonic_ns()) + PAD)  # fmt: skip


def sender(calls: int, warmup: float, seconds: float, loop_kind: str) -> None:
    """The phones: bind, tell the relay where they are, learn their endpoints, then talk."""
    socks = []
    for _ in range(2 * calls):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((HOST, 0))
        socks.append(sock)
    print(json.dumps({"phones": [sock.getsockname()[1] for sock in socks]}), flush=True)
    endpoints = json.loads(sys.stdin.readline())["endpoints"]
    for sock, port in zip(socks, endpoints, strict=True):
        sock.connect((HOST, port))  # symmetric RTP: the phone hears only its endpoint
        sock.setblocking(False)
    run_loop(loop_kind, talk(socks, warmup, seconds))


async def talk(socks: list[socket.socket], warmup: float, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    stats = {"foreign": 0, "reordered": 0, "measuring": False, "delays": []}
    phones = []
    for index, sock in enumerate(socks):
        _, phone = await loop.create_datagram_endpoint(lambda i=index: PhoneSocket(i, i ^ 1, stats), sock=sock)
        phones.append(phone)
    start = time.monotonic()
    await pace(phones, start, start + warmup)
    print("start", flush=True)
    stats["measuring"] = True
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    await pace(phones, start + warmup, start + warmup + seconds)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    stats["measuring"] = False
    print("stop", flush=True)
    await asyncio.sleep(0.5)  # what is in flight arrives
    delays = sorted(stats.pop("delays"))
    sent, received = sum(p.seq for p in phones), sum(p.received for p in phones)

    def quantile(q: float) -> float:
        return delays[min(len(delays) - 1, int(q * len(delays)))] / 1e6 if delays else 0.0

    stats.update(sent=sent, received=received, delay_p50_ms=quantile(0.5), delay_p99_ms=quantile(0.99),
                 delay_max_ms=quantile(1.0), sender_cpu=cpu_seconds(cpu0, cpu1) / seconds)  # fmt: skip
    print(json.dumps(stats), flush=True)


async def pace(phones: list[PhoneSocket], start: float, until: float) -> None:
    """Each phone sends on its slot of every 20 ms period from `start` to `until` (time.monotonic);
    a late wake-up sends the slots it missed, so the rate holds."""
    slots = [phones[s::SLOTS] for s in range(SLOTS)]
    step = PTIME / SLOTS
    total = round((until - start) / step)
    done = 0
    while done < total:
        due = min(total, int((time.monotonic() - start) / step) + 1)
        while done < due:
            for phone in slots[done % SLOTS]:
                phone.send()
            done += 1
        # uvloop's timers have 1 ms resolution: never ask for less, or the loop spins.
        await asyncio.sleep(max(0.0005, start + done * step - time.monotonic()))


# -- the relay (this process)


async def relay(args: argparse.Namespace, tap=None) -> dict:
    """One measured run; `tap(relays)` (bench/recording.py) is called once the relays exist and may
    return what to call before they stop."""
    calls = args.calls
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--sender", "--calls", str(calls), "--seconds", str(args.seconds),
        "--warmup", str(args.warmup), "--loop", args.sender_loop,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:

        async def line(timeout: float) -> str:
            text = await asyncio.wait_for(process.stdout.readline(), timeout)
            if not text:
                raise RuntimeError("the sender process ended early")
            return text.decode()

        phones = json.loads(await line(30))["phones"]
        pool = PortPool(args.first_port, args.first_port + 4 * calls + 99, HOST)
        endpoints = [await RtpEndpoint.open(pool, remote=(HOST, port)) for port in phones]
        relays = [Relay(endpoints[i], endpoints[i + 1]) for i in range(0, len(endpoints), 2)]
        untap = tap(relays) if tap is not None else None
        process.stdin.write((json.dumps({"endpoints": [e.port for e in endpoints]}) + "\n").encode())
        await process.stdin.drain()

        assert (await line(args.warmup + 30)).strip() == "start"
        cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        assert (await line(args.seconds + 30)).strip() == "stop"
        cpu1, wall1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        phones_report = json.loads(await line(30))
        await asyncio.wait_for(process.wait(), 10)

        figures = [e.stats() for e in endpoints]
        jitters = sorted(f["jitter_ms"] for f in figures)
        result = {
            "wall": wall1 - wall0,
            "cpu": cpu_seconds(cpu0, cpu1),
            "relayed": sum(f["packets_sent"] for f in figures),
            "received": sum(f["packets_received"] for f in figures),
            "rfc_lost": sum(f["packets_lost"] for f in figures),
            "unsent": sum(f["packets_unsent"] for f in figures),
            "invalid": sum(f["packets_invalid"] for f in figures),
            "refused": sum(f["packets_refused"] for f in figures),
            "jitter_ms_median": jitters[len(jitters) // 2],
            "jitter_ms_max": jitters[-1],
            "free_pairs": pool.free,
            "phones": phones_report,
        }
        if untap is not None:
            untap()
        for r in relays:
            r.stop()
        for endpoint in endpoints:
            endpoint.close()
        return result
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def cpu_seconds(before: resource.struct_rusage, after: resource.struct_rusage) -> float:
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_loop(kind: str, coro):
    if kind == "uvloop":
        import uvloop

        return uvloop.run(coro)
    return asyncio.run(coro)


def report(args: argparse.Namespace, r: dict) -> None:
    phones = r["phones"]
    calls = args.calls
    core = r["cpu"] / r["wall"]
    per_call = core * 1000 / calls
    loss = 100.0 * (phones["sent"] - phones["received"]) / phones["sent"] if phones["sent"] else 100.0
    try:
        import uvloop

        uvloop_version = uvloop.__version__
    except ImportError:
        uvloop_version = "not installed"
    print("Conditions:")
    print(f"  {calls} bridged calls = {2 * calls} RtpEndpoints and {calls} Relays in one process on {args.loop}")
    print(f"  {PACKET}-byte RTP packets every {PTIME * 1000:.0f} ms from each phone, both ways "
          f"({2 * calls / PTIME:,.0f} packets/s into the relay and as many out)")  # fmt: skip
    print(
        f"  phones in a separate process on {args.sender_loop}; {args.warmup:g} s warm-up, {args.seconds:g} s measured"
    )
    print(f"  Python {stdlib_platform.python_version()}, uvloop {uvloop_version}, {os.cpu_count()} CPUs, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    print("Relay process:")
    print(
        f"  CPU {r['cpu']:.2f} s over {r['wall']:.2f} s = {core * 100:.1f}% of one core, {per_call:.3f} ms/s per call"
    )
    print(f"  packets (whole run, warm-up included) received {r['received']:,}, relayed {r['relayed']:,}, "
          f"dropped before the remote was known "
          f"{r['unsent']}, invalid {r['invalid']}, refused {r['refused']}")  # fmt: skip
    print(f"  RFC 3550 loss on arrival {r['rfc_lost']}, interarrival jitter median {r['jitter_ms_median']:.2f} ms, "
          f"max {r['jitter_ms_max']:.2f} ms (the sender's pacing included)")  # fmt: skip
    print("Phones (sender process):")
    print(f"  sent {phones['sent']:,}, received {phones['received']:,}, loss {loss:.3f}%, foreign {phones['foreign']}, "
          f"reordered {phones['reordered']}")  # fmt: skip
    print(f"  delay through the relay p50 {phones['delay_p50_ms']:.2f} ms, p99 {phones['delay_p99_ms']:.2f} ms, "
          f"max {phones['delay_max_ms']:.2f} ms; sender CPU {phones['sender_cpu'] * 100:.0f}% of one core")  # fmt: skip
    print(f"RESULT rtp_relay_calls={calls} calls")
    print(f"RESULT rtp_relay_cpu_per_call={per_call:.3f} ms/s")
    print(f"RESULT rtp_relay_loss={loss:.3f} %")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop", help="the relay's event loop")
    parser.add_argument("--sender-loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--first-port", type=int, default=20000, help="the relay's RTP port range starts here")
    parser.add_argument("--sender", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1 <= args.calls <= 5000 or not 0 < args.seconds <= 120:
        parser.error("--calls 1-5000 and --seconds up to 120")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.sender:
        sender(args.calls, args.warmup, args.seconds, args.loop)
        return 0
    report(args, run_loop(args.loop, relay(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
