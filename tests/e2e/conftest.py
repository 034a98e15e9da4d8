"""The real platform for end-to-end tests: `platform/run.py` (what `make run` starts) in a subprocess.

It runs on a scratch database and Redis database of its own, a free port and a Celery queue of its
own, so it never meets the other tests' data; it is stopped with Ctrl-C (SIGINT) like a person would.
Its mail goes over SMTP to a real server of the tests (aiosmtpd): `running_platform.mailbox`.

`other_site` serves a page from other origins than the platform's (another company's web site), for
the widgets a client copies onto its site.
"""

from __future__ import annotations

import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import psycopg
import pytest
import redis
from django.conf import settings

from tests.mailbox import Mailbox, smtp_server

ROOT = Path(settings.BASE_DIR)
# Named after this run's test database and key prefix (platform/test.py makes them the run's own, and
# tests/workers.py a worker's), so two checkouts testing at once on one PostgreSQL and Redis never
# share them.
E2E_WORKER = f"_{os.environ['PYTEST_XDIST_WORKER']}" if os.environ.get("PYTEST_XDIST_WORKER") else ""
E2E_DB = f"{settings.DATABASES['default'].get('TEST', {}).get('NAME') or 'test_ocx'}{E2E_WORKER}_e2e"
E2E_PREFIX = f"{settings.OCX_REDIS_PREFIX}-e2e"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningPlatform:
    port: int
    process: subprocess.Popen
    log: Path
    env: dict
    mailbox: Mailbox  # every mail the platform sent

    def url(self, host: str = "localhost", path: str = "/") -> str:
        return f"http://{host}:{self.port}{path}"

    def get(self, host: str, path: str) -> tuple[int, str]:
        """GET through the real socket with a Host header (no DNS needed for *.localhost)."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers={"Host": f"{host}:{self.port}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def _admin_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/postgres"


def _delete_keys(url: str) -> None:
    store = redis.Redis.from_url(url)
    keys = list(store.scan_iter(match=f"{E2E_PREFIX}:*", count=1000))
    if keys:
        store.delete(*keys)


@pytest.fixture(scope="session")
def platform_smtp():
    """The SMTP server the running platform sends its mail to: (its mailbox, its port)."""
    with smtp_server() as found:
        yield found


@pytest.fixture(scope="session")
def running_platform(tmp_path_factory, django_db_blocker, platform_smtp):
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{E2E_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{E2E_DB}"')
    db = settings.DATABASES["default"]
    var_dir = tmp_path_factory.mktemp("e2e-var")
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{E2E_DB}",
        "REDIS_URL": settings.REDIS_URL.rsplit("/", 1)[0] + "/2",
        "OCX_REDIS_PREFIX": E2E_PREFIX,
        "CELERY_QUEUE": E2E_PREFIX,
        "OCX_WEB_PORT": str(port),
        "OCX_SIP_PORT": str(_free_port()),
        "OCX_ENGINE_PORT": str(_free_port()),
        "OCX_ENGINE_RTP_PORTS": f"{(rtp := _free_port())}-{rtp + 40}",
        "OCX_VAR_DIR": str(var_dir),
        "OCX_CDR_SPOOL_DIR": str(var_dir / "cdr-spool"),  # its engines' spools, never the other tests' engines'
        "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(platform_smtp[1]),
        "EMAIL_USE_TLS": "0",
        "PYTHONUNBUFFERED": "1",
    }
    # The run's own keys start empty, so whatever appears under its prefix came from this run; other
    # runs' keys in that Redis database are theirs.
    _delete_keys(env["REDIS_URL"])
    log = var_dir / "run.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "platform/run.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    running = RunningPlatform(port=port, process=process, log=log, env=env, mailbox=platform_smtp[0])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"platform/run.py exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if running.get("localhost", "/healthz")[0] == 200:
                break
        except OSError:
            pass
        time.sleep(0.3)
    else:
        running.stop()
        pytest.fail(f"the platform did not answer within 120 s:\n{log.read_text()[-4000:]}")
    yield running
    code = running.stop()
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{E2E_DB}" WITH (FORCE)')
    _delete_keys(env["REDIS_URL"])
    assert code == 0, f"Ctrl-C did not stop the platform cleanly ({code}):\n{log.read_text()[-3000:]}"


OTHER_SITE_PAGE = (
    "<!doctype html><html><head><title>Shop</title><style>button{background:lime!important}</style></head>"
    "<body><h1>Shop</h1>{snippet}</body></html>"
)  # (its own styles reach for every button: a widget keeps its own)


@pytest.fixture
def other_site(tmp_path):
    """other_site(snippet) -> two origins (http://127.0.0.1:<port>) serving /index.html, a shop's page
    with the snippet: the first to allow in the widget, the second one it does not allow."""
    servers = []

    def serve(snippet: str) -> list[str]:
        (tmp_path / "index.html").write_text(OTHER_SITE_PAGE.replace("{snippet}", snippet))
        origins = []
        for _ in range(2):
            handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            servers.append(server)
            origins.append(f"http://127.0.0.1:{server.server_address[1]}")
        return origins

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()
