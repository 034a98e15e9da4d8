"""The IM socket (/ws/im/, im/consumers.py) through channels' WebsocketCommunicator and the real Redis
channel layer: messages reach the conversation's members live with their unread counts (HTML kept as
text), typing reaches the other members only, presence changes reach the client's people and nobody
else's, the engines' call events turn into "on a call", and sockets that do not belong are refused."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings

from config.asgi import application
from config.redis_store import get_redis
from im import services
from telephony.callindex import where_key
from tenants.events import group_for_client
from tests.tenants.test_events import _session_cookie

pytestmark = pytest.mark.usefixtures("connections_kept", "on_commit_at_once")


@pytest.fixture
def on_commit_at_once(monkeypatch):
    """The test's transaction never commits: what waits for the commit runs at once."""
    monkeypatch.setattr("django.db.transaction.on_commit", lambda func, using=None, robust=False: func())


def _headers(world, account, host: str | None = None) -> list:
    """A signed-in browser's handshake headers (built before the event loop: they read the database)."""
    host = host or world.host_of(account)
    return [(b"host", host.encode()), (b"origin", f"http://{host}".encode()),
            (b"cookie", _session_cookie(account, world.host_of(account)))]  # fmt: skip


def _ws(headers) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, "/ws/im/", headers=headers)


async def _open(ws) -> dict:
    connected, code = await ws.connect()
    assert connected, code
    hello = await ws.receive_json_from(timeout=5)
    assert hello["type"] == "im.hello"
    return hello


async def _next(ws, kind: str, timeout: float = 5.0) -> dict:
    """The next event of that type (presence changes of others may come between)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        event = await ws.receive_json_from(timeout=max(0.05, deadline - loop.time()))
        if event["type"] == kind:
            return event


async def _none_of(ws, kind: str, wait: float = 0.6) -> None:
    """Nothing of that type comes within `wait` seconds (other events may)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while loop.time() < deadline:
        if await ws.receive_nothing(timeout=max(0.05, deadline - loop.time())):
            return
        event = await ws.receive_json_from()
        assert event["type"] != kind, event


async def _becomes(ws, account, wanted: str, timeout: float = 5.0) -> dict:
    """The presence change that shows `account` as `wanted` (others' changes may come first)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        change = await _next(ws, "presence.changed", max(0.1, deadline - loop.time()))
        if change["presence"].get(str(account.pk)) == wanted:
            return change


async def _engine_says(world, kind: str) -> None:
    """An event in the client's events group, as the engines and edges publish them."""
    event = {"type": "platform.event", "event": {"type": kind, "call": {"caller": "101", "callee": "102"}}}
    await get_channel_layer().group_send(group_for_client(world.client_a1.pk), event)


def test_messages_reach_the_members_live_with_unread_counts_and_typing(world):
    conversation = services.conversation_start(client=world.client_a1, actor=world.user_a1,
                                               to_users=[world.user_a1b])  # fmt: skip

    heads = [_headers(world, u) for u in (world.user_a1, world.user_a1b, world.user_a1c)]

    async def scenario():
        me, other, outsider = (_ws(h) for h in heads)
        for ws in (me, other, outsider):
            await _open(ws)
        await me.send_json_to({"typing": conversation.pk})
        typing = await _next(other, "im.typing")
        assert (typing["conversation"], typing["name"]) == (conversation.pk, world.user_a1.name)
        await me.send_json_to({"send": conversation.pk, "body": "<script>alert('x')</script>", "ref": "r1"})
        sent = await _next(me, "im.sent")
        assert sent["ref"] == "r1"
        got = await _next(other, "im.message")
        assert got["message"]["body"] == "<script>alert('x')</script>"
        assert (got["unread"], got["conversation_unread"]) == (1, 1)
        mine = await _next(me, "im.message")
        assert (mine["message"]["id"], mine["unread"]) == (sent["id"], 0)
        await other.send_json_to({"read": conversation.pk, "up_to": sent["id"]})
        assert (await _next(other, "im.read"))["unread"] == 0
        await _none_of(outsider, "im.message")
        await _none_of(outsider, "im.typing", 0.1)
        for ws in (me, other, outsider):
            await ws.disconnect()

    async_to_sync(scenario)()


