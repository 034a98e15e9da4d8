"""Benchmark: conferences in one call engine (issue 5): the largest single conference and the most
participants in all conferences that one engine process holds with at most 1% loss and p99 delay
variation under 10 ms, and the engine's CPU per participant.

    .venv/bin/python bench/conference.py [--single 50,100,200,300,400,500] [--total 200,400,500,600,800]
                                         [--room-size 20] [--talkers 3] [--seconds 10] [--warmup 2]
                                         [--setup-rate 50] [--keep]

Two ladders, each step a fresh set of participants (bench/conference_phones.py, one subprocess):
(a) `--single`: N participants in one conference; (b) `--total`: N participants in conferences of at
most `--room-size` (N / room size rounded up, the participants dealt out in turn). Every participant
calls `*88<conference ID>` from its own line through the edge (1 process) to one call engine
(`manage.py call_engine`), keys the PIN as RFC 4733 events, then sends 20 ms PCMU packets (the first
`--talkers` of each conference a tone, the others low noise under the mixer's noise gate) and
receives the mix of the others from the engine. Per step, over `--seconds` after `--warmup`: the
participants that joined (the engine's call records: a conference join is an answered record) and
that were receiving when the window opened, loss (frames of the engine's 50 a second not received
by a participant), p99 of the delay
variation |D| of the received packets (the mix is paced by the engine's 20 ms clock: |arrival gap -
timestamp gap|, i.e. |arrival gap - 20 ms| between consecutive frames, kernel receive times), and
the engine's CPU (/proc) as % of a core and ms per participant per second. A step is clean with
every participant joined and receiving, loss <= 1% over all participants and p99 |D| (over all their
packets) < 10 ms; a ladder stops at its first step that is not. The worst participant's loss and p99
are printed too.

Users, rooms and processes: a scratch database and Redis database/prefix of their own (through
bench/edge_setup.py, dropped and deleted at exit), one line per participant, the rooms made with
conferencing.services.room_create (max_participants 500, entry tone off), the engine started with
OCX_ENGINE_CONFERENCE_CAPACITY high enough not to be what is measured. Bounded: every phase has a time
limit and a count, all traffic stays on 127.0.0.1, every process started here is stopped at the end
(also on Ctrl-C or SIGTERM; the participants' process dies with this one). Conditions, a block per
step, then RESULT lines (bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform as stdlib_platform
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHONES = ROOT / "bench" / "conference_phones.py"
sys.path.insert(0, str(ROOT / "bench"))
import edge_setup  # noqa: E402  (bench/edge_setup.py)
from engine import start_engine, wait_for_engine  # noqa: E402  (bench/engine.py)
from engine_media import JITTER_LIMIT, LOSS_LIMIT, Step, _interrupted, best, phones_step  # noqa: E402
from sip_register import free_port, stop_procs  # noqa: E402

DEFAULT_SINGLE = [50, 100, 200, 300, 400, 500]
DEFAULT_TOTAL = [200, 400, 500, 600, 800]
ROOM_LIMIT = 500  # a room's max_participants at most (conferencing.models.Room)
DATABASE, REDIS_DB, PREFIX = "ocx_bench_conference", 6, "ocx-bench-conference"  # nobody else's
PIN, MODERATOR_PIN = "2468", "1357"
FIRST_ROOM = 700000  # conference IDs: 700000 the single conference, 700001... the rooms of the total ladder


@dataclass
class ConferenceStep(Step):
    """One step of a ladder: `calls` participants in `rooms` conferences."""

    rooms: int = 1
    records: dict = field(default_factory=dict)  # the engine's call records of the step: joined, ended

    @property
    def joined(self) -> int:
        """Participants that joined the mix, by the engine's call records (answered = joined)."""
        return self.records.get("joined", 0)

    @property
    def per_participant(self) -> float:
        """ms of engine CPU per participant per second."""
        return self.core * 1000 / self.joined if self.joined else 0.0

    @property
    def loss(self) -> float:
        return self.rtp.get("loss_pct", 100.0)

    @property
    def ipdv_p99(self) -> float:
        return self.rtp.get("ipdv_ms", {}).get("p99", 0.0)

    def problems(self) -> list[str]:
        found = [self.error] if self.error else []
        if self.setup.get("failed"):
            found.append(f"{self.setup['failed']} participants not set up {self.setup.get('errors')}")
        if not self.rtp:
            found.append("no RTP measured")
            return found
        if self.joined < self.calls:
            found.append(f"{self.joined} of {self.calls} joined (the engine's call records)")
        if self.rtp["receiving"] < self.calls:
            found.append(f"{self.calls - self.rtp['receiving']} participants received nothing when the window opened")
        if self.loss > LOSS_LIMIT:
            found.append(f"loss {self.loss:.2f}% > {LOSS_LIMIT:g}%")
        if self.ipdv_p99 >= JITTER_LIMIT:
            found.append(f"p99 |D| {self.ipdv_p99:.2f} ms >= {JITTER_LIMIT:g} ms")
        return found

    def lines(self) -> list[str]:
        setup, r = self.setup, self.rtp
        rooms = "1 conference" if self.rooms == 1 else f"{self.rooms} conferences"
        out = [f"  {self.calls:5d} participants in {rooms}: set up {self.established}/{self.calls} in "
               f"{setup.get('seconds', 0):.1f} s"]  # fmt: skip
        if r:
            wall, machine = self.wall or 1.0, self.machine
            phones = r.get("phones_cpu_s", 0.0) / wall
            others = max(0.0, machine.get("tasks", 0.0) - self.cpu - r.get("phones_cpu_s", 0.0)) / wall
            d, expected = r["ipdv_ms"], r["frames"] * r["participants"]
            irq, steal = machine.get("irq", 0.0) / wall, machine.get("steal", 0.0) / wall
            out += [
                f"        receiving when the window opened {r['receiving']}/{r['participants']} (hung up by the "
                f"engine {r['hung_up_by_engine']}); frames received {r['received']:,} of {expected:,} = loss "
                f"{r['loss_pct']:.3f}% (worst participant {r['worst_loss_pct']:.2f}%, {r['over_1pct']} over 1%)",
                f"        |D| p50 {d['p50']:.2f} p99 {d['p99']:.2f} max {d['max']:.1f} ms (worst "
                f"participant's p99 {r['worst_p99_ms']:.2f} ms, {r['p99_over_10ms']} at 10 ms or more); "
                f"not silence {r['audible_pct']:.1f}% of frames; gaps in the timestamps {r['jumps']}, "
                f"duplicates {r['duplicates']}, foreign {r['foreign']}, send errors {r['send_errors']}",
                f"        engine CPU {self.cpu:.2f} s over {self.wall:.2f} s = {self.core * 100:.1f}% of a "
                f"core = {self.per_participant:.3f} ms/s per participant, its loop waited for a core "
                f"{self.waited / wall * 100:.1f}% of the time; in cores: participants' process {phones:.2f}, "
                f"other processes {others:.2f}, irq+softirq {irq:.2f}, steal {steal:.2f}; kernel UDP "
                f"receive-buffer drops {machine.get('udp_drops', 0):.0f}",
            ]
        if self.teardown:
            td, records = self.teardown, self.records
            errors = f" {td['errors']}" if td.get("errors") else ""
            out.append(f"        hung up {td.get('ended', 0)}, failed {td.get('failed', 0)}{errors}; the engine's call "
                       f"records: {records.get('joined', 0)} joined, {records.get('ended', 0)} ended")  # fmt: skip
        problems = self.problems()
        out.append(f"        -> {'clean' if not problems else 'NOT clean: ' + '; '.join(problems)}")
        return out


