"""PostgreSQL and Redis from the event loop, for a chat line only: the lookup of an agent's chat
(chat/agents.py), the visitor's count of lines a minute (chat/visitors.py) and the line's INSERT
(chat/services.py), a few hundred a second on a busy chat process.

Everything else of chat runs its queries in the loop's worker threads through Django (chat/threads.py).
For a line, that thread was most of the line's cost: the hop to a worker thread and back, Django's
cursor wrappers, and the hop back onto the loop to publish, each taking the GIL from the loop. Here a
line is one await on a connection of the loop's own.

- A few connections per event loop (SIZE), made on first use with the Django database's parameters,
  in autocommit: each statement is its own transaction.
- One Redis client per event loop (redis-py's asyncio client and its pool).
- Statements name the client's schema (schema-qualified tables): no `search_path` to keep.
- A connection that fails is dropped and made again for the next statement; the statement's error
  goes to the caller (the line is refused, as when a thread's query fails). An idle connection the
  server ended (a restart) is found before it is used (it has something to read) and made again.
- A statement (its connection made, if it must be) has WITHIN seconds: PostgreSQL gone without a word
  (a failover, a network cut: no reset, no error) would hold the line, and every line after it on that
  connection, for TCP's own timeouts (minutes). Past them the statement is cancelled (psycopg asks the
  server, at most a few seconds more), its connection dropped, and the line refused.
- Tests whose rows are not committed point `run` at their own connection (tests/chat/agents_fixtures.py).
"""

from __future__ import annotations

import asyncio
import itertools
import select
import weakref

import psycopg
import redis.asyncio as aioredis
from django.conf import settings
from django.db import connections
from psycopg.pq import TransactionStatus

SIZE = 4  # connections per event loop: a slow statement holds one, the lines go on through the others
WITHIN = 5.0  # seconds a line's statement may take

_per_loop: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _params() -> dict:
    params = connections["default"].get_connection_params()
    for sync_only in ("cursor_factory", "context"):  # (Django's sync cursor class and adapters)
        params.pop(sync_only, None)
    return params


def _ended_by_the_server(connection: psycopg.AsyncConnection) -> bool:
    """An idle connection with something to read was ended by the server (a restart, its backend
    terminated: PostgreSQL says why, then closes): made again before a line is lost on it."""
    if connection.lock.locked() or connection.info.transaction_status != TransactionStatus.IDLE:
        return False  # (a statement of another line is on it: what is to read is its answer)
    poller = select.poll()  # (not select.select: a busy web process's descriptors pass 1024)
    poller.register(connection.pgconn.socket, select.POLLIN)
    return bool(poller.poll(0))


class LoopConnections:
    def __init__(self) -> None:
        self.connections: list[psycopg.AsyncConnection | None] = [None] * SIZE
        self.turns = itertools.cycle(range(SIZE))
        self.opening: list[asyncio.Lock] = [asyncio.Lock() for _ in range(SIZE)]
        self.redis = aioredis.Redis.from_url(settings.REDIS_URL)

    async def _connection(self, index: int) -> psycopg.AsyncConnection:
        async with self.opening[index]:
            found = self.connections[index]
            if found is not None and not found.closed and _ended_by_the_server(found):
                await found.close()
            if found is None or found.closed:
                found = self.connections[index] = await psycopg.AsyncConnection.connect(**_params(), autocommit=True)
            return found

    async def fetchone(self, query, params) -> tuple | None:
        index = next(self.turns)
        async with asyncio.timeout(WITHIN):
            connection = await self._connection(index)
        try:
            async with asyncio.timeout(WITHIN), connection.cursor() as cursor:
                await cursor.execute(query, params)
                return await cursor.fetchone() if cursor.description is not None else None
        except psycopg.OperationalError:
            self.connections[index] = None
            await connection.close()
            raise
        except TimeoutError:  # (in an unknown state: never used again)
            if self.connections[index] is connection:
                self.connections[index] = None
            if not connection.closed:
                connection.pgconn.finish()
            raise

    def close(self) -> None:
        """Without the loop (it may be gone): the sockets closed at once."""
        for connection in self.connections:
            if connection is not None and not connection.closed:
                connection.pgconn.finish()
        self.connections = [None] * SIZE


def _of_this_loop() -> LoopConnections:
    loop = asyncio.get_running_loop()
    found = _per_loop.get(loop)
    if found is None:
        found = _per_loop[loop] = LoopConnections()
    return found


async def run(query, params) -> tuple | None:
    """One statement in autocommit on a connection of this loop: its first row (None without one)."""
    return await _of_this_loop().fetchone(query, params)


def redis() -> aioredis.Redis:
    """This loop's Redis client."""
    return _of_this_loop().redis


def close_all() -> None:
    """Every loop's connections (a test's loop ends: tests/conftest.py)."""
    for found in list(_per_loop.values()):
        found.close()
    _per_loop.clear()
