"""The event loop's own PostgreSQL connections for chat lines (chat/loopdb.py): their connections killed
by the server (as a PostgreSQL restart does), each fails its next statement once and is made again;
the statements after that are served. A line's statements name the client's schema: the same statement
reads one client's rows and never another's."""

from __future__ import annotations

import psycopg
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection

from chat import loopdb
from chat.services import in_schema

pytestmark = pytest.mark.django_db


def _terminate(pids: set[int]) -> None:
    with connection.cursor() as cursor:
        for pid in pids:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_connections_killed_by_the_server_are_made_again():
    async def scenario():
        pids = {(await loopdb.run("SELECT pg_backend_pid()", []))[0] for _ in range(loopdb.SIZE)}
        assert len(pids) == loopdb.SIZE  # (one turn of the connections)
        await sync_to_async(_terminate)(pids)
        failed = 0
        for _ in range(2 * loopdb.SIZE):
            try:
                await loopdb.run("SELECT 1", [])
            except psycopg.OperationalError:
                failed += 1
        assert failed == loopdb.SIZE  # each dead one failed once, then was made again
        after = {(await loopdb.run("SELECT pg_backend_pid()", []))[0] for _ in range(loopdb.SIZE)}
        assert not after & pids

    async_to_sync(scenario)()


def test_a_statement_reads_the_schema_it_names(world):
    """Extension 102 is client a1's only (the world's rows are committed: seen from any connection)."""
    statement = "SELECT count(*) FROM {schema}telephony_extension WHERE number = %s"

    async def scenario():
        return [(await loopdb.run(in_schema(statement, c.schema_name), ["102"]))[0]
                for c in (world.client_a1, world.client_b1)]  # fmt: skip

    assert async_to_sync(scenario)() == [1, 0]
    with pytest.raises(psycopg.errors.UndefinedTable):
        async_to_sync(loopdb.run)(in_schema(statement, "no_such_client"), ["102"])
