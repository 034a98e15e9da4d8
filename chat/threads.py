"""Where chat's database work runs: in the event loop's worker threads (sync_to_async,
thread_sensitive=False), never on the loop, so one slow query does not stall the other sockets.

Those threads keep their PostgreSQL connection from one message to the next. Django's
close_old_connections would close it after every call when OCX_DB_CONN_MAX_AGE is 0 (the platform's
default for the per-request threads of HTTP), and a chat line would pay a new PostgreSQL connection
each time. The executor's threads are few (asyncio's default pool), so their connections are too;
a connection that failed is dropped and made again on the next call.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from django.db import connections


def connections_checked() -> None:
    """Drop this thread's connections that broke (an error, then not usable); keep the others."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and conn.errors_occurred:
            if conn.is_usable():
                conn.errors_occurred = False
            else:
                conn.close()


def threaded(function, *, serial: bool = False):
    """`await threaded(f)(...)`: f(...) in a worker thread with a kept, checked connection; `serial`:
    in the one thread Django's thread-sensitive code shares (an agent's actions, in their order)."""

    def run(*args, **kwargs):
        connections_checked()
        try:
            return function(*args, **kwargs)
        finally:
            connections_checked()

    return sync_to_async(run, thread_sensitive=serial)


class NoConnectionsOnTheLoop:
    """A consumer mixin: Channels closes "old" database connections before handling every message (a
    hop to a thread and back, per frame and per event: a tenth of a chat process's time). Chat's
    consumers hold no connection on the loop: their database work runs in the threads above, which
    check their own connections. So their messages are handled at once."""

    async def dispatch(self, message):
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
