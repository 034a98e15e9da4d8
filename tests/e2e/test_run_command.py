"""`make run` as a newcomer meets it: demo data, every portal host answering, processes that die
started again, clean Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis
from django.conf import settings

from tenants.tasks import HEARTBEAT_KEY
from tests.e2e.conftest import E2E_PREFIX


def test_run_serves_every_portal_host_with_demo_data(running_platform):
    for host in ("localhost", "brand.localhost", "acme.brand.localhost", "globex.brand.localhost"):
        status, body = running_platform.get(host, "/login/")
        assert status == 200, (host, body[:500])
        assert "Sign in" in body
    status, _ = running_platform.get("unknown.localhost", "/login/")
    assert status == 404
    log = running_platform.log.read_text()
    assert "Demo logins" in log
    assert "ops@brand.example" in log


def test_run_starts_celery_beat_and_worker(running_platform):
    """Beat schedules the heartbeat and the worker runs it: the key appears in the run's Redis."""
    store = redis.Redis.from_url(running_platform.env["REDIS_URL"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(HEARTBEAT_KEY in key.decode() for key in store.keys(f"{E2E_PREFIX}:cache*")):
            return
        time.sleep(0.5)
    raise AssertionError("no heartbeat from beat + worker within 60 s:\n" + running_platform.log.read_text()[-3000:])


def test_a_demo_phone_registers_with_the_edge_that_run_started(running_platform):
    """The printed demo credentials work against the SIP edge in the process group."""
    from tests.telephony.sipclient import SipClient

    phone = SipClient(("127.0.0.1", int(running_platform.env["OCX_SIP_PORT"])), "101", "acme.brand.localhost")
    try:
        deadline = time.monotonic() + 30
        answer = None
        while time.monotonic() < deadline and answer is None:
            try:
                answer = phone.register("demo-sip-101")
            except AssertionError:  # the edge is still starting
                time.sleep(0.5)
        assert answer is not None and answer.status == 200, answer
        assert answer.get("Contact").startswith(f"<sip:101@127.0.0.1:{phone.port}>")
    finally:
        phone.close()


def wait_for_engine(running_platform, other_than: str = "") -> str:
    """The id of a call engine heartbeating in the run's registry (another one than `other_than`)."""
    registry = redis.Redis.from_url(running_platform.env["REDIS_URL"])
    key = f"{running_platform.env['OCX_REDIS_PREFIX']}:engines"
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        fresh = [e.decode() for e, raw in registry.hgetall(key).items() if e.decode() != other_than
                 and time.time() - json.loads(raw)["at"] < 2]  # fmt: skip
        if fresh:
            return fresh[0]
        time.sleep(0.3)
    raise AssertionError(f"no call engine announced itself:\n{running_platform.log.read_text()[-3000:]}")


def alice_calls_bob(running_platform, log_dir) -> None:
    from tests.sip.phone import Phone

    proxy, domain = f"127.0.0.1:{running_platform.env['OCX_SIP_PORT']}", "acme.brand.localhost"
    with Phone(name="alice", log_dir=log_dir) as alice, Phone(name="bob", log_dir=log_dir) as bob:
        assert alice.register(username="101", domain=domain, secret="demo-sip-101", proxy=proxy)["code"] == 200
        assert bob.register(username="102", domain=domain, secret="demo-sip-102", proxy=proxy,
                            incoming={"answer": 200})["code"] == 200  # fmt: skip
        alice.call("c1", f"sip:102@{domain}")
        label = bob.wait_incoming(timeout=15)["call"]
        alice.wait_call_state("c1", "confirmed")
        bob.wait_call_state(label, "confirmed")
        alice.hangup("c1")
        bob.wait_call_state(label, "disconnected")


def test_demo_phones_call_each_other_through_the_edge_and_engine_that_run_started(running_platform, tmp_path):
    """Alice (101) calls Bob (102) with the printed credentials: the whole call path of `make run`."""
    wait_for_engine(running_platform)
    time.sleep(1.2)  # the edge rereads the engine registry every second
    alice_calls_bob(running_platform, tmp_path)


def test_a_killed_engine_is_started_again_and_the_rest_of_the_platform_stays_up(running_platform, tmp_path):
    """Killing one process (the engine) stops nothing else: `make run` starts it again, calls work."""
    engine = wait_for_engine(running_platform)
    os.kill(int(engine.split(":")[1]), signal.SIGKILL)
    restarted = wait_for_engine(running_platform, other_than=engine)
    assert restarted != engine
    log = running_platform.log.read_text()
    assert "[run] engine exited with -9" in log and "restarting it in" in log
    assert running_platform.process.poll() is None
    assert running_platform.get("localhost", "/healthz")[0] == 200
    time.sleep(1.2)  # the edge rereads the engine registry every second
    alice_calls_bob(running_platform, tmp_path)


def test_supervise_restarts_a_dying_process_later_each_time_and_stops_everything_on_ctrl_c(tmp_path):
    pid_file = tmp_path / "steady.pid"
    entries = [
        ("flaky", [sys.executable, "-c", "import sys; sys.exit(3)"]),
        ("steady", [sys.executable, "-c", f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid()));"
                                          " time.sleep(600)"]),
    ]  # fmt: skip
    script = (f"import sys; sys.path.insert(0, 'platform'); import run;"
              f" sys.exit(run.supervise({entries!r}, first=0.2, longest=0.8))")  # fmt: skip
    supervisor = subprocess.Popen([sys.executable, "-c", script], cwd=Path(settings.BASE_DIR), stdout=subprocess.PIPE,
                                  text=True, start_new_session=True)  # fmt: skip
    lines = []
    try:
        deadline = time.monotonic() + 20
        while sum("flaky exited" in line for line in lines) < 5 and time.monotonic() < deadline:
            lines.append(supervisor.stdout.readline())
        delays = [line.rsplit(" in ", 1)[1].split()[0] for line in lines if "flaky exited with 3" in line]
        assert delays[:5] == ["0.2", "0.4", "0.8", "0.8", "0.8"], lines
        assert sum("starting steady" in line for line in lines) == 1, "the other process was left alone"
        os.kill(int(pid_file.read_text()), 0)  # still running
    finally:
        supervisor.send_signal(signal.SIGINT)
        assert supervisor.wait(20) == 0
    steady = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(steady, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("Ctrl-C did not stop the other process")


def test_supervise_starts_a_killed_redis_of_its_own_again(tmp_path):
    """The PostgreSQL and Redis that `make run` started are part of the platform: killed, they come
    back (here a real redis-server as platform/services.py starts it, killed with SIGKILL)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = (f"services.Redis(data=pathlib.Path({str(tmp_path / 'redis')!r}), port={port},"
              f" log=pathlib.Path({str(tmp_path / 'redis.log')!r}))")  # fmt: skip
    script = (
        f"import pathlib, sys; sys.path.insert(0, 'platform'); import run, services; server = {server};"
        f" server.start(); code = run.supervise([], servers=[server]); server.stop(); sys.exit(code)"
    )
    supervisor = subprocess.Popen([sys.executable, "-c", script], cwd=Path(settings.BASE_DIR), stdout=subprocess.PIPE,
                                  text=True, start_new_session=True)  # fmt: skip
    client = redis.Redis(port=port)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    break
            time.sleep(0.1)
        client.set("kept", "yes")
        pid = int((tmp_path / "redis" / "redis.pid").read_text())
        time.sleep(1.2)  # the append-only file is written every second
        os.kill(pid, signal.SIGKILL)
        deadline, back = time.monotonic() + 20, None
        while time.monotonic() < deadline and back is None:
            with contextlib.suppress(redis.RedisError, ValueError, FileNotFoundError):
                if int((tmp_path / "redis" / "redis.pid").read_text()) != pid and client.ping():
                    back = client.get("kept")
            time.sleep(0.2)
        assert back == b"yes", "the killed Redis was not started again with its data"
    finally:
        supervisor.send_signal(signal.SIGINT)
        assert supervisor.wait(20) == 0
        client.close()
    assert "Redis is down; starting it again" in supervisor.stdout.read()
