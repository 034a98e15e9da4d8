"""Benchmark: the cost of converting one 20 ms RTP packet between two codecs (telephony/media/transcode.py).

    .venv/bin/python bench/transcode.py [--packets 3000] [--runs 5]

For every ordered pair among PCMU, PCMA, G722 and OPUS, and for an Opus payload-type rewrite: the
packets of a 1 kHz tone (plus a little noise, so that the encoders have work) are encoded in the
source codec beforehand, then pushed through one direction's converter, timed with perf_counter
around the whole loop (no sockets). Each figure is the median of `--runs` runs of `--packets`
packets, in microseconds per packet; the first run of each pair also warms the codecs up. CPU
frequency and other processes on the machine move these figures: compare pairs within one run.
"""

from __future__ import annotations

import argparse
import os
import platform as stdlib_platform
import statistics
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import av  # noqa: E402
import numpy as np  # noqa: E402

from telephony.media import codecs  # noqa: E402
from telephony.media.transcode import transcoder  # noqa: E402

NAMES = ["PCMU", "PCMA", "G722", "OPUS"]
PAYLOAD_TYPES = {"PCMU": 0, "PCMA": 8, "G722": 9, "OPUS": 111}


@dataclass
class Codec:
    payload: int
    name: str
    rate: int


def codec(name: str, payload: int | None = None) -> Codec:
    return Codec(PAYLOAD_TYPES[name] if payload is None else payload, name, codecs.rtp_clock(name))


def packets(source: Codec, count: int) -> list[bytes]:
    rng = np.random.default_rng(1)
    n = np.arange(count * codecs.FRAME_SAMPLES)
    audio = (6000 * np.sin(2 * np.pi * 1000 * n / codecs.RATE) + rng.normal(0, 300, len(n))).astype(np.int16)
    encode, step = codecs.new_encoder(source.name), source.rate // 50
    out = []
    for i in range(count):
        header = struct.pack("!BBHII", 0x80, source.payload, i & 0xFFFF, i * step, 0x1234)
        out.append(header + encode(audio[i * codecs.FRAME_SAMPLES : (i + 1) * codecs.FRAME_SAMPLES]))
    return out


def measure(source: Codec, target: Codec, count: int, runs: int) -> tuple[float, int]:
    stream = packets(source, count)
    figures, dropped = [], 0
    for _ in range(runs + 1):  # the first run warms up
        convert = transcoder(source, target)
        start = time.perf_counter()
        for packet in stream:
            if convert(packet) is None:
                dropped += 1
        figures.append((time.perf_counter() - start) / count * 1e6)
    return statistics.median(figures[1:]), dropped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, av {av.__version__}, numpy {np.__version__}, "
          f"{stdlib_platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"{args.packets} packets of 20 ms per run, median of {args.runs} runs, one direction")
    pairs = [(codec(a), codec(b)) for a in NAMES for b in NAMES if a != b]
    pairs.append((codec("OPUS", 111), codec("OPUS", 96)))
    results = []
    for source, target in pairs:
        cost, dropped = measure(source, target, args.packets, args.runs)
        label = f"{source.name.lower()}_{target.name.lower()}" if source.name != target.name else "opus_remap"
        print(f"{source.name}/{source.payload} -> {target.name}/{target.payload}: {cost:7.1f} us per packet"
              f"{f'  ({dropped} dropped)' if dropped else ''}")  # fmt: skip
        results.append((label, cost))
    for label, cost in results:
        print(f"RESULT transcode_{label}_us={cost:.1f} us")


if __name__ == "__main__":
    main()
