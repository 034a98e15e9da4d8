"""Queue statistics count calls and chats in one model (queues/stats.py over the records' "queue" legs):
a chat answered, with its first response, and a chat left while waiting, written by the chat services
as their conversations close, beside two calls of the same queue; the totals hold both, the channel
split each, the agent's row their chats; the page and the CSV show the split."""

from __future__ import annotations

import datetime as dt

from asgiref.sync import async_to_sync
from django.utils import timezone
from django_tenants.utils import tenant_context

from chat import dispatch
from chat.agents import chat_accept, chat_send, conversation_close
from chat.models import Conversation
from queues.stats import queue_stats
from tests.chat.agents_fixtures import wait_in_line


def _chats(world, queue, visitor, acd_keys):
    redis, prefix, client = acd_keys
    bob, eve = visitor(queue, name="Bob"), visitor(queue, name="Eve")
    for conversation in (bob, eve):
        wait_in_line(world, conversation)
    redis.hset(dispatch.offer_key(prefix, client, bob.uuid), mapping={"agents": "101", "queue": queue.pk})
    with tenant_context(world.client_a1):
        chat_accept(actor=world.user_a1, client=world.client_a1, conversation_uuid=bob.uuid)
        async_to_sync(chat_send)(actor=world.user_a1, client=world.client_a1, conversation_uuid=bob.uuid,
                                 body="Hello Bob")  # fmt: skip
        conversation_close(client=world.client_a1, conversation=Conversation.objects.get(pk=bob.pk), by="agent")
        conversation_close(client=world.client_a1, conversation=Conversation.objects.get(pk=eve.pk), by="visitor")


def test_the_statistics_count_calls_and_chats_apart_and_together(world, chat_queue, visitor, acd_keys, cdr_factory,
                                                                  portal):  # fmt: skip
    queue = chat_queue()
    now = timezone.now() - dt.timedelta(minutes=5)
    for outcome, wait in (("answered", 4), ("abandoned", 30)):
        leg = {"leg": "queue", "queue": queue.pk, "joined": now.isoformat(), "wait": wait, "outcome": outcome,
               "agent": "102" if outcome == "answered" else "", "offers": [{"agent": "102", "result": "answered"}]
               if outcome == "answered" else []}  # fmt: skip
        cdr_factory(started_at=now, answer_after=0, seconds=wait + 60, legs=[leg], direction="inbound")
    _chats(world, queue, visitor, acd_keys)
    today = timezone.localdate()
    found = queue_stats(client=world.client_a1, queues=[queue], since=today - dt.timedelta(days=1), until=today)
    [row] = found["queues"]
    assert (row["offered"], row["answered"], row["abandoned"] + row["abandoned_short"]) == (4, 2, 2)
    assert (row["calls_offered"], row["calls_answered"], row["calls_abandoned"]) == (2, 1, 1)
    assert (row["chats_offered"], row["chats_answered"], row["chats_abandoned"]) == (2, 1, 1)
    assert row["chats_first_response"] is not None and row["chats_first_response"] >= 0
    assert row["chats_average_duration"] is not None
    agents = {a["agent"]: a for a in found["agents"]}
    assert (agents["101"]["answered"], agents["101"]["chats_answered"]) == (1, 1)
    assert (agents["102"]["answered"], agents["102"]["chats_answered"]) == (1, 0)

    http = portal(world.client_a1_op)
    since = (today - dt.timedelta(days=1)).isoformat()
    page = http.get(f"/queues/{queue.pk}/stats/", {"since": since, "until": today.isoformat()})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-figure="chats_offered">2<' in html and 'data-figure="calls_offered">2<' in html
    answer = http.get(f"/queues/{queue.pk}/stats.csv", {"since": since, "until": today.isoformat()})
    header = b"".join(answer.streaming_content).decode().splitlines()[0]
    assert "chats_first_response" in header and "chats_offered" in header
