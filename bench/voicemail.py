"""Benchmark: voicemail deposits at once on one call engine, every message checked whole.

    .venv/bin/python bench/voicemail.py [--callers 50] [--seconds 5] [--spread 0.5] [--reaction 0.2]

The edge and one engine as bench/engine_media.py starts them, a scratch client whose line 0000 never
registers and forwards "unreachable" to its voicemail box. `--callers` other lines call 0000 at once
(their starts spread over `--spread` seconds), each through the edge with SIP and SDP (bench/
media_phones.py's user agent, one UDP socket for every calling line) and its own RTP socket: it
listens to the greeting, and `--reaction` after the beep (1000 Hz) has ended (its 15th and last
frame received; with 0, at once; silence meanwhile) it says its own tone (500 Hz + 10 Hz per
caller, so a message holding another caller's audio is caught) for `--seconds`, 50 PCMU packets a
second, then presses # (RFC 4733). The engine says the message was recorded and hangs up.

Checked per message: a row in the box with the caller's number, its file's audio the caller's own
frequency (dominant among every caller's), the tone's length in the file against what was sent (at
most 2 frames apart), and no gap inside the tone (a lost or late packet). Figures: the engine's CPU
over the deposits (from /proc), each deposit's duration (INVITE to the engine's BYE), and RESULT
lines: `voicemail_callers`, `voicemail_messages_whole`, `voicemail_engine_cpu` (% of one core),
`voicemail_deposit_p50`/`p100` (s), `voicemail_tone_frames_missing`. Bounded: every phase has a time
limit, all traffic stays on 127.0.0.1, every process started here is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import struct
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import edge_setup  # noqa: E402  (bench/edge_setup.py)
from engine import start_engine, wait_for_engine  # noqa: E402  (bench/engine.py)
from media_phones import HOST, SipCalls  # noqa: E402
from sip_register import free_port, stop_procs, tree_cpu  # noqa: E402

from telephony.media import codecs  # noqa: E402
from telephony.media.dtmf import digit_train  # noqa: E402
from telephony.sip.sdp import Codec, build_sdp, parse_sdp  # noqa: E402

DATABASE, REDIS_DB, PREFIX = "ocx_bench_voicemail", 6, "ocx-bench-voicemail"  # nobody else's
BOX = "0000"
BEEP = 1000.0
BEEP_FRAMES = 15  # the beep: 0.3 s of 1000 Hz (telephony/media/prompts.py TONES), its last frame its end
CODECS = [Codec(0, "PCMU", 8000), Codec(101, "telephone-event", 8000)]
RTP = struct.Struct("!BBHII")
ENCODE, DECODE = codecs.new_encoder("PCMU"), codecs.new_decoder("PCMU")


def frequency(index: int) -> float:
    return 500.0 + 10.0 * index


def power(samples: np.ndarray, freq: float) -> float:
    """The power of `freq` in the samples (one DFT bin, as Goertzel), per sample squared."""
    n = np.arange(len(samples))
    x = samples.astype(np.float64)
    re, im = x @ np.cos(2 * np.pi * freq * n / 8000), x @ np.sin(2 * np.pi * freq * n / 8000)
    return (re * re + im * im) / max(len(samples), 1) ** 2


class Caller:
    """One calling line's RTP and its deposit: hears the greeting and the beep, then says its tone."""

    def __init__(self, index: int, seconds: float, reaction: float) -> None:
        self.index, self.seconds, self.reaction = index, seconds, reaction
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.beep_frames = 0
        self.beep_over = asyncio.get_running_loop().create_future()
        self.last_heard = 0.0
        self.sent = 0
        self.started = self.ended = 0.0
        self.error = ""

    def readable(self) -> None:
        while True:
            try:
                data = self.sock.recv(2048)
            except OSError:
                return
            self.last_heard = time.monotonic()
            if len(data) != 172 or self.beep_over.done():
                continue
            samples = DECODE(data[12:])
            strength = power(samples, BEEP)  # a pure tone: half the frame's mean square
            if strength > 1e5 and strength > 0.3 * np.mean(samples.astype(np.float64) ** 2):
                self.beep_frames += 1
                if self.beep_frames == BEEP_FRAMES:  # its last frame heard: the beep has ended
                    self.beep_over.set_result(None)
            else:
                self.beep_frames = 0

    async def deposit(self, calls: SipCalls) -> None:
        loop = asyncio.get_running_loop()
        self.started = time.monotonic()
        loop.add_reader(self.sock.fileno(), self.readable)
        try:
            answer = await calls.invite(self.index, BOX, build_sdp(HOST, self.port, CODECS, session_id=self.index + 1))
            engine = parse_sdp(answer.body).audio_address()
            self.sock.connect((HOST, engine[1]))
            ssrc, seq, ts = 0x5000 + self.index, 0, 0
            silence = ENCODE(np.zeros(160, dtype=np.int16))

            async def pace(payloads, pt: int = 0, step: int = 160, fixed_ts: int | None = None,
                           until: asyncio.Future | None = None) -> None:  # fmt: skip
                """Send `payloads` 20 ms apart (`until`: stop as soon as it is done)."""
                nonlocal seq, ts
                start = loop.time()
                for k, payload in enumerate(payloads):
                    if until is not None and until.done():
                        return
                    self.sock.send(RTP.pack(0x80, pt, seq & 0xFFFF, (fixed_ts if fixed_ts is not None else ts)
                                            & 0xFFFFFFFF, ssrc) + payload)  # fmt: skip
                    seq += 1
                    ts += step if fixed_ts is None else 0
                    delay = max(0.0, start + (k + 1) * 0.02 - loop.time())
                    await (asyncio.sleep(delay) if until is None else asyncio.wait([until], timeout=delay))

            # Silence (the phone's microphone) until the beep has ended: symmetric RTP latches on it.
            while not self.beep_over.done():
                await pace([silence] * 5, until=self.beep_over)
                if loop.time() - self.started > 60:
                    raise TimeoutError("no beep")
            # A person starts talking a moment after the beep; the phone sends its silence meanwhile (its
            # timestamps go on with the time, as RFC 3550's do: a pause without packets whose timestamps
            # stood still would make the tone's packets look late).
            await pace([silence] * round(self.reaction / 0.02))
            n = np.arange(round(self.seconds * 8000))
            tone = np.round(6000 * np.sin(2 * np.pi * frequency(self.index) * n / 8000)).astype(np.int16)
            frames = [ENCODE(tone[k : k + 160]) for k in range(0, len(tone), 160)]
            await pace(frames)
            self.sent = len(frames)
            key_ts = ts
            await pace(digit_train("#"), pt=101, fixed_ts=key_ts)
            ts += 160 * 7
            deadline = loop.time() + 30
            while calls.dialogs.get(self.index) is not None and loop.time() < deadline:
                if self.index in self.hung_up:
                    break
                await pace([silence] * 5)
            if self.index not in self.hung_up:
                self.error = "the engine did not hang up"
                await calls.close(self.index)
        except Exception as exc:  # (reported per caller)
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.ended = time.monotonic()
            loop.remove_reader(self.sock.fileno())
            self.sock.close()

    hung_up: set[int] = set()


