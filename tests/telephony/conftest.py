"""SIP edge fixtures: real `manage.py sip_edge` processes on free ports, and lines with known secrets."""

from __future__ import annotations

import json
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
import redis
from django.conf import settings
from django.utils import timezone

from config.redis_store import get_redis, rkey
from records.models import Cdr
from telephony.directory import sip_directory_sync
from telephony.engine_registry import EngineInfo, engine_heartbeat, engine_withdraw, registry_key
from telephony.services import extension_reset_secret
from tests.sip import phone as phone_helpers
from tests.telephony.sipclient import Call, SipClient
from tests.waiting import committed, wait_for

EDGE_ENV = {"OCX_SIP_FLOOD_LIMIT": "150", "OCX_SIP_FLOOD_WINDOW": "2", "OCX_SIP_AUTH_FAILURES": "5",
            "OCX_SIP_MIN_EXPIRES": "60", "OCX_SIP_MAX_EXPIRES": "3600", "OCX_SIP_MAX_CONTACTS": "3",
            "OCX_SIP_GATEWAY_PING": "0", "OCX_SIP_CARRIER_TIMEOUT": "2"}  # fmt: skip


def free_port() -> int:
    """A port free for both UDP and TCP (the edge needs both); the kernel's free UDP port may be
    taken for TCP, so another one is tried."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError("no port free for both UDP and TCP")


@dataclass
class EdgeProcess:
    port: int
    process: subprocess.Popen
    log: Path
    redis_url: str = ""  # its own Redis, when not the suite's

    def sees(self, engine_id: str, *, present: bool = True, timeout: float = 10.0) -> None:
        """Wait until this edge sends new calls to that engine (or, present=False, no longer does): the
        engines it sees are in the status it publishes whenever they change (telephony/edge/server.py)."""
        client = redis.Redis.from_url(self.redis_url) if self.redis_url else get_redis()
        key = f"{settings.OCX_REDIS_PREFIX}:edge:{socket.gethostname()}:{self.process.pid}"

        def seen() -> bool:
            raw = client.get(key)
            return raw is not None and (engine_id in json.loads(raw).get("engines", ())) == present

        wait_for(seen, f"edge {self.port} {'sees' if present else 'no longer sees'} engine {engine_id}", timeout)

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


_edges: list[EdgeProcess] = []  # the edges the tests started


def edges_see(engine_id: str) -> None:
    """Every running edge of the suite's Redis sends new calls to that engine."""
    for edge in _edges:
        if edge.process.poll() is None and not edge.redis_url:
            edge.sees(engine_id)


# Seconds an edge may take to answer its first OPTIONS: about 3 s here, 20 s seen with the machine's load
# average at 7 (the whole suite beside other work).
STARTS_WITHIN = 45.0


def start_edge(port: int | None = None, *, sync: bool = False, **env) -> EdgeProcess:
    """A `manage.py sip_edge` on a free port (or `port`), once it answers OPTIONS; sync: it rebuilds the
    SIP directory at start as `make run`'s edge does (the suite's edges share one, published by tests)."""
    port = port or free_port()
    log = Path(tempfile.gettempdir()) / f"ocx-test-edge-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "sip_edge", "--port", str(port), *([] if sync else ["--no-sync"])],
            cwd=settings.BASE_DIR, env={**os.environ, "DATABASE_URL": database_url(), **EDGE_ENV, **env},
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    edge = EdgeProcess(port, process, log, redis_url=env.get("REDIS_URL", ""))
    _edges.append(edge)
    probe = SipClient(edge.address, "probe", "probe.invalid")
    try:
        deadline = time.monotonic() + STARTS_WITHIN
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"sip_edge exited: {edge.log_tail()}")
            probe.send_raw(options_message(probe))
            if probe.receive(timeout=0.3) is not None:
                return edge
        tail = edge.log_tail()
        edge.stop()
        raise AssertionError(f"sip_edge did not answer OPTIONS within {STARTS_WITHIN:.0f} s: {tail}")
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
        for engine in new:
            edges_see(engine.heartbeat.info.id)
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


