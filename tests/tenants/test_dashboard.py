"""The operators' live dashboards: the figures of each scope, from the call records and from Redis as
the engines and edges write them; the page without JavaScript; the WebSocket's pushes, in scope only."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
import redis.asyncio as aioredis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client as HttpClient

from config.asgi import application
from config.redis_store import get_redis, rkey
from telephony.callindex import EngineIndex
from telephony.edge.location import UPDATE_SCRIPT, Binding, now_millis
from tenants.events import group_for_brand, group_for_client, group_for_platform
from tenants.figures import dashboard_figures

NOW = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def redis_cleared():
    """Registrations and live calls live in Redis, outside the rolled-back transaction."""

    def clear():
        r = get_redis()
        for pattern in ("loc:*", "locidx:*", "live:*"):
            keys = list(r.scan_iter(match=rkey(pattern), count=500))
            if keys:
                r.delete(*keys)

    clear()
    yield
    clear()


def register(client, user: str, contact: str, *, seconds: int = 300) -> None:
    """A device registers, written as the edge writes it (telephony/edge/location.py's script)."""
    callid = uuid.uuid4().hex
    binding = Binding(contact, now_millis() + seconds * 1000, None, "udp:127.0.0.1:5060", "test", callid, 1, "edge1")
    keys = [rkey("loc", client.pk, user), "", rkey("locidx", client.pk)]
    args = [now_millis(), 0, 300, callid, 1, "0", 10, user, "", "", contact, binding.to_json()]  # (no announcement)
    get_redis().eval(UPDATE_SCRIPT, 3, *keys, *args)


async def write_live_calls(client, count: int) -> None:
    """Calls the engines hold for a client, written as an engine writes its live index."""
    connection = aioredis.from_url(settings.REDIS_URL)
    index = EngineIndex(connection, settings.OCX_REDIS_PREFIX, "e1")
    for _ in range(count):
        call_id = uuid.uuid4().hex
        index.live(client.pk, {"id": call_id, "engine": "e1", "state": "answered"})
    await index.flush()
    await connection.aclose()


def calls_in_progress(client, count: int) -> None:
    async_to_sync(write_live_calls)(client, count)


@pytest.fixture
def traffic(world, cdr_factory, redis_cleared):
    """Calls and phones in three clients of two brands. Client a1 keeps New York's time, where 04:30
    UTC is still the day before; brand A's day (the platform's, UTC) has begun."""
    world.client_a1.timezone = "America/New_York"
    world.client_a1.save(update_fields=["timezone"])
    a1, a2, b1 = world.client_a1, world.client_a2, world.client_b1
    today = NOW - dt.timedelta(hours=2)
    cdr_factory(a1, started_at=today, seconds=60)
    cdr_factory(a1, started_at=today, seconds=180)
    cdr_factory(a1, started_at=today, disposition="failed", hangup_cause="503")
    cdr_factory(a1, started_at=today, disposition="failed", hangup_cause="503")
    cdr_factory(a1, started_at=today, disposition="failed", hangup_cause="404")
    cdr_factory(a1, started_at=today, disposition="busy", hangup_cause="486")
    cdr_factory(a1, started_at=NOW.replace(hour=4, minute=30), seconds=600)  # New York's yesterday
    cdr_factory(a1, started_at=NOW - dt.timedelta(days=1), seconds=600)
    cdr_factory(a1, started_at=today, service="conference", ended=False, conference="4242")
    cdr_factory(a1, started_at=today, service="conference", ended=False, conference="4242")
    cdr_factory(a1, started_at=today, service="conference", ended=False, conference="4242", answer_after=None)
    cdr_factory(a2, started_at=today, seconds=90)
    cdr_factory(b1, started_at=today, disposition="failed", hangup_cause="480")
    cdr_factory(b1, started_at=today, service="conference", ended=False, conference="1111")
    register(a1, "101", "sip:101@10.0.0.1:5060")
    register(a1, "101", "sip:101@10.0.0.2:5060")
    register(a1, "102", "sip:102@10.0.0.3:5060")
    register(a1, "103", "sip:103@10.0.0.4:5060", seconds=-1)  # expired
    register(b1, "301", "sip:301@10.0.0.9:5060")
    calls_in_progress(a1, 2)
    calls_in_progress(b1, 1)
    return world


def test_a_client_sees_its_own_figures_in_its_time_zone(traffic):
    figures = dashboard_figures(actor=traffic.client_a1_op, now=NOW)
    assert figures["timezone"] == "America/New_York" and figures["today"] == "2026-11-02"
    assert figures["calls_now"] == 2
    assert figures["capacity"] == traffic.client_a1.max_calls
    assert figures["registered"] == 3
    assert figures["calls_today"] == 9  # 6 calls and 3 conference participants; not the 04:30 UTC call
    assert figures["minutes_today"] == (60 + 180) // 60  # failed and busy calls talked 0 s; conferences go on
    assert figures["failed_today"] == 3
    assert figures["causes"] == [
        {"cause": "503", "label": "503 Service Unavailable", "count": 2},
        {"cause": "404", "label": "404 Not Found", "count": 1},
    ]
    assert (figures["conferences"], figures["participants"]) == (1, 2)
    assert "engines" not in figures and "busiest" not in figures


def test_a_brand_sees_its_clients_only(traffic):
    figures = dashboard_figures(actor=traffic.brand_a_op, now=NOW)
    assert figures["timezone"] == "UTC"
    assert (figures["calls_now"], figures["registered"]) == (2, 3)
    assert figures["calls_today"] == 9 + 1 + 1  # a1 (with its 04:30 UTC call: UTC's today) and a2
    assert figures["failed_today"] == 3
    assert [c["cause"] for c in figures["causes"]] == ["503", "404"]
    assert (figures["conferences"], figures["participants"]) == (1, 2)
    assert [(row["name"], row["calls"], row["registered"]) for row in figures["busiest"]] == [
        (traffic.client_a1.name, 2, 3)
    ]
    assert "engines" not in figures


def test_the_platform_sees_everything_with_engines_and_edges(traffic):
    r = get_redis()
    r.hset(rkey("engines"), "e-dash", '{"id": "e-dash", "host": "127.0.0.1", "port": 5070, "calls": 30, '
           f'"capacity": 120, "at": {now_millis() / 1000}}}')  # fmt: skip
    try:
        figures = dashboard_figures(actor=traffic.god, now=NOW)
    finally:
        r.hdel(rkey("engines"), "e-dash")
    assert (figures["calls_now"], figures["registered"]) == (3, 4)
    assert figures["failed_today"] == 4
    assert [c["cause"] for c in figures["causes"]] == ["503", "404", "480"]
    assert (figures["conferences"], figures["participants"]) == (2, 3)
    assert {row["name"] for row in figures["busiest"]} == {traffic.client_a1.name, traffic.client_b1.name}
    engine = next(e for e in figures["engines"] if e["id"] == "e-dash")
    assert (engine["calls"], engine["capacity"], engine["load"], engine["state"]) == (30, 120, 25, "up")


def _figure(html: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}">([^<]*)<', html)
    assert found, f"no {name} on the page"
    return found.group(1)


@pytest.mark.parametrize("role", ["client_a1_op", "brand_a_op", "god"])
def test_the_page_shows_the_figures_without_javascript(traffic, portal, role):
    account = getattr(traffic, role)
    html = portal(account).get("/").content.decode()
    live = dashboard_figures(actor=account)
    assert _figure(html, "calls_now") == str(live["calls_now"]) != "0"
    assert _figure(html, "registered") == str(live["registered"]) != "0"
    assert _figure(html, "failed_today") == str(live["failed_today"])
    assert 'src="/static/dashboard_live.js"' in html
    if role == "god":
        assert "Call engines" in html and "SIP edges" in html
    else:
        assert "Call engines" not in html


# The WebSocket ----------------------------------------------------------------------------------------


@pytest.fixture
def connections_kept(monkeypatch):
    """Consumers close "old" database connections around each query; inside a test's transaction that
    would close the test's own connection."""
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)
    monkeypatch.setattr("tenants.consumers.close_old_connections", lambda: None)


