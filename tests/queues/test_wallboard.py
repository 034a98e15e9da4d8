"""The queues' wallboard (queues/wallboard.py, queues/report_views.py, queues/consumers.py) over live state
written here as the engines write it (Redis: waiting callers, agents' offers and calls, the call index's
live calls) and PostgreSQL (members, pauses): the waiting callers with their numbers and since when,
each agent's state (on a call with whom, ringing, paused with its reason, wrap-up, logged out,
available), today's service level; the page rendered without scripts, the snapshot as JSON, and the
socket that sends a new snapshot after each queue event, in the client's scope only. The real
browser's view of a real call is tests/e2e/test_wallboard_browser.py."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.utils import timezone
from django_tenants.utils import tenant_context

from config.asgi import application
from config.redis_store import get_redis
from queues import state
from queues.models import Member
from queues.services import agent_pause, queue_save
from telephony.callindex import live_key, where_key
from telephony.models import Extension
from tenants.events import group_for_client
from tests.tenants.test_events import _session_cookie


@pytest.fixture
def redis_state(world):
    redis, prefix, client = get_redis(), settings.OCX_REDIS_PREFIX, world.client_a1.pk
    yield redis, prefix, client
    for pattern in (f"{state.base(prefix, client)}:*", live_key(prefix, client), where_key(prefix, client)):
        for key in redis.scan_iter(pattern):
            redis.delete(key)


@pytest.fixture
def board(world, redis_state, cdr_factory):
    """Queue Support: 101 logged in and on a call, 102 logged in and paused, 103 logged out; a caller
    waiting 30 s; one call answered today within the service level, one not."""
    redis, prefix, client = redis_state
    op = world.client_a1_op
    support = queue_save(actor=op, client=world.client_a1, name="Support", service_level_seconds=20,
                         members=[{"extension": e} for e in ("101", "102", "103")])  # fmt: skip
    with tenant_context(world.client_a1):
        Member.objects.filter(queue=support, extension__number__in=["101", "102"]).update(logged_in=True)
        line = Extension.objects.get(number="102")
    agent_pause(actor=op, client=world.client_a1, extension=line, reason="lunch")
    now = time.time()
    caller = str(uuid.uuid4())
    redis.zadd(state.queue_key(prefix, client, support.pk, "waiting"), {caller: now - 30})
    talk = str(uuid.uuid4())
    redis.hset(live_key(prefix, client), mapping={
        caller: json.dumps({"id": caller, "caller": "0612345678", "caller_name": "Ann", "callee": "600"}),
        talk: json.dumps({"id": talk, "caller": "0698765432", "caller_name": "Bob", "callee": "101"}),
    })  # fmt: skip
    redis.hset(state.agent_key(prefix, client, "101"), mapping={"busy": talk, "busy_since": now - 12})
    today = timezone.now() - dt.timedelta(minutes=1)
    for wait in (5, 40):
        leg = {"leg": "queue", "queue": support.pk, "joined": today.isoformat(), "wait": wait, "outcome": "answered",
               "agent": "101", "offers": [{"agent": "101", "result": "answered"}]}  # fmt: skip
        cdr_factory(started_at=today, answer_after=0, seconds=wait + 10, legs=[leg])
    return support, caller


def test_the_snapshot_shows_callers_agents_and_todays_service_level(world, board):
    from queues.wallboard import wallboard_snapshot

    support, caller = board
    snap = wallboard_snapshot(client=world.client_a1, queues=[support])
    [queue] = snap["queues"]
    assert (queue["name"], queue["service_level"], queue["answered_today"]) == ("Support", 50.0, 2)
    [waiting] = queue["waiting"]
    assert (waiting["call"], waiting["number"], waiting["name"], waiting["offered"]) == (caller, "0612345678", "Ann",
                                                                                          False)  # fmt: skip
    assert snap["now"] - waiting["since"] == pytest.approx(30, abs=2)
    agents = {a["extension"]: a for a in snap["agents"]}
    assert (agents["101"]["state"], agents["101"]["with"], agents["101"]["with_name"]) == (
        "on_call",
        "0698765432",
        "Bob",
    )
    assert snap["now"] - agents["101"]["since"] == pytest.approx(12, abs=2)
    assert (agents["102"]["state"], agents["102"]["reason"]) == ("paused", "lunch")
    assert agents["103"]["state"] == "logged_out"


def test_agent_states_follow_offers_wrapup_and_other_calls(world, board, redis_state):
    from queues.wallboard import wallboard_snapshot

    redis, prefix, client = redis_state
    _support, caller = board
    redis.hdel(state.agent_key(prefix, client, "101"), "busy")
    redis.hset(state.agent_key(prefix, client, "101"), "wrap_until", time.time() + 30)
    agents = {a["extension"]: a for a in wallboard_snapshot(client=world.client_a1)["agents"]}
    assert agents["101"]["state"] == "wrapup" and agents["101"]["until"] > time.time()
    redis.hset(state.agent_key(prefix, client, "101"), mapping={"wrap_until": 0, "offered": caller})
    agents = {a["extension"]: a for a in wallboard_snapshot(client=world.client_a1)["agents"]}
    assert (agents["101"]["state"], agents["101"]["with"]) == ("ringing", "0612345678")
    redis.hdel(state.agent_key(prefix, client, "101"), "offered")
    redis.hset(where_key(prefix, client), "line:101", "e1")  # a call that is no queue's, with 101 as callee
    agents = {a["extension"]: a for a in wallboard_snapshot(client=world.client_a1)["agents"]}
    assert (agents["101"]["state"], agents["101"]["with"]) == ("on_call", "0698765432")
    redis.delete(live_key(prefix, client), where_key(prefix, client))
    agents = {a["extension"]: a for a in wallboard_snapshot(client=world.client_a1)["agents"]}
    assert agents["101"]["state"] == "available"


def test_the_page_renders_the_board_without_scripts_and_the_snapshot_as_json(world, portal, board):
    support, caller = board
    http = portal(world.client_a1_op)
    page = http.get(f"/queues/{support.pk}/wallboard/")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<noscript><meta http-equiv="refresh"' in html
    assert f'data-call="{caller}"' in html and "0612345678 (Ann)" in html
    assert 'data-agent="102" data-state="paused"' in html and "lunch" in html
    assert 'data-agent="101" data-state="on_call"' in html and "0698765432 (Bob)" in html
    assert http.get("/queues/wallboard/").status_code == 200
    snap = http.get(f"/queues/{support.pk}/wallboard/snapshot/").json()
    assert snap["queues"][0]["waiting"][0]["number"] == "0612345678"
    assert http.get("/queues/999999/wallboard/").status_code == 404
    assert portal(world.user_a1).get(f"/queues/{support.pk}/wallboard/").status_code in (403, 404)


def _socket(world, account, which: str) -> WebsocketCommunicator:
    host = world.host_of(account)
    headers = [(b"host", host.encode()), (b"origin", f"http://{host}".encode()),
               (b"cookie", _session_cookie(account, host))]  # fmt: skip
    return WebsocketCommunicator(application, f"/ws/queues/{which}/", headers=headers)


@pytest.fixture
def connections_kept(monkeypatch):
    """Consumers close "old" database connections; inside a test's transaction that would close its own."""
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)
    monkeypatch.setattr("queues.consumers.close_old_connections", lambda: None)