# Call engine fixtures: a real `manage.py call_engine` behind the session's edge, and pjsua2 phones.

phones = phone_helpers.phones  # the pjsua2 phone fixture, for the engine fixtures below
SECRET = "engine-secret-123"
HOLD_NOTES = [440, 523, 659]  # telephony/media/player.py HOLD_MUSIC
PARK_TIMEOUT = 6  # seconds before a parked call rings back the line that parked it


def database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


ENGINE_ENV = {"OCX_ENGINE_RING_TIMEOUT": "8", "OCX_ENGINE_DRAIN": "2", "OCX_ENGINE_PARK_TIMEOUT": str(PARK_TIMEOUT)}


def start_engine(edge: EdgeProcess, **env) -> subprocess.Popen:
    """A `manage.py call_engine` process behind `edge` on free SIP and RTP ports, once it announced
    itself and the edges see it (its `port` attribute is its SIP port)."""
    port, rtp = free_port(), free_port()
    log = Path(tempfile.gettempdir()) / f"ocx-test-engine-{port}.log"
    env = {**os.environ, "DATABASE_URL": database_url(), **ENGINE_ENV, **env}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "call_engine", "--port", str(port), "--rtp-ports", f"{rtp}-{rtp + 200}",
             "--edge", f"127.0.0.1:{edge.port}"],
            cwd=settings.BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    process.port, process.log = port, log
    key = registry_key(settings.OCX_REDIS_PREFIX)
    deadline = time.monotonic() + 20
    while not (mine := [i for v in get_redis().hvals(key) if (i := EngineInfo.from_json(v)).port == port]):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"call_engine did not announce itself: {log.read_text()[-3000:]}")
        time.sleep(0.1)
    edge.sees(mine[0].id)
    return process


@pytest.fixture(scope="module")
def engine(edge, django_db_blocker, request):
    """One engine process behind the session's edge, on free SIP and RTP ports, with the module's
    ENGINE_SETTINGS (environment) if it has any. The call records it committed are deleted when it
    stops, so tests after this module start without them."""
    started = timezone.now()
    process = start_engine(edge, **getattr(request.module, "ENGINE_SETTINGS", {}))
    yield process
    stop_engine(process, started, django_db_blocker)


def stop_engine(process: subprocess.Popen, started, django_db_blocker) -> None:
    """Stop a module's engine and delete the call records committed since `started` (the engine wrote
    them outside the tests' transactions), so that the modules after it start without them."""
    process.terminate()
    process.wait(10)
    with django_db_blocker.unblock():
        Cdr.objects.filter(started_at__gte=started).delete()


@pytest.fixture
def lines(world, sip_lines, phones, edge, engine):
    """Phones registered as 101 (caller) and 102 (callee, answering after a short ring)."""
    sip_lines(world.user_a1, SECRET)
    sip_lines(world.user_a1b, SECRET)
    domain, proxy = world.client_a1.sip_domain, f"127.0.0.1:{edge.port}"
    caller, callee = phones(name="caller"), phones(name="callee")
    assert caller.register(username="101", domain=domain, secret=SECRET, proxy=proxy)["code"] == 200
    assert callee.register(username="102", domain=domain, secret=SECRET, proxy=proxy,
                           incoming={"answer": 200, "ring_ms": 300})["code"] == 200  # fmt: skip
    return caller, callee, domain


_test_started: list = [None]


@pytest.fixture(autouse=True)
def _records_of_this_test():
    """cdr_of() reads the records of the running test only: the engine writes a record a moment
    after the call ends, and an older one of an earlier test must not be taken for it meanwhile."""
    _test_started[0] = timezone.now()
    yield


def cdr_of(world, timeout: float = 5.0, **match) -> Cdr:
    """The newest closed record of client A1 started during this test (the engine writes it from its
    own thread)."""
    if _test_started[0] is not None:
        match.setdefault("started_at__gte", _test_started[0])
    closed = Cdr.objects.filter(client_id=world.client_a1.pk, ended_at__isnull=False, **match).order_by("-id")
    return wait_for(closed.first, f"a closed CDR matching {match}", timeout)