def dashboard_socket(account, world) -> WebsocketCommunicator:
    host = world.host_of(account)
    http = HttpClient(HTTP_HOST=host)
    http.force_login(account)
    cookie = f"{settings.SESSION_COOKIE_NAME}={http.cookies[settings.SESSION_COOKIE_NAME].value}".encode()
    headers = [(b"host", host.encode()), (b"origin", f"http://{host}".encode()), (b"cookie", cookie)]
    return WebsocketCommunicator(application, "/ws/events/", headers=headers)


async def figures_from(ws: WebsocketCommunicator, timeout: float = 3) -> dict:
    """The next figures the socket pushes (events in between are skipped)."""
    while True:
        message = await ws.receive_json_from(timeout=timeout)
        if message["type"] == "dashboard.figures":
            return message["figures"]


def test_the_socket_pushes_figures_in_scope_and_not_out_of_it(traffic, connections_kept):
    """A call in client a1 (its events as the engine sends them: the call to the client's group, the
    nudge to the brand's and platform's) reaches the dashboards of a1, brand A and the platform with
    their own figures, and neither b1's nor brand B's."""
    world = traffic
    watchers = ["client_a1_op", "brand_a_op", "god", "client_b1_op", "brand_b_op"]

    sockets = {name: dashboard_socket(getattr(world, name), world) for name in watchers}

    async def scenario():
        for ws in sockets.values():
            assert (await ws.connect())[0]
            await ws.send_json_to({"watch": "dashboard"})
        first = {name: await figures_from(ws) for name, ws in sockets.items()}
        assert first["client_a1_op"]["calls_now"] == 2 and first["client_b1_op"]["calls_now"] == 1
        assert first["brand_b_op"]["calls_now"] == 1 and first["god"]["calls_now"] == 3
        assert "busiest" not in first["client_b1_op"]

        await write_live_calls(world.client_a1, 1)
        layer = get_channel_layer()
        event = {"type": "call.ringing", "client": world.client_a1.pk, "call": {"id": "x"}}
        await layer.group_send(group_for_client(world.client_a1.pk), {"type": "platform.event", "event": event})
        for group in (group_for_brand(world.brand_a.pk), group_for_platform()):
            await layer.group_send(group, {"type": "platform.event", "event": {"type": "dashboard.changed"}})

        assert (await figures_from(sockets["client_a1_op"]))["calls_now"] == 3
        brand = await figures_from(sockets["brand_a_op"])
        assert brand["calls_now"] == 3
        assert {row["name"] for row in brand["busiest"]} == {world.client_a1.name}
        assert (await figures_from(sockets["god"]))["calls_now"] == 4
        for name in ("client_b1_op", "brand_b_op"):
            assert await sockets[name].receive_nothing(timeout=1.0), f"{name} was sent something"
        for ws in sockets.values():
            await ws.disconnect()

    async_to_sync(scenario)()


def test_employees_get_no_figures(world, connections_kept, redis_cleared):
    ws = dashboard_socket(world.user_a1, world)

    async def scenario():
        assert (await ws.connect())[0]
        await ws.send_json_to({"watch": "dashboard"})
        assert await ws.receive_nothing(timeout=0.5)
        await ws.disconnect()

    async_to_sync(scenario)()