class Calls(SipCalls):
    """The callers' user agent: a BYE from the engine ends that caller's deposit."""

    def on_caller_request(self, ua, request, addr) -> None:
        if request.method == "BYE":
            for index, dialog in self.dialogs.items():
                if dialog.call_id == request.call_id:
                    Caller.hung_up.add(index)
        super().on_caller_request(ua, request, addr)


def provision(callers: int, folder: Path) -> tuple[list[tuple[str, str, str]], object]:
    users = edge_setup.provision(callers + 1, database=DATABASE, redis_db=REDIS_DB, prefix=PREFIX)
    from django.db import connection
    from django_tenants.utils import tenant_context

    from telephony.directory import sip_directory_sync
    from telephony.models import Extension
    from telephony.services import forwarding_save
    from tenants.models import Client
    from voicemail.services import mailbox_follow_extension

    client = Client.objects.get(slug="bench")
    with tenant_context(client):
        extension = Extension.objects.get(number=BOX)
        box = mailbox_follow_extension(extension)
        box.max_messages = 10000
        box.save(update_fields=["max_messages"])
    forwarding_save(actor=None, client=client, extension=extension, unreachable_kind="voicemail",
                    unreachable_target=BOX)  # fmt: skip
    connection.set_schema_to_public()
    Client.objects.filter(pk=client.pk).update(max_calls=100_000)  # the limit is not what is measured
    sip_directory_sync()
    return users, client


