"""A chat widget of client a1, committed (the visitor's end runs its queries on connections of its own,
as in production): queue Chat with 101 logged in and a chat console open (a visitor may start a chat
only then, as only then is it offered), the widget allowing https://shop.example; cleaned up after
each test with the conversations, Redis lines and counters it left."""

from __future__ import annotations

import pytest
from django.conf import settings
from django_tenants.utils import tenant_context

from config.redis_store import get_redis
from queues import state
from tests.chat.agents_fixtures import consoles_open
from tests.conftest import _get_or_build_world
from tests.waiting import committed

SHOP = "https://shop.example"


def _build(world, **widget_fields):
    from chat.widgets import widget_save
    from queues.models import Member
    from queues.services import queue_save

    op, client = world.client_a1_op, world.client_a1
    queue = queue_save(actor=op, client=client, name="Chat", members=[{"extension": "101"}])
    with tenant_context(client):
        Member.objects.filter(queue=queue).update(logged_in=True)
    _agents_in_redis(client)
    consoles_open(world, "101")
    fields = {"name": "Shop", "queue": queue.pk, "origins": SHOP, "title": "Shop help", "greeting": "Hello!",
              "colour": "#aa3300", "offline_email": "desk@client-a1.example", **widget_fields}  # fmt: skip
    return widget_save(actor=op, client=client, **fields)


def _agents_in_redis(client):
    """Who is logged in, as the queues' services write it after commit (state_changed)."""
    with tenant_context(client):
        state.rebuild(get_redis(), settings.OCX_REDIS_PREFIX, client)


def _clean(world):
    from chat.models import ChatWidget, Conversation
    from queues.models import Queue
    from records.models import Cdr

    with tenant_context(world.client_a1):
        # Each chat closed left its record, committed: other modules count the client's records.
        Cdr.objects.filter(call_uuid__in=Conversation.objects.values_list("uuid", flat=True)).delete()
        Conversation.objects.all().delete()
        ChatWidget.objects.all().delete()
        Queue.objects.filter(name="Chat").delete()


@pytest.fixture(scope="session", autouse=True)
def _no_chat_left_behind(django_db_setup, django_db_blocker):
    """A run stopped half-way leaves its committed widget: start from none."""
    with django_db_blocker.unblock():
        _clean(_get_or_build_world())


def _clean_redis(world) -> None:
    """The client's chat counters, agent state and call index: a module before may have left a call
    index of its stopped engine (`line:101` of a call it held: agent 101 looks busy, nobody is
    offered a chat)."""
    r, prefix, client = get_redis(), settings.OCX_REDIS_PREFIX, world.client_a1.pk
    for pattern in (f"{prefix}:chat:*", f"{prefix}:acd:{client}:*"):
        keys = list(r.scan_iter(match=pattern, count=500))
        if keys:
            r.delete(*keys)
    r.delete(f"{prefix}:where:{client}")


@pytest.fixture
def chat_widget(world):
    """chat_widget(**fields) -> the committed widget (made once per test)."""
    made = []

    def make(**fields):
        if not made:
            _clean_redis(world)
        widget = committed(_build, world, **fields)
        made.append(widget)
        return widget

    yield make
    committed(_clean, world)
    _clean_redis(world)


@pytest.fixture
def nobody_logged_in(world):
    def logout():
        from queues.models import Member

        with tenant_context(world.client_a1):
            Member.objects.update(logged_in=False)
        _agents_in_redis(world.client_a1)

    return lambda: committed(logout)


@pytest.fixture
def consoles_closed(world):
    """The queue's agents stay logged in, but none has a chat console open."""

    def close():
        r = get_redis()
        for key in r.scan_iter(match=f"{state.base(settings.OCX_REDIS_PREFIX, world.client_a1.pk)}:agent:*:consoles"):
            r.delete(key)

    return close


@pytest.fixture(autouse=True)
def connections_kept(monkeypatch):
    """Channels closes "old" database connections when a socket ends, on the test's own thread; inside
    a test's transaction that would close the test's connection."""
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)
