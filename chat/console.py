"""The agents' chat console socket (`/ws/chat/`): an agent of the client (a user or an operator with an
extension) on their own portal, with the same rules as the wallboard's socket and /ws/events/ (host,
session, second factor). Chats are offered only to agents with a console open (it says so every
CONSOLE_BEAT seconds, chat/dispatch.py): an agent answering calls alone is never offered a chat.
On connect: a snapshot (their status, the chats open with them with their
messages, canned answers); then offers to accept, the lines and typing of their chats, withdrawn
offers, chats given to them by a transfer. They send actions:

    {"action": "accept" | "close" | "typing", "conversation": uuid}
    {"action": "send", "conversation": uuid, "body": text}
    {"action": "transfer", "conversation": uuid, "agent": extension} or {..., "queue": queue id}
    {"action": "pause", "reason": text} / {"action": "unpause"}

and get `{"type": "error", "code", "message", "fields"}` for one refused. Each chat open with the agent
is followed on a channel of its own joined to the conversation's group, so its events are known to be
that chat's whatever they carry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import close_old_connections
from django.urls import path
from django.utils.translation import gettext as _
from django_tenants.utils import tenant_context

from chat import agents, dispatch
from chat.events import LAYER, agent_group, conversation_group
from chat.models import CannedAnswer, Conversation
from chat.selectors import extension_of
from chat.services import message_event
from chat.threads import NoConnectionsOnTheLoop, threaded
from config.redis_store import get_redis
from queues import state
from queues.models import Queue
from queues.services import agent_pause, agent_unpause
from telephony.models import Extension
from tenants.errors import PlatformError
from tenants.events import CLOSE_SECOND_FACTOR, CLOSE_SIGNED_OUT, group_for_sockets_of_client, group_for_sockets_of_user
from tenants.models import Role
from tenants.routing import actor_refusal
from tenants.second_factor import second_factor_blocks

log = logging.getLogger(__name__)
CLOSE_NOT_AGENT = 4403


@database_sync_to_async
def _admit(user, portal, session):
    close_old_connections()
    if portal is None or actor_refusal(user, portal):
        return CLOSE_SIGNED_OUT
    if second_factor_blocks(user, session):
        return CLOSE_SECOND_FACTOR
    if user.role not in (Role.CLIENT, Role.USER) or user.client_id != portal.client.pk:
        return CLOSE_SIGNED_OUT
    with tenant_context(portal.client):
        line = extension_of(user)
    return (portal.client, line) if line is not None else CLOSE_NOT_AGENT


def status_of(client, line: Extension) -> dict:
    fields = get_redis().hgetall(state.agent_key(settings.OCX_REDIS_PREFIX, client.pk, line.number))
    found = {k.decode(): v.decode() for k, v in fields.items()}
    return {"extension": line.number, "paused": found.get("paused") == "1", "reason": found.get("reason", ""),
            "chats": int(found.get("chats") or 0), "chat_limit": int(found.get("chat_limit") or state.CHAT_LIMIT),
            "chats_during_calls": found.get("both") == "1"}  # fmt: skip


@database_sync_to_async
def _snapshot(client, user, line) -> dict:
    close_old_connections()
    with tenant_context(client):
        open_chats = Conversation.objects.filter(state=Conversation.State.ACTIVE, agent_id=user.pk).select_related(
            "queue"
        )
        return {
            "type": "chat.snapshot",
            "status": status_of(client, line),
            "chats": [agents.summary(c, messages=True) for c in open_chats],
            "canned": [{"title": c.title, "shortcut": c.shortcut, "body": c.body} for c in CannedAnswer.objects.all()],
            "agents": list(
                Extension.objects.exclude(pk=line.pk).order_by("number").values_list("number", "account__name")
            ),
            "queues": list(Queue.objects.order_by("name").values_list("pk", "name")),
        }


@database_sync_to_async
def _chat(client, uuid) -> dict | None:
    close_old_connections()
    with tenant_context(client):
        found = Conversation.objects.filter(uuid=uuid).select_related("queue").first()
        return agents.summary(found, messages=True) if found is not None else None


def _act_now(client, user, line, content: dict):
    """One action of the agent, through the services; returns what to send back (or None)."""
    action, uuid = content.get("action"), str(content.get("conversation") or "")
    with tenant_context(client):
        if action == "accept":
            agents.chat_accept(actor=user, client=client, conversation_uuid=_uuid(uuid))
        elif action == "close":
            agents.chat_close(actor=user, client=client, conversation_uuid=_uuid(uuid))
        elif action == "transfer":
            to_agent = to_queue = None
            if content.get("agent"):
                to_agent = Extension.objects.filter(number=str(content["agent"])).first()
                if to_agent is None:
                    raise ValidationError({"agent": "No such agent."})
            elif str(content.get("queue") or "").isdigit():
                to_queue = Queue.objects.filter(pk=int(content["queue"])).first()
                if to_queue is None:
                    raise ValidationError({"queue": "No such queue."})
            agents.chat_transfer(actor=user, client=client, conversation_uuid=_uuid(uuid), to_agent=to_agent,
                                 to_queue=to_queue)  # fmt: skip
        elif action == "pause":
            reason = content.get("reason") if isinstance(content.get("reason"), str) else ""
            agent_pause(actor=user, client=client, extension=line, reason=reason)
        elif action == "unpause":
            agent_unpause(actor=user, client=client, extension=line)
        elif action == "status":
            pass
        else:
            raise ValidationError({"action": "Unknown action."})
        return {"type": "chat.status", "status": status_of(client, line)} if action in (
            "pause", "unpause", "status") else None  # fmt: skip


# In the loop's worker threads (chat/threads.py: each keeps its connection between actions), several
# agents' actions at once; one console's actions still run one after the other (a consumer handles
# its messages in turn).
_act_in_thread = threaded(_act_now)


async def _act(client, user, line, content: dict):
    """A line and typing, the agent's most frequent actions, on the event loop (chat/loopdb.py); the
    others in a thread."""
    action = content.get("action")
    if action not in ("send", "typing"):
        return await _act_in_thread(client, user, line, content)
    uuid = _uuid(str(content.get("conversation") or ""))
    if action == "typing":
        await agents.chat_typing(actor=user, client=client, conversation_uuid=uuid)
        return None
    said = await agents.chat_send(actor=user, client=client, conversation_uuid=uuid, body=content.get("body"))
    if said.delivered:
        return None
    # Kept, not delivered live (Redis away): shown to its sender.
    return {"type": "chat.event", "event": {**message_event(said), "conversation": str(uuid)}}


def _uuid(text: str):
    import uuid

    try:
        return uuid.UUID(text)
    except ValueError as error:
        raise ValidationError({"conversation": "No such chat."}) from error


class ChatConsoleConsumer(NoConnectionsOnTheLoop, AsyncJsonWebsocketConsumer):
    channel_layer_alias = LAYER  # (the sign-out closes come on every layer: tenants/events.py)
    groups_joined: list[str] | None = None

    async def connect(self):
        user = self.scope.get("user")
        admitted = await _admit(user, self.scope.get("portal"), self.scope.get("session"))
        if isinstance(admitted, int):
            await self.close(code=admitted)
            return
        self.client, self.line = admitted
        self.user = user
        self.following: dict[str, tuple[str, asyncio.Task]] = {}
        self.groups_joined = [
            agent_group(self.client.pk, user.pk),
            group_for_sockets_of_user(user.pk),
            group_for_sockets_of_client(self.client.pk),
        ]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        dispatch.ensure_running()
        self.beat = asyncio.get_running_loop().create_task(self.alive())
        snapshot = await _snapshot(self.client, user, self.line)
        for chat in snapshot["chats"]:
            await self.follow(chat["conversation"])
        await self.send_json(snapshot)

    async def alive(self) -> None:
        """Chats are offered only to agents with a console open: this one says so while it is."""
        prefix = settings.OCX_REDIS_PREFIX
        while True:
            try:
                await dispatch.console_open(self.redis(), prefix, self.client.pk, self.line.number, self.channel_name)
            except Exception:  # Redis away for a moment: said again at the next beat
                log.warning("chat console %s could not say it is open", self.channel_name, exc_info=True)
            await asyncio.sleep(dispatch.CONSOLE_BEAT)

    def redis(self):
        return dispatch.ensure_running().redis

    async def disconnect(self, code):
        beat = getattr(self, "beat", None)
        if beat is not None:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            with contextlib.suppress(Exception):
                await dispatch.console_closed(self.redis(), settings.OCX_REDIS_PREFIX, self.client.pk,
                                              self.line.number, self.channel_name)  # fmt: skip
        for uuid in list(getattr(self, "following", {})):
            await self.unfollow(uuid)
        for group in self.groups_joined or []:
            with contextlib.suppress(Exception):  # (Redis away: the subscription goes with its connection)
                await self.channel_layer.group_discard(group, self.channel_name)

    async def follow(self, uuid: str) -> None:
        if uuid in self.following:
            return
        channel = await self.channel_layer.new_channel()
        group = conversation_group(self.client.pk, uuid)
        await self.channel_layer.group_add(group, channel)
        self.following[uuid] = (channel, asyncio.get_running_loop().create_task(self._relay(uuid, channel)))

    async def unfollow(self, uuid: str) -> None:
        found = self.following.pop(uuid, None)
        if found is None:
            return
        channel, task = found
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(Exception):  # (Redis away: the subscription goes with its connection)
            await self.channel_layer.group_discard(conversation_group(self.client.pk, uuid), channel)

    async def _relay(self, uuid: str, channel: str) -> None:
        while True:
            message = await self.channel_layer.receive(channel)
            event = dict(message.get("event") or {})
            event["conversation"] = uuid
            await self.send_json({"type": "chat.event", "event": event})
            if event.get("kind") == "closed":
                asyncio.get_running_loop().create_task(self.unfollow(uuid))

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        """A frame that is not a JSON text is refused with an error event (the console stays)."""
        try:
            content = json.loads(text_data) if text_data else None
        except (ValueError, RecursionError):
            content = None
        if content is None:
            await self.send_json({"type": "error", "code": "invalid", "action": None, "conversation": None,
                                  "message": _("Send JSON commands.")})  # fmt: skip
            return
        await self.receive_json(content, **kwargs)

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict):
            return
        try:
            answer = await _act(self.client, self.user, self.line, content)
        except ValidationError as error:
            fields = error.message_dict if hasattr(error, "error_dict") else {"": error.messages}
            await self.send_json({"type": "error", "code": "invalid", "action": content.get("action"),
                                  "conversation": content.get("conversation"), "fields": fields,
                                  "message": " ".join(m for ms in fields.values() for m in ms)})  # fmt: skip
            return
        except PlatformError as error:
            await self.send_json({"type": "error", "code": error.code, "action": content.get("action"),
                                  "conversation": content.get("conversation"), "message": error.message})  # fmt: skip
            return
        except Exception:  # a bug, or PostgreSQL or Redis away for a moment: this action fails, the console stays
            log.exception("chat console action %r failed", content.get("action"))
            await self.send_json({"type": "error", "code": "error", "action": content.get("action"),
                                  "conversation": content.get("conversation"),
                                  "message": _("Something went wrong: try again.")})  # fmt: skip
            return
        if answer is not None:
            await self.send_json(answer)

    async def chat_event(self, message):
        """The agent's own group (a chat's own events come on its channel). Nothing goes to every console
        of a client: a chat taken or closed is news only to the agents offered it (withdrawn) and the
        one in it (its channel), and 2,000 chats answered would be 2,000 frames to each console."""
        event = message["event"]
        kind, uuid = event.get("kind"), str(event.get("conversation") or "")
        if kind in ("accepted", "assigned") and uuid:
            await self.follow(uuid)
            chat = await _chat(self.client, uuid)
            if chat is not None:
                await self.send_json({"type": "chat.open", "chat": chat})
            return
        if kind == "gone" and uuid:
            await self.unfollow(uuid)
        await self.send_json({"type": "chat.event", "event": event})

    async def platform_event(self, message):
        pass

    async def sockets_close(self, message):
        await self.close(code=message["code"])


websocket_urlpatterns = [path("ws/chat/", ChatConsoleConsumer.as_asgi())]
