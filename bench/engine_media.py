"""Benchmark: concurrent bridged calls with RTP both ways held by one call engine, next to rtpengine.

    .venv/bin/python bench/engine_media.py [--calls 100,200,300,400,500,600] [--seconds 10] [--warmup 2]
                                           [--targets engine,rtpengine] [--setup-rate 100] [--keep]

For each N of the ladder, a phones subprocess (bench/media_phones.py) sets up N calls, holds all of
them while a 172-byte PCMU packet goes every 20 ms from each phone of each call (both ways), and
measures for `--seconds` after a `--warmup`: loss per direction, the delay variation of the packets
(p99 of |D|, RFC 5481 IPDV, the criterion; the RFC 3550 interarrival jitter of each stream is shown
too) and, from /proc/<pid>/stat, the CPU the relaying process used over the window. A step is clean
with every call set up, at most 1% loss each way and p99 |D| under 10 ms; the ladder stops at the
first step that is not.

Targets:
- `engine`: calls placed through the edge (1 process) to the call engine (`manage.py call_engine`,
  1 process) with SIP and SDP: caller -> edge -> engine -> edge -> callee, the engine anchoring both
  legs' RTP and relaying between them. Users come from bench/edge_setup.py (own scratch database
  and Redis prefix); the engine is started as bench/engine.py starts it.
- `rtpengine`: Debian's rtpengine-daemon 10.5 in userspace (`--table=-1`), each call one ng
  offer/answer pair; the same phones and RTP. Installed with apt when missing and run as root,
  otherwise reported as not run.

Conditions, a line per step, then RESULT lines (bench/README.md). Bounded: every phase has a time
limit and a count, all traffic stays on 127.0.0.1, every process started here is stopped at the end
(also on Ctrl-C or SIGTERM; the phones die with this process).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import platform as stdlib_platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHONES = ROOT / "bench" / "media_phones.py"
sys.path.insert(0, str(ROOT / "bench"))
import edge_setup  # noqa: E402  (bench/edge_setup.py)
from engine import start_engine, wait_for_engine  # noqa: E402  (bench/engine.py)
from media_phones import CALL_TIMEOUT, bdecode, bencode  # noqa: E402
from sip_register import CLK_TCK, free_port, stop_procs, tree_cpu  # noqa: E402

DEFAULT_CALLS = [100, 200, 300, 400, 500, 600]
LOSS_LIMIT = 1.0  # % per direction
JITTER_LIMIT = 10.0  # ms, p99 of |D|
DATABASE, REDIS_DB, PREFIX = "ocx_bench_media", 5, "ocx-bench-media"  # nobody else's
# rtpengine's RTP ports: below the kernel's ephemeral range (the phones' sockets) and below 20000-32000,
# where tests/media sends RTP to random ports; rtpengine relays whatever reaches its ports to our phones.
RTPENGINE_PORTS = (10000, 19999)


@dataclass
class Step:
    target: str
    calls: int
    setup: dict = field(default_factory=dict)
    rtp: dict = field(default_factory=dict)
    teardown: dict = field(default_factory=dict)
    cpu: float = 0.0  # the relaying process, over the window
    wall: float = 0.0
    machine: dict = field(default_factory=dict)  # every core's time over the window, by kind (machine_times)
    waited: float = 0.0  # s the measured process's main thread was ready to run but had no core, over the window
    error: str = ""

    @property
    def established(self) -> int:
        return self.setup.get("established", 0)

    @property
    def core(self) -> float:
        return self.cpu / self.wall if self.wall else 0.0

    @property
    def per_call(self) -> float:
        """ms of CPU per call per second."""
        return self.core * 1000 / self.established if self.established else 0.0

    def direction(self, name: str) -> dict:
        return self.rtp.get(name, {})

    @property
    def loss(self) -> float:
        return max((self.direction(d).get("loss_pct", 100.0) for d in ("a_to_b", "b_to_a")), default=100.0)

    @property
    def ipdv_p99(self) -> float:
        return max(self.direction(d).get("ipdv_ms", {}).get("p99", 0.0) for d in ("a_to_b", "b_to_a"))

    def problems(self) -> list[str]:
        found = [self.error] if self.error else []
        if self.setup.get("failed"):
            found.append(f"{self.setup['failed']} calls not set up {self.setup.get('errors')}")
        if not self.rtp:
            found.append("no RTP measured")
            return found
        if self.loss > LOSS_LIMIT:
            found.append(f"loss {self.loss:.2f}% > {LOSS_LIMIT:g}%")
        if self.ipdv_p99 >= JITTER_LIMIT:
            found.append(f"p99 |D| {self.ipdv_p99:.2f} ms >= {JITTER_LIMIT:g} ms")
        return found

    def lines(self) -> list[str]:
        setup = self.setup
        out = [f"  {self.calls:5d} calls: set up {self.established}/{self.calls} in {setup.get('seconds', 0):.1f} s"]
        if self.rtp:
            phones = self.rtp.get("phones_cpu_s", 0.0) / self.wall if self.wall else 0.0
            wall, machine = self.wall or 1.0, self.machine
            others = max(0.0, machine.get("tasks", 0.0) - self.cpu - self.rtp.get("phones_cpu_s", 0.0)) / wall
            kernel = f"irq+softirq {machine.get('irq', 0.0) / wall:.2f}, steal {machine.get('steal', 0.0) / wall:.2f}"
            for name, label in (("a_to_b", "caller->callee"), ("b_to_a", "callee->caller")):
                d = self.direction(name)
                out.append(
                    f"        {label}: sent {d['sent']:,} received {d['received']:,} loss {d['loss_pct']:.3f}%; "
                    f"delay p50 {d['delay_ms']['p50']:.2f} p99 {d['delay_ms']['p99']:.2f} ms; "
                    f"|D| p50 {d['ipdv_ms']['p50']:.2f} p99 {d['ipdv_ms']['p99']:.2f} "
                    f"max {d['ipdv_ms']['max']:.1f} ms; "
                    f"RFC 3550 jitter p99 {d['rfc3550_jitter_ms']['p99']:.2f} ms; foreign {d['foreign']}"
                    + (f"; send errors {d['send_errors']}" if d.get("send_errors") else "")
                )
            out.append(f"        {self.target} CPU {self.cpu:.2f} s over {self.wall:.2f} s = {self.core * 100:.1f}% "
                       f"of a core = {self.per_call:.3f} ms/s per call; in cores: phones {phones:.2f}, other "
                       f"processes {others:.2f}, {kernel}")  # fmt: skip
        if self.teardown:
            td = self.teardown
            far = f", far end {td['far_end']}" if td.get("far_end") else ""
            errors = f" {td['errors']}" if td.get("errors") else ""
            out.append(f"        hung up {td.get('ended', 0)}, failed {td.get('failed', 0)}{errors}{far}")
        problems = self.problems()
        out.append(f"        -> {'clean' if not problems else 'NOT clean: ' + '; '.join(problems)}")
        return out


# -- one step: the phones subprocess, the CPU of the relaying process over its window


def machine_times() -> dict[str, float]:
    """CPU seconds of all cores since boot (/proc/stat): tasks (user, nice, system), irq + softirq
    (the kernel's packet work is partly here, charged to no process) and steal (the hypervisor's);
    also udp_drops, the datagrams the kernel dropped for a full socket receive buffer (/proc/net/snmp
    RcvbufErrors, every socket of the machine)."""
    user, nice, system, _, _, irq, softirq, steal = (
        int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    snmp = Path("/proc/net/snmp").read_text().splitlines()
    names, values = [line.split() for line in snmp if line.startswith("Udp:")]
    return {"tasks": (user + nice + system) / CLK_TCK, "irq": (irq + softirq) / CLK_TCK, "steal": steal / CLK_TCK,
            "udp_drops": float(values[names.index("RcvbufErrors")])}  # fmt: skip


def waited_for_core(pid: int) -> float:
    """Seconds the main thread of `pid` has spent runnable, waiting for a core (/proc/<pid>/schedstat)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):  # gone, or a kernel without schedstats
        return 0.0


