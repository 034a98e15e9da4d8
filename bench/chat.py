"""Benchmark: web chat's visitors on one web process (issue 18).

`.venv/bin/python bench/chat.py [--sessions 2000] [--rate 200] [--seconds 30] [--keep]` starts
project-local PostgreSQL and Redis if needed, builds a scratch database (the demo data; a queue with
two agents logged in and a chat widget allowing http://bench.example), starts ONE web process
(daphne, as `make run` does, DJANGO_DEBUG=0), then:

- opens `--sessions` visitor WebSockets (`/chat/ws/<key>/`, autobahn's asyncio client, from 50
  loopback addresses 127.0.1.x as separate visitors would) and starts a chat on each (hello, start:
  each waits in the queue's line, kept fresh by the web process's one keeper task);
- an agent stand-in in this process (the agents' console is the other side of issue 18): it follows
  every conversation's group on the channel layer and answers each visitor line with an agent line
  through `chat.services.message_post` (a row, then the group), as the console will;
- visitors send `--rate` messages a second in all (round robin) for `--seconds`; each message's
  latency is from the visitor's send to the agent's answer reaching that visitor's socket:
  visitor -> web process -> Redis -> agent -> PostgreSQL + Redis -> web process -> visitor.

RESULT lines: chat_sessions, chat_rate (messages/s achieved), chat_p50_ms, chat_p99_ms, chat_lost,
chat_web_cpu_percent (of one core, during the load), chat_web_kb_per_session (the web process's
resident memory grown per open session). Target (issue 18): 2,000 sessions, p99 under 100 ms at 200
messages/s. The bench, its agent stand-in and the web process share this machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "platform"))
import services  # noqa: E402  (platform/services.py, a script folder, not a package)

BENCH_DB = "ocx_bench_chat"
ORIGIN = "http://bench.example"
ADDRESSES = [f"127.0.1.{i}" for i in range(1, 51)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def populate():
    from django.core.management import call_command
    from django_tenants.utils import tenant_context

    from chat.widgets import widget_save
    from queues.models import Member
    from queues.services import queue_save
    from tenants.models import Client, User
    from tenants.services import client_primary_domain

    call_command("migrate_schemas", "--shared", verbosity=0)
    call_command("migrate_schemas", "--tenant", verbosity=0)
    call_command("demo", verbosity=0)
    acme = Client.objects.get(slug="acme")
    op = User.objects.get(email="admin@acme.example")
    queue = queue_save(actor=op, client=acme, name="Bench chat", members=[{"extension": "101"}, {"extension": "102"}])
    with tenant_context(acme):
        Member.objects.filter(queue=queue).update(logged_in=True)
    widget = widget_save(actor=op, client=acme, name="Bench", queue=queue.pk, origins=ORIGIN, messages_per_minute=600,
                         max_sessions_per_visitor=20, max_message_length=2000)  # fmt: skip
    return acme, widget, client_primary_domain(acme)


class Visitors:
    def __init__(self):
        self.sent: dict[str, float] = {}
        self.latencies: list[float] = []
        self.conversations: list[str] = []
        self.failed = 0


def protocol_for(visitors: Visitors):
    from autobahn.asyncio.websocket import WebSocketClientProtocol

    class Visitor(WebSocketClientProtocol):
        def onOpen(self):  # noqa: N802 - autobahn's names
            self.sendMessage(json.dumps({"type": "hello"}).encode())

        def onMessage(self, payload, is_binary):  # noqa: N802
            event = json.loads(payload)
            kind = event.get("kind")
            ready = self.factory.ready
            if kind == "welcome":
                self.sendMessage(json.dumps({"type": "start", "name": "Bench", "text": "hello"}).encode())
            elif kind == "started":
                self.conversation = event["conversation"]["id"].replace("-", "")
                if not ready.done():
                    ready.set_result(self)
            elif kind == "message" and event.get("sender") == "agent":
                at = visitors.sent.pop(event["body"], None)
                if at is not None:
                    visitors.latencies.append(time.perf_counter() - at)
            elif kind == "error":
                visitors.failed += 1
                if not ready.done():
                    ready.set_exception(RuntimeError(str(event)))

    return Visitor


async def open_visitor(port: int, host: str, key: str, address: str, visitors: Visitors):
    from autobahn.asyncio.websocket import WebSocketClientFactory

    factory = WebSocketClientFactory(f"ws://{host}:{port}/chat/ws/{key}/", origin=ORIGIN)
    factory.protocol = protocol_for(visitors)
    factory.ready = asyncio.get_running_loop().create_future()
    await asyncio.get_running_loop().create_connection(factory, "127.0.0.1", port, local_addr=(address, 0))
    return await asyncio.wait_for(factory.ready, 60)


async def visitors_main(port: int, host: str, key: str, sessions: int, rate: float, seconds: float) -> None:
    """The visitors (a process of their own, without Django): open, say READY, wait for GO, load, report."""
    visitors = Visitors()
    sockets = []
    began = time.monotonic()
    for start in range(0, sessions, 50):
        batch = [open_visitor(port, host, key, ADDRESSES[(start + i) % len(ADDRESSES)], visitors)
                 for i in range(min(50, sessions - start))]  # fmt: skip
        sockets += await asyncio.gather(*batch)
    connect_s = time.monotonic() - began
    print("BENCH READY", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    t0 = time.monotonic()
    total = int(rate * seconds)
    for n in range(total):
        delay = t0 + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        protocol = sockets[n % len(sockets)]
        body = f"m{n}:{protocol.conversation}"
        visitors.sent[body] = time.perf_counter()
        protocol.sendMessage(json.dumps({"type": "message", "text": body}).encode())
    sent_s = time.monotonic() - t0
    deadline = time.monotonic() + 5
    while visitors.sent and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    latencies = sorted(visitors.latencies)
    print("BENCH " + json.dumps({"sessions": len(sockets), "connect_s": connect_s, "sent": total,
                      "rate": total / sent_s,
                      "p50": statistics.median(latencies) * 1000 if latencies else -1,
                      "p99": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000 if latencies else -1,
                      "lost": len(visitors.sent), "errors": visitors.failed}), flush=True)  # fmt: skip


async def agent(client, stop: asyncio.Event, answered: list[int]):
    """The agents' stand-in: every visitor line gets an agent line with the same text, through the
    conversation (message_post: a row, then the group)."""
    from concurrent.futures import ThreadPoolExecutor

    from channels.layers import get_channel_layer
    from django_tenants.utils import tenant_context

    from chat.events import conversation_group
    from chat.models import Conversation, Message
    from chat.services import message_post

    layer = get_channel_layer()

    def load():
        with tenant_context(client):
            return {c.uuid.hex: c for c in Conversation.objects.select_related("widget")}

    conversations = await asyncio.get_running_loop().run_in_executor(None, load)
    channels = [await layer.new_channel() for _ in range(max(1, len(conversations) // 50))]
    for n, uuid in enumerate(conversations):  # (a channel holds at most 100 messages waiting: spread them)
        await layer.group_add(conversation_group(client.pk, uuid), channels[n % len(channels)])
    pool = ThreadPoolExecutor(8)

    def answer(conversation, body):
        from django.db import connection

        connection.set_tenant(client)
        message_post(client=client, conversation=conversation, sender=Message.Sender.AGENT, body=body)
        answered[0] += 1

    loop = asyncio.get_running_loop()

    async def follow(channel):
        while not stop.is_set():
            try:
                message = await asyncio.wait_for(layer.receive(channel), 1)
            except TimeoutError:
                continue
            event = message.get("event") or {}
            if event.get("kind") == "message" and event.get("sender") == "visitor" and event["body"].startswith("m"):
                conversation = conversations.get(event["body"].split(":")[1])
                if conversation is not None:
                    loop.run_in_executor(pool, answer, conversation, event["body"])

    stop.ready = True
    await asyncio.gather(*(follow(channel) for channel in channels))


def tagged(child) -> str:
    """The child's next line of ours (autobahn logs on the same stdout)."""
    while line := child.stdout.readline():
        if line.startswith("BENCH "):
            return line[6:].strip()
    return ""


