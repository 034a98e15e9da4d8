"""The event loop's own PostgreSQL connections for chat lines (chat/loopdb.py): idle connections ended by
the server (as a PostgreSQL restart does) are made again before a statement fails on them; one ended
under a statement fails that statement and is made again for the next. A line's statements name the
client's schema: the same statement reads one client's rows and never another's."""

from __future__ import annotations

import asyncio
import os

import psycopg
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection

from chat import loopdb
from chat.services import in_schema
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db


def _terminate(pids: set[int]) -> None:
    with connection.cursor() as cursor:
        for pid in pids:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


def _gone(pids: set[int]) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # (a transaction reads one snapshot of it, else)
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [list(pids)])
        return cursor.fetchone()[0] == 0


def test_idle_connections_the_server_ended_are_made_again_before_a_line_is_lost():
    """As after a restart of PostgreSQL: every connection of the loop ended while idle."""

    async def scenario():
        pids = {(await loopdb.run("SELECT pg_backend_pid()", []))[0] for _ in range(loopdb.SIZE)}
        assert len(pids) == loopdb.SIZE  # (one turn of the connections)
        await sync_to_async(_terminate)(pids)
        await sync_to_async(wait_for)(lambda: _gone(pids), "the backends ended")
        after = {(await loopdb.run("SELECT pg_backend_pid()", []))[0] for _ in range(2 * loopdb.SIZE)}
        assert len(after) == loopdb.SIZE and not after & pids  # no statement failed, each made again

    async_to_sync(scenario)()


def test_a_connection_that_fails_under_a_statement_is_dropped_and_made_again():
    async def scenario():
        pids = {(await loopdb.run("SELECT pg_backend_pid()", []))[0] for _ in range(loopdb.SIZE)}
        statement = asyncio.ensure_future(loopdb.run("SELECT pg_sleep(3), pg_backend_pid()", []))
        await asyncio.sleep(0.5)
        await sync_to_async(_terminate)(pids)
        with pytest.raises(psycopg.OperationalError):
            await statement
        await sync_to_async(wait_for)(lambda: _gone(pids), "the backends ended")
        after = {(await loopdb.run("SELECT pg_backend_pid()", []))[0] for _ in range(2 * loopdb.SIZE)}
        assert len(after) == loopdb.SIZE and not after & pids

    async_to_sync(scenario)()


def test_connections_past_descriptor_1024_are_used_and_checked():
    """A busy web process holds thousands of sockets, so the loop's connections get descriptors past
    1024 (select() refuses those: every line of bench/chat failed once it did)."""
    spare = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]

    async def scenario():
        for _ in range(2 * loopdb.SIZE):  # (made, then checked before each use)
            assert (await loopdb.run("SELECT 1", [])) == (1,)
        return [c.pgconn.socket for c in loopdb._of_this_loop().connections]

    try:
        assert min(async_to_sync(scenario)()) > 1024
    finally:
        for fd in spare:
            os.close(fd)


def test_a_statement_reads_the_schema_it_names(world):
    """Extension 102 is client a1's only (the world's rows are committed: seen from any connection)."""
    statement = "SELECT count(*) FROM {schema}telephony_extension WHERE number = %s"

    async def scenario():
        return [(await loopdb.run(in_schema(statement, c.schema_name), ["102"]))[0]
                for c in (world.client_a1, world.client_b1)]  # fmt: skip

    assert async_to_sync(scenario)() == [1, 0]
    with pytest.raises(psycopg.errors.UndefinedTable):
        async_to_sync(loopdb.run)(in_schema(statement, "no_such_client"), ["102"])
