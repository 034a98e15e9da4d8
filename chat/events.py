"""Where a chat's news goes: Channels groups (every web process's sockets, through the Redis channel
layer). Each socket joins the groups it serves and gets `{"type": "chat.event", "event": {...}}`.

- conversation_group: the visitor's socket(s) and the console of the agent in the chat: messages,
  typing, an agent joining or leaving, the place in line, the end;
- agent_group: one agent's consoles: an offer to accept, a chat given to them by a transfer.

On chat's own channel layer (LAYER): Redis pub/sub, live only. A socket that (re)opens reads what it
missed from PostgreSQL (the welcome's history, the console's snapshot).

Events are JSON-able dicts with a "kind" ("message", "typing", "joined", "position", "offer",
"closed", ...). Nothing here writes a row; the services publish once their transaction commits.
"""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

EVENT = "chat.event"  # the consumers' handler: chat_event
LAYER = "chat"  # settings.CHANNEL_LAYERS: Redis pub/sub, chat's own (the consumers' channel_layer_alias)


def conversation_group(client_id: int, conversation_uuid) -> str:
    return f"chat.{client_id}.{str(conversation_uuid).replace('-', '')}"


def agent_group(client_id: int, user_id: int) -> str:
    return f"chat.agent.{client_id}.{user_id}"


async def publish_async(group: str, event: dict) -> None:
    await get_channel_layer(LAYER).group_send(group, {"type": EVENT, "event": event})


def publish(group: str, event: dict) -> None:
    """Send now (outside a transaction) or once the current transaction commits."""
    send = lambda: async_to_sync(publish_async)(group, event)  # noqa: E731
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(send)
    else:
        send()
