"""Benchmark: calls per second through the edge and one call engine, driven by SIPp.

    .venv/bin/python bench/engine.py [--rates 25,50,100,150,200,250,300] [--step-seconds 10] [--keep]

A SIPp UAC (tests/sip/sipp/call_auth.xml: INVITE, 407, INVITE with credentials, 180, 200, ACK,
200 ms of call, BYE) calls an extension whose only device is a SIPp UAS (engine_uas.xml) registered
through the edge, so each call is: phone -> edge -> engine -> edge -> phone, both legs anchored in
the engine. The rate climbs a ladder; a step is clean when every call succeeded with no failed
call, and the result is the highest clean step. The CPU of the edge and the engine (each process
and its descendants, from /proc) per call is measured at every step. In the same run, SIPp's
built-in UAC calls its built-in UAS directly at the same rates: the machine's limit for this
load generator, with nothing of ours in between.

Media: these calls carry SDP but no RTP (SIPp sends none); the RTP relay is measured by
bench/rtp_relay.py, and calls held with RTP through the edge and the engine by bench/engine_media.py
(which starts the engine with start_engine() below). Conditions and figures are printed, then one
RESULT line per figure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "tests" / "sip" / "sipp"
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
import edge_setup  # noqa: E402  (bench/edge_setup.py)
from sip_register import free_port, read_final_stats, tree_cpu  # noqa: E402

DEFAULT_RATES = [25, 50, 100, 150, 200, 250, 300]


def start_engine(edge_port: int, log: Path, extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, int]:
    """One `manage.py call_engine` behind the edge (RTP ports 30000-39999); (process, SIP port)."""
    port, rtp = free_port(), 30000
    env = {**os.environ, **edge_setup._env, "OCX_LOG_LEVEL": "WARNING", "OCX_ENGINE_CAPACITY": "5000",
           **(extra_env or {})}  # fmt: skip
    command = [sys.executable, "manage.py", "call_engine", "--port", str(port), "--rtp-ports", f"{rtp}-{rtp + 9999}",
               "--edge", f"127.0.0.1:{edge_port}"]  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT), port


def wait_for_engine(port: int) -> None:
    from config.redis_store import get_redis
    from telephony.engine_registry import EngineInfo, registry_key

    key = registry_key(os.environ["OCX_REDIS_PREFIX"])
    deadline = time.monotonic() + 30
    while not any(EngineInfo.from_json(v).port == port for v in get_redis().hvals(key)):
        if time.monotonic() > deadline:
            raise RuntimeError("the engine did not announce itself")
        time.sleep(0.2)
    time.sleep(1.5)  # the edge rereads the registry every second


def register_uas(edge_port: int, user: tuple[str, str, str], uas_port: int) -> None:
    from tests.telephony.sipclient import SipClient

    name, domain, secret = user
    client = SipClient(("127.0.0.1", edge_port), name, domain, bind_port=uas_port)  # from the UAS's own port
    try:
        answer = client.register(secret, expires=3600)
        if answer.status != 200:
            raise RuntimeError(f"the UAS line did not register: {answer.status} {answer.reason}")
    finally:
        client.close()


def sipp(args: list[str], workdir: Path, label: str, limit: float) -> tuple[int, dict, float]:
    """Run SIPp to the end; (exit code, final statistics, SIPp's CPU seconds)."""
    run = workdir / label
    run.mkdir(parents=True, exist_ok=True)
    command = ["sipp", *args, "-i", "127.0.0.1", "-bind_local", "-nostdin", "-trace_stat", "-stf",
               str(run / "stat.csv"), "-fd", "1", "-trace_err", "-error_file", str(run / "errors.log"),
               "-timeout", f"{int(limit)}s"]  # fmt: skip
    with (run / "stdout.log").open("wb") as out:
        proc = subprocess.Popen(command, cwd=run, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    stats = read_final_stats(run / "stat.csv") if (run / "stat.csv").exists() else {}
    return os.waitstatus_to_exitcode(status), stats, usage.ru_utime + usage.ru_stime


def step_line(rate: int, count: int, code: int, stats: dict, wall: float, cpu: float | None) -> tuple[bool, str]:
    ok, failed = int(stats.get("SuccessfulCall(C)", 0)), int(stats.get("FailedCall(C)", 0))
    retrans = int(stats.get("Retransmissions(C)", 0))
    clean = code == 0 and ok == count and failed == 0
    achieved = ok / wall if wall else 0
    per_call = f", CPU per call {cpu / max(ok, 1) * 1000:.2f} ms" if cpu is not None else ""
    return clean, (f"    {rate:4d}/s x {count:5d}: ok {ok}, failed {failed}, retrans {retrans}, {achieved:.0f} calls/s"
                   f"{per_call} -> {'clean' if clean else 'NOT clean'}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default=",".join(map(str, DEFAULT_RATES)))
    parser.add_argument("--step-seconds", type=int, default=10)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    if not shutil.which("sipp"):
        print("sipp is missing (Debian sip-tester)")
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="ocx-bench-engine-"))
    users = edge_setup.provision(101)  # u00000 is the called line, the others call
    callee, callers = users[0], users[1:]
    from telephony.directory import sip_directory_sync
    from tenants.models import Client

    Client.objects.filter(sip_domain=callee[1]).update(max_calls=100_000)  # the limit is not what is measured
    sip_directory_sync()
    (workdir / "callers.csv").write_text("SEQUENTIAL\n" + "".join(
        f"{u};{d};{s};[authentication username={u} password={s}]\n" for u, d, s in callers))  # fmt: skip
    edge_port, uas_port = free_port(), free_port()
    edges = edge_setup.start(1, edge_port)
    engine, _ = start_engine(edge_port, workdir / "engine.log")
    procs = [*edges, engine]
    results: dict[str, int] = {}
    try:
        engine_port = next(int(a) for i, a in enumerate(engine.args) if engine.args[i - 1] == "--port")
        wait_for_engine(engine_port)
        register_uas(edge_port, callee, uas_port)
        uas = subprocess.Popen(["sipp", "-sf", str(SCENARIOS / "engine_uas.xml"), "-i", "127.0.0.1", "-bind_local",
                                "-p", str(uas_port), "-mp", str(free_port()), "-cp", str(free_port()), "-nostdin",
                                "-t", "u1"],
                               cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        print(f"edge on 127.0.0.1:{edge_port} (1 process), engine on :{engine_port}, callee {callee[0]} = SIPp UAS")
        print("[edge + engine] rate ladder:")
        best = 0
        for rate in rates:
            count = rate * args.step_seconds
            before, started = tree_cpu([p.pid for p in procs]), time.monotonic()
            engine_before = tree_cpu([engine.pid])
            code, stats, _ = sipp(
                [f"127.0.0.1:{edge_port}", "-sf", str(SCENARIOS / "call_auth.xml"), "-inf",
                 str(workdir / "callers.csv"), "-s", "0000", "-t", "u1", "-r", str(rate), "-m", str(count),
                 "-l", str(rate * 3), "-auth_uri", f"0000@{callee[1]}", "-p", str(free_port()), "-mp", str(free_port()),
                 "-cp", str(free_port())],
                workdir, f"platform-{rate}", args.step_seconds * 3 + 20,
            )  # fmt: skip
            wall, cpu = time.monotonic() - started, tree_cpu([p.pid for p in procs]) - before
            engine_cpu = tree_cpu([engine.pid]) - engine_before
            clean, line = step_line(rate, count, code, stats, wall, cpu)
            print(f"{line} (engine {engine_cpu / max(count, 1) * 1000:.2f} ms, edge"
                  f" {(cpu - engine_cpu) / max(count, 1) * 1000:.2f} ms a call)", flush=True)  # fmt: skip
            if not clean:
                break
            best = rate
            results["per_call"] = cpu / count * 1000
        results["platform"] = best
        uas.terminate()
        uas.wait(10)

        print("[SIPp UAC -> SIPp UAS directly] rate ladder:")
        direct_port = free_port()
        direct_uas = subprocess.Popen(["sipp", "-sn", "uas", "-i", "127.0.0.1", "-bind_local", "-p", str(direct_port),
                                       "-mp", str(free_port()), "-cp", str(free_port()), "-nostdin", "-t", "u1"],
                                      cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        best = 0
        for rate in rates:
            count = rate * args.step_seconds
            started = time.monotonic()
            code, stats, _ = sipp(
                [f"127.0.0.1:{direct_port}", "-sn", "uac", "-t", "u1", "-r", str(rate), "-m", str(count), "-l",
                 str(rate * 3), "-d", "200", "-p", str(free_port()), "-mp", str(free_port()), "-cp", str(free_port())],
                workdir, f"direct-{rate}", args.step_seconds * 3 + 20,
            )  # fmt: skip
            clean, line = step_line(rate, count, code, stats, time.monotonic() - started, None)
            print(line, flush=True)
            if not clean:
                break
            best = rate
        results["direct"] = best
        direct_uas.terminate()
        direct_uas.wait(10)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"work directory kept: {workdir}")
    print(f"\nconditions: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; calls of 200 ms with SDP and"
          f" no RTP; SIPp shares the machine; steps of {args.step_seconds} s; ladder {rates}")  # fmt: skip
    print(f"RESULT engine_calls_per_second={results.get('platform', 0)} calls/s")
    print(f"RESULT engine_cpu_per_call={results.get('per_call', 0):.2f} ms")
    print(f"RESULT engine_direct_sipp_calls_per_second={results.get('direct', 0)} calls/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