def run_step(target: str, pid: int, n: int, phone_args: list[str], args: argparse.Namespace, log: Path) -> Step:
    return asyncio.run(phones_step(Step(target, n), pid, phone_args, args, log))


async def phones_step(step: Step, pid: int, phone_args: list[str], args: argparse.Namespace, log: Path,
                      script: Path = PHONES) -> Step:  # fmt: skip
    """One step: the phones subprocess (`script`, JSON lines on stdout) and the CPU of process `pid`
    over its window; bench/conference.py runs its participants (conference_phones.py) with it too."""
    n = step.calls
    command = [sys.executable, str(script), "--calls", str(n), "--warmup", str(args.warmup), "--seconds",
               str(args.seconds), "--setup-rate", str(args.setup_rate), *phone_args]  # fmt: skip
    with log.open("ab") as errors:
        process = await asyncio.create_subprocess_exec(*command, cwd=ROOT, stdin=subprocess.DEVNULL,
                                                       stdout=subprocess.PIPE, stderr=errors)  # fmt: skip

    async def message(timeout: float) -> dict:
        line = await asyncio.wait_for(process.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"the phones stopped early (exit {await process.wait()}, see {log.name})")
        return json.loads(line)

    try:
        step.setup = (await message(n / args.setup_rate + CALL_TIMEOUT + 30))["setup"]
        if step.established:
            await message(args.warmup + 30)  # start
            cpu0, machine0, t0 = tree_cpu([pid]), machine_times(), time.monotonic()
            waited0 = waited_for_core(pid)
            await message(args.seconds + 30)  # stop
            cpu1, machine1, t1 = tree_cpu([pid]), machine_times(), time.monotonic()
            step.cpu, step.wall, step.waited = cpu1 - cpu0, t1 - t0, waited_for_core(pid) - waited0
            step.machine = {kind: machine1[kind] - machine0[kind] for kind in machine0}
            step.rtp = (await message(60))["rtp"]
        step.teardown = (await message(n / 100 + CALL_TIMEOUT + 30))["teardown"]
        await asyncio.wait_for(process.wait(), 20)
    except (TimeoutError, RuntimeError, ValueError, KeyError) as exc:
        step.error = f"{type(exc).__name__}: {exc}"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return step


