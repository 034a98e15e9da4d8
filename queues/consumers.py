"""The wallboard's socket (`/ws/queues/<queue id or "all">/`): a client's operator on their own portal
gets the wallboard's snapshot (queues/wallboard.py) at once, again shortly after each event of their
client that changes it (the engines' `queue.changed`: joined, offered, answered, left, agent; the
services' agent changes; calls starting and ending, which make agents busy and free) and every REFRESH
seconds. The same rules as the portal's pages and /ws/events/ decide who may connect (host, session,
second factor, role); a queue the client does not have (another client's id) is refused (4404).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.db import close_old_connections
from django.urls import path
from django_tenants.utils import tenant_context

from queues.models import Queue
from queues.wallboard import wallboard_snapshot
from tenants.events import (
    CLOSE_SECOND_FACTOR,
    CLOSE_SIGNED_OUT,
    group_for_client,
    group_for_sockets_of_client,
    group_for_sockets_of_user,
)
from tenants.models import Role
from tenants.routing import actor_refusal
from tenants.second_factor import second_factor_blocks

log = logging.getLogger(__name__)
CLOSE_NO_QUEUE = 4404
SETTLE = 0.2  # seconds between an event and the snapshot: the same moment's events go with it
REFRESH = 5.0  # seconds between snapshots sent anyway (a lost event costs at most this)
CHANGES = ("queue.", "call.")


@database_sync_to_async
def _admit(user, portal, session, which: str):
    """(client, queues or None for all) for the socket, or the code it is closed with."""
    close_old_connections()
    if portal is None or actor_refusal(user, portal):
        return CLOSE_SIGNED_OUT
    if second_factor_blocks(user, session):
        return CLOSE_SECOND_FACTOR
    if user.role != Role.CLIENT:
        return CLOSE_SIGNED_OUT
    client = portal.client
    if which == "all":
        return client, None
    with tenant_context(client):
        queue = Queue.objects.restrict(user).filter(pk=int(which)).first() if which.isdigit() else None
    return (client, [queue]) if queue is not None else CLOSE_NO_QUEUE


@database_sync_to_async
def _snapshot(client, queues) -> dict:
    close_old_connections()
    return wallboard_snapshot(client=client, queues=queues)


class WallboardConsumer(AsyncJsonWebsocketConsumer):
    groups_joined: list[str] | None = None
    watcher: asyncio.Task | None = None
    changed: asyncio.Event | None = None

    async def connect(self):
        user = self.scope.get("user")
        which = self.scope["url_route"]["kwargs"]["which"]
        admitted = await _admit(user, self.scope.get("portal"), self.scope.get("session"), which)
        if isinstance(admitted, int):
            await self.close(code=admitted)
            return
        self.client, self.queues = admitted
        self.groups_joined = [group_for_client(self.client.pk), group_for_sockets_of_user(user.pk),
                              group_for_sockets_of_client(self.client.pk)]  # fmt: skip
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        self.changed = asyncio.Event()
        self.watcher = asyncio.get_running_loop().create_task(self.watch())

    async def disconnect(self, code):
        if self.watcher is not None:
            self.watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.watcher
        for group in self.groups_joined or []:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def watch(self):
        while True:
            self.changed.clear()
            try:
                snapshot = await _snapshot(self.client, self.queues)
            except Exception:  # PostgreSQL or Redis away for a moment: the page keeps its board, we try again
                log.exception("wallboard snapshot could not be computed")
            else:
                await self.send_json({"type": "wallboard.snapshot", "wallboard": snapshot})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), timeout=REFRESH)
                await asyncio.sleep(SETTLE)

    async def platform_event(self, message):
        kind = str(message["event"].get("type", ""))
        if kind.startswith(CHANGES) and self.changed is not None:
            self.changed.set()

    async def sockets_close(self, message):
        await self.close(code=message["code"])


websocket_urlpatterns = [path("ws/queues/<str:which>/", WallboardConsumer.as_asgi())]
