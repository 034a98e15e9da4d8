"""Benchmark: REGISTER with digest authentication, driven by SIPp, against our edge and Kamailio.

    .venv/bin/python bench/sip_register.py [--users 10000] [--targets kamailio,edge1,edge2]

For each target (a registrar on 127.0.0.1): every user registers once (warm-up, so the measured
runs refresh existing bindings), then a fixed run at a moderate rate measures the CPU seconds
the target's processes spend per 1,000 registrations, then SIPp climbs a ladder of rates and the
highest rate with zero failed registrations, zero retransmissions and an achieved rate within
5% of the asked one is the target's maximum. Each registration is REGISTER -> 401 -> REGISTER
with credentials -> 200 (tests/sip/sipp/register_auth.xml), one UDP socket per registration
(SIPp -t un), so that with two edge processes on one SO_REUSEPORT port the kernel spreads the
load across both.

Targets: kamailio (Debian's, bench/kamailio/kamailio.cfg, 2 UDP workers), edge1 and edge2 (our
edge with one or two processes; see start_edge() and provision_users() below). Targets that
cannot run are listed with the reason. The last lines are RESULT lines (bench/README.md).
Bounded: every SIPp run has a registration count and a time limit; all traffic stays on
127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import platform as stdlib_platform
import secrets
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
SCENARIO = ROOT / "tests" / "sip" / "sipp" / "register_auth.xml"
sys.path.insert(0, str(ROOT / "bench" / "kamailio"))
import registrar as kamailio_registrar  # noqa: E402  (bench/kamailio/registrar.py, a script folder)

DEFAULT_RATES = [500, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000, 12000]
BENCH_DOMAIN = "bench.example"


# --------------------------------------------------------------------------------------------
# The edge's side. EDGE ENGINEER: fill in these two functions; nothing else here needs to change.
# --------------------------------------------------------------------------------------------


def start_edge(processes: int, port: int) -> list[subprocess.Popen]:
    """Start `processes` edge processes sharing UDP 127.0.0.1:`port` (SO_REUSEPORT) and return them."""
    import edge_setup

    return edge_setup.start(processes, port)


def provision_users(n: int) -> list[tuple[str, str, str]]:
    """Create `n` SIP users the edge will authenticate; return (username, domain, password) each."""
    import edge_setup

    return edge_setup.provision(n)


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds incl. waited-for children) of a live process, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return ppid, (utime + stime + cutime + cstime) / CLK_TCK


def tree_cpu(roots: list[int]) -> float:
    """CPU seconds (user + system) of the root processes and all their live descendants."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _proc_stat(int(entry))
            if stat is not None:
                stats[int(entry)] = stat
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo, seen = 0.0, list(roots), set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in stats:
            continue
        seen.add(pid)
        total += stats[pid][1]
        todo.extend(children.get(pid, []))
    return total


