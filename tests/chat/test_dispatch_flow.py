"""The chat dispatcher (chat/dispatch.py) with the real Redis and PostgreSQL: an in-order queue offers
a chat to its first agent; unanswered within ring_seconds the offer is missed (in the leg, the agent
paused by pause_after_missed) and the chat, head of the line again, goes to the next agent; an agent at
their chat limit is passed over; a chat whose owning process went silent is taken over by another; a
chat past the queue's maximum wait, and one its visitor leaves, end with their records; the agents'
open chats come back from PostgreSQL when Redis lost them, and a close then still leaves its record."""

from __future__ import annotations

import asyncio
import time

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django_tenants.utils import tenant_context

from chat import dispatch
from chat.agents import chat_accept
from chat.models import Conversation
from chat.visitors import visitor_close
from queues import state
from queues.models import Agent
from records.models import Cdr
from tests.chat.agents_fixtures import consoles_open, wait_in_line


async def eventually(condition, what: str, timeout: float = 6.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        value = condition()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


def offered(redis, prefix, client, ext) -> str:
    found = redis.hget(state.agent_key(prefix, client, ext), "offered")
    return found.decode() if found else ""


def test_a_missed_offer_pauses_the_agent_and_goes_to_the_next(world, chat_queue, visitor, acd_keys):
    redis, prefix, client = acd_keys
    queue = chat_queue(strategy="in_order", ring_seconds=1, pause_after_missed=1)
    ann = visitor(queue)
    name = f"chat:{ann.uuid}"

    async def scenario():
        dispatch.ensure_running()
        wait_in_line(world, ann)
        await eventually(lambda: offered(redis, prefix, client, "101") == name, "the offer to 101")
        started = time.monotonic()
        await eventually(lambda: offered(redis, prefix, client, "102") == name, "the offer to 102 after the miss")
        assert 0.5 < time.monotonic() - started < 4
        assert offered(redis, prefix, client, "101") == ""
        await dispatch.stop_running()

    async_to_sync(scenario)()
    with tenant_context(world.client_a1):
        ann.refresh_from_db()
        assert Agent.objects.get(extension__number="101").paused
    assert [(o["agent"], o["result"]) for o in ann.offers] == [("101", "missed")]
    assert redis.hget(state.agent_key(prefix, client, "101"), "paused") == b"1"  # rebuilt from PostgreSQL


def test_an_agent_at_their_limit_is_passed_over_and_a_silent_owner_is_replaced(world, chat_queue, visitor, acd_keys):
    redis, prefix, client = acd_keys
    queue = chat_queue(strategy="in_order")
    redis.hset(state.agent_key(prefix, client, "101"), "chats", 2)  # two chats open already (limit 2)
    ann = visitor(queue)
    redis.set(dispatch.owner_key(prefix, client, ann.uuid), "a-process-that-died", ex=1)
    name = f"chat:{ann.uuid}"

    async def scenario():
        dispatch.ensure_running()
        wait_in_line(world, ann)
        await asyncio.sleep(0.5)
        assert offered(redis, prefix, client, "102") == ""  # still the dead process's for a moment
        await eventually(lambda: offered(redis, prefix, client, "102") == name, "the offer to 102", timeout=5)
        assert offered(redis, prefix, client, "101") == ""
        await dispatch.stop_running()

    async_to_sync(scenario)()


def test_a_chat_past_the_maximum_wait_ends_with_its_record(world, chat_queue, visitor, acd_keys):
    redis, prefix, client = acd_keys
    queue = chat_queue(max_wait_seconds=1)
    redis.hset(state.agent_key(prefix, client, "101"), "paused", "1")
    redis.hset(state.agent_key(prefix, client, "102"), "paused", "1")
    ann = visitor(queue)

    async def scenario():
        dispatch.ensure_running()
        wait_in_line(world, ann)
        line = state.queue_key(prefix, client, queue.pk, "waiting")
        await eventually(lambda: redis.zscore(line, f"chat:{ann.uuid}") is None, "the chat out of the line")
        await dispatch.stop_running()

    async_to_sync(scenario)()
    with tenant_context(world.client_a1):
        ann.refresh_from_db()
    assert (ann.state, ann.outcome, ann.closed_by) == ("closed", "timeout", "system")
    record = Cdr.objects.get(call_uuid=ann.uuid)
    assert (record.service, record.disposition, record.legs[0]["outcome"]) == ("chat", "no-answer", "timeout")


def test_a_visitor_who_leaves_while_offered_withdraws_the_offer_and_leaves_a_record(
    world, chat_queue, visitor, acd_keys
):
    redis, prefix, client = acd_keys
    queue = chat_queue(strategy="ring_all")
    ann = visitor(queue)
    name = f"chat:{ann.uuid}"

    async def scenario():
        dispatch.ensure_running()
        wait_in_line(world, ann)
        await eventually(lambda: offered(redis, prefix, client, "102") == name, "the offers")
        await database_sync_to_async(leave)(world, ann)
        assert offered(redis, prefix, client, "101") == offered(redis, prefix, client, "102") == ""
        await dispatch.stop_running()

    async_to_sync(scenario)()
    record = Cdr.objects.get(call_uuid=ann.uuid)
    assert (record.disposition, record.legs[0]["outcome"], record.hangup_side) == ("cancelled", "abandoned", "caller")
    assert redis.zscore(state.queue_key(prefix, client, queue.pk, "offering"), f"chat:{ann.uuid}") is None


def leave(world, conversation) -> None:
    """The visitor ends the chat (the widget's "End chat": chat/visitors.py)."""
    visitor_close(client=world.client_a1, conversation=conversation)


def test_open_chats_come_back_from_postgresql_after_redis_lost_them(world, chat_queue, visitor, acd_keys):
    redis, prefix, client = acd_keys
    queue = chat_queue(strategy="in_order")
    ann = visitor(queue)
    wait_in_line(world, ann)
    agents = state.claim  # the dispatcher's claim, run here
    got = async_to_sync(_claim)(agents, prefix, client, queue.pk, f"chat:{ann.uuid}")
    assert got == ["101"]
    redis.hset(dispatch.offer_key(prefix, client, ann.uuid), mapping={"agents": "101", "queue": queue.pk})
    with tenant_context(world.client_a1):
        chat_accept(actor=world.user_a1, client=world.client_a1, conversation_uuid=ann.uuid)
    assert redis.hget(state.agent_key(prefix, client, "101"), "chats") == b"1"
    for key in redis.scan_iter(f"{state.base(prefix, client)}:*"):  # Redis restarted without its data
        redis.delete(key)
    with tenant_context(world.client_a1):
        state.rebuild(redis, prefix, world.client_a1)
    assert redis.hget(state.agent_key(prefix, client, "101"), "chats") == b"1"
    assert redis.hget(state.agent_key(prefix, client, "102"), "chats") == b"0"
    leave(world, ann)  # the agent's slot is free again
    assert redis.hget(state.agent_key(prefix, client, "101"), "chats") == b"0"
    record = Cdr.objects.get(call_uuid=ann.uuid)
    assert (record.disposition, record.legs[0]["agent"], record.hangup_side) == ("answered", "101", "caller")


async def _claim(claim, prefix, client, queue, name):
    import redis.asyncio as aioredis
    from django.conf import settings

    r = aioredis.Redis.from_url(settings.REDIS_URL)
    try:
        return await claim(r, prefix, client, queue, name, "in_order", time.time(), 1)
    finally:
        await r.aclose()


def test_anyone_ready_needs_a_logged_in_unpaused_agent_with_a_console_open(world, chat_queue, acd_keys):
    redis, prefix, client = acd_keys
    queue = chat_queue(members=("101", "102"), consoles=())
    assert not dispatch.anyone_ready(client=world.client_a1, queue=queue)
    consoles_open(world, "102")
    assert dispatch.anyone_ready(client=world.client_a1, queue=queue)
    agent = state.agent_key(prefix, client, "102")
    redis.hset(agent, "paused", "1")
    assert not dispatch.anyone_ready(client=world.client_a1, queue=queue)
    redis.hset(agent, mapping={"paused": "0", "chat_limit": "0"})  # takes no chats
    assert not dispatch.anyone_ready(client=world.client_a1, queue=queue)
    redis.hdel(agent, "chat_limit")  # the default limit
    assert dispatch.anyone_ready(client=world.client_a1, queue=queue)
    redis.zadd(agent + ":consoles", {"test-console-102": time.time() - 1})  # the console went quiet
    assert not dispatch.anyone_ready(client=world.client_a1, queue=queue)


def test_an_accept_the_database_refuses_gives_the_agents_slot_back(world, chat_queue, visitor, acd_keys):
    import pytest

    from tenants.errors import NotPossible

    redis, prefix, client = acd_keys
    queue = chat_queue()
    ann = visitor(queue)
    with tenant_context(world.client_a1):
        Conversation.objects.filter(pk=ann.pk).update(state="closed")  # the visitor left meanwhile
    redis.hset(dispatch.offer_key(prefix, client, ann.uuid), mapping={"agents": "101", "queue": queue.pk})
    with tenant_context(world.client_a1), pytest.raises(NotPossible):
        chat_accept(actor=world.user_a1, client=world.client_a1, conversation_uuid=ann.uuid)
    assert redis.hget(state.agent_key(prefix, client, "101"), "chats") == b"0"
    assert redis.hget(state.agent_key(prefix, client, "101"), "calls") is None  # (no chat was had)
