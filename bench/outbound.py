"""Benchmark: outbound calls per second through the edge and one engine to three carriers (issue 14).

    .venv/bin/python bench/outbound.py [--rates 50,100,150,200] [--step-seconds 10] [--rows 100000]

A client of 100 lines in the US (its policy allows national calls) dials 650 253 0000 as its users
would; the brand's least-cost route has three carriers with `--rows`-row cost decks (as
bench/outbound_routing.py builds them), and each carrier's gateway is a SIPp UAS answering 180 and
200. So each call is: SIPp UAC -> edge (digest) -> engine (numbering, policy, routing with the
carriers' health and limits read from Redis) -> edge -> carrier, and BYE after 200 ms. The rate
climbs a ladder; a step is clean when every call succeeded. Then, on the same database and data,
the routing decision alone is timed in-process (bench/outbound_routing.py's measure()), and one
carrier in front answering 503 shows what failover adds to a call's setup time.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
import edge_setup  # noqa: E402  (bench/edge_setup.py)
import outbound_routing  # noqa: E402
from engine import SCENARIOS, sipp, start_engine, step_line, wait_for_engine  # noqa: E402
from sip_register import free_port, tree_cpu  # noqa: E402

DIALLED, E164 = "6502530000", "+16502530000"


def carriers_answering(workdir: Path, count: int, scenario: str = "engine_uas.xml") -> list[tuple[object, int]]:
    made = []
    for _ in range(count):
        port = free_port()
        proc = subprocess.Popen(["sipp", "-sf", str(SCENARIOS / scenario), "-i", "127.0.0.1", "-bind_local", "-p",
                                 str(port), "-mp", str(free_port()), "-cp", str(free_port()), "-nostdin", "-t", "u1"],
                                cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        made.append((proc, port))
    return made


def setup_times(workdir: Path, edge_port: int, domain: str, label: str, calls: int = 20) -> list[float]:
    """Authenticated-INVITE-to-200 times (ms) of `calls` calls at 5 a second (call_auth.xml's "setup"
    response-time marker, from SIPp's -trace_rtt file)."""
    run = workdir / label
    code, _, _ = sipp(
        [f"127.0.0.1:{edge_port}", "-sf", str(SCENARIOS / "call_auth.xml"), "-inf", str(workdir / "callers.csv"),
         "-s", DIALLED, "-t", "u1", "-r", "5", "-m", str(calls), "-auth_uri", f"{DIALLED}@{domain}",
         "-p", str(free_port()), "-mp", str(free_port()), "-cp", str(free_port()), "-trace_rtt", "-rtt_freq", "1"],
        workdir, label, 60,
    )  # fmt: skip
    times = []
    for rtt in run.glob("*_rtt.csv"):
        for line in rtt.read_text().splitlines()[1:]:
            fields = line.split(";")
            if len(fields) >= 2 and fields[1].replace(".", "", 1).isdigit():  # Date_ms;response_time_ms;rtd_no
                times.append(float(fields[1]))
    return times if code == 0 else []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="50,100,150,200")
    parser.add_argument("--step-seconds", type=int, default=10)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--decisions", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    if not shutil.which("sipp"):
        print("sipp is missing (Debian sip-tester)")
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="ocx-bench-outbound-"))
    os.environ["OCX_SIP_GATEWAY_PING"] = "0"  # SIPp's carriers take INVITEs only
    users = edge_setup.provision(100, database="ocx_bench_outbound", redis_db=5, prefix="ocx-bench-out")
    from pstn.models import OutboundPolicy
    from telephony.directory import sip_directory_sync
    from tenants.models import Client

    client = Client.objects.get(sip_domain=users[0][1])
    Client.objects.filter(pk=client.pk).update(max_calls=100_000, country="US")
    OutboundPolicy.objects.create(client=client, allow_national=True)
    (workdir / "callers.csv").write_text("SEQUENTIAL\n" + "".join(
        f"{u};{d};{s};[authentication username={u} password={s}]\n" for u, d, s in users))  # fmt: skip
    gateways = carriers_answering(workdir, 3)
    began = time.monotonic()
    made = outbound_routing.build(args, brand=client.brand, gateways=[("127.0.0.1", port) for _, port in gateways])
    built = time.monotonic() - began
    sip_directory_sync()
    edge_port = free_port()
    edges = edge_setup.start(1, edge_port)
    engine, engine_port = start_engine(edge_port, workdir / "engine.log")
    procs = [*edges, engine]
    results: dict[str, float] = {}
    try:
        wait_for_engine(engine_port)
        print(f"edge on 127.0.0.1:{edge_port}, engine on :{engine_port}; 3 carriers x {args.rows} deck rows "
              f"(built in {built:.1f} s), least-cost route; each gateway a SIPp UAS")  # fmt: skip
        print("[outbound through edge and engine] rate ladder:")
        best = 0
        for rate in rates:
            count = rate * args.step_seconds
            before, started = tree_cpu([p.pid for p in procs]), time.monotonic()
            code, stats, _ = sipp(
                [f"127.0.0.1:{edge_port}", "-sf", str(SCENARIOS / "call_auth.xml"), "-inf",
                 str(workdir / "callers.csv"), "-s", DIALLED, "-t", "u1", "-r", str(rate), "-m", str(count),
                 "-l", str(rate * 3), "-auth_uri", f"{DIALLED}@{client.sip_domain}", "-p", str(free_port()),
                 "-mp", str(free_port()), "-cp", str(free_port())],
                workdir, f"out-{rate}", args.step_seconds * 3 + 20,
            )  # fmt: skip
            wall, cpu = time.monotonic() - started, tree_cpu([p.pid for p in procs]) - before
            clean, line = step_line(rate, count, code, stats, wall, cpu)
            print(line, flush=True)
            if not clean:
                break
            best = rate
            results["per_call"] = cpu / count * 1000
        results["rate"] = best

        direct = setup_times(workdir, edge_port, client.sip_domain, "setup-direct")
        # A carrier answering 503 put first (the cheapest): every call fails over to the next one.
        failing = carriers_answering(workdir, 1, "carrier_503.xml")
        from billing.models import Carrier, Rate, RateDeck
        from pstn.models import Gateway, OutboundRoute, RouteCarrier

        first = Carrier.objects.create(name="Bench failing", brand=client.brand)
        Gateway.objects.create(carrier=first, name="gw", host="127.0.0.1", port=failing[0][1],
                               inbound_networks="192.0.2.9/32")  # fmt: skip
        deck = RateDeck.objects.create(carrier=first, name="Bench failing")
        Rate.objects.create(
            deck=deck,
            prefix="1",
            description="US",
            price_per_minute="0.0000",
            effective_from=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
        )  # the cheapest
        RouteCarrier.objects.create(route=OutboundRoute.objects.get(brand=client.brand), carrier=first, priority=0)
        sip_directory_sync()
        time.sleep(1.0)  # the engine's router is dropped on the directory's announcement; a call reloads it
        from django.utils import timezone

        from records.models import Cdr

        since = timezone.now()
        failover = setup_times(workdir, edge_port, client.sip_domain, "setup-failover")
        time.sleep(1.0)  # the engine's writer
        took = Cdr.objects.filter(started_at__gte=since, disposition="answered").exclude(carrier=first)
        results["failed_over"] = took.count()
        gateways += failing
        if direct and failover:
            results["direct_setup"] = statistics.median(direct)
            results["failover_setup"] = statistics.median(failover)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
        for proc, _ in gateways:
            proc.terminate()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"work directory kept: {workdir}")
    print("[the routing decision alone, in-process, same data]")
    outbound_routing.measure(args, made)
    print(f"\nconditions: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; calls of 200 ms with SDP and"
          f" no RTP; SIPp shares the machine; steps of {args.step_seconds} s; ladder {rates}")  # fmt: skip
    print(f"RESULT outbound_calls_per_second={results.get('rate', 0)} calls/s")
    print(f"RESULT outbound_cpu_per_call={results.get('per_call', 0):.2f} ms")
    if "direct_setup" in results:
        print(f"RESULT outbound_setup_median={results['direct_setup']:.1f} ms")
        print(f"RESULT outbound_setup_with_failover_median={results['failover_setup']:.1f} ms")
        print(f"RESULT outbound_failed_over_calls={results.get('failed_over', 0)} calls")
    return 0


if __name__ == "__main__":
    sys.exit(main())
