"""SIP edge fixtures: real `manage.py sip_edge` processes on free ports, and lines with known secrets."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

from config.redis_store import get_redis, rkey
from telephony.directory import sip_directory_sync
from telephony.engines import EngineInfo, engine_heartbeat, engine_withdraw, registry_key
from telephony.services import extension_reset_secret
from tests.telephony.sipclient import Call, SipClient

EDGE_ENV = {"OCX_SIP_FLOOD_LIMIT": "150", "OCX_SIP_FLOOD_WINDOW": "2", "OCX_SIP_AUTH_FAILURES": "5",
            "OCX_SIP_MIN_EXPIRES": "60", "OCX_SIP_MAX_EXPIRES": "3600", "OCX_SIP_MAX_CONTACTS": "3"}  # fmt: skip


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        tcp.bind(("127.0.0.1", port))  # the edge needs the port free for both transports
        return port


@dataclass
class EdgeProcess:
    port: int
    process: subprocess.Popen
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_edge(port: int | None = None, **env) -> EdgeProcess:
    port = port or free_port()
    log = Path(tempfile.gettempdir()) / f"ocx-test-edge-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "sip_edge", "--port", str(port), "--no-sync"],
            cwd=settings.BASE_DIR, env={**os.environ, **EDGE_ENV, **env}, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    edge = EdgeProcess(port, process, log)
    probe = SipClient(edge.address, "probe", "probe.invalid")
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"sip_edge exited: {edge.log_tail()}")
            probe.send_raw(options_message(probe))
            if probe.receive(timeout=0.3) is not None:
                return edge
        edge.stop()
        raise AssertionError("sip_edge did not answer OPTIONS within 20 s")
    finally:
        probe.close()


def options_message(client: SipClient) -> bytes:
    return (
        f"OPTIONS sip:{client.edge[0]}:{client.edge[1]} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{client.port};branch=z9hG4bK{time.monotonic_ns()};rport\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:probe@probe.invalid>;tag=p\r\nTo: <sip:probe@probe.invalid>\r\n"
        f"Call-ID: probe-{time.monotonic_ns()}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


class EngineHeartbeat:
    """Announce a SIP address in the engine registry as a call engine does, every 0.5 s until stopped;
    the stand-in engines of edge tests (hand-written or SIPp user agents) use it."""

    def __init__(self, port: int, calls: int = 0, host: str = "127.0.0.1"):
        self.info = EngineInfo(id=f"test-{uuid.uuid4().hex[:6]}", host=host, port=port, calls=calls)
        self._stop = threading.Event()
        self._beat()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        engine_heartbeat(get_redis(), settings.OCX_REDIS_PREFIX, self.info)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._beat()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        engine_withdraw(get_redis(), settings.OCX_REDIS_PREFIX, self.info.id)


ENGINE_REGISTRY_REFRESH = 1.2  # seconds: the edge rereads the engine registry every second


class FakeEngine(SipClient):
    """A UDP user agent that heartbeats into the engine registry like a call engine."""

    def __init__(self, calls: int = 0):
        super().__init__(("127.0.0.1", 0), "engine", "engine.invalid")
        self.heartbeat = EngineHeartbeat(self.port, calls)

    def stop(self) -> None:
        self.heartbeat.stop()
        self.close()

    def send_to_edge(self, data: bytes, edge) -> None:
        self.send_to(data, edge.address)

    def invite(self, target: str, **_) -> Call:  # an engine places calls without credentials
        call = Call(to_uri=target, call_id=uuid.uuid4().hex, from_tag=uuid.uuid4().hex[:8])
        call.branch = "z9hG4bK" + uuid.uuid4().hex[:16]
        return call


@pytest.fixture
def engines():
    """Stand-in call engines: engines(count, calls=(load, ...)) -> FakeEngines the edge already sees."""
    get_redis().delete(registry_key(settings.OCX_REDIS_PREFIX))
    made = []

    def make(count: int = 1, *, calls: tuple[int, ...] = ()) -> list[FakeEngine]:
        new = [FakeEngine(calls[i] if i < len(calls) else 0) for i in range(count)]
        made.extend(new)
        time.sleep(ENGINE_REGISTRY_REFRESH)
        return new

    yield make
    for engine in made:
        engine.stop()


@pytest.fixture(scope="session")
def edge() -> Iterator[EdgeProcess]:
    process = start_edge()
    yield process
    process.stop()


@pytest.fixture
def sip_lines(world):
    """Give lines known secrets and publish the directory: sip_lines(account, secret)."""
    r = get_redis()
    for pattern in ("loc:*", "locidx:*", "nc:*", "authfail:*", "calls:*"):
        keys = list(r.scan_iter(rkey(pattern)))
        if keys:
            r.delete(*keys)

    def give(account, secret: str):
        extension = world.extension_of(account)
        extension_reset_secret(actor=account, client=account.client, extension=extension, secret=secret)
        sip_directory_sync()
        return extension

    return give


@pytest.fixture
def sip_client(edge, world):
    clients = []

    def make(account=None, *, user=None, domain=None, bind_ip="127.0.0.1", target=None) -> SipClient:
        user = user or world.extension_of(account).sip_username
        client = SipClient((target or edge).address, user, domain or account.client.sip_domain, bind_ip=bind_ip)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
