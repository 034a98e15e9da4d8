"""`make run` as a newcomer meets it: demo data, every portal host answering, clean Ctrl-C."""

from __future__ import annotations

import time

import redis

from tenants.tasks import HEARTBEAT_KEY


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
        if any(HEARTBEAT_KEY in key.decode() for key in store.keys("ocx-e2e:cache*")):
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


def test_demo_phones_call_each_other_through_the_edge_and_engine_that_run_started(running_platform, tmp_path):
    """Alice (101) calls Bob (102) with the printed credentials: the whole call path of `make run`."""
    from tests.sip.phone import Phone

    proxy, domain = f"127.0.0.1:{running_platform.env['OCX_SIP_PORT']}", "acme.brand.localhost"
    registry = redis.Redis.from_url(running_platform.env["REDIS_URL"])
    deadline = time.monotonic() + 30
    while not registry.hlen(f"{running_platform.env['OCX_REDIS_PREFIX']}:engines"):
        log = running_platform.log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"no call engine announced itself:\n{log}"
        time.sleep(0.3)
    time.sleep(1.2)  # the edge rereads the engine registry every second
    with Phone(name="alice", log_dir=tmp_path) as alice, Phone(name="bob", log_dir=tmp_path) as bob:
        assert alice.register(username="101", domain=domain, secret="demo-sip-101", proxy=proxy)["code"] == 200
        assert bob.register(username="102", domain=domain, secret="demo-sip-102", proxy=proxy,
                            incoming={"answer": 200})["code"] == 200  # fmt: skip
        alice.call("c1", f"sip:102@{domain}")
        label = bob.wait_incoming(timeout=15)["call"]
        alice.wait_call_state("c1", "confirmed")
        bob.wait_call_state(label, "confirmed")
        alice.hangup("c1")
        bob.wait_call_state(label, "disconnected")