def machine_busy() -> float:
    """CPU seconds all cores have spent busy since boot (everything but idle and iowait)."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    # guest time is already inside user time
    return (sum(values[:8]) - idle) / CLK_TCK


@dataclass
class SippRun:
    rate: int
    count: int
    exit_code: int
    wall: float
    sipp_cpu: float
    target_cpu: float
    machine_cpu: float
    stats: dict[str, str] = field(default_factory=dict)

    @property
    def others_cpu(self) -> float:
        """CPU the rest of the machine used meanwhile (other work competing with the bench)."""
        return max(0.0, self.machine_cpu - self.target_cpu - self.sipp_cpu)

    def counter(self, name: str) -> int:
        value = self.stats.get(name, "")
        return int(float(value)) if value else -1

    @property
    def successful(self) -> int:
        return self.counter("SuccessfulCall(C)")

    @property
    def failed(self) -> int:
        return self.counter("FailedCall(C)")

    @property
    def retransmissions(self) -> int:
        return self.counter("Retransmissions(C)")

    @property
    def achieved(self) -> float:
        # SIPp's cumulative rate: calls created / seconds since the start, at the final dump.
        value = self.stats.get("CallRate(C)", "")
        return float(value) if value else 0.0

    @property
    def complete(self) -> bool:
        """The final statistics row is there and accounts for every registration asked for."""
        return self.counter("TotalCallCreated") == self.count

    def problems(self) -> list[str]:
        found = []
        if not self.complete:
            created = self.counter("TotalCallCreated")
            found.append(f"SIPp stopped after {created} of {self.count} (exit {self.exit_code})")
        if self.failed:
            found.append(f"{self.failed} failed")
        if self.retransmissions:
            found.append(f"{self.retransmissions} retransmissions")
        if self.exit_code != 0:
            found.append(f"SIPp exit code {self.exit_code}")
        if self.achieved < 0.95 * self.rate:
            found.append(f"achieved {self.achieved:.0f}/s < 95% of {self.rate}/s")
        return found

    def line(self) -> str:
        state = "clean" if not self.problems() else "; ".join(self.problems())
        return (
            f"  {self.rate:>6}/s x {self.count:>6}: achieved {self.achieved:8.1f}/s, ok {self.successful:>6}, "
            f"failed {self.failed}, retrans {self.retransmissions}; CPU in cores: target "
            f"{self.target_cpu / self.wall:4.2f}, SIPp {self.sipp_cpu / self.wall:4.2f}, "
            f"others {self.others_cpu / self.wall:4.2f} -> {state}"
        )


def read_final_stats(path: Path) -> dict[str, str]:
    """The last row of SIPp's -trace_stat file, as {column: value}.

    SIPp writes a header row, a row every -fd period and a final row when it exits; the final
    row's cumulative (C) counters cover the whole run. If SIPp died before that row, the
    TotalCallCreated check in SippRun.complete catches it.
    """
    if not path.exists():
        return {}
    with path.open(newline="") as handle:
        rows = [row for row in csv.reader(handle, delimiter=";") if row]
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False))


def run_sipp(
    *,
    workdir: Path,
    port: int,
    users_csv: Path,
    rate: int,
    count: int,
    target_pids: list[int],
    label: str,
) -> SippRun:
    """One bounded SIPp run: `count` registrations at `rate`/s; measures SIPp's and the target's CPU."""
    run_dir = workdir / f"sipp-{label}-{rate}"
    run_dir.mkdir(parents=True, exist_ok=True)
    # One socket per call is held while a registration is in flight: allow a second of them.
    concurrent = max(200, min(rate, 8000))
    limit_s = int(count / rate * 3) + 15
    cmd = [
        "sipp",
        f"127.0.0.1:{port}",
        "-sf",
        str(SCENARIO),
        "-inf",
        str(users_csv),
        "-auth_uri",
        BENCH_DOMAIN,  # the digest uri is the Request-URI (SIPp's own default is the target's address)
        "-t",
        "un",
        "-i",
        "127.0.0.1",
        "-bind_local",  # SIPp's sockets on the loopback address only
        "-p",
        str(free_port()),
        "-ci",
        "127.0.0.1",  # its control socket too
        "-cp",
        str(free_port()),
        "-m",
        str(count),
        "-r",
        str(rate),
        "-rp",
        "1000",
        "-l",
        str(concurrent),
        "-max_socket",
        str(concurrent + 500),
        "-recv_timeout",
        "4000",
        "-timeout",
        f"{limit_s}s",
        "-timeout_error",
        "-nostdin",
        "-trace_stat",
        "-stf",
        str(run_dir / "stat.csv"),
        "-fd",
        "1",
        "-trace_screen",
        "-screen_file",
        str(run_dir / "screen.log"),
        "-trace_err",
        "-error_file",
        str(run_dir / "errors.log"),
    ]
    cpu_before = tree_cpu(target_pids)
    machine_before = machine_busy()
    started = time.monotonic()
    with (run_dir / "stdout.log").open("wb") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    # wait4 gives SIPp's own CPU time (rusage); poll so a hung SIPp is killed at the deadline.
    deadline = started + limit_s + 10
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    target_cpu = tree_cpu(target_pids) - cpu_before
    machine_cpu = machine_busy() - machine_before
    return SippRun(
        rate=rate,
        count=count,
        exit_code=proc.returncode,
        wall=wall,
        sipp_cpu=usage.ru_utime + usage.ru_stime,
        target_cpu=target_cpu,
        machine_cpu=machine_cpu,
        stats=read_final_stats(run_dir / "stat.csv"),
    )


def free_port() -> int:
    """A UDP port on 127.0.0.1 free right now (bind-and-release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_users_csv(path: Path, users: list[tuple[str, str, str]]) -> None:
    # field3 is SIPp's authentication keyword itself (see the scenario's comment for why).
    lines = ["SEQUENTIAL"]
    for username, domain, password in users:
        lines.append(f"{username};{domain};{password};[authentication username={username} password={password}]")
    path.write_text("\n".join(lines) + "\n")


# --------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    port: int
    procs: list[subprocess.Popen]
    users: list[tuple[str, str, str]]
    description: str

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]


