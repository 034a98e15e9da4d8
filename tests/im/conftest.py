"""Instant messages' fixtures: the IM Redis keys cleared around each test, consumers kept on the test's
database connection, and the telephony fixtures (a real edge and engine, pjsua2 phones) for presence."""

from __future__ import annotations

import pytest
from django.conf import settings

from config.redis_store import get_redis, rkey
from tests.telephony.conftest import edge, engine, lines, phones, sip_lines  # noqa: F401 (fixtures)
from tests.waiting import committed


def _clear(world) -> None:
    r = get_redis()
    for client in (world.client_a1, world.client_a2, world.client_b1):
        keys = [*r.scan_iter(rkey("im", "*", client.pk)), f"{settings.OCX_REDIS_PREFIX}:where:{client.pk}"]
        more = [*r.scan_iter(rkey("im", "rate", client.pk, "*")), *r.scan_iter(rkey("im", "event", client.pk, "*"))]
        for key in [*keys, *more]:
            r.delete(key)


def _no_conversations(world) -> None:
    from django_tenants.utils import tenant_context

    from im.models import Conversation

    for client in (world.client_a1, world.client_a2, world.client_b1):
        with tenant_context(client):
            Conversation.objects.all().delete()


@pytest.fixture(autouse=True)
def im_keys_cleared(world):
    # Other modules' engines keep phone texts in the portal's conversations (im_bridge), committed:
    # each test here starts without them.
    committed(_no_conversations, world)
    _clear(world)
    yield
    _clear(world)


@pytest.fixture
def connections_kept(monkeypatch):
    """Consumers close "old" database connections around each query; inside a test's transaction that
    would close the test's own connection."""
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)
    monkeypatch.setattr("im.consumers.close_old_connections", lambda: None)
