"""The participants of bench/conference.py: a subprocess that dials N participants into conferences
through the edge and the call engine, lets them talk, measures the mix each one hears, then hangs
them up. It speaks the JSON lines of bench/media_phones.py on stdout (setup, start, stop, rtp,
teardown) and reuses its SIP user agent, RTP phones, pacing and runner.

A participant: INVITE `*88<conference ID>` from its own line (PCMU and telephone-event 101 offered;
407, INVITE with credentials, 200, ACK), then the PIN and `#` as RFC 4733 events in its RTP stream
(a packet every 20 ms: 60 ms a key, the end packet three times, 40 ms between keys), then its voice,
a 20 ms PCMU packet every 20 ms: the first `--talkers` of each conference a tone (400-1100 Hz, a
frequency each, about -18 dBov), the others low noise (uniform +-40, mean |sample| about 20, under
the mixer's noise gate, so mixed by no one: a room of open microphones with a few talkers).
Participant i goes to conference i mod the number of conference IDs given.

What it measures, per participant, on the engine's RTP clock (the mix is paced by the engine's
20 ms tick and carries no send time of ours): the window is the `--seconds` x 50 frames from the
first packet that arrives once it opened; a frame never received is lost (a tick the mixer skipped
moves its timestamps on, so it counts as lost too). Delay variation: |D| = |arrival gap - timestamp
gap| of consecutive packets (RFC 3550 D), i.e. |arrival gap - 20 ms| when no frame is missing in
between, with the kernel's receive times (SO_TIMESTAMPNS). Also: whether the participant was
receiving a stream when the window opened (a packet within the 100 ms before it, no BYE from the
engine; a prompt would count too: bench/conference.py takes who joined from the engine's call
records), and how many received frames were not silence (the mix carried the talkers).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import struct
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from media_phones import (  # noqa: E402  (bench/media_phones.py)
    HOST,
    PCMU,
    Phone,
    SetupError,
    SipCalls,
    SipUa,
    Window,
    _die_with_parent,
    emit,
    for_each,
    hang_up,
    quantiles,
    run_loop,
    talk,
)

from telephony.media.codecs import new_encoder  # noqa: E402
from telephony.media.dtmf import digit_train  # noqa: E402
from telephony.media.mixer import silence_payload  # noqa: E402
from telephony.sip import Request  # noqa: E402
from telephony.sip.sdp import Codec, build_sdp, parse_sdp  # noqa: E402

CODECS = [*PCMU, Codec(101, "TELEPHONE-EVENT", 8000, "0-16")]
SAMPLES = 160  # a 20 ms frame at 8 kHz
TONE_AMPLITUDE = 4000  # a talker's tone: about -18 dBov
NOISE_PEAK = 40  # the others' noise, uniform in +-40: mean |sample| about 20, under the mixer's gate (60)
RECEIVING_NS = 100_000_000  # receiving when the window opened: a packet came within 100 ms before
SILENT = silence_payload("PCMU")  # what the mixer sends when no one is heard
_RTP = struct.Struct("!BBHII")
_AFTER_FIRST_BYTE = struct.Struct("!BHII")
_MASK = 0xFFFFFFFF
_SAMPLE_NS = 125_000  # one tick of the 8 kHz RTP clock


class ConferenceWindow(Window):
    """The window, also as a number of 20 ms frames of the engine's stream per participant."""

    def __init__(self, frames: int) -> None:
        super().__init__()
        self.frames = frames


def voice(talker: int | None, seed: int = 0) -> list[bytes]:
    """One second of PCMU frames, sent in a loop: a talker's tone (400-1100 Hz by `talker`, about
    -18 dBov, above the mixer's talking level) or low noise (mean |sample| about 20, under its gate)."""
    encode = new_encoder("PCMU")
    t = np.arange(50 * SAMPLES) / 8000
    if talker is not None:
        samples = TONE_AMPLITUDE * np.sin(2 * np.pi * (400 + 100 * (talker % 8)) * t)
    else:
        samples = np.random.default_rng(seed).integers(-NOISE_PEAK, NOISE_PEAK + 1, t.size)
    return [encode(frame) for frame in samples.astype(np.int16).reshape(50, SAMPLES)]


