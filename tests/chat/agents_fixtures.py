"""Fixtures of the agents' side of chats (tests/chat/test_agents_*, test_dispatch_*): a chat queue of
client a1 whose agents 101 (User a1) and 102 (User a1b) are logged in, waiting conversations put in its
line by chat/line.py (`wait_in_line`: the line's member `chat:<uuid>` by join time), consoles over
the real Redis channel layer, the services' after-commit steps run at once (each test is one rolled
back transaction)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from chat import console as console_module
from chat.models import ChatWidget, Conversation, Message
from chat.threads import threaded
from config.asgi import application
from config.redis_store import get_redis
from queues import state
from queues.models import Member
from queues.services import queue_save
from tests.tenants.test_events import _session_cookie


@pytest.fixture
def at_once(monkeypatch):
    """transaction.on_commit runs its function at once (the test's transaction never commits), and the
    consoles' actions run where the test's rows are seen."""
    monkeypatch.setattr("django.db.transaction.on_commit", lambda function, using=None, robust=False: function())
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)
    monkeypatch.setattr("chat.console.close_old_connections", lambda: None)
    # The agents' actions read the test's rows, never committed: in the test's own thread (and connection),
    # and so the statements the event loop sends on connections of its own (chat/loopdb.py).
    monkeypatch.setattr("chat.console._act_in_thread", threaded(console_module._act_now, serial=True))
    monkeypatch.setattr("chat.loopdb.run", sync_to_async(_on_the_tests_connection, thread_sensitive=True))


def _on_the_tests_connection(query, params):
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchone() if cursor.description is not None else None


@pytest.fixture
def acd_keys(world):
    redis, prefix, client = get_redis(), settings.OCX_REDIS_PREFIX, world.client_a1.pk

    def clear():
        for key in redis.scan_iter(f"{state.base(prefix, client)}:*"):
            redis.delete(key)
        redis.delete(f"{prefix}:where:{client}")

    clear()
    yield redis, prefix, client
    clear()


@pytest.fixture
def chat_queue(world, acd_keys, at_once):
    """chat_queue(members=("101", "102"), consoles=members, **fields) -> the queue "Chats" (101 then 102,
    both logged in, each with a chat console open), state in Redis."""
    redis, prefix, _client = acd_keys

    def make(members=("101", "102"), consoles=None, **fields):
        fields = {"strategy": "ring_all", "ring_seconds": 15, **fields}
        queue = queue_save(actor=world.client_a1_op, client=world.client_a1, name="Chats",
                           members=[{"extension": e, "order": n} for n, e in enumerate(members)], **fields)  # fmt: skip
        with tenant_context(world.client_a1):
            Member.objects.filter(queue=queue).update(logged_in=True)
            state.rebuild(redis, prefix, world.client_a1)
        consoles_open(world, *(consoles if consoles is not None else members))
        return queue

    return make


@pytest.fixture
def visitor(world):
    """visitor(queue, name="Ann", text="Hello") -> a waiting conversation with its first line (not in
    the line yet: wait_in_line)."""

    def make(queue, name: str = "Ann", text: str = "Hello, my order is late", **fields) -> Conversation:
        with tenant_context(world.client_a1):
            widget = ChatWidget.objects.first() or ChatWidget.objects.create(
                name="Site", queue=queue, key=uuid.uuid4().hex, identity_secret="s" * 32
            )
            conversation = Conversation.objects.create(widget=widget, queue=queue, visitor_key="k" * 64,
                                                       visitor_name=name, page="https://shop.example/cart",
                                                       joined_at=timezone.now(), **fields)  # fmt: skip
            Message.objects.create(conversation=conversation, sender=Message.Sender.VISITOR, body=text)
        return conversation

    return make


def consoles_open(world, *exts: str) -> None:
    """These agents have a chat console open (for an hour), as chat/console.py says while one is."""
    redis, prefix = get_redis(), settings.OCX_REDIS_PREFIX
    for ext in exts:
        key = state.agent_key(prefix, world.client_a1.pk, ext) + ":consoles"
        redis.zadd(key, {f"test-console-{ext}": time.time() + 3600})


def wait_in_line(world, conversation) -> None:
    """The chat in its queue's waiting line, the dispatchers told (chat/line.py, as the visitor's side
    does it)."""
    from chat import line

    assert line.join(client=world.client_a1, conversation=conversation)


def console(world, account) -> WebsocketCommunicator:
    host = world.host_of(account)
    headers = [(b"host", host.encode()), (b"origin", f"http://{host}".encode()),
               (b"cookie", _session_cookie(account, host))]  # fmt: skip
    return WebsocketCommunicator(application, "/ws/chat/", headers=headers)


async def until(ws, wanted, timeout: float = 5.0, what: str = "the event") -> dict:
    """The first message from the socket for which wanted(message) holds (others skipped)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen = []
    while loop.time() < deadline:
        try:
            message = await ws.receive_json_from(timeout=max(0.05, deadline - loop.time()))
        except TimeoutError:
            break
        if wanted(message):
            return message
        seen.append(message)
    raise AssertionError(f"not within {timeout} s: {what}; got {json.dumps(seen, default=str)[:2000]}")


def kind(name: str, conversation=None):
    def wanted(message: dict) -> bool:
        event = message.get("event") or {}
        return (
            message.get("type") == "chat.event"
            and event.get("kind") == name
            and (conversation is None or event.get("conversation") == str(conversation.uuid))
        )

    return wanted