def ladder(target: str, pid: int, phone_args: list[str], args: argparse.Namespace, workdir: Path,
           alive) -> list[Step]:  # fmt: skip
    steps = []
    for n in args.calls:
        step = run_step(target, pid, n, phone_args, args, workdir / f"phones-{target}.log")
        if not alive():
            step.error = step.error or f"the {target} process died"
        steps.append(step)
        print("\n".join(step.lines()), flush=True)
        if step.problems():
            break
        time.sleep(1.0)  # ports and records of the last step are let go
    return steps


# -- targets


def bench_engine(args: argparse.Namespace, workdir: Path) -> list[Step]:
    users = edge_setup.provision(max(args.calls) + 1, database=DATABASE, redis_db=REDIS_DB, prefix=PREFIX)
    from telephony.directory import sip_directory_sync
    from tenants.models import Client

    callee, domain = users[0], users[0][1]
    Client.objects.filter(sip_domain=domain).update(max_calls=100_000)  # the limit is not what is measured
    sip_directory_sync()
    spec = workdir / "lines.json"  # secrets of scratch lines, removed with the work directory
    callers = [[u, s, f"{i:04d}"] for i, (u, _, s) in enumerate(users) if i]
    spec.write_text(json.dumps({"domain": domain, "callee": [callee[0], callee[2], "0000"], "callers": callers}))
    spec.chmod(0o600)
    edge_port, callee_port = free_port(), free_port()
    procs = edge_setup.start(1, edge_port)
    try:
        engine, engine_port = start_engine(edge_port, workdir / "engine.log", {"OCX_ENGINE_DRAIN": "2"})
        procs.append(engine)
        wait_for_engine(engine_port)
        print(f"[engine] edge on 127.0.0.1:{edge_port} (1 process), call engine pid {engine.pid} on :{engine_port}; "
              f"{len(users) - 1} calling lines, 1 called line", flush=True)  # fmt: skip
        phone_args = ["--via", "sip", "--spec", str(spec), "--edge-port", str(edge_port), "--callee-port",
                      str(callee_port)]  # fmt: skip
        return ladder("engine", engine.pid, phone_args, args, workdir, lambda: engine.poll() is None)
    finally:
        stop_procs(procs)
        from config.redis_store import get_redis

        redis = get_redis()  # the scratch lines' directory, bindings and registry go with the database
        for keys in _batched(redis.scan_iter(match=f"{PREFIX}:*", count=1000), 1000):
            redis.delete(*keys)


