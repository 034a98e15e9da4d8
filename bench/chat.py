"""Benchmark: web chat on ONE web process: many visitors chatting with agents at a steady message rate.

    .venv/bin/python bench/chat.py [--sessions 2000] [--agents 100] [--rate 200] [--seconds 30]

A scratch database and Redis database (bench/edge_setup.py's provision): a client with `--agents`
users, all logged-in members of one queue taking up to ceil(sessions / agents) chats each (at most
20), and one chat widget. One daphne process serves everything (the platform's ASGI application, as
`make run` starts it). This process is the load: `--agents` chat consoles (`/ws/chat/`, each with a
signed-in session) that accept every offer at once and answer every visitor line at once, and
`--sessions` visitors (`/chat/ws/<key>/` from the widget's origin, each from its own 127.x.y.z
address), arriving `--connect-rate` a second once every console is open, that say hello, start a chat
and wait until an agent has joined (a handshake refused or timed out is tried again, as the widget
does; a visitor that fails anyway is counted in the errors).

Then, for `--seconds`, visitors send `--rate` lines a second in all (each from a visitor picked at
random); each line carries the time it was sent. Figures:
- `chat_visitor_to_agent_p50/_p99` (ms): a visitor's line sent -> the agent's console has it;
- `chat_round_trip_p50/_p99` (ms): a visitor's line sent -> the agent's answer reaches the visitor
  (through the same process twice: visitor -> agent -> visitor);
- `chat_lines_lost`: lines with no answer 5 s after the end; `chat_lines_per_second`: lines sent;
- the web process's CPU (% of one core) during the lines, its resident memory, and the memory each
  session added (`chat_memory_per_session_kb`: resident memory after the sessions opened less before,
  per session); `chat_setup_seconds`: from the first visitor to every chat answered.
Target (issue 18): 2,000 sessions on one process, p99 under 100 ms at 200 lines a second. The load
runs on the same 2 cores as the web process, PostgreSQL and Redis: the figures include that sharing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The project's `chat` app, not this file, is `chat`: the bench folder goes last on the path.
sys.path = [
    str(ROOT),
    *(entry for entry in sys.path if Path(entry or ".").resolve() != ROOT / "bench"),
    str(ROOT / "bench"),
]
import edge_setup  # noqa: E402  (bench/edge_setup.py)
from sip_register import stop_procs  # noqa: E402

DATABASE, REDIS_DB, PREFIX = "ocx_bench_chat", 8, "ocx-bench-chat"  # nobody else's
ORIGIN = "http://shop.bench.example"
LATE = 5.0  # seconds after the end a line may still be answered
WEB_LOG = ROOT / "var" / "log" / "bench-chat-web.log"


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def prepare(agents: int, sessions: int) -> dict:
    """The client, its queue, its agents' sessions and its widget, in the scratch database."""
    edge_setup.provision(agents, database=DATABASE, redis_db=REDIS_DB, prefix=PREFIX)
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django_tenants.utils import tenant_context

    from chat.models import ChatWidget
    from queues.models import Agent, Member, Queue
    from telephony.models import Extension
    from tenants.models import Client, Domain, User

    client = Client.objects.get(name="Bench Co")
    host = Domain.objects.filter(tenant=client).values_list("domain", flat=True).first()
    limit = min(20, math.ceil(sessions / agents))
    with tenant_context(client):
        queue = Queue.objects.create(name="Web", strategy="fewest_calls", ring_seconds=30)
        lines = list(Extension.objects.order_by("number"))
        Member.objects.bulk_create([Member(queue=queue, extension=line, logged_in=True) for line in lines])
        Agent.objects.bulk_create([Agent(extension=line, chat_limit=limit) for line in lines])
        widget = ChatWidget.objects.create(
            name="Shop", queue=queue, origins=ORIGIN, key=os.urandom(12).hex(), identity_secret=os.urandom(16).hex(),
            max_sessions_per_visitor=20, messages_per_minute=600,
        )  # fmt: skip
    store = import_module(settings.SESSION_ENGINE).SessionStore
    cookies = []
    for user in User.objects.filter(client=client).order_by("pk"):
        session = store()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        cookies.append(f"{settings.SESSION_COOKIE_NAME}={session.session_key}")
    return {"host": host, "key": widget.key, "cookies": cookies, "cookie_name": settings.SESSION_COOKIE_NAME}


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_web(port: int, sessions: int) -> subprocess.Popen:
    env = {**os.environ, **edge_setup._env, "DJANGO_DEBUG": "0", "DJANGO_SECURE_COOKIES": "0",
           "OCX_CHAT_MAX_PER_CLIENT": str(sessions + 100), "OCX_LOG_LEVEL": "WARNING"}  # fmt: skip
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"]
    WEB_LOG.parent.mkdir(parents=True, exist_ok=True)
    with WEB_LOG.open("wb") as log:  # (a file, never an unread pipe: a full pipe would stall the process)
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    print(f"web process {proc.pid} (its log: {WEB_LOG})", flush=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        if proc.poll() is not None:
            raise SystemExit(f"daphne ended: {WEB_LOG.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)
    raise SystemExit("daphne did not listen within 30 s")


class Load:
    def __init__(self, setup: dict, port: int) -> None:
        self.setup, self.port = setup, port
        self.to_agent: list[float] = []  # seconds, visitor line sent -> agent has it
        self.round_trip: list[float] = []
        self.sent: dict[str, float] = {}  # line id -> time sent (removed when answered)
        self.joined: asyncio.Queue = asyncio.Queue()
        self.visitors: list = []
        self.errors: dict[str, int] = {}
        self.consoles = 0  # agents' consoles open (their snapshot came)

    def url(self, path: str) -> str:
        return f"ws://{self.setup['host']}:{self.port}{path}"

    def count(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    async def agent(self, cookie: str) -> None:
        import websockets

        async with websockets.connect(
            self.url("/ws/chat/"), host="127.0.0.1", port=self.port, origin=f"http://{self.setup['host']}:{self.port}",
            additional_headers={"Cookie": cookie}, ping_interval=None, max_queue=None,
        ) as ws:  # fmt: skip
            async for frame in ws:
                data = json.loads(frame)
                if data.get("type") == "chat.snapshot":
                    self.consoles += 1
                if data.get("type") == "error":
                    self.count(f"agent-{data.get('code')}")
                    continue
                event = data.get("event") or {}
                kind = event.get("kind")
                if kind == "offer":
                    await ws.send(json.dumps({"action": "accept", "conversation": event["conversation"]}))
                elif kind == "message" and event.get("sender") == "visitor":
                    body = event.get("body", "")
                    if body.startswith("b "):
                        _, line, sent = body.split(" ")
                        self.to_agent.append(time.perf_counter() - float(sent))
                        answer = {"action": "send", "conversation": event["conversation"], "body": f"a {line} {sent}"}
                        await ws.send(json.dumps(answer))

    async def visitor(self, index: int) -> None:
        try:
            await self.visit(index)
        except Exception as error:  # counted, and no longer waited for
            self.count(f"visitor-{type(error).__name__}")
            self.joined.put_nowait(None)

    async def visit(self, index: int) -> None:
        import websockets

        address = f"127.{10 + index // 62500}.{index // 250 % 250}.{index % 250 + 1}"
        for attempt in range(4):  # as the widget does: a handshake refused or timed out is tried again
            try:
                ws = await websockets.connect(
                    self.url(f"/chat/ws/{self.setup['key']}/"), host="127.0.0.1", port=self.port, origin=ORIGIN,
                    local_addr=(address, 0), ping_interval=None, max_queue=None, open_timeout=60,
                )  # fmt: skip
                break
            except (websockets.InvalidMessage, websockets.InvalidStatus, OSError, TimeoutError):
                if attempt == 3:
                    raise
                self.count("visitor-handshake-again")
                await asyncio.sleep(1.0 + random.random() * 2**attempt)
        self.visitors.append(ws)
        await ws.send(json.dumps({"type": "hello", "page": f"{ORIGIN}/p/{index}"}))
        await ws.send(json.dumps({"type": "start", "name": f"Visitor {index}", "text": "Hello"}))
        joined = False
        async for frame in ws:
            event = json.loads(frame)
            kind = event.get("kind")
            if kind == "joined" and not joined:
                joined = True
                self.joined.put_nowait(index)
            elif kind == "message" and event.get("sender") == "agent":
                body = event.get("body", "")
                if body.startswith("a "):
                    _, line, sent = body.split(" ")
                    if self.sent.pop(line, None) is not None:
                        self.round_trip.append(time.perf_counter() - float(sent))
            elif kind == "error":
                self.count(f"visitor-{event.get('code')}")

    async def send_lines(self, rate: float, seconds: float) -> int:
        sent, start = 0, time.perf_counter()
        while (now := time.perf_counter()) - start < seconds:
            due = int((now - start) * rate)
            while sent < due:
                ws = random.choice(self.visitors)
                line = f"{sent}"
                stamp = time.perf_counter()
                self.sent[line] = stamp
                sent += 1
                try:
                    await ws.send(json.dumps({"type": "message", "text": f"b {line} {stamp:.6f}"}))
                except Exception:  # a closed socket: its line is lost
                    self.count("send-failed")
            await asyncio.sleep(0.005)
        return sent


def process_figures(pid: int) -> tuple[float, float]:
    import psutil

    proc = psutil.Process(pid)
    times = proc.cpu_times()
    return times.user + times.system, proc.memory_info().rss


async def run(args, setup: dict, port: int, web_pid: int) -> dict:
    load = Load(setup, port)
    tasks = [asyncio.create_task(load.agent(cookie)) for cookie in setup["cookies"]]
    deadline = time.perf_counter() + 60
    while load.consoles < len(tasks) and time.perf_counter() < deadline:  # every console open before a chat
        failed = [task.exception() for task in tasks if task.done() and task.exception() is not None]
        if failed:
            raise SystemExit(f"{len(failed)} of {len(tasks)} consoles at {load.url('/ws/chat/')} failed: {failed[0]!r}")
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # (their first beat said in Redis)
    _, rss_before = process_figures(web_pid)
    started = time.perf_counter()
    for index in range(args.sessions):
        tasks.append(asyncio.create_task(load.visitor(index)))
        await asyncio.sleep(1 / args.connect_rate)
    answered, failed, deadline = 0, 0, time.perf_counter() + args.setup_limit
    while answered + failed < args.sessions and time.perf_counter() < deadline:
        try:
            joined = await asyncio.wait_for(load.joined.get(), timeout=deadline - time.perf_counter())
        except TimeoutError:
            break
        answered, failed = (answered + 1, failed) if joined is not None else (answered, failed + 1)
    setup_seconds = time.perf_counter() - started
    if answered < args.sessions:
        print(f"only {answered} of {args.sessions} chats answered in {args.setup_limit:.0f} s; errors {load.errors}")
    await asyncio.sleep(1.0)
    # This process's own collector pauses would count as the platform's latency (it times every line):
    # the sessions it holds are frozen out of its collections, as the web process does with its start-up.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    print(f"{answered} chats answered in {setup_seconds:.1f} s; now {args.rate:.0f} lines/s for {args.seconds:.0f} s",
          flush=True)  # fmt: skip
    cpu_before, rss_after = process_figures(web_pid)
    clock = time.perf_counter()
    sent = await load.send_lines(args.rate, args.seconds)
    cpu_after, rss_end = process_figures(web_pid)
    busy = (cpu_after - cpu_before) / (time.perf_counter() - clock) * 100
    deadline = time.perf_counter() + LATE
    while load.sent and time.perf_counter() < deadline:
        await asyncio.sleep(0.1)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "sessions": answered, "setup": setup_seconds, "sent": sent, "lost": len(load.sent), "cpu": busy,
        "rss": rss_end, "per_session": (rss_after - rss_before) / max(1, answered), "to_agent": load.to_agent,
        "round_trip": load.round_trip, "errors": load.errors,
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--rate", type=float, default=200.0, help="visitor lines a second, in all")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--setup-limit", type=float, default=300.0, help="seconds for every chat to be answered")
    parser.add_argument("--connect-rate", type=float, default=50.0, help="visitors arriving a second")
    args = parser.parse_args()
    if args.agents * 20 < args.sessions:
        raise SystemExit("an agent takes at most 20 chats: give more agents")
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    # One secret for this process and the web process: the agents' sessions are signed with it.
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-" + os.urandom(16).hex())
    setup = prepare(args.agents, args.sessions)
    port = free_tcp_port()
    web = start_web(port, args.sessions)
    try:
        import uvloop

        figures = uvloop.run(run(args, setup, port, web.pid))
    finally:
        stop_procs([web])
    load = os.getloadavg()
    print(f"conditions: {figures['sessions']} sessions, {args.agents} agents, {args.rate:.0f} lines/s for "
          f"{args.seconds:.0f} s, one daphne process, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, "
          f"{os.cpu_count()} cores; errors {figures['errors'] or 'none'}")  # fmt: skip
    ms = 1000.0
    print(f"RESULT chat_sessions={figures['sessions']} sessions")
    print(f"RESULT chat_setup_seconds={figures['setup']:.1f} s")
    print(f"RESULT chat_lines_per_second={figures['sent'] / args.seconds:.1f} lines/s")
    print(f"RESULT chat_visitor_to_agent_p50={percentile(figures['to_agent'], 0.5) * ms:.1f} ms")
    print(f"RESULT chat_visitor_to_agent_p99={percentile(figures['to_agent'], 0.99) * ms:.1f} ms")
    print(f"RESULT chat_round_trip_p50={percentile(figures['round_trip'], 0.5) * ms:.1f} ms")
    print(f"RESULT chat_round_trip_p99={percentile(figures['round_trip'], 0.99) * ms:.1f} ms")
    print(f"RESULT chat_lines_lost={figures['lost']} lines")
    print(f"RESULT chat_web_cpu={figures['cpu']:.1f} %")
    print(f"RESULT chat_web_rss={figures['rss'] / 2**20:.1f} MB")
    print(f"RESULT chat_memory_per_session_kb={figures['per_session'] / 1024:.1f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
