"""Chat when PostgreSQL drops the process's connections (as a restart of the server does): every
connection of the test's database but the test's own is terminated in the middle of a chat. The lines
said then may fail (each side is told to try again); neither socket closes, and without reconnecting
the lines go both ways again, through the event loop's connections (chat/loopdb.py) and the worker
threads' (chat/threads.py), each made again. Nothing said before is lost."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection
from django_tenants.utils import tenant_context

from chat import dispatch
from chat.models import Message
from tests.chat.agents_fixtures import console, until
from tests.chat.test_redis_restart import both_ways, host, start_and_answer  # noqa: F401  (host: a fixture)

pytestmark = pytest.mark.django_db

BACK_WITHIN = 15.0


def _terminate_the_others() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_connections_dropped_by_postgresql_leave_chats_talking(world, chat_widget, host):  # noqa: F811
    widget = chat_widget()
    agent = console(world, world.user_a1)

    async def scenario():
        assert (await agent.connect())[0]
        await until(agent, lambda m: m["type"] == "chat.snapshot")
        visitor, uuid = await start_and_answer(agent, host, widget.key, "Hello")
        assert await both_ways(visitor, agent, uuid, within=5) == (1, 1)

        assert await sync_to_async(_terminate_the_others)() >= 1

        # (the agent first: their first line after it meets a dropped connection)
        await both_ways(visitor, agent, uuid, within=BACK_WITHIN, agent_first=True)
        for ws in (visitor, agent):  # (a consumer that had ended would have failed the lines above)
            await ws.disconnect()
        await dispatch.stop_running()
        return uuid

    uuid = async_to_sync(scenario)()
    with tenant_context(world.client_a1):
        kept = list(Message.objects.filter(conversation__uuid=uuid).values_list("body", flat=True))
    assert kept[:3] == ["Hello", "visitor 1", "agent 1"]
