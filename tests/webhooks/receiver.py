"""A webhook receiver for the tests (an HTTP server thread on 127.0.0.1 that records each POST and
answers as the test says), the check of a platform signature as a client would do it (README
"Webhooks"), and a Celery worker process that delivers (as in production)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings

from tests.telephony.conftest import database_url

WORKER_ENV = {"OCX_WEBHOOK_ALLOW_HTTP": "1", "OCX_WEBHOOK_ALLOW_PRIVATE": "1", "OCX_WEBHOOK_BACKOFF": "0.3",
              "OCX_WEBHOOK_RETRIES": "3", "OCX_WEBHOOK_TIMEOUT": "2"}  # fmt: skip


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    port: int = 0
    received: list[Received] = field(default_factory=list)
    answers: list[tuple[int, bytes, float]] = field(default_factory=list)  # (status, body, delay) in turn

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def answer(self, status: int = 200, body: bytes | dict = b"", delay: float = 0.0) -> None:
        self.answers.append((status, json.dumps(body).encode() if isinstance(body, dict) else body, delay))

    def wait(self, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.received)} POSTs of {count}: {[r.body for r in self.received]}")
            time.sleep(0.05)
        return list(self.received)


def verified(secret: str, received: Received) -> bool:
    """The receiver's check (README "Webhooks"): HMAC-SHA256 of "<timestamp>.<body>" with the secret."""
    timestamp = received.headers["OCX-Webhook-Timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + received.body, hashlib.sha256).hexdigest()
    scheme, _, given = received.headers["OCX-Webhook-Signature"].partition("=")
    return scheme == "v1" and hmac.compare_digest(expected, given) and abs(time.time() - int(timestamp)) < 300


@pytest.fixture(name="receiver")
def receiver_fixture():
    state = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                state.received.append(Received(self.path, dict(self.headers.items()), body))
                status, answer, delay = state.answers.pop(0) if state.answers else (200, b"", 0.0)
            if delay:
                time.sleep(delay)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except OSError:  # the platform gave up waiting
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def start_worker(pool: str = "solo", **env) -> subprocess.Popen:
    """A Celery worker process on the tests' queue that delivers webhooks (to 127.0.0.1 over http); a
    prefork one has one pool process."""
    env = {**os.environ, "DATABASE_URL": database_url(), **WORKER_ENV, **env}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", pool, "--concurrency", "1", "--queues",
         settings.CELERY_TASK_DEFAULT_QUEUE, "--without-heartbeat", "--without-gossip", "--without-mingle",
         "--loglevel", "WARNING"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def stop_worker(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.terminate()
        worker.wait(timeout=20)


@pytest.fixture(name="webhook_worker")
def webhook_worker_fixture():
    """A worker for the test (start_worker), after the queue is emptied: only what this test queues."""
    from config.celeryconf import app

    app.control.purge()
    worker = start_worker()
    try:
        yield worker
    finally:
        stop_worker(worker)


@pytest.fixture(name="endpoint_of")
def endpoint_of_fixture(world, settings):
    """endpoint_of(url, events=...) -> an endpoint of client a1 saved by its operator (committed: the
    worker and the engines see it); all removed after the test. The tests' receivers listen on
    127.0.0.1 over http: both allowed, as OCX_WEBHOOK_ALLOW_HTTP/_PRIVATE would."""
    from django_tenants.utils import tenant_context

    from tests.waiting import committed
    from webhooks.models import Endpoint
    from webhooks.services import endpoint_save

    settings.OCX_WEBHOOK_ALLOW_HTTP = settings.OCX_WEBHOOK_ALLOW_PRIVATE = True

    def make(url: str, events=("call.ringing", "call.answered", "call.ended"), **fields):
        return committed(endpoint_save, actor=world.client_a1_op, client=world.client_a1, url=url,
                         events=list(events), **fields)  # fmt: skip

    yield make

    def remove():
        with tenant_context(world.client_a1):
            Endpoint.objects.all().delete()

    committed(remove)