def check(folder: Path, client, callers: list[Caller]) -> list[dict]:
    from django_tenants.utils import tenant_context

    from voicemail.models import Message

    with tenant_context(client):
        rows = {m.caller_number: m for m in Message.objects.filter(mailbox__number=BOX)}
    freqs = [frequency(c.index) for c in callers]
    results = []
    for caller in callers:
        number = f"{caller.index + 1:04d}"
        row = rows.get(number)
        result = {"caller": number, "row": row is not None, "error": caller.error, "sent": caller.sent,
                  "duration": caller.ended - caller.started}  # fmt: skip
        if row is not None:
            with wave.open(str(folder / row.file)) as wav:
                samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
            own = frequency(caller.index)
            frames = samples[: len(samples) // 160 * 160].reshape(-1, 160)
            loud = [power(f, own) > 1e5 for f in frames]
            first = loud.index(True) if True in loud else 0
            last = len(loud) - 1 - loud[::-1].index(True) if True in loud else -1
            powers = {f: power(samples, f) for f in freqs}
            result.update(seconds=len(samples) / 8000, row_seconds=row.seconds, tone_frames=int(sum(loud)),
                          gaps=int((last - first + 1) - sum(loud)), dominant=bool(max(powers, key=powers.get) == own),
                          head=first, tail=len(loud) - 1 - last)  # fmt: skip
        result["whole"] = (row is not None and not caller.error and result["dominant"]
                           and abs(result["tone_frames"] - caller.sent) <= 2 and result["gaps"] == 0)  # fmt: skip
        results.append(result)
    return results


async def run(args: argparse.Namespace, users, edge_port: int) -> tuple[list[Caller], float, float]:
    spec = {"domain": edge_setup.DOMAIN, "callers": [(u, secret, f"{i + 1:04d}") for i, (u, _, secret)
                                                     in enumerate(users[1:])]}  # fmt: skip
    calls = Calls(spec, edge_port, 0)
    loop = asyncio.get_running_loop()
    from media_phones import SipUa

    _, calls.caller = await loop.create_datagram_endpoint(
        lambda: SipUa("caller", calls.domain, calls.edge, calls.on_caller_request), local_addr=(HOST, 0)
    )
    callers = [Caller(i, args.seconds, args.reaction) for i in range(args.callers)]

    async def one(caller: Caller) -> None:
        await asyncio.sleep(args.spread * caller.index / max(1, args.callers))
        await caller.deposit(calls)

    started = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(one(c) for c in callers)), 120)
    calls.caller.transport.close()
    return callers, started, time.monotonic()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--callers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0, help="each message's tone")
    parser.add_argument("--spread", type=float, default=0.5, help="the callers' starts spread over this")
    parser.add_argument("--reaction", type=float, default=0.2, help="seconds from the beep's end to the tone")
    args = parser.parse_args(argv)
    if not 1 <= args.callers <= 50 or not 1.5 <= args.seconds <= 60:  # (frequencies up to 990 Hz: under the beep)
        parser.error("--callers 1-50, --seconds 1.5-60")
    folder = Path(tempfile.mkdtemp(prefix="ocx-bench-voicemail-"))
    users, client = provision(args.callers, folder)
    edge_port = free_port()
    procs = edge_setup.start(1, edge_port)
    engine = None
    try:
        engine, engine_port = start_engine(edge_port, folder / "engine.log", {"OCX_VOICEMAIL_DIR": str(folder)})
        procs.append(engine)
        wait_for_engine(engine_port)
        cpu0 = tree_cpu([engine.pid])
        callers, started, ended = asyncio.run(run(args, users, edge_port))
        cpu1 = tree_cpu([engine.pid])
        time.sleep(1.0)  # the last rows
        results = check(folder, client, callers)
    finally:
        stop_procs(procs)
    whole = sum(r["whole"] for r in results)
    durations = sorted(r["duration"] for r in results)
    wall = ended - started
    missing = sum(max(0, r["sent"] - r.get("tone_frames", 0)) for r in results)
    print("Conditions:")
    print(f"  {args.callers} callers leaving a {args.seconds:g} s message each on one engine, starts spread over "
          f"{args.spread:g} s; {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    print(f"  engine CPU {cpu1 - cpu0:.2f} s over {wall:.1f} s = {100 * (cpu1 - cpu0) / wall:.1f}% of one core")
    print(f"  deposits (INVITE to the engine's BYE) {durations[0]:.1f}-{durations[-1]:.1f} s, "
          f"median {durations[len(durations) // 2]:.1f} s")  # fmt: skip
    for r in results:
        if not r["whole"]:
            print(f"  not whole: {r}")
    if results and "seconds" in results[0]:
        r = results[0]
        print(f"  e.g. caller {r['caller']}: file {r['seconds']:.2f} s (row {r['row_seconds']} s), tone "
              f"{r['tone_frames']} frames of {r['sent']} sent, gaps {r['gaps']}, frames before the tone "
              f"{r['head']}, after {r['tail']}")  # fmt: skip
    print(f"  messages whole {whole} of {args.callers}; tone frames missing in all {missing}")
    print(f"RESULT voicemail_callers={args.callers} callers")
    print(f"RESULT voicemail_messages_whole={whole} messages")
    print(f"RESULT voicemail_engine_cpu={100 * (cpu1 - cpu0) / wall:.1f} %")
    print(f"RESULT voicemail_deposit_p50={durations[len(durations) // 2]:.2f} s")
    print(f"RESULT voicemail_deposit_p100={durations[-1]:.2f} s")
    print(f"RESULT voicemail_tone_frames_missing={missing} frames")
    return 0 if whole == args.callers else 1


if __name__ == "__main__":
    sys.exit(main())