class Participant(Phone):
    """A conference participant: keys the PIN, then sends its voice every 20 ms (pace() calls send),
    and measures the mix the engine sends it (module docstring)."""

    def __init__(self, index: int, sock: socket.socket, window: ConferenceWindow, frames: list[bytes]) -> None:
        super().__init__(index, sock, window, [], [])
        self.voice = frames
        self.ts = int.from_bytes(os.urandom(4), "big")
        self.marker = 0
        self.resumed = 0  # monotonic ns of the last key packet: the voice's timestamps go on from there
        self.reading = False
        self.last_arrival = self.last_ts = 0
        self.last_ssrc = -1
        self.ts0: int | None = None  # the window's first frame
        self.ssrc0 = 0
        self.before = 0  # arrival of the last packet before the window's first
        self.got = bytearray(window.frames)
        self.audible = self.jumps = self.duplicates = self.others = 0

    def send(self) -> None:
        seq = self.seq
        self.seq = seq + 1
        if self.marker:  # a talkspurt after the keys: the timestamps count the pause
            self.ts += max(0, time.monotonic_ns() - self.resumed) // 20_000_000 * SAMPLES
        self.ts = (self.ts + SAMPLES) & _MASK
        try:
            self.sock.send(_RTP.pack(0x80, self.marker, seq & 0xFFFF, self.ts, self.index) + self.voice[seq % 50])
        except OSError:  # a full buffer, or ICMP unreachable from an engine port that went away: loss
            self.send_errors += 1
        self.marker = 0

    async def keys(self, digits: str, event_pt: int) -> None:
        """Digits as RFC 4733 events in this phone's stream, a packet every 20 ms: 60 ms a key (two
        packets, then the end packet three times), 40 ms between keys."""
        for digit in digits:
            start = (self.ts + SAMPLES) & _MASK
            for k, payload in enumerate(digit_train(digit, duration=0.06)):
                self.ts = (self.ts + SAMPLES) & _MASK
                header = _RTP.pack(0x80, (0x80 if k == 0 else 0) | event_pt, self.seq & 0xFFFF, start, self.index)
                self.seq += 1
                with contextlib.suppress(OSError):
                    self.sock.send(header + payload)
                await asyncio.sleep(0.02)
            self.ts = (self.ts + 2 * SAMPLES) & _MASK
            await asyncio.sleep(0.04)
        self.resumed, self.marker = time.monotonic_ns(), 0x80

    def packet(self, data: bytes, arrival: int) -> None:
        if len(data) < 12 or data[0] != 0x80:  # the engine sends plain headers
            self.foreign += 1
            return
        b1, _, ts, ssrc = _AFTER_FIRST_BYTE.unpack_from(data, 1)
        if b1 & 0x7F != 0:  # not PCMU (the mixer sends no telephone events unasked)
            self.others += 1
            return
        last, self.last_arrival = self.last_arrival, arrival
        last_ts, last_ssrc = self.last_ts, self.last_ssrc
        self.last_ts, self.last_ssrc = ts, ssrc
        window = self.window
        if self.ts0 is None:
            if arrival < window.start:
                return
            self.ts0, self.ssrc0, self.before = ts, ssrc, last
        if ssrc != self.ssrc0:
            self.foreign += 1
            return
        frame = ((ts - self.ts0) & _MASK) // SAMPLES
        if frame >= window.frames:  # after the window
            return
        if self.got[frame]:
            self.duplicates += 1
            return
        self.got[frame] = 1
        self.received += 1
        if data[12:] != SILENT:
            self.audible += 1
        if ssrc == last_ssrc and last:
            samples = (ts - last_ts) & _MASK
            samples -= (samples >= 1 << 31) << 32
            if samples != SAMPLES:
                self.jumps += 1
            self.variations.append(abs(arrival - last - samples * _SAMPLE_NS))


def summary(phones: list[Participant], window: ConferenceWindow, hung_up: set[int]) -> dict:
    """Over all participants and the worst one: frames of the window received, loss, |D|; how many
    were receiving a stream when the window opened."""
    frames = window.frames
    receiving = [p for p in phones if p.ts0 is not None and p.before >= window.start - RECEIVING_NS
                 and p.index not in hung_up]  # fmt: skip
    losses = [100.0 * (frames - p.received) / frames for p in phones]
    p99s = [quantiles(p.variations)["p99"] for p in phones]
    received = sum(p.received for p in phones)
    return {
        "participants": len(phones),
        "receiving": len(receiving),
        "hung_up_by_engine": len(hung_up),
        "frames": frames,
        "received": received,
        "loss_pct": round(100.0 * (frames * len(phones) - received) / (frames * len(phones)), 4),
        "worst_loss_pct": round(max(losses), 3),
        "over_1pct": sum(1 for loss in losses if loss > 1.0),
        "ipdv_ms": quantiles([v for p in phones for v in p.variations]),
        "worst_p99_ms": max(p99s),
        "p99_over_10ms": sum(1 for p99 in p99s if p99 >= 10.0),
        "audible_pct": round(100.0 * sum(p.audible for p in phones) / received, 2) if received else 0.0,
        "jumps": sum(p.jumps for p in phones),
        "duplicates": sum(p.duplicates for p in phones),
        "foreign": sum(p.foreign + p.others for p in phones),
        "send_errors": sum(p.send_errors for p in phones),
    }


