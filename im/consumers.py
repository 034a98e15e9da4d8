"""The portal's instant messages and presence socket (`/ws/im/`), for a client's users and operators.

It opens on the same rules as the portal's pages and /ws/events/ (host, session, second factor) for
the client's people only, and joins:
- the person's IM group (their messages, read pointers, typing: im.live),
- the client's IM group (presence changes of the client's people: nobody else's socket is in it),
- the client's events group, only to hear the engines' call events and the edges' registration changes
  (never passed on: they change presence, which is computed and told through the client's IM group),
- the control groups that close it when the account's right ends.
On opening it sends the colleagues' presence and the person's unread count. What it accepts:
`{"typing": <conversation>}`, `{"read": <conversation>, "up_to": <message id>}` and
`{"send": <conversation>, "body": "..."}` (answered with `im.sent` or `im.error` and its fields)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.exceptions import ValidationError
from django.db import close_old_connections
from django.urls import path
from django_tenants.utils import tenant_context

from im import live, presence, selectors, services
from im.models import Conversation
from tenants.errors import PlatformError
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
SETTLE = 0.15  # seconds between a call or registration event and reading presence: the index catches up
REFRESH = 30.0  # seconds between presence checks anyway (registrations run out silently) and socket refreshes
CHANGES = ("call.", "registration.changed")


@database_sync_to_async
def _admit(user, portal, session):
    close_old_connections()
    if portal is None or actor_refusal(user, portal):
        return CLOSE_SIGNED_OUT
    if second_factor_blocks(user, session):
        return CLOSE_SECOND_FACTOR
    if user.role not in (Role.USER, Role.CLIENT) or portal.client is None:
        return CLOSE_SIGNED_OUT
    return portal.client


@database_sync_to_async
def _opened(client, user, channel: str) -> dict:
    close_old_connections()
    presence.socket_opened(client.pk, user.pk, channel)
    presence.presence_publish(client, [user.pk])  # (they may have been offline)
    with tenant_context(client):
        unread = selectors.unread_total(user.pk)
    states = presence.presence_states(client)
    return {"type": "im.hello", "unread": unread, "presence": {str(k): v for k, v in states.items()}}


@database_sync_to_async
def _closed(client, user, channel: str) -> None:
    close_old_connections()
    presence.socket_closed(client.pk, user.pk, channel)
    presence.presence_publish(client, [user.pk])


@sync_to_async(thread_sensitive=False)
def _claim(client, event: dict) -> bool:
    return presence.event_claim(client.pk, event)


@database_sync_to_async
def _people(client) -> list[dict]:
    close_old_connections()
    return presence.people_of(client)


@database_sync_to_async
def _refresh(client, user, channel: str, people: list[dict]) -> None:
    presence.socket_opened(client.pk, user.pk, channel)
    presence.presence_publish(client, people=people)


@database_sync_to_async
def _typing(client, user, conversation_id) -> list[str] | None:
    close_old_connections()
    return services.typing_told(client=client, actor=user, conversation_id=conversation_id)


@database_sync_to_async
def _act(client, user, content: dict) -> dict | None:
    """A read or a send from the socket, through the same services as the pages and the API."""
    close_old_connections()
    which = content.get("read", content.get("send"))
    if not isinstance(which, int) or services.row_id(which) is None:
        return {"type": "im.error", "code": "invalid", "fields": {"conversation": ["Not a conversation."]}}
    with tenant_context(client):
        conversation = Conversation.objects.restrict(user).filter(pk=which).first()
    if conversation is None:
        return {"type": "im.error", "code": "not-found", "conversation": which}
    if "read" in content:
        up_to = content.get("up_to")
        up_to = up_to if isinstance(up_to, int) and not isinstance(up_to, bool) else None
        services.conversation_read(client=client, actor=user, conversation=conversation, up_to=up_to)
        return None
    try:
        message = services.message_send(client=client, sender=user, conversation=conversation,
                                        body=content.get("body"), via="portal")  # fmt: skip
    except ValidationError as error:
        return {"type": "im.error", "code": "invalid", "conversation": which, "fields": error.message_dict}
    except PlatformError as error:
        return {"type": "im.error", "code": error.code, "conversation": which, "detail": error.message}
    return {"type": "im.sent", "conversation": which, "id": message.pk, "ref": content.get("ref")}


class ImConsumer(AsyncJsonWebsocketConsumer):
    groups_joined: list[str] | None = None
    watcher: asyncio.Task | None = None
    changed: asyncio.Event | None = None
    client = None

    async def connect(self):
        user = self.scope.get("user")
        admitted = await _admit(user, self.scope.get("portal"), self.scope.get("session"))
        if isinstance(admitted, int):
            await self.close(code=admitted)
            return
        self.client, self.user = admitted, user
        self.groups_joined = [live.group_for_im_user(user.pk), live.group_for_im_client(self.client.pk),
                              group_for_client(self.client.pk), group_for_sockets_of_user(user.pk),
                              group_for_sockets_of_client(self.client.pk)]  # fmt: skip
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json(await _opened(self.client, user, self.channel_name))
        self.changed = asyncio.Event()
        self.watcher = asyncio.get_running_loop().create_task(self.watch())

    async def disconnect(self, code):
        if self.watcher is not None:
            self.watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.watcher
        for group in self.groups_joined or []:
            await self.channel_layer.group_discard(group, self.channel_name)
        if self.client is not None:
            try:
                await _closed(self.client, self.user, self.channel_name)
            except Exception:  # Redis away: the socket's entry runs out on its own
                log.exception("IM socket close could not be told")

    async def watch(self):
        """Presence after the call and registration events this socket hears, and every REFRESH. The
        client's people are read from PostgreSQL at each REFRESH only: an event costs Redis reads."""
        people, people_at = None, 0.0
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), timeout=REFRESH)
                await asyncio.sleep(SETTLE)
            self.changed.clear()
            try:
                if people is None or loop.time() - people_at >= REFRESH:
                    people, people_at = await _people(self.client), loop.time()
                await _refresh(self.client, self.user, self.channel_name, people)
            except Exception:  # PostgreSQL or Redis away for a moment: the next event or refresh tries again
                people = None
                log.exception("presence could not be computed")

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict):
            return
        if "typing" in content:
            which = content["typing"]
            if isinstance(which, int) and services.row_id(which) is not None:
                groups = await _typing(self.client, self.user, which)
                if groups:
                    await live.push_async(groups, {"type": "im.typing", "conversation": which,
                                                   "user": self.user.pk, "name": self.user.name})  # fmt: skip
            return
        if "read" in content or "send" in content:
            answer = await _act(self.client, self.user, content)
            if answer is not None:
                await self.send_json(answer)

    async def im_event(self, message):
        await self.send_json(message["event"])

    async def platform_event(self, message):
        """The client's events group: call and registration events only nudge presence (never sent on).
        Every socket of the client hears each event; the first to claim it computes and tells them all."""
        event = message["event"]
        if not str(event.get("type", "")).startswith(CHANGES) or self.changed is None:
            return
        try:
            mine = await _claim(self.client, event)
        except Exception:  # Redis away: compute anyway (the shown copy still sends each change once)
            mine = True
        if mine:
            self.changed.set()

    async def sockets_close(self, message):
        await self.close(code=message["code"])


websocket_urlpatterns = [path("ws/im/", ImConsumer.as_asgi())]
