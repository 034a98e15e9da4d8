"""A queue's caller and an agent's chat with real phones (pjsua2) through the edge and a real engine:
agent 102 has a chat open; a call to the in-order queue (102 first, then 103) passes 102 over unless
102 takes chats during calls; and an agent on a queue call is offered a chat only if they take both.
The engine's claim is the same CLAIM the chats' dispatcher runs. (Here, not in tests/chat/, to share
the telephony tests' one SIP edge and engine.)"""

from __future__ import annotations

import pytest
from django.conf import settings
from django_tenants.utils import tenant_context

from config.redis_store import get_redis
from queues import state
from tests.telephony.test_queues import answer_and_hang_up, call_queue, queue, queue_leg  # noqa: F401
from tests.waiting import committed


def _chats_during_calls(world, allowed: bool) -> None:
    from chat.agents import agent_chat_settings
    from telephony.models import Extension

    with tenant_context(world.client_a1):
        line = Extension.objects.get(number="102")
        agent_chat_settings(actor=world.client_a1_op, client=world.client_a1, extension=line,
                            chats_during_calls=allowed)  # fmt: skip


@pytest.mark.parametrize("both", [False, True])
def test_a_caller_passes_over_an_agent_in_a_chat_unless_they_take_both(world, lines, third, queue, both):  # noqa: F811
    caller, first, domain = lines
    queue(strategy="in_order")
    committed(_chats_during_calls, world, both)
    get_redis().hset(state.agent_key(settings.OCX_REDIS_PREFIX, world.client_a1.pk, "102"), "chats", 1)
    call_queue(caller, domain)
    answer_and_hang_up(caller, first if both else third)
    leg = queue_leg(world, outcome="answered")
    assert leg["agent"] == ("102" if both else "103")
    assert [o["agent"] for o in leg["offers"]] == (["102"] if both else ["103"])


@pytest.mark.parametrize("both", [False, True])
def test_an_agent_on_a_queue_call_is_offered_a_chat_only_if_they_take_both(world, lines, third, queue, at_once,  # noqa: F811
                                                                          both):  # fmt: skip
    import asyncio

    from asgiref.sync import async_to_sync

    from chat import dispatch
    from tests.chat.agents_fixtures import consoles_open, wait_in_line
    from tests.waiting import wait_for

    caller, first, domain = lines
    made = queue(strategy="in_order")
    committed(_chats_during_calls, world, both)
    consoles_open(world, "102", "103")
    redis, prefix, client = get_redis(), settings.OCX_REDIS_PREFIX, world.client_a1.pk
    call_queue(caller, domain)
    incoming = first.wait_incoming(timeout=15)["call"]
    first.wait_call_state(incoming, "confirmed")
    wait_for(lambda: redis.hget(state.agent_key(prefix, client, "102"), "busy"), "102 on the queue call", 5)
    ann = committed(_waiting_chat, world, made)  # (committed like the queue, removed before it)
    name = f"chat:{ann.uuid}"

    def offered(ext):
        return (redis.hget(state.agent_key(prefix, client, ext), "offered") or b"").decode()

    async def scenario():
        dispatch.ensure_running()
        wait_in_line(world, ann)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 6
        while loop.time() < deadline and name not in (offered("102"), offered("103")):
            await asyncio.sleep(0.05)
        await dispatch.stop_running()

    try:
        async_to_sync(scenario)()
        assert (offered("102"), offered("103")) == ((name, "") if both else ("", name))
    finally:
        dispatch.leave(redis, prefix, client, made.pk, ann.uuid)
        for ext in ("102", "103"):
            redis.hdel(state.agent_key(prefix, client, ext), "offered")
        caller.hangup("c1")
        first.wait_call_state(incoming, "disconnected")
        committed(_forget_chats, world)


def _waiting_chat(world, made):
    from chat.models import Conversation, Message

    with tenant_context(world.client_a1):
        conversation = Conversation.objects.create(queue=made, visitor_key="k" * 64, visitor_name="Ann")
        Message.objects.create(conversation=conversation, sender="visitor", body="Hello")
    return conversation


def _forget_chats(world):
    from chat.models import Conversation

    with tenant_context(world.client_a1):
        Conversation.objects.all().delete()