def bench_users(n: int) -> list[tuple[str, str, str]]:
    return [(f"u{i:05d}", BENCH_DOMAIN, secrets.token_hex(8)) for i in range(n)]


def start_target(name: str, workdir: Path, args: argparse.Namespace, cache: dict) -> Target:
    n_users = args.users
    port = free_port()
    if name == "kamailio":
        users = bench_users(n_users)
        proc = kamailio_registrar.start(
            workdir / "kamailio", port, users, children=args.kamailio_children, tcp=False, shm_mb=args.kamailio_shm_mb
        )
        workers = f"{args.kamailio_children} UDP workers"
        return Target(name, port, [proc], users, f"Kamailio, {workers}, in-memory usrloc, HA1 in htable")
    if name in ("edge1", "edge2"):
        if "edge_users" not in cache:
            cache["edge_users"] = provision_users(n_users)
        processes = int(name[-1])
        procs = start_edge(processes, port)
        deadline = time.monotonic() + 15
        while not kamailio_registrar.sip_ping(port, timeout=0.3):
            if time.monotonic() > deadline:
                stop_procs(procs)
                raise RuntimeError(f"edge did not answer OPTIONS on 127.0.0.1:{port}")
        return Target(name, port, procs, cache["edge_users"], f"OpenCentrex edge, {processes} process(es)")
    raise ValueError(f"unknown target {name!r} (kamailio, edge1, edge2)")


