"""The engine's Django queries, outside any request: reconnect after PostgreSQL restarts, and say when
it is away.

Django opens and closes connections around requests only; in a long-lived process a connection that a
database restart broke stays broken ("the connection is closed" on every query) until someone closes
it. So every query the engine runs in its threads goes through `Database.run`, which does what a
request would (close_old_connections() before and after) and tries once more on a fresh connection
when the one it had was dead. While the database is away, `run` raises DatabaseAway: a new call is
answered 503 so that the edge tries another engine, the engine's heartbeat says so (the edges try it
last), and `watch` probes every second until the database is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from asgiref.sync import sync_to_async
from django.db import InterfaceError, OperationalError, close_old_connections, connection

log = logging.getLogger(__name__)
PROBE = 1.0  # seconds between probes while the database is away


class DatabaseAway(Exception):
    """PostgreSQL cannot be reached now."""


def _probe() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


class Database:
    def __init__(self):
        self.away_since: float | None = None  # time.monotonic() of the first failure, while away

    @property
    def ok(self) -> bool:
        return self.away_since is None

    def run(self, work, *args, **kwargs):
        """Database work (in a thread, never on the loop that paces media); DatabaseAway if unreachable.
        The work is a read or one transaction: safe to run again after a connection failure."""
        for attempt in (1, 2):
            close_old_connections()  # drops this thread's connection if an error left it unusable
            try:
                result = work(*args, **kwargs)
            except (OperationalError, InterfaceError) as exc:
                close_old_connections()
                if attempt == 1:
                    continue  # a connection broken by a restart fails once; a fresh one may work
                if self.away_since is None:
                    log.warning("the database is away: %s", exc)
                    self.away_since = time.monotonic()
                raise DatabaseAway(str(exc).strip()) from exc
            if self.away_since is not None:
                log.warning("the database is back after %.1f s", time.monotonic() - self.away_since)
                self.away_since = None
            close_old_connections()
            return result

    async def call(self, work, *args, **kwargs):
        """`run` in a worker thread."""
        return await sync_to_async(self.run, thread_sensitive=False)(work, *args, **kwargs)

    async def watch(self) -> None:
        """While the database is away, probe it every second, so the engine says it is back without
        waiting for a call."""
        while True:
            await asyncio.sleep(PROBE)
            if self.away_since is not None:
                with contextlib.suppress(DatabaseAway):
                    await self.call(_probe)