class ConferenceCalls(SipCalls):
    """Participants dialling *88<conference ID>, each from its own line; no called line."""

    def __init__(self, spec: dict, edge_port: int) -> None:
        super().__init__(spec, edge_port, 0)
        self.hung_up: set[str] = set()  # Call-IDs the engine sent BYE for (refused, kicked, ended)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        _, self.caller = await loop.create_datagram_endpoint(
            lambda: SipUa("caller", self.domain, self.edge, self.on_caller_request), local_addr=(HOST, 0)
        )

    def on_caller_request(self, ua: SipUa, request: Request, addr) -> None:
        if request.method == "BYE":
            self.hung_up.add(request.call_id)
        super().on_caller_request(ua, request, addr)

    def hung_up_indexes(self) -> set[int]:
        return {i for i, dialog in self.dialogs.items() if dialog.call_id in self.hung_up}

    async def join(self, phone: Participant, conference: str, pin: str) -> int:
        """Dial in, then key the PIN and # on the answered call; the engine's RTP port."""
        port = phone.sock.getsockname()[1]
        answer = await self.invite(phone.index, f"*88{conference}",
                                   build_sdp(HOST, port, CODECS, session_id=phone.index + 1))  # fmt: skip
        sdp = parse_sdp(answer.body)
        address = sdp.audio_address()
        codecs = sdp.audio.codecs if sdp.audio else []
        event_pt = next((c.payload for c in codecs if c.name == "TELEPHONE-EVENT"), None)
        if address is None or event_pt is None:
            raise SetupError("no audio address or no telephone-event in the engine's answer")
        phone.sock.connect((HOST, address[1]))
        asyncio.get_running_loop().add_reader(phone.sock.fileno(), phone.readable)
        phone.reading = True
        await phone.keys(pin + "#", event_pt)
        return address[1]


async def run(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    n, spec, conferences = args.calls, json.loads(Path(args.spec).read_text()), args.conferences.split(",")
    window = ConferenceWindow(round(args.seconds * 50))
    noise, tones, phones = [voice(None, seed) for seed in range(8)], {}, []
    for i in range(n):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((HOST, 0))
        sock.setblocking(False)
        member = i // len(conferences)  # its place in its conference
        frames = tones.setdefault(member, voice(member)) if member < args.talkers else noise[i % len(noise)]
        phones.append(Participant(i, sock, window, frames))
    calls = ConferenceCalls(spec, args.edge_port)
    try:
        await calls.start()
        started = time.monotonic()
        ports, errors = await for_each(n, args.setup_rate, args.in_flight,
                                       lambda i: calls.join(phones[i], conferences[i % len(conferences)],
                                                            spec["pin"]))  # fmt: skip
        up = [i for i in range(n) if ports[i] is not None]
        emit(setup={"asked": n, "established": len(up), "failed": n - len(up), "errors": dict(errors.most_common(5)),
                    "seconds": round(time.monotonic() - started, 2)})  # fmt: skip
        members = [phones[i] for i in up]
        if members:

            def figures() -> dict:  # who the engine hung up on is known once the window is over
                return summary(members, window, calls.hung_up_indexes())

            emit(rtp=await talk(members, window, args.warmup, args.seconds, figures))
        for phone in phones:
            if phone.reading:
                loop.remove_reader(phone.sock.fileno())
        calls.hanging_up = True
        await hang_up(calls, up, args.in_flight)
    finally:
        await calls.stop()
        for phone in phones:
            phone.sock.close()
    return 0 if up else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the participants of bench/conference.py")
    parser.add_argument("--calls", type=int, required=True, help="participants")
    parser.add_argument("--spec", required=True, help="JSON: domain, pin, callers [[user, secret, number], ...]")
    parser.add_argument("--edge-port", type=int, required=True)
    parser.add_argument("--conferences", required=True, help="conference IDs, comma separated")
    parser.add_argument("--talkers", type=int, default=3, help="talking participants per conference")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--setup-rate", type=float, default=50.0)
    parser.add_argument("--in-flight", type=int, default=100)
    args = parser.parse_args(argv)
    if not 1 <= args.calls <= 5000 or not 0 < args.seconds <= 120 or not 0 < args.setup_rate <= 1000:
        parser.error("--calls 1-5000, --seconds up to 120, --setup-rate up to 1000")
    if args.talkers < 0 or not 1 <= args.in_flight <= 1000:
        parser.error("--talkers >= 0, --in-flight 1-1000")
    _die_with_parent()
    return run_loop("uvloop", run(args))


if __name__ == "__main__":
    sys.exit(main())