def connected(caller, callee, domain) -> str:
    caller.call("c1", f"sip:102@{domain}")
    label = callee.wait_incoming()["call"]
    caller.wait_call_state("c1", "confirmed")
    callee.wait_call_state(label, "confirmed")
    return label


def tone_then_hang_up(caller, callee, label: str, path, ms: int) -> None:
    """The caller plays 1000 Hz for ms while the callee records, then hangs up; the recording is complete."""
    callee.record(label, path)
    caller.play_tone("c1", [1000], ms)
    caller.wait_tone_done("c1")
    time.sleep(0.3)  # the last packets' way through the jitter buffer
    caller.hangup("c1")
    callee.wait_call_state(label, "disconnected")
    callee.wait_recorded(label)


@pytest.fixture
def third(world, sip_lines, phones, edge, engine):
    """A third phone registered as 103, answering at once."""
    sip_lines(world.user_a1c, SECRET)
    phone = phones(name="third")
    assert phone.register(username="103", domain=world.client_a1.sip_domain, secret=SECRET,
                          proxy=f"127.0.0.1:{edge.port}", incoming={"answer": 200})["code"] == 200  # fmt: skip
    return phone


@pytest.fixture
def carrier_factory_pstn(world):
    """carrier_factory_pstn(numbers, networks="127.0.0.1/32") -> a carrier (committed, as the edge and
    engine read it) whose gateway is 127.0.0.1 with those numbers: (brand, e164, client, kind, target)
    each; everything removed afterwards."""
    from billing.models import Carrier
    from pstn.models import Gateway, Number

    made = []

    def make(numbers, networks: str = "127.0.0.1/32"):
        def create():
            carrier = Carrier.objects.create(name=f"test-{uuid.uuid4().hex[:6]}", country="DE")
            Gateway.objects.create(carrier=carrier, name="gw", host="127.0.0.1", inbound_networks=networks)
            for brand, e164, client, kind, target in numbers:
                Number.objects.create(brand=brand, e164=e164, carrier=carrier, client=client,
                                      destination_kind=kind, destination_target=target)  # fmt: skip
            return carrier

        carrier = committed(create)
        made.append(carrier)
        return carrier

    yield make

    def remove():
        for carrier in made:
            Number.objects.filter(carrier=carrier).delete()
            carrier.delete()

    committed(remove)


@pytest.fixture
def phone_carrier(world, phones, edge):
    """phone_carrier(codecs="PCMU,PCMA") -> (phone, carrier): a carrier of brand A whose gateway is a
    pjsua2 phone (a mobile, a far end), in a route for every number, with client A1 allowed national
    and mobile calls; the phone rings until told to answer (set_incoming on account "mobile")."""
    from billing.models import Carrier
    from pstn.models import Gateway, OutboundPolicy, OutboundRoute, RouteCarrier

    made = []

    def make(codecs: str = "PCMU,PCMA"):
        phone = phones(name="mobile")
        phone.account("mobile", domain="127.0.0.1", default=True, incoming={"answer": 180})

        def create():
            carrier = Carrier.objects.create(name=f"far-{uuid.uuid4().hex[:6]}", brand=world.brand_a, country="US",
                                             codecs=codecs)  # fmt: skip
            Gateway.objects.create(carrier=carrier, name="gw", host="127.0.0.1", port=phone.sip_port,
                                   inbound_networks="192.0.2.9/32")  # fmt: skip
            route = OutboundRoute.objects.create(brand=world.brand_a, name=f"far-{carrier.pk}", pattern="", position=1)
            RouteCarrier.objects.create(route=route, carrier=carrier, priority=1)
            allowed = {"allow_national": True, "allow_mobile": True}
            OutboundPolicy.objects.update_or_create(client=world.client_a1, defaults=allowed)
            return carrier, route

        carrier, route = committed(create)
        made.append((carrier, route))
        return phone, carrier

    yield make

    def remove():
        for carrier, route in made:
            route.delete()
            carrier.delete()
        OutboundPolicy.objects.filter(client=world.client_a1).delete()

    committed(remove)