# -- setup: lines, rooms, edge and engine


def provision(args: argparse.Namespace, workdir: Path) -> tuple[Path, int]:
    """Lines and rooms in a scratch database; (spec file for the participants, rooms of the total ladder)."""
    participants = max(args.single + args.total)
    users = edge_setup.provision(participants, database=DATABASE, redis_db=REDIS_DB, prefix=PREFIX)
    from conferencing.services import room_create
    from telephony.directory import sip_directory_sync
    from tenants.models import Client, Role, User

    domain = users[0][1]
    client = Client.objects.get(sip_domain=domain)
    Client.objects.filter(pk=client.pk).update(max_calls=100_000)  # the limit is not what is measured
    moderator = User.objects.filter(client=client, role=Role.USER).order_by("pk").first()
    rooms = max((math.ceil(n / args.room_size) for n in args.total), default=0)
    for k in range(1 + rooms):
        room_create(actor=moderator, client=client, name=f"Bench {k}", conference_id=str(FIRST_ROOM + k),
                    participant_pin=PIN, moderator_pin=MODERATOR_PIN, max_participants=ROOM_LIMIT,
                    entry_tone=False)  # fmt: skip
    sip_directory_sync()
    spec = workdir / "lines.json"  # secrets of scratch lines, removed with the work directory
    spec.write_text(json.dumps({"domain": domain, "pin": PIN,
                                "callers": [[u, s, f"{i:04d}"] for i, (u, _, s) in enumerate(users)]}))  # fmt: skip
    spec.chmod(0o600)
    return spec, rooms


