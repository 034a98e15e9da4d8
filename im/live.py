"""The one way instant messages and presence reach the portals' sockets (im/consumers.py).

Every live event of this app goes through `push` (or `push_async` from a consumer): a message to its
conversation's members, a read pointer to the reader's other tabs, typing, presence. The groups:
- `group_for_im_user(account)`: every IM socket of one person (their messages, unread counts, typing);
- `group_for_im_client(client)`: every IM socket of the client's people, users and operators alike
  (presence changes: nobody else's socket is ever in it).
A bridge to phones (SIP MESSAGE) delivers through im.services.message_send, which pushes from here."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def group_for_im_user(account_id: int) -> str:
    return f"ocx.im.user.{account_id}"


def group_for_im_client(client_id: int) -> str:
    return f"ocx.im.client.{client_id}"


def _message(event: dict) -> dict:
    return {"type": "im.event", "event": event}


async def push_async(groups: list[str], event: dict) -> None:
    """Send an event (a JSON-able dict with a "type") to the sockets of each group."""
    layer = get_channel_layer()
    for group in groups:
        await layer.group_send(group, _message(event))


def push(groups: list[str], event: dict) -> None:
    async_to_sync(push_async)(groups, event)


def push_each(events: dict[str, dict]) -> None:
    """Several groups, each its own event (a message with each member's unread count), in one go."""

    async def send() -> None:
        layer = get_channel_layer()
        for group, event in events.items():
            await layer.group_send(group, _message(event))

    async_to_sync(send)()