def test_the_socket_sends_a_new_snapshot_after_a_queue_event(world, board, redis_state, connections_kept):
    redis, prefix, client = redis_state
    support, _caller = board

    ws = _socket(world, world.client_a1_op, str(support.pk))

    async def scenario():
        connected, _ = await ws.connect()
        assert connected
        first = await ws.receive_json_from(timeout=5)
        assert first["type"] == "wallboard.snapshot" and len(first["wallboard"]["queues"][0]["waiting"]) == 1
        later = str(uuid.uuid4())
        redis.zadd(state.queue_key(prefix, client, support.pk, "waiting"), {later: time.time()})
        await get_channel_layer().group_send(group_for_client(client), {"type": "platform.event", "event": {
            "type": "queue.changed", "queue": support.pk, "what": "joined"}})  # fmt: skip
        second = await ws.receive_json_from(timeout=3)  # well before the REFRESH
        assert [c["call"] for c in second["wallboard"]["queues"][0]["waiting"]][-1] == later
        await ws.disconnect()

    async_to_sync(scenario)()


@pytest.mark.parametrize("case", ["other-client", "user", "no-queue"])
def test_the_socket_is_refused_out_of_scope(world, board, connections_kept, case):
    support, _caller = board
    account = {"other-client": world.client_b1_op, "user": world.user_a1, "no-queue": world.client_a1_op}[case]
    which = str(support.pk if case != "no-queue" else 999999)

    ws = _socket(world, account, which)

    async def scenario():
        connected, code = await ws.connect()
        assert not connected
        assert code == (4401 if case == "user" else 4404)

    async_to_sync(scenario)()
