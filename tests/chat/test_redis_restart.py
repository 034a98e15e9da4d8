"""Chat across a Redis restart: a visitor's socket and an agent's console, over the real channel layers
and dispatcher, on a redis-server of the test's own (tests/own_redis.py) killed with SIGKILL and
started again with its data. Afterwards, without either side reconnecting, the open chat's lines go
both ways again (chat's pub/sub layer subscribes again) and a new visitor's chat is offered and
answered (the dispatcher follows its channel again)."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from django_tenants.utils import tenant_context

from chat import dispatch
from chat.models import Message
from config.redis_store import get_redis
from tests.chat.agents_fixtures import console, until
from tests.chat.test_visitor_socket import hello, said, socket

pytestmark = pytest.mark.django_db

BACK_WITHIN = 20.0  # seconds for both sides to hear each other again


@pytest.fixture
def host(world, monkeypatch):
    # The console admits its agent on the test's own connection (their session is the test's row): not
    # closed there as "old" (its transaction is the test's).
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)
    monkeypatch.setattr("chat.console.close_old_connections", lambda: None)
    return world.host_of(world.client_a1_op)


async def start_and_answer(agent, host: str, key: str, text: str):
    """A visitor starts a chat; the agent accepts the offer; both sides are told."""
    visitor = socket(host, key)
    assert (await visitor.connect())[0]
    await hello(visitor)
    await visitor.send_json_to({"type": "start", "name": "Ann", "text": text})
    uuid = (await said(visitor, "started"))["conversation"]["id"]
    offer = await until(agent, lambda m: (m.get("event") or {}).get("kind") == "offer", timeout=10, what="the offer")
    assert offer["event"]["conversation"] == uuid
    await agent.send_json_to({"action": "accept", "conversation": uuid})
    await until(agent, lambda m: m["type"] == "chat.open" and m["chat"]["conversation"] == uuid, what="the chat")
    await said(visitor, "joined", timeout=5)
    return visitor, uuid


def line_of(sender: str, body: str):
    """A chat line as either side shows it (the console's events come wrapped, the widget's not)."""

    def wanted(message: dict) -> bool:
        event = message.get("event", message)
        return (event.get("kind"), event.get("sender"), event.get("body")) == ("message", sender, body)

    return wanted


async def heard(sending, receiving, send, wanted_of, *, within: float) -> int:
    """Send a numbered line every second until the other side hears one; how many were sent. (A
    communicator's receive that times out ends its consumer: looked at with receive_nothing.)"""
    loop = asyncio.get_running_loop()
    deadline, n, next_send = loop.time() + within, 0, 0.0
    while loop.time() < deadline:
        if loop.time() >= next_send:
            n, next_send = n + 1, loop.time() + 1.0
            await send(sending, n)
        if await receiving.receive_nothing(timeout=0.05, interval=0.01):
            continue
        message = await receiving.receive_json_from()
        if any(wanted_of(k)(message) for k in range(1, n + 1)):
            return n
    raise AssertionError(f"nothing heard in {within:.0f} s ({n} lines sent)")


async def visitor_says(visitor, n: int) -> None:
    await visitor.send_json_to({"type": "message", "text": f"visitor {n}"})


def agent_says(uuid: str):
    async def send(agent, n: int) -> None:
        await agent.send_json_to({"action": "send", "conversation": uuid, "body": f"agent {n}"})

    return send


async def both_ways(visitor, agent, uuid: str, *, within: float, agent_first: bool = False) -> tuple[int, int]:
    """The visitor's numbered lines heard by the agent and the agent's by the visitor: how many each
    side sent until one was heard (agent_first: the agent's line goes first)."""

    async def to_agent() -> int:
        return await heard(visitor, agent, visitor_says, lambda n: line_of("visitor", f"visitor {n}"), within=within)

    async def to_visitor() -> int:
        return await heard(agent, visitor, agent_says(uuid), lambda n: line_of("agent", f"agent {n}"), within=within)

    if agent_first:
        back = await to_visitor()
        return await to_agent(), back
    return await to_agent(), await to_visitor()


def test_a_redis_restart_leaves_open_chats_talking_and_new_chats_answered(own_redis, world, chat_widget, host):
    widget = chat_widget()
    agent = console(world, world.user_a1)

    async def scenario():
        assert (await agent.connect())[0]
        await until(agent, lambda m: m["type"] == "chat.snapshot")
        visitor, uuid = await start_and_answer(agent, host, widget.key, "Hello")
        assert await both_ways(visitor, agent, uuid, within=5) == (1, 1)

        await asyncio.to_thread(own_redis.kill)
        await asyncio.to_thread(own_redis.restart, keep_data=True)

        await both_ways(visitor, agent, uuid, within=BACK_WITHIN)
        # A new visitor: waits in line, is offered to the open console, answered.
        second, _ = await start_and_answer(agent, host, widget.key, "Anyone there?")
        for ws in (visitor, second, agent):
            await ws.disconnect()
        await dispatch.stop_running()

    async_to_sync(scenario)()


@pytest.fixture
def chat_layer_on_its_own_redis(own_redis, settings, suite_redis_url):
    """Chat's channel layer on the throwaway server, everything else on the suite's Redis."""
    settings.REDIS_URL = suite_redis_url
    get_redis.cache_clear()
    return own_redis


@pytest.fixture
def suite_redis_url(settings):
    return settings.REDIS_URL


def test_a_line_kept_while_its_live_delivery_fails_is_shown_to_its_sender_once(
    suite_redis_url, chat_layer_on_its_own_redis, world, chat_widget, host
):
    """Chat's channel layer's Redis dies with a chat open: each side's next line is kept (PostgreSQL) and
    shown back to its sender with its id, never refused after it was kept (a retry would keep it twice)."""
    widget = chat_widget()
    agent = console(world, world.user_a1)

    async def scenario():
        assert (await agent.connect())[0]
        await until(agent, lambda m: m["type"] == "chat.snapshot")
        visitor, uuid = await start_and_answer(agent, host, widget.key, "Hello")
        await asyncio.to_thread(chat_layer_on_its_own_redis.kill)
        await agent.send_json_to({"action": "send", "conversation": uuid, "body": "kept anyway"})
        shown = await until(agent, line_of("agent", "kept anyway"), timeout=10, what="the agent's own line")
        await visitor.send_json_to({"type": "message", "text": "me too"})
        mine = await said(visitor, "message", timeout=10)
        for ws in (visitor, agent):
            await ws.disconnect()
        await dispatch.stop_running()
        return uuid, shown, mine

    uuid, shown, mine = async_to_sync(scenario)()
    assert shown["event"]["conversation"] == uuid and isinstance(shown["event"]["id"], int)
    assert (mine["sender"], mine["body"]) == ("visitor", "me too") and isinstance(mine["id"], int)
    with tenant_context(world.client_a1):
        kept = list(Message.objects.filter(conversation__uuid=uuid).order_by("id").values_list("body", flat=True))
    assert kept == ["Hello", "kept anyway", "me too"]