async def drive(args, child, client, web_pid: int) -> dict:
    """Wait for the visitors, start the agent stand-in, say GO, measure the web process meanwhile."""
    loop = asyncio.get_running_loop()
    rss_before = proc_rss_kb(web_pid)
    line = await loop.run_in_executor(None, tagged, child)
    if line != "READY":
        raise RuntimeError(f"the visitors did not start: {line!r}")
    rss_after = proc_rss_kb(web_pid)
    stop, answered = asyncio.Event(), [0]
    helper = asyncio.create_task(agent(client, stop, answered))
    while not getattr(stop, "ready", False):
        await asyncio.sleep(0.1)
    cpu_before, t0 = proc_cpu(web_pid), time.monotonic()
    child.stdin.write("GO\n")
    child.stdin.flush()
    line = await loop.run_in_executor(None, tagged, child)
    cpu, elapsed = proc_cpu(web_pid) - cpu_before, time.monotonic() - t0
    stop.set()
    await helper
    found = json.loads(line)
    found.update(cpu=100 * cpu / elapsed, rss_mb=rss_after / 1024,
                 kb_per_session=(rss_after - rss_before) / max(1, found["sessions"]))  # fmt: skip
    return found


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    secret = os.environ.get("DJANGO_SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789")
    with services.scratch_django(BENCH_DB, prefix="ocx-bench-chat", keep=args.keep, DJANGO_DEBUG="0",
                                 DJANGO_SECRET_KEY=secret, OCX_CHAT_MAX_PER_CLIENT="100000"):  # fmt: skip
        client, widget, host = populate()
        port = free_port()
        web = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                                "config.asgi:application"], cwd=ROOT, env=dict(os.environ),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"Host": host})
                    if urllib.request.urlopen(request, timeout=2).status == 200:
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.3)
            child = subprocess.Popen([sys.executable, __file__, "--visitors", str(port), host, widget.key,
                                      str(args.sessions), str(args.rate), str(args.seconds)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
            try:
                found = asyncio.run(drive(args, child, client, web.pid))
            finally:
                child.kill()
                child.wait()
        finally:
            web.terminate()
            try:
                web.wait(timeout=30)
            except subprocess.TimeoutExpired:
                web.kill()
                web.wait()
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"conditions: {os.cpu_count()} cores (load average {load}), one daphne web process, "
              f"{found['sessions']} visitor sockets opened and chats started in {found['connect_s']:.1f} s, "
              f"{found['sent']} messages asked at {args.rate:g}/s for {args.seconds:g} s, an agent stand-in "
              f"answering each through message_post, the bench and the web process on the same cores; web "
              f"process resident {found['rss_mb']:.0f} MB, {found['errors']} error events")  # fmt: skip
        print(f"RESULT chat_sessions={found['sessions']} sessions")
        print(f"RESULT chat_rate={found['rate']:.0f} messages/s")
        print(f"RESULT chat_p50_ms={found['p50']:.1f} ms")
        print(f"RESULT chat_p99_ms={found['p99']:.1f} ms")
        print(f"RESULT chat_lost={found['lost']} messages")
        print(f"RESULT chat_web_cpu_percent={found['cpu']:.0f} %")
        print(f"RESULT chat_web_kb_per_session={found['kb_per_session']:.0f} KB")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--visitors"]:
        port, host, key, sessions, rate, seconds = sys.argv[2:8]
        asyncio.run(visitors_main(int(port), host, key, int(sessions), float(rate), float(seconds)))
        sys.exit(0)
    sys.exit(main())