def test_bad_input_on_the_socket_is_answered_and_the_socket_keeps_serving(world, settings):
    settings.OCX_IM = {**settings.OCX_IM, "per_window": 2}
    conversation = services.conversation_start(client=world.client_a1, actor=world.user_a1,
                                               to_users=[world.user_a1b])  # fmt: skip
    theirs = services.conversation_start(client=world.client_a1, actor=world.user_a1b, to_users=[world.user_a1c])

    head = _headers(world, world.user_a1)

    async def scenario():
        ws = _ws(head)
        await _open(ws)
        for bad in ({"send": conversation.pk, "body": "\x00\x01"}, {"send": conversation.pk, "body": 5},
                    {"send": conversation.pk, "body": "x" * 3000}):  # fmt: skip
            await ws.send_json_to(bad)
            error = await _next(ws, "im.error")
            assert error["code"] == "invalid" and "body" in error["fields"]
        await ws.send_json_to({"send": theirs.pk, "body": "hi"})
        assert (await _next(ws, "im.error"))["code"] == "not-found"
        await ws.send_json_to({"send": "1; drop", "body": "hi"})
        assert (await _next(ws, "im.error"))["code"] == "invalid"
        await ws.send_json_to(["not", "a", "dict"])
        await ws.send_json_to({"typing": theirs.pk})  # (not theirs: nobody is told)
        for _ in range(2):
            await ws.send_json_to({"send": conversation.pk, "body": "ok"})
            await _next(ws, "im.sent")
        await ws.send_json_to({"send": conversation.pk, "body": "one too many"})
        assert (await _next(ws, "im.error"))["code"] == "too-many-messages"
        await ws.disconnect()

    async_to_sync(scenario)()


def test_presence_reaches_the_clients_people_only(world):
    heads = [_headers(world, u) for u in (world.user_a1b, world.user_b1, world.user_a1)]

    async def scenario():
        colleague, foreign = _ws(heads[0]), _ws(heads[1])
        hello = await _open(colleague)
        assert hello["presence"][str(world.user_a1.pk)] == "offline"
        await _open(foreign)
        me = _ws(heads[2])
        await _open(me)
        change = await _becomes(colleague, world.user_a1, "available")
        assert set(change["presence"]) == {str(world.user_a1.pk)}
        await me.disconnect()
        await _becomes(colleague, world.user_a1, "offline")
        while not await foreign.receive_nothing(timeout=0.6):  # (its own client's changes only: user b1's own)
            event = await foreign.receive_json_from()
            assert set(event.get("presence", {})) <= {str(world.user_b1.pk)}, event
        await colleague.disconnect()
        await foreign.disconnect()

    async_to_sync(scenario)()


def test_a_call_event_turns_the_busy_line_on_a_call(world, monkeypatch):
    """Every socket of the client hears the event; one of them computes presence, and all are told."""
    from im import presence

    key = where_key(settings.OCX_REDIS_PREFIX, world.client_a1.pk)
    heads = [_headers(world, u) for u in (world.user_a1, world.user_a1c, world.client_a1_op)]
    computed = []
    publish = presence.presence_publish
    monkeypatch.setattr(presence, "presence_publish", lambda *a, **k: computed.append(1) or publish(*a, **k))

    async def scenario():
        sockets = [_ws(h) for h in heads]
        for ws in sockets:
            await _open(ws)
        get_redis().hset(key, "line:102", "engine-x")  # as the engine's call index has it
        computed.clear()
        await _engine_says(world, "call.answered")
        for ws in sockets:
            change = await _becomes(ws, world.user_a1b, "on_call")
            assert "call" not in change  # (the call's detail is never passed on)
        assert len(computed) == 1, computed
        get_redis().hdel(key, "line:102")
        await _engine_says(world, "call.ended")
        for ws in sockets:
            await _becomes(ws, world.user_a1b, "offline")
        for ws in sockets:
            await ws.disconnect()

    async_to_sync(scenario)()


@pytest.mark.parametrize("case", ["other-clients-host", "brand-operator", "anonymous"])
def test_sockets_that_do_not_belong_are_refused(world, case):
    if case == "other-clients-host":
        head = _headers(world, world.user_a1, host=world.host_of(world.user_b1))
    elif case == "brand-operator":
        head = _headers(world, world.brand_a_op)
    else:
        host = world.host_of(world.user_a1)
        head = [(b"host", host.encode()), (b"origin", f"http://{host}".encode())]

    async def scenario():
        ws = _ws(head)
        connected, code = await ws.connect()
        assert not connected
        assert code == 4401

    async_to_sync(scenario)()


def test_a_socket_idles_past_the_redis_timeout(world):
    """PITFALLS.md: redis-py 8's 5 s socket timeout must not end an idle socket's channel."""

    head = _headers(world, world.user_a1b)

    async def scenario():
        ws = _ws(head)
        await _open(ws)
        await asyncio.sleep(6)
        await _engine_says(world, "registration.changed")
        get_redis().hset(where_key(settings.OCX_REDIS_PREFIX, world.client_a1.pk), "line:103", "engine-x")
        await _engine_says(world, "call.ringing")
        await _becomes(ws, world.user_a1c, "on_call")
        await ws.disconnect()

    async_to_sync(scenario)()