def _batched(items, size: int):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def ensure_rtpengine() -> str:
    """rtpengine's path; Debian's rtpengine-daemon is installed when missing and root. '' if not there."""
    if not shutil.which("rtpengine") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing rtpengine-daemon (apt-get)", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "rtpengine-daemon"], env=env, check=False, timeout=900)
        # On a systemd host the package enables daemons listening on every interface; the bench runs
        # its own on 127.0.0.1 and wants no other.
        if Path("/run/systemd/system").exists():
            subprocess.run(["systemctl", "disable", "--now", "rtpengine-daemon.service",
                            "rtpengine-recording-daemon.service"], check=False)  # fmt: skip
    return shutil.which("rtpengine") or ""


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def ng_ping(port: int, timeout: float) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        deadline = time.monotonic() + timeout
        attempt = 0
        while time.monotonic() < deadline:
            attempt += 1
            sock.sendto(f"bench-ping-{os.getpid()}-{attempt} ".encode() + bencode({"command": "ping"}),
                        ("127.0.0.1", port))  # fmt: skip
            try:
                reply = sock.recv(4096)
            except TimeoutError:
                continue
            if bdecode(reply.partition(b" ")[2])[0].get("result") == "pong":
                return True
        return False


def bench_rtpengine(binary: str, args: argparse.Namespace, workdir: Path) -> list[Step]:
    ng_port = free_port()
    command = [binary, "--config-file=none", "--table=-1", "--interface=127.0.0.1",
               f"--listen-ng=127.0.0.1:{ng_port}", "--foreground", "--log-stderr", "--log-level=4",
               f"--port-min={RTPENGINE_PORTS[0]}", f"--port-max={RTPENGINE_PORTS[1]}", "--delete-delay=0",
               "--timeout=60"]  # fmt: skip
    with (workdir / "rtpengine.log").open("wb") as log:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=_die_with_parent)  # fmt: skip
    try:
        if not ng_ping(ng_port, 10):
            tail = (workdir / "rtpengine.log").read_text(errors="replace")[-1500:]
            raise RuntimeError(f"rtpengine did not answer ng ping on 127.0.0.1:{ng_port}:\n{tail}")
        print(f"[rtpengine] pid {proc.pid}, ng on 127.0.0.1:{ng_port}, userspace (--table=-1), "
              f"{os.cpu_count()} worker threads (its default)", flush=True)  # fmt: skip
        return ladder("rtpengine", proc.pid, ["--via", "ng", "--ng-port", str(ng_port)], args, workdir,
                      lambda: proc.poll() is None)  # fmt: skip
    finally:
        stop_procs([proc])


# -- report


def best(steps: list[Step]) -> Step | None:
    clean = [s for s in steps if not s.problems()]
    return clean[-1] if clean else None


