"""Benchmark: bridged G.711 calls through the media relay, recorded and not, in one run.

    .venv/bin/python bench/recording.py [--calls 200] [--seconds 10]

Two measured runs of bench/rtp_relay.py's set-up one after the other in this process (a sender
subprocess plays both phones of every call, 50 packets a second each way): first the calls only
relayed, then the same number of calls each recorded the engine's way (telephony/media/recorder.py
`record_relay`: both directions tapped into the recordings' slots, placed and decoded for every
call at once on one 20 ms clock, a stereo WAV written a second at a time with os.pwrite by the
recordings thread) into a temporary directory. Figures per run:
the relay process's CPU per call, loss and delay the phones measured, and delay variation: the
delay's p99 less its p50 (phones), and the largest RFC 3550 interarrival jitter among the relay's
legs; for the recorded run the bytes written per second and whether every file holds the whole call.
RESULT lines at the end (delay p99, delay variation and jitter max for each run).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import rtp_relay  # noqa: E402

from telephony.media.recorder import Recorder, record_relay  # noqa: E402


def figures(args, result: dict) -> dict:
    phones = result["phones"]
    core = result["cpu"] / result["wall"]
    loss = 100.0 * (phones["sent"] - phones["received"]) / phones["sent"] if phones["sent"] else 100.0
    return {"core": core, "per_call": core * 1000 / args.calls, "loss": loss, "p99": phones["delay_p99_ms"],
            "variation": phones["delay_p99_ms"] - phones["delay_p50_ms"],
            "jitter_max": result["jitter_ms_max"]}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--first-port", type=int, default=21000)
    parser.add_argument("--dir", default=None, help="where the files go (default: a temporary directory)")
    ours = parser.parse_args(argv)
    relay_args = rtp_relay.parse_args(["--calls", str(ours.calls), "--seconds", str(ours.seconds), "--warmup",
                                       str(ours.warmup), "--first-port", str(ours.first_port)])  # fmt: skip
    plain = figures(relay_args, rtp_relay.run_loop("uvloop", rtp_relay.relay(relay_args)))
    with tempfile.TemporaryDirectory(prefix="ocx-bench-recording-", dir=ours.dir) as folder:
        recordings = []

        def tap(relays):
            started = time.monotonic()
            for index, relay in enumerate(relays):
                recorder = Recorder(Path(folder) / f"{index}.wav", channels=2, threaded=True)  # as the engine's
                recordings.append(record_relay(relay, recorder, codec_a="PCMU"))

            def untap():
                tap.seconds = time.monotonic() - started
                for recording in recordings:
                    written = recording.recorder.close()
                    recording.stop()
                written.result(timeout=30)  # (the last file's; the thread writes them in order)

            return untap

        recorded_run = rtp_relay.run_loop("uvloop", rtp_relay.relay(relay_args, tap))
        recorded = figures(relay_args, recorded_run)
        sizes = [os.path.getsize(Path(folder) / f"{i}.wav") for i in range(ours.calls)]
        seconds = [r.recorder.seconds for r in recordings]
        written_per_second = sum(sizes) / tap.seconds
        errors = sum(1 for r in recordings if r.recorder.error is not None)
    added = 100.0 * (recorded["per_call"] - plain["per_call"]) / plain["per_call"]
    print("Conditions:")
    print(f"  {ours.calls} bridged G.711 calls, {ours.warmup:g} s warm-up, {ours.seconds:g} s measured per run; "
          f"2 x 50 packets/s per call; {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    for name, run in (("relayed", plain), ("recorded", recorded)):
        print(f"  {name:9} CPU {run['core'] * 100:.1f}% of one core, {run['per_call']:.3f} ms/s per call, "
              f"loss {run['loss']:.3f}%, delay p99 {run['p99']:.2f} ms (p99 - p50 {run['variation']:.2f} ms), "
              f"jitter max {run['jitter_max']:.2f} ms")  # fmt: skip
    print(f"  recording adds {added:.1f}% CPU per call; {written_per_second / 1e6:.2f} MB/s written "
          f"({written_per_second / ours.calls / 1000:.1f} kB/s per call), "
          f"files {min(seconds):.1f}-{max(seconds):.1f} s "
          f"long over {tap.seconds:.1f} s recorded, write errors {errors}")  # fmt: skip
    print(f"RESULT recording_calls={ours.calls} calls")
    print(f"RESULT recording_cpu_per_call_relayed={plain['per_call']:.3f} ms/s")
    print(f"RESULT recording_cpu_per_call_recorded={recorded['per_call']:.3f} ms/s")
    print(f"RESULT recording_cpu_added={added:.1f} %")
    print(f"RESULT recording_loss={recorded['loss']:.3f} %")
    print(f"RESULT recording_bytes_per_second={written_per_second:.0f} B/s")
    for name, run in (("relayed", plain), ("recorded", recorded)):  # delay variation, each run
        print(f"RESULT recording_delay_p99_{name}={run['p99']:.2f} ms")
        print(f"RESULT recording_delay_variation_{name}={run['variation']:.2f} ms")
        print(f"RESULT recording_jitter_max_{name}={run['jitter_max']:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