def joins_recorded(ids: list[int], since, expected: int) -> dict[str, int]:
    """The engine's call records of the step's participants (service conference: answered = joined
    the mix), once all have ended or after 10 s (the engine writes them from a thread of its own)."""
    from records.models import Cdr

    rows = Cdr.objects.filter(service=Cdr.Service.CONFERENCE, conference__in=[str(i) for i in ids],
                              started_at__gte=since)  # fmt: skip
    deadline = time.monotonic() + 10
    while rows.filter(ended_at__isnull=False).count() < expected and time.monotonic() < deadline:
        time.sleep(0.5)
    return {
        "joined": rows.filter(answered_at__isnull=False).count(),
        "ended": rows.filter(ended_at__isnull=False).count(),
    }


def bench(args: argparse.Namespace, workdir: Path) -> dict[str, list[ConferenceStep]]:
    spec, rooms = provision(args, workdir)
    from django.utils import timezone

    edge_port = free_port()
    procs = edge_setup.start(1, edge_port)
    results: dict[str, list[ConferenceStep]] = {}
    try:
        capacity = str(max(args.single + args.total) * 4)  # the engine's own limit is not what is measured
        env = {"OCX_ENGINE_DRAIN": "2", "OCX_ENGINE_CONFERENCE_CAPACITY": capacity}
        engine, engine_port = start_engine(edge_port, workdir / "engine.log", env)
        procs.append(engine)
        try:
            wait_for_engine(engine_port)
        except RuntimeError as exc:
            tail = (workdir / "engine.log").read_text(errors="replace")[-1500:]
            raise RuntimeError(f"{exc} (exit {engine.poll()}); its log ends:\n{tail}") from None
        print(f"edge on 127.0.0.1:{edge_port} (1 process), call engine pid {engine.pid} on :{engine_port} "
              f"(conference capacity {capacity}); {max(args.single + args.total)} lines, 1 + {rooms} rooms "
              f"of max_participants {ROOM_LIMIT}", flush=True)  # fmt: skip
        common = ["--spec", str(spec), "--edge-port", str(edge_port), "--talkers", str(args.talkers)]
        for kind, ladder in (("single", args.single), ("total", args.total)):
            if not ladder:
                continue
            print(f"[{kind}] " + ("one conference" if kind == "single" else
                                  f"conferences of at most {args.room_size}") + ":", flush=True)  # fmt: skip
            steps = results[kind] = []
            for n in ladder:
                count = 1 if kind == "single" else math.ceil(n / args.room_size)
                ids = [FIRST_ROOM] if kind == "single" else [FIRST_ROOM + 1 + k for k in range(count)]
                step = ConferenceStep(kind, n, rooms=len(ids))
                phone_args = [*common, "--conferences", ",".join(map(str, ids))]
                since = timezone.now()
                step = asyncio.run(phones_step(step, engine.pid, phone_args, args, workdir / "participants.log",
                                               script=PHONES))  # fmt: skip
                step.records = joins_recorded(ids, since, step.established)
                if engine.poll() is not None:
                    step.error = step.error or f"the engine died (exit {engine.returncode})"
                steps.append(step)
                print("\n".join(step.lines()), flush=True)
                if step.problems():
                    break
                time.sleep(1.5)  # the conferences of the step end, their ports and records are let go
            if engine.poll() is not None:
                break
    finally:
        stop_procs(procs)
        from config.redis_store import get_redis

        redis = get_redis()  # the scratch lines' directory, bindings, registry and call index
        keys = list(redis.scan_iter(match=f"{PREFIX}:*", count=1000))
        for at in range(0, len(keys), 1000):
            redis.delete(*keys[at : at + 1000])
    return results


# -- report


