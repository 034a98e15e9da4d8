"""One task per web process (per event loop) that keeps the waiting chats of the visitors it serves
fresh in their queue's line and tells them their place (chat/line.py says why): every line.KEEP
seconds, in a few Redis round trips for all of them, never a task per visitor.

- hold(): a visitor's socket (or long-poll) serves a waiting chat; release(): it ended. A chat
  released by every socket is still kept for GRACE seconds (a page change, a reload, the gap between
  two long-polls), then no more: if no other web process kept it either (its `seen` went stale), it is
  closed as abandoned.
- A place that changed is published to the conversation's group ("position"), so every socket and
  long-poll of the visitor hears it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from asgiref.sync import sync_to_async

from chat import line
from queues.state import STALE

log = logging.getLogger(__name__)
GRACE = 30.0


@dataclass
class Held:
    client_id: int
    queue_id: int
    uuid: str
    sockets: int = 0
    until: float = 0.0  # with no socket: kept until then
    check_at: float = 0.0  # then, once: abandoned unless another process kept it
    place: int | None = None


class Keeper:
    def __init__(self):
        self.held: dict[str, Held] = {}
        self.task: asyncio.Task | None = None

    def hold(self, *, client_id: int, queue_id: int, uuid: str) -> None:
        item = self.held.get(uuid)
        if item is None:
            item = self.held[uuid] = Held(client_id, queue_id, uuid)
        item.sockets += 1
        item.queue_id = queue_id
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self.run())

    def release(self, uuid: str, *, grace: float = GRACE) -> None:
        item = self.held.get(uuid)
        if item is None:
            return
        item.sockets = max(0, item.sockets - 1)
        if item.sockets == 0:
            item.until = time.time() + grace
            item.check_at = item.until + STALE + 1

    def forget(self, uuid: str) -> None:
        """No longer waiting (an agent took it, it closed): nothing to keep."""
        self.held.pop(uuid, None)

    async def run(self) -> None:
        from chat.events import conversation_group, publish_async

        while self.held:
            await asyncio.sleep(line.KEEP)
            now = time.time()
            kept, gone = [], []
            for item in list(self.held.values()):
                if item.sockets or item.until > now:
                    kept.append(item)
                elif item.check_at <= now:
                    gone.append(self.held.pop(item.uuid))
            try:
                places = await sync_to_async(_tick, thread_sensitive=False)(kept, gone, now)
            except Exception:  # Redis or PostgreSQL away a moment: the next tick tries again
                log.exception("keeping waiting chats failed")
                continue
            for item, place in zip(kept, places, strict=True):
                if place is not None and place != item.place:
                    item.place = place
                    await publish_async(conversation_group(item.client_id, item.uuid),
                                        {"kind": "position", "position": place})  # fmt: skip


def _tick(kept: list[Held], gone: list[Held], now: float) -> list[int | None]:
    """Refresh the kept chats' `seen` and read their places; close the gone ones nobody else kept."""
    places: dict[str, int | None] = {}
    by_client: dict[int, list[Held]] = {}
    for item in kept:
        by_client.setdefault(item.client_id, []).append(item)
    for client_id, items in by_client.items():
        members = [(i.queue_id, f"chat:{i.uuid}") for i in items]
        found = line.positions(client_id=client_id, members=members)
        line.still_waiting(client_id=client_id,
                           members=[m for m, p in zip(members, found, strict=True) if p is not None])  # fmt: skip
        places.update({i.uuid: p for i, p in zip(items, found, strict=True)})
    if gone:
        from django.db import close_old_connections

        close_old_connections()
        for item in gone:
            seen = line.last_seen(client_id=item.client_id, queue_id=item.queue_id, who=f"chat:{item.uuid}")
            if seen is None or seen < now - STALE:
                _abandon(item)
    return [places.get(item.uuid) for item in kept]


def _abandon(item: Held) -> None:
    from chat.visitors import waiting_abandoned
    from tenants.models import Client

    client = Client.objects.filter(pk=item.client_id).first()
    if client is not None:
        waiting_abandoned(client=client, conversation_uuid=item.uuid)


_keepers: dict[int, Keeper] = {}


def keeper() -> Keeper:
    """This event loop's keeper (one per process in daphne; tests run several loops)."""
    loop = asyncio.get_running_loop()
    found = _keepers.get(id(loop))
    if found is None or (found.task is not None and found.task.get_loop() is not loop):
        found = _keepers[id(loop)] = Keeper()
    return found
