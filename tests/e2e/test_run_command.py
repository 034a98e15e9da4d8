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
