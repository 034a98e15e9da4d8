"""Redis restarts are no outages: real edges (and an engine) on a throwaway redis-server of their own,
killed with SIGKILL and started again, with its data (the append-only file) and without it.

The suite's shared Redis is never touched: settings.REDIS_URL points at the throwaway server for
the test, so the services the test calls (a secret reset, a ban release) write where the processes
under test read.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from config.redis_store import get_redis, rkey
from records.models import Cdr
from telephony.directory import MARKER, sip_directory_sync
from telephony.edge.guard import auth_ban_key
from telephony.engine_registry import EngineInfo, registry_key
from telephony.models import Extension
from telephony.services import extension_reset_secret, sip_ban_release
from tenants.services import client_activate, client_suspend
from tests.conftest import _get_or_build_world
from tests.own_redis import OwnRedis
from tests.telephony.conftest import (
    EDGE_ENV,
    connected,
    database_url,
    start_edge,
    start_engine,
)
from tests.telephony.sipclient import SipClient
from tests.waiting import wait_for

SECRET = "restart-secret-123"


@pytest.fixture(scope="module")
def committed_lines(django_db_setup, django_db_blocker):
    """Lines 101 and 102 of client A1 with SECRET, committed: an edge rebuilds the directory from the
    database, which does not see a test's own transaction. Their hashes are put back afterwards, and
    the engine's call records deleted."""
    started = timezone.now()
    with django_db_blocker.unblock():
        world = _get_or_build_world()
        saved = []
        for account in (world.user_a1, world.user_a1b):
            extension = world.extension_of(account)
            saved.append((account.client, extension.pk, extension.ha1_md5, extension.ha1_sha256))
            extension_reset_secret(actor=account, client=account.client, extension=extension, secret=SECRET)
        connection.set_schema_to_public()
    yield
    with django_db_blocker.unblock():
        for client, pk, md5, sha256 in saved:
            with tenant_context(client):
                Extension.objects.filter(pk=pk).update(ha1_md5=md5, ha1_sha256=sha256)
        connection.set_schema_to_public()
        Cdr.objects.filter(started_at__gte=started).delete()


def edge_on(own: OwnRedis, *, synced: bool = True):
    """An edge on the throwaway Redis; synced: with the directory published first, as `sip_edge` does
    when it starts (the suite's edges start with --no-sync)."""
    if synced:
        sip_directory_sync()
    return start_edge(REDIS_URL=own.url, DATABASE_URL=database_url())