def report(results: dict[str, list[ConferenceStep]], args: argparse.Namespace, load0: float, wall: float) -> None:
    try:
        import uvloop

        uvloop_version = uvloop.__version__
    except ImportError:
        uvloop_version = "not installed"
    print("\nConditions:")
    load1 = os.getloadavg()[0]
    print(f"  {os.cpu_count()} cores, load average {load0:.2f} at the start, {load1:.2f} at the end (other work "
          f"on the machine is not stopped: see 'other processes' per step); {wall:.0f} s in all")  # fmt: skip
    print(f"  Python {stdlib_platform.python_version()}, uvloop {uvloop_version}; 1 edge process, 1 call engine")
    print(f"  each participant: *88<id> through the edge, PIN by RFC 4733, then 50 PCMU packets/s in and "
          f"the mix (50/s) out; {args.talkers} talking per conference (a tone), the others low noise")  # fmt: skip
    print(f"  {args.warmup:g} s warm-up, {args.seconds:g} s measured; participants set up at {args.setup_rate:g}/s; "
          f"ladders: single {args.single}, total {args.total} in conferences of at most {args.room_size}")  # fmt: skip
    print(f"  clean: every participant joined, loss <= {LOSS_LIMIT:g}%, p99 |D| < {JITTER_LIMIT:g} ms "
          "(|D| = |arrival gap - RTP timestamp gap| of consecutive received packets)")  # fmt: skip
    print("  CPU: user + system of the engine process from /proc/<pid>/stat over the window")
    for kind, unit in (("single", "conference_single"), ("total", "conference_total")):
        if kind not in results:
            continue
        top = best(results[kind])
        ladder = args.single if kind == "single" else args.total
        if top is not None and kind == "single" and top.calls == ROOM_LIMIT:
            print(f"  (single: clean up to {ROOM_LIMIT}, a room's limit (Room.max_participants): not the engine's)")
        elif top is not None and top.calls == ladder[-1]:
            print(f"  ({kind}: the ladder's top step was clean: the real maximum is higher)")
        print(f"RESULT {unit}_max={top.calls if top else 0} participants")
        if top is None:
            continue
        if kind == "total":
            print(f"RESULT {unit}_rooms={top.rooms} conferences")
            print(f"RESULT conference_cpu_per_participant={top.per_participant:.3f} ms/s")
        else:
            print(f"RESULT {unit}_cpu_per_participant={top.per_participant:.3f} ms/s")
        print(f"RESULT {unit}_core={top.core * 100:.1f} %")
        print(f"RESULT {unit}_loss={top.loss:.3f} %")
        print(f"RESULT {unit}_jitter_p99={top.ipdv_p99:.2f} ms")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--single", default=",".join(map(str, DEFAULT_SINGLE)),
                        help="participants in one conference, a ladder ('' to skip)")  # fmt: skip
    parser.add_argument("--total", default=",".join(map(str, DEFAULT_TOTAL)),
                        help="participants in all conferences, a ladder ('' to skip)")  # fmt: skip
    parser.add_argument("--room-size", type=int, default=20, help="participants per conference in the total ladder")
    parser.add_argument("--talkers", type=int, default=3, help="talking participants per conference")
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring window per step")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--setup-rate", type=float, default=50.0, help="participants dialling in per second")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args(argv)
    args.single = [int(n) for n in args.single.split(",") if n]
    args.total = [int(n) for n in args.total.split(",") if n]
    if not args.single and not args.total:
        parser.error("--single or --total")
    if not all(2 <= n <= ROOM_LIMIT for n in args.single) or not all(2 <= n <= 2000 for n in args.total):
        parser.error(f"--single each 2-{ROOM_LIMIT} (a room's limit), --total each 2-2000")
    if not 2 <= args.room_size <= ROOM_LIMIT or not 0 <= args.talkers <= 50:
        parser.error(f"--room-size 2-{ROOM_LIMIT}, --talkers 0-50")
    if not 0 < args.seconds <= 60 or not 0 <= args.warmup <= 10 or not 1 <= args.setup_rate <= 200:
        parser.error("--seconds up to 60, --warmup up to 10, --setup-rate 1-200")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupted)
    load0, started = os.getloadavg()[0], time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="ocx-bench-conference-"))
    try:
        results = bench(args, workdir)
        report(results, args, load0, time.monotonic() - started)
    except KeyboardInterrupt:
        print("interrupted: the processes this bench started are stopped", flush=True)
        return 130
    except RuntimeError as exc:  # the engine did not start, and the like: nothing measured
        print(f"not run: {exc}", flush=True)
        return 1
    finally:
        if args.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
