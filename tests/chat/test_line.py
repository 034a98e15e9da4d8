"""A waiting chat in its queue's line (chat/line.py) with the callers, over the real Redis and the
queues' own CLAIM script: its place among calls by join time, a second join keeps its place, a full
queue refuses it, leave takes it out; the keeper (chat/keeper.py) keeps it fresh so that CLAIM does
not drop it as a dead engine's caller, tells the visitor their place, and once the visitor is gone
for good closes it as abandoned."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django_tenants.utils import tenant_context

from chat import keeper as keeping
from chat import line
from chat.models import Conversation
from config.redis_store import get_redis
from queues import state
from tests.waiting import committed

pytestmark = pytest.mark.django_db


def _conversation(world, widget, **fields):
    with tenant_context(world.client_a1):
        return Conversation.objects.select_related("queue").create(widget=widget, queue=widget.queue,
                                                                   visitor_key="v" * 64, **fields)  # fmt: skip


def test_chats_and_calls_wait_in_one_line_by_join_time(world, chat_widget):
    widget = chat_widget()
    r, prefix, client = get_redis(), settings.OCX_REDIS_PREFIX, world.client_a1
    conversation = committed(_conversation, world, widget)
    waiting = state.queue_key(prefix, client.pk, widget.queue_id, "waiting")
    r.zadd(waiting, {"call-before": conversation.created_at.timestamp() - 5,
                     "call-after": conversation.created_at.timestamp() + 5})  # fmt: skip
    assert line.join(client=client, conversation=conversation) == 2
    assert line.join(client=client, conversation=conversation) == 2  # again: the same place
    assert line.position(client=client, conversation=conversation) == 2
    members = [(widget.queue_id, "chat:nobody"), (widget.queue_id, line.member(conversation))]
    assert line.positions(client_id=client.pk, members=members) == [None, 2]
    line.leave(client=client, conversation=conversation)
    assert line.position(client=client, conversation=conversation) is None
    with tenant_context(client):
        widget.queue.max_callers = 2
        conversation.queue = widget.queue
    assert line.join(client=client, conversation=conversation) == 0  # two wait already: full


def test_a_chat_turned_away_by_a_full_line_is_closed_full_with_its_record(world, chat_widget):
    """The visitor is offered the offline form; the chat leaves the one record every chat leaves, its
    queue leg "full" as a caller's turned away (the queue statistics count both)."""
    from chat import visitors
    from queues.models import Queue
    from records.models import Cdr

    widget = chat_widget()
    r, prefix, client = get_redis(), settings.OCX_REDIS_PREFIX, world.client_a1
    committed(lambda: _in_schema(client, lambda: Queue.objects.filter(pk=widget.queue_id).update(max_callers=1)))
    widget.queue.max_callers = 1  # (as the visitor's side reads the widget with its queue)
    r.zadd(state.queue_key(prefix, client.pk, widget.queue_id, "waiting"), {"call-waiting": time.time()})
    with pytest.raises(visitors.VisitorError) as refused:
        committed(lambda: visitors.conversation_start(client=client, widget=widget, visitor="v" * 64, text="Hi"))
    assert refused.value.code == "offline"
    with tenant_context(client):
        turned_away = Conversation.objects.get(widget=widget)
        record = Cdr.objects.get(call_uuid=turned_away.uuid)
    assert (turned_away.state, turned_away.outcome, turned_away.closed_by) == ("closed", "full", "system")
    assert [(leg["leg"], leg["outcome"]) for leg in record.legs] == [("queue", "full")]


def _in_schema(client, function):
    with tenant_context(client):
        return function()