def register_through(client: SipClient, secret: str, timeout: float = 10.0) -> list[int]:
    """REGISTER until 200 (or the deadline); the answers seen, none of which may be a 500 or a 403:
    while Redis or the directory is away the edge answers 503 with Retry-After."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.register(secret)
        seen.append(answer.status)
        assert answer.status in (200, 503), f"{answer.status} {answer.reason} after {seen}"
        if answer.status == 200:
            return seen
        assert answer.get("Retry-After"), answer.raw
        time.sleep(0.1)
    raise AssertionError(f"no 200 within {timeout} s: {seen}")


def test_a_redis_restart_without_its_data_rebuilds_the_directory_and_bans_nobody(own_redis, committed_lines, world):
    domain = world.client_a1.sip_domain
    edge = edge_on(own_redis, synced=False)
    try:
        assert own_redis.client.exists(rkey(MARKER)), "the edge rebuilds a missing directory at start"
        assert SipClient(edge.address, "101", domain).register(SECRET).status == 200

        own_redis.kill()
        own_redis.restart(keep_data=False)
        assert not own_redis.client.exists(rkey("sip:domain"))  # really empty

        # 102 was never looked up by this edge: only the rebuilt directory can let it in.
        register_through(SipClient(edge.address, "102", domain), SECRET)
        register_through(SipClient(edge.address, "101", domain), SECRET)
        assert own_redis.client.exists(rkey(MARKER))
        assert own_redis.keys("ban:*") == [] and own_redis.keys("authfail:*") == []
        wait_for(lambda: own_redis.numsub("sip:invalidate") == 1, "the edge follows invalidations again")
        wait_for(lambda: own_redis.numsub("sip:bans") == 1, "the edge follows bans again")

        # Emptied without a restart (no reconnection to notice): the edge's periodic look finds it.
        own_redis.client.flushdb()
        wait_for(lambda: own_redis.client.exists(rkey(MARKER)), "the directory is rebuilt", timeout=15)
        register_through(SipClient(edge.address, "102", domain), SECRET)
        assert edge.process.poll() is None
    finally:
        edge.stop()


def test_a_short_outage_gets_503_and_the_edge_carries_on(own_redis, committed_lines, world):
    edge = edge_on(own_redis)
    try:
        phone = SipClient(edge.address, "101", world.client_a1.sip_domain)
        assert phone.register(SECRET).status == 200
        own_redis.kill()
        for _ in range(3):  # the credential is cached, the binding cannot be written: 503, never 500
            answer = phone.register(SECRET)
            assert answer.status == 503 and answer.get("Retry-After") == "5", answer.raw
        call = phone.invite(f"sip:102@{world.client_a1.sip_domain}", SECRET)
        assert call.sent and phone.expect(503).get("Retry-After") == "5"
        assert edge.process.poll() is None, edge.log_tail()
        own_redis.restart(keep_data=True)
        register_through(phone, SECRET)
        assert own_redis.keys("authfail:*") == []
    finally:
        edge.stop()


def test_after_a_restart_with_its_data_bindings_bans_and_secret_resets_still_work(
    own_redis, committed_lines, world, phones, django_capture_on_commit_callbacks
):
    domain = world.client_a1.sip_domain
    edge = edge_on(own_redis)
    engine = start_engine(edge, REDIS_URL=own_redis.url)
    try:
        proxy = f"127.0.0.1:{edge.port}"
        caller, callee = phones(name="caller"), phones(name="callee")
        assert caller.register(username="101", domain=domain, secret=SECRET, proxy=proxy)["code"] == 200
        assert callee.register(username="102", domain=domain, secret=SECRET, proxy=proxy,
                               incoming={"answer": 200, "ring_ms": 300})["code"] == 200  # fmt: skip
        wait_for(lambda: own_redis.numsub("sip:invalidate") == 2, "the edge and the engine follow invalidations")

        own_redis.kill()
        own_redis.restart(keep_data=True)
        assert own_redis.keys("loc:*"), "the bindings were kept on disk"
        wait_for(lambda: own_redis.numsub("sip:invalidate") == 2, "the edge and the engine follow invalidations again")
        wait_for(lambda: own_redis.numsub("sip:bans") == 1, "the edge follows bans again")

        # The phones did not register again: their bindings came back with Redis.
        label = connected(caller, callee, domain)
        caller.hangup("c1")
        callee.wait_call_state(label, "disconnected")

        # A ban and its release, published after the restart, reach the edge.
        line = SipClient(edge.address, "101", domain)
        key = auth_ban_key(settings.OCX_REDIS_PREFIX, domain, "101", "127.0.0.1")
        own_redis.client.set(key, "1", ex=600)
        own_redis.client.publish(rkey("sip:bans"), f"auth {domain} 101 127.0.0.1 {time.time() + 600}")
        wait_for(lambda: line.register(SECRET).status == 403, "the ban reaches the edge")
        sip_ban_release(actor=world.god, key=key)
        wait_for(lambda: line.register(SECRET).status == 200, "the release reaches the edge")

        # A new secret, written through as the portal does, reaches the edge's cache.
        extension = world.extension_of(world.user_a1)
        with django_capture_on_commit_callbacks(execute=True):
            extension_reset_secret(actor=world.user_a1, client=world.client_a1, extension=extension, secret="new-1234x")
        wait_for(lambda: line.register("new-1234x").status == 200, "the new secret works")
        assert line.register(SECRET).status == 403

        # Without its data: the directory is rebuilt from the database, the engine announces itself
        # again, and once the phones have registered again (as they do within their expiry) calls go on.
        own_redis.kill()
        own_redis.restart(keep_data=False)
        wait_for(lambda: own_redis.client.exists(rkey(MARKER)), "the directory is rebuilt")
        wait_for(lambda: own_redis.client.hlen(registry_key(settings.OCX_REDIS_PREFIX)), "the engine is back")
        edge.sees(EngineInfo.from_json(own_redis.client.hvals(registry_key(settings.OCX_REDIS_PREFIX))[0]).id)
        assert caller.reregister("101")["code"] == 200 and callee.reregister("102")["code"] == 200
        caller.call("c2", f"sip:102@{domain}")
        label = callee.wait_incoming()["call"]
        caller.wait_call_state("c2", "confirmed")
        caller.hangup("c2")
        callee.wait_call_state(label, "disconnected")
        assert own_redis.keys("ban:*") == []
        assert engine.poll() is None and edge.process.poll() is None
    finally:
        engine.terminate()
        engine.wait(10)
        edge.stop()


def test_a_suspended_client_is_refused_without_counting_towards_a_ban(world, sip_lines, sip_client):
    """A phone of a suspended client keeps registering with its right secret: 403, but the platform's
    state is not a guess, so the line is not banned when the client comes back."""
    domain = world.client_a1.sip_domain
    get_redis().delete(auth_ban_key(settings.OCX_REDIS_PREFIX, domain, "101", "127.0.0.1"))  # an earlier run's
    get_redis().publish(rkey("sip:bans"), f"release auth {domain} 101 127.0.0.1")
    sip_lines(world.user_a1, SECRET)
    client_suspend(actor=world.god, client=world.client_a1)
    sip_directory_sync()  # in the test's transaction the on-commit publication does not run
    try:
        phone = sip_client(world.user_a1)
        for _ in range(int(EDGE_ENV["OCX_SIP_AUTH_FAILURES"]) + 1):
            assert phone.register(SECRET).status == 403
        assert phone.register("a-wrong-guess").status == 403  # a wrong secret still counts
    finally:
        client_activate(actor=world.god, client=world.client_a1)
        sip_directory_sync()
    assert phone.register(SECRET).status == 200


def test_an_edge_started_while_redis_is_down_answers_503_and_serves_once_it_is_back(own_redis, committed_lines, world):
    """`make run` restarts an edge that died during a Redis outage: it must start all the same (its
    start-up directory rebuild fails) and tell phones to come back, not leave them without an answer."""
    own_redis.kill()
    edge = start_edge(sync=True, REDIS_URL=own_redis.url, DATABASE_URL=database_url())
    try:
        phone = SipClient(edge.address, "101", world.client_a1.sip_domain)
        answer = phone.register(SECRET)
        assert answer.status == 503 and answer.get("Retry-After"), answer.raw
        own_redis.restart(keep_data=False)
        register_through(phone, SECRET, timeout=20)  # the directory is rebuilt once Redis is back
        assert edge.process.poll() is None, edge.log_tail()
    finally:
        edge.stop()