def version(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "?"


def report(results: dict[str, list[Step]], skipped: dict[str, str], args: argparse.Namespace, load0: float) -> None:
    try:
        import uvloop

        uvloop_version = uvloop.__version__
    except ImportError:
        uvloop_version = "not installed"
    print("\nConditions:")
    print(f"  {os.cpu_count()} cores, load average {load0:.2f} at the start, {os.getloadavg()[0]:.2f} at the end "
          f"(other work on the machine is not stopped: see 'other processes' per step)")  # fmt: skip
    print(f"  Python {stdlib_platform.python_version()}, uvloop {uvloop_version}; rtpengine "
          f"{version(['rtpengine', '--version']) if 'rtpengine' in results else 'not run'}")  # fmt: skip
    print(f"  per call 2 phones x 50 packets/s of 172 bytes (PCMU, 20 ms), both ways; {args.warmup:g} s warm-up, "
          f"{args.seconds:g} s measured; calls set up at {args.setup_rate:g}/s; ladder {args.calls}")  # fmt: skip
    print(f"  clean: every call set up, loss <= {LOSS_LIMIT:g}% each way, p99 |D| < {JITTER_LIMIT:g} ms "
          "(|D| = difference of consecutive packets' transit times, RFC 5481 IPDV)")  # fmt: skip
    print("  CPU: user + system of the relaying process from /proc/<pid>/stat over the window")
    for target, reason in skipped.items():
        print(f"  {target}: not run: {reason}")
    engine, reference = best(results.get("engine", [])), best(results.get("rtpengine", []))
    if "engine" in results:
        print(f"RESULT engine_media_max_calls={engine.calls if engine else 0} calls")
        if engine:
            print(f"RESULT engine_media_cpu_per_call={engine.per_call:.3f} ms/s")
            print(f"RESULT engine_media_core={engine.core * 100:.1f} %")
            print(f"RESULT engine_media_loss={engine.loss:.3f} %")
            print(f"RESULT engine_media_jitter_p99={engine.ipdv_p99:.2f} ms")
    if "rtpengine" in results:
        print(f"RESULT engine_media_rtpengine_max_calls={reference.calls if reference else 0} calls")
        if reference:
            print(f"RESULT engine_media_rtpengine_cpu_per_call={reference.per_call:.3f} ms/s")
    both = [(e, r) for e in results.get("engine", []) for r in results.get("rtpengine", [])
            if e.calls == r.calls and not e.problems() and not r.problems() and r.per_call]  # fmt: skip
    if both:
        e, r = both[-1]
        print(f"(CPU ratio at {e.calls} calls, the largest ladder step both held clean)")
        print(f"RESULT engine_media_cpu_vs_rtpengine={e.per_call / r.per_call:.2f} x")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", default=",".join(map(str, DEFAULT_CALLS)), help="the ladder of concurrent calls")
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring window per step")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--setup-rate", type=float, default=100.0, help="calls set up per second")
    parser.add_argument("--targets", default="engine,rtpengine")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args(argv)
    args.calls = [int(n) for n in args.calls.split(",")]
    args.targets = [t for t in args.targets.split(",") if t]
    if not all(1 <= n <= 2000 for n in args.calls) or not 0 < args.seconds <= 60 or not 0 <= args.warmup <= 10:
        parser.error("--calls each 1-2000, --seconds up to 60, --warmup up to 10")
    if not 1 <= args.setup_rate <= 500 or set(args.targets) - {"engine", "rtpengine"}:
        parser.error("--setup-rate 1-500, --targets engine and/or rtpengine")
    return args


def _interrupted(signum, frame) -> None:
    """SIGTERM unwinds like Ctrl-C: every finally stops what it started (a second one is ignored)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupted)
    load0 = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="ocx-bench-media-"))
    results: dict[str, list[Step]] = {}
    skipped: dict[str, str] = {}
    try:
        for target in args.targets:
            try:
                if target == "engine":
                    results[target] = bench_engine(args, workdir)
                else:
                    binary = ensure_rtpengine()
                    if not binary:
                        skipped[target] = "rtpengine not installed (Debian rtpengine-daemon; run as root to install)"
                        continue
                    results[target] = bench_rtpengine(binary, args, workdir)
            except RuntimeError as exc:
                skipped[target] = str(exc)
                print(f"[{target}] not run: {exc}", flush=True)
        report(results, skipped, args, load0)
    except KeyboardInterrupt:
        print("interrupted: the processes this bench started are stopped", flush=True)
        return 130
    finally:
        if args.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