def stop_procs(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def stop_target(target: Target) -> None:
    if target.name == "kamailio":
        kamailio_registrar.stop(target.procs[0])
    else:
        stop_procs(target.procs)


@dataclass
class Outcome:
    target: str
    description: str = ""
    max_rate: int | None = None
    ladder_top_clean: bool = False
    cpu_per_1000: float | None = None
    cpu_run: SippRun | None = None
    runs: list[SippRun] = field(default_factory=list)
    skipped: str = ""


def bench_target(name: str, args: argparse.Namespace, workdir: Path, cache: dict) -> Outcome:
    outcome = Outcome(name)
    try:
        target = start_target(name, workdir, args, cache)
    except (NotImplementedError, RuntimeError, FileNotFoundError) as exc:
        outcome.skipped = str(exc)
        print(f"[{name}] not run: {exc}", flush=True)
        return outcome
    outcome.description = target.description
    csv_path = workdir / f"users-{name}.csv"
    write_users_csv(csv_path, target.users)
    n = len(target.users)
    common = {"workdir": workdir, "port": target.port, "users_csv": csv_path, "target_pids": target.pids}
    try:
        print(f"[{name}] {target.description} on 127.0.0.1:{target.port}, {n} users", flush=True)
        warm = run_sipp(rate=min(args.cpu_rate, 1000), count=n, label=f"{name}-warmup", **common)
        print(f"[{name}] warm-up (every user registers once):\n{warm.line()}", flush=True)
        cpu = run_sipp(rate=args.cpu_rate, count=n, label=f"{name}-cpu", **common)
        outcome.cpu_run = cpu
        if cpu.successful > 0:
            outcome.cpu_per_1000 = cpu.target_cpu / (cpu.successful / 1000)
        print(
            f"[{name}] CPU run at {args.cpu_rate}/s: target {cpu.target_cpu:.2f} s CPU for {cpu.successful} "
            f"registrations, SIPp {cpu.sipp_cpu:.2f} s\n{cpu.line()}",
            flush=True,
        )
        print(f"[{name}] rate ladder, {args.step_seconds} s per step:", flush=True)
        for rate in args.rates:
            run = run_sipp(rate=rate, count=rate * args.step_seconds, label=name, **common)
            outcome.runs.append(run)
            print(run.line(), flush=True)
            if run.problems():
                break
            outcome.max_rate = rate
        else:
            outcome.ladder_top_clean = True
    finally:
        stop_target(target)
    return outcome


# --------------------------------------------------------------------------------------------
# Tools, conditions, report
# --------------------------------------------------------------------------------------------


def ensure_tools(targets: list[str]) -> dict[str, str]:
    """Install SIPp and Kamailio from Debian when missing and root; returns {tool: reason missing}."""
    wanted = {"sipp": "sip-tester"}
    if "kamailio" in targets:
        wanted["kamailio"] = "kamailio"
    missing = {
        tool: pkg
        for tool, pkg in wanted.items()
        if not (kamailio_registrar.kamailio_binary() if tool == "kamailio" else shutil.which(tool))
    }
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"installing {' '.join(missing.values())} (apt-get)", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", *missing.values()], env=env, check=False)
        # On a systemd host the package enables a kamailio service listening on every interface;
        # the bench runs its own Kamailio on 127.0.0.1 and wants no other one.
        if "kamailio" in missing and Path("/run/systemd/system").exists():
            subprocess.run(["systemctl", "disable", "--now", "kamailio.service"], check=False)
    still = {}
    for tool, pkg in wanted.items():
        found = kamailio_registrar.kamailio_binary() if tool == "kamailio" else shutil.which(tool)
        if not found:
            still[tool] = f"{tool} not installed (Debian package {pkg}; run as root to let the bench install it)"
    return still


def first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    lines = [line.strip() for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    return lines[0] if lines else "?"


def conditions(args: argparse.Namespace) -> list[str]:
    cpu_model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    return [
        f"machine: {os.cpu_count()} cores ({cpu_model}), Linux {stdlib_platform.release()}, "
        f"load average (1 min) at the start {args.load_at_start:.2f}, at the end {os.getloadavg()[0]:.2f}",
        f"python {stdlib_platform.python_version()}; {first_line(['sipp', '-v'])}; "
        f"{first_line([kamailio_registrar.kamailio_binary() or 'kamailio', '-v'])}",
        f"users: {args.users}; scenario {SCENARIO.relative_to(ROOT)} (REGISTER, 401 digest MD5 qop=auth, "
        "REGISTER with credentials, 200; Expires 3600)",
        "SIPp: UDP, -t un (one socket per registration), -rp 1000, T1 500 ms retransmissions counted, "
        f"warm-up pass then CPU run at {args.cpu_rate}/s x all users, then ladder {args.rates} "
        f"x {args.step_seconds} s each; SIPp and the target share the machine",
    ]


def report(outcomes: list[Outcome], args: argparse.Namespace) -> None:
    print("\n== conditions")
    for line in conditions(args):
        print(line)
    print("\n== results")
    done = {o.target: o for o in outcomes if not o.skipped}
    for outcome in outcomes:
        if outcome.skipped:
            print(f"{outcome.target}: could not run: {outcome.skipped}")
            continue
        top = " (ladder top reached clean: the real maximum is higher, extend --rates)" * outcome.ladder_top_clean
        print(f"{outcome.target}: {outcome.description}")
        print(f"  max clean rate: {outcome.max_rate or 0} reg/s{top}")
        if outcome.runs:
            last = outcome.runs[-1]
            sipp_load = last.sipp_cpu / last.wall
            print(
                f"  at the last step ({last.rate}/s): SIPp used {sipp_load:.2f} cores, "
                f"the target {last.target_cpu / last.wall:.2f} (of {os.cpu_count()})"
            )
            if sipp_load > 0.85:
                print("  note: SIPp was near one full core: the load generator may be the limit here")
            if last.others_cpu / last.wall > 0.2:
                print(
                    f"  note: other work on the machine used {last.others_cpu / last.wall:.2f} cores during "
                    "that step: the figure is lower than on a quiet machine"
                )
        if outcome.cpu_per_1000 is not None:
            run = outcome.cpu_run
            print(
                f"  CPU per 1,000 registrations: {outcome.cpu_per_1000:.3f} s (target), "
                f"{run.sipp_cpu / (run.successful / 1000):.3f} s (SIPp), at {run.rate}/s"
            )
    print()
    for outcome in outcomes:
        if outcome.skipped:
            continue
        print(f"RESULT sip_register_{outcome.target}_max_rate={outcome.max_rate or 0} reg/s")
        if outcome.cpu_per_1000 is not None:
            print(f"RESULT sip_register_{outcome.target}_cpu_per_1000={outcome.cpu_per_1000:.3f} s")
    reference = done.get("kamailio")
    for name in ("edge1", "edge2"):
        edge = done.get(name)
        if reference and edge and reference.cpu_per_1000 and edge.cpu_per_1000 is not None:
            print(f"RESULT sip_register_{name}_cpu_vs_kamailio={edge.cpu_per_1000 / reference.cpu_per_1000:.2f} x")
        if reference and edge and reference.max_rate:
            print(f"RESULT sip_register_{name}_rate_vs_kamailio={(edge.max_rate or 0) / reference.max_rate:.2f} x")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--targets", default="kamailio,edge1,edge2")
    parser.add_argument("--rates", default=",".join(map(str, DEFAULT_RATES)), help="ladder, reg/s, ascending")
    parser.add_argument("--step-seconds", type=int, default=5, help="each ladder step sends rate x this many")
    parser.add_argument("--cpu-rate", type=int, default=1000, help="rate of the CPU measurement run")
    # tm keeps every transaction 5 s after its final reply (wt_timer): at 8,000 reg/s that is
    # 80,000 transactions in shared memory; with 1 GB Kamailio ran out (500s) at 8,000/s.
    # 2 workers: comparable with our edge's one or two processes on this 2-core machine.
    parser.add_argument("--kamailio-children", type=int, default=2, help="Kamailio UDP workers (-n)")
    parser.add_argument("--kamailio-shm-mb", type=int, default=4096, help="Kamailio shared memory (-m)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (SIPp and target logs)")
    args = parser.parse_args(argv)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    args.rates = sorted(int(r) for r in args.rates.split(","))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.load_at_start = os.getloadavg()[0]
    missing = ensure_tools(args.targets)
    workdir = Path(tempfile.mkdtemp(prefix="ocx-bench-sip-"))
    print(f"work directory: {workdir}", flush=True)
    outcomes: list[Outcome] = []
    cache: dict = {}
    try:
        for name in args.targets:
            if "sipp" in missing or (name == "kamailio" and "kamailio" in missing):
                reason = missing.get("sipp") or missing["kamailio"]
                outcomes.append(Outcome(name, skipped=reason))
                print(f"[{name}] not run: {reason}", flush=True)
                continue
            outcomes.append(bench_target(name, args, workdir, cache))
        report(outcomes, args)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if any(not o.skipped for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