def test_a_join_reads_the_agents_again_when_redis_lost_them(world, chat_widget):
    """A client whose queues only chat has no engine to read its agents into Redis: the join does."""
    from queues.models import Member
    from telephony.models import Extension

    widget = chat_widget()
    r, prefix, client = get_redis(), settings.OCX_REDIS_PREFIX, world.client_a1

    def log_in():
        with tenant_context(client):
            line_102 = Extension.objects.get(number="102")
            Member.objects.update_or_create(queue=widget.queue, extension=line_102, defaults={"logged_in": True})

    committed(log_in)
    members = state.queue_key(prefix, client.pk, widget.queue_id, "members")
    r.delete(state.loaded_key(prefix, client.pk), members)
    conversation = committed(_conversation, world, widget)
    assert line.join(client=client, conversation=conversation) == 1
    assert r.exists(state.loaded_key(prefix, client.pk)) and r.hexists(members, "102")


def test_the_visitors_side_reads_the_agents_again_before_saying_nobody_is_ready(world, chat_widget):
    """101 is logged in with a console open (chat_widget); Redis lost who is logged in: the visitor's
    side reads it from PostgreSQL again rather than turn the visitor to the offline form."""
    widget = chat_widget()
    r, prefix, client = get_redis(), settings.OCX_REDIS_PREFIX, world.client_a1
    members = state.queue_key(prefix, client.pk, widget.queue_id, "members")
    r.delete(state.loaded_key(prefix, client.pk), members)
    with tenant_context(client):
        assert line.anyone_ready(client=client, queue=widget.queue)
        assert r.hexists(members, "101")
        assert not line.anyone_ready(client=client, queue=None)


def test_the_keeper_keeps_a_held_chat_from_being_dropped_and_abandons_it_when_gone(world, chat_widget, monkeypatch):
    monkeypatch.setattr(line, "KEEP", 0.2)
    monkeypatch.setattr(keeping, "STALE", 0.5)
    widget = chat_widget()
    r, prefix, client = get_redis(), settings.OCX_REDIS_PREFIX, world.client_a1
    conversation = committed(_conversation, world, widget)
    line.join(client=client, conversation=conversation)
    seen = state.queue_key(prefix, client.pk, widget.queue_id, "seen")
    r.hset(seen, line.member(conversation), time.time() - 60)  # as if nobody said a word for a minute
    uuid = str(conversation.uuid)

    async def scenario():
        held = keeping.keeper()
        held.hold(client_id=client.pk, queue_id=widget.queue_id, uuid=uuid)
        deadline = time.monotonic() + 5  # (a few ticks of 0.2 s, on a busy machine)
        while float(r.hget(seen, line.member(conversation)) or 0) < time.time() - 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert float(r.hget(seen, line.member(conversation)) or 0) > time.time() - 2  # fresh again
        # The queues' CLAIM (an engine's caller behind it) finds a live head, and does not drop it.
        got = await _claim(prefix, client.pk, widget.queue_id, "call-behind")
        assert got == [] and r.zscore(state.queue_key(prefix, client.pk, widget.queue_id, "waiting"),
                                      line.member(conversation)) is not None  # fmt: skip
        held.release(uuid, grace=0.8)  # (longer than STALE: its last refresh is old by then, as in production)
        deadline = time.monotonic() + 10
        while uuid in held.held and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert uuid not in held.held
        # The keeper lets go of the chat, then closes it in a worker thread of this loop: the loop lives
        # until it has (a loop that ends first cancels the close before it runs).
        deadline = time.monotonic() + 10
        while not await sync_to_async(committed)(ended) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    def ended():
        with tenant_context(client):
            conversation.refresh_from_db()
        return conversation.state == "closed"

    async_to_sync(scenario)()
    assert (conversation.state, conversation.outcome, conversation.closed_by) == ("closed", "abandoned", "system")
    assert line.position(client=client, conversation=conversation) is None


async def _claim(prefix, client_id, queue_id, uuid):
    import redis.asyncio as aioredis

    redis = aioredis.from_url(settings.REDIS_URL)
    try:
        await redis.zadd(state.queue_key(prefix, client_id, queue_id, "waiting"), {uuid: time.time() + 100})
        return await state.claim(redis, prefix, client_id, queue_id, uuid, "ring_all", time.time(), 1)
    finally:
        await redis.aclose()
