"""The visitor's end of web chat, on the client's own portal host (the client found from the host as
the portal does), public: anybody may connect, from a page of one of the widget's web sites only.

Transports
- WebSocket `/chat/ws/<widget key>/`. Its Origin must be exactly one of the widget's origins, else
  the handshake is refused (403) before anything is said. It is NOT behind the portals'
  SameHostOriginValidator (config/asgi.py sends /chat/ to `visitor_application` first, VisitorsFirst): the page is
  on the client's own site, not on the portal host.
- HTTP fallback, when WebSockets are blocked (CORS for the widget's origins only, preflight too):
  `POST /chat/api/<key>/send` with one command (below) plus `"visitor": <secret>` (and, to ask for the
  transcript of a chat already closed, `"conversation": <id>`) answers `{"events": [...]}`: what the
  socket would have answered directly. `GET /chat/api/<key>/events?visitor=<secret>&after=<message
  id>[&conversation=<id>]` is a long-poll: answers at once with the messages after `after` if any,
  else waits up to POLL seconds for the conversation's events; `{"events": [...], "conversation":
  {...}, "cursor": <last message id>}` (the conversation as it was when the poll started: state,
  agent, place). The next poll starts right away.

Commands (JSON objects with "type"):
  hello {visitor?: secret, page?, identity?: {ref, name, email, expires, signature}}
      -> welcome {visitor: secret (a new one when none or bad: keep it), conversation: {id, state,
         agent, verified, name, position} | null, history: [message...], online: bool, title,
         greeting, colour, verified: bool, limits: {length, per_minute}}
         (+ error identity-refused when the identity is forged or expired: the visitor goes on unverified)
  start {name?, email?, text}      -> started {conversation, history}; error offline when nobody can answer
  message {text}                   -> (the message event, through the conversation)
  typing {on: bool}                -> (nothing back; the agent sees typing)
  close                            -> (closed event)
  transcript {email}               -> transcript {email} (mailed by the worker)
  offline {name?, email, text}     -> offline {kept: true} (kept for the agents, mailed to the client)
Every command but hello needs a hello first (on HTTP: the visitor secret).

Events (server -> visitor; "kind"):
  message {id, sender: visitor|agent|system, author, body, at}   body is text: shown with textContent
  typing {sender, on}          an agent typing (the visitor's own is not echoed to the widget)
  position {position}          place in line while waiting (1: next)
  joined {agent}               an agent took the chat
  transferred {...}            handed to another agent or queue
  closed {by, outcome?}        the end
  error {code, field, message} codes: invalid, hello-first, no-chat, not-found, offline, busy,
                               too-many-chats, too-many-messages, too-many-transcripts,
                               identity-refused, closed, binary, too-large, too-fast
Limits are error events; the socket keeps serving. Binary frames, frames over MAX_FRAME bytes and a
flood (more than RATE frames a second after a BURST) are refused frame by frame; a socket that keeps
flooding (STRIKES refused, none QUIET seconds apart) is closed (4429). Each socket handles one frame at a time and
nothing of it runs on the event loop but parsing, so one visitor cannot stall the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.generic.http import AsyncHttpConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from django.db import close_old_connections
from django.urls import path, re_path
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from chat import line, visitors
from chat.events import EVENT, LAYER, conversation_group
from chat.keeper import keeper
from chat.models import Conversation
from chat.sessions import VisitorSession, error_event
from chat.threads import NoConnectionsOnTheLoop, threaded
from tenants.routing import host_of, portal_for_host

log = logging.getLogger(__name__)

MAX_FRAME = 32 * 1024  # bytes: a message is at most 10,000 characters
RATE, BURST, STRIKES, QUIET = 5.0, 20, 200, 10.0
POLL = 25.0  # seconds a long-poll waits for news
VISITOR_KINDS = {"message", "typing", "position", "joined", "transferred", "closed", "error"}
HOSTS_FOR = 30.0  # seconds a host's client is remembered (a suspended client is shut within this)
_hosts: dict[str, tuple[float, object]] = {}


def _client_for_host(host: str):
    now = time.monotonic()
    found = _hosts.get(host)
    if found is not None and found[0] > now:
        return found[1]
    close_old_connections()
    portal = portal_for_host(host)
    client = portal.client if portal is not None and portal.kind == "client" else None
    if client is not None and not client.is_active:
        client = None
    if len(_hosts) > 10000:
        _hosts.clear()
    _hosts[host] = (now + HOSTS_FOR, client)
    return client


def _widget(host: str, key: str, origin: str):
    client = _client_for_host(host)
    if client is None:
        return None, None
    return client, visitors.widget_for(client=client, key=key, origin=origin)


# (threaded: the worker thread's connection checked, so a connection PostgreSQL dropped fails one request,
# not every one of that thread while the host is remembered)
_find = threaded(_widget)


def _headers(scope) -> dict[bytes, bytes]:
    return dict(scope.get("headers", []))


def _address(scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


class SocketSession(VisitorSession):
    consumer: VisitorConsumer

    async def follow(self, conversation):
        group = conversation_group(self.client.pk, conversation.uuid)
        if group not in self.joined:
            await self.consumer.channel_layer.group_add(group, self.consumer.channel_name)
            self.joined.add(group)
        self.hold()


class VisitorConsumer(NoConnectionsOnTheLoop, AsyncWebsocketConsumer):
    channel_layer_alias = LAYER
    session: SocketSession | None = None

    async def connect(self):
        headers = _headers(self.scope)
        origin = headers.get(b"origin", b"").decode("latin-1")
        host = host_of(headers.get(b"host", b"").decode("latin-1"))
        key = self.scope["url_route"]["kwargs"]["key"]
        client, widget = await _find(host, key, origin)
        if widget is None:  # refused before accepting: the handshake answers 403
            await self.close()
            return
        self.session = SocketSession(client=client, widget=widget, origin=origin, address=_address(self.scope))
        self.session.consumer = self
        self.allowance, self.checked, self.strikes, self.struck, self.warned = (
            float(BURST),
            time.monotonic(),
            0,
            0.0,
            {},
        )
        await self.accept()

    async def disconnect(self, code):
        if self.session is None:
            return
        for group in self.session.joined:
            with contextlib.suppress(Exception):  # (Redis away: the subscription goes with its connection)
                await self.channel_layer.group_discard(group, self.channel_name)
        self.session.unhold(forget=False)

    async def say(self, events: list[dict]) -> None:
        for event in events:
            await self.send(text_data=json.dumps(event))

    def _admit(self) -> bool:
        now = time.monotonic()
        self.allowance = min(float(BURST), self.allowance + (now - self.checked) * RATE)
        self.checked = now
        if self.allowance < 1:
            return False
        self.allowance -= 1
        return True

    async def refuse(self, code: str, message) -> None:
        now = time.monotonic()
        if now - self.struck > QUIET:  # (a socket that calmed down starts again from nothing)
            self.strikes = 0
        self.strikes, self.struck = self.strikes + 1, now
        if self.strikes >= STRIKES:
            await self.close(code=4429)
            return
        if now - self.warned.get(code, 0.0) >= 1:  # (one word a second about each: a flood gets no flood back)
            self.warned[code] = now
            with translation.override(self.session.language or None):
                await self.say([error_event(code, str(message))])

    async def receive(self, text_data=None, bytes_data=None):
        if self.session is None:
            return
        if not self._admit():
            await self.refuse("too-fast", gettext_lazy("Too fast: wait a moment."))
            return
        if bytes_data is not None or text_data is None:
            await self.refuse("binary", gettext_lazy("Send text only."))
            return
        if len(text_data) > MAX_FRAME:
            await self.refuse("too-large", gettext_lazy("This message is too long."))
            return
        try:
            command = json.loads(text_data)
        except (ValueError, RecursionError):
            await self.refuse("invalid", gettext_lazy("Send JSON commands."))
            return
        try:
            events = await self.session.handle(command)
        except Exception:  # a bug or a database away: this command fails, the socket stays
            log.exception("chat visitor command failed")
            with translation.override(self.session.language or None):
                events = [error_event("error", _("Something went wrong: try again."))]
        await self.say(events)

    async def chat_event(self, message):
        event = message.get("event") or {}
        kind = event.get("kind")
        if kind not in VISITOR_KINDS or self.session is None:
            return
        if kind == "typing" and event.get("sender") == "visitor":
            return
        self.session.seen_event(event)
        if kind == "transferred":
            await _threaded_refresh(self.session)
        await self.send(text_data=json.dumps(event))


async def _threaded_refresh(session: VisitorSession) -> None:
    conversation = session.conversation
    if conversation is None:
        return

    def refresh():
        from django_tenants.utils import tenant_context

        close_old_connections()
        with tenant_context(session.client):
            conversation.refresh_from_db(fields=["state", "agent_name", "queue"])

    await sync_to_async(refresh, thread_sensitive=False)()
    if conversation.state == Conversation.State.WAITING:
        session.hold()


# The HTTP fallback.


class _Http(AsyncHttpConsumer):
    methods = ("POST",)
    # No channel of its own on a channel layer (a request takes nothing from one; the long poll listens on
    # chat's layer itself): no Redis work per request, and Redis away fails no answer.
    channel_layer_alias = None
    answered = widget_found = False  # (this request's: an answer sent; the widget found, CORS allowed)
    origin = ""

    async def answer(self, status: int, body: dict, origin: str = "") -> None:
        headers = [(b"Content-Type", b"application/json"), (b"Cache-Control", b"no-store")]
        if origin:
            headers += [(b"Access-Control-Allow-Origin", origin.encode("latin-1")), (b"Vary", b"Origin")]
        await self.send_response(status, json.dumps(body).encode(), headers=headers)

    async def handle(self, body):
        try:
            await self._handle(body)
        except Exception:  # PostgreSQL or Redis away for a moment, or a bug: an answer, never a 500
            log.exception("chat visitor request failed")
            if not self.answered:
                origin = self.origin if self.widget_found else ""
                await self.answer(503, {"events": [error_event("error", _("Something went wrong: try again."))]},
                                  origin)  # fmt: skip

    async def send_response(self, *args, **kwargs):
        self.answered = True
        await super().send_response(*args, **kwargs)

    async def _handle(self, body):
        headers = _headers(self.scope)
        origin = self.origin = headers.get(b"origin", b"").decode("latin-1")
        host = host_of(headers.get(b"host", b"").decode("latin-1"))
        key = self.scope["url_route"]["kwargs"]["key"]
        method = self.scope["method"]
        if method not in (*self.methods, "OPTIONS"):
            await self.answer(405, {"code": "method-not-allowed", "detail": "Not allowed."})
            return
        client, widget = await _find(host, key, origin)
        if widget is None:  # (no CORS headers: the page learns nothing)
            await self.answer(403 if client is not None else 404, {"code": "refused", "detail": "Refused."})
            return
        self.widget_found = True
        if method == "OPTIONS":
            await self.send_response(204, b"", headers=[
                (b"Access-Control-Allow-Origin", origin.encode("latin-1")), (b"Vary", b"Origin"),
                (b"Access-Control-Allow-Methods", b"GET, POST, OPTIONS"),
                (b"Access-Control-Allow-Headers", b"Content-Type"), (b"Access-Control-Max-Age", b"600")])  # fmt: skip
            return
        session = VisitorSession(client=client, widget=widget, origin=origin, address=_address(self.scope))
        await self.serve(session, body, origin)

    @staticmethod
    async def load(session: VisitorSession, secret, conversation_id=None) -> bool:
        """The visitor's session from their secret: their open chat (or the one named)."""
        if not visitors.valid_secret(secret):
            return False
        session.secret, session.visitor = secret, visitors.visitor_hash(secret)

        def find():
            from django_tenants.utils import tenant_context

            close_old_connections()
            if conversation_id:
                with tenant_context(session.client):
                    try:
                        return Conversation.objects.filter(
                            uuid=str(conversation_id), visitor_key=session.visitor, widget=session.widget
                        ).first()
                    except Exception:  # (not a uuid)
                        return None
            return visitors.open_conversation(client=session.client, widget=session.widget, visitor=session.visitor)

        session.conversation = await sync_to_async(find, thread_sensitive=False)()
        if session.conversation is not None:
            session.conversation.widget = session.widget
        return True

    async def serve(self, session, body, origin):
        raise NotImplementedError


class SendConsumer(_Http):
    async def serve(self, session, body, origin):
        if len(body) > MAX_FRAME:
            await self.answer(413, {"events": [error_event("too-large", _("This message is too long."))]}, origin)
            return
        try:
            command = json.loads(body or b"{}")
        except (ValueError, RecursionError):
            command = None
        if not isinstance(command, dict):
            await self.answer(400, {"events": [error_event("invalid", _("Send JSON commands."))]}, origin)
            return
        if command.get("type") != "hello" and not await self.load(
            session, command.get("visitor"), command.get("conversation")
        ):
            await self.answer(400, {"events": [error_event("hello-first", _("Say hello first."))]}, origin)
            return
        try:
            events = await session.handle(command)
        except Exception:
            log.exception("chat visitor command failed")
            events = [error_event("error", _("Something went wrong: try again."))]
        await self.answer(200, {"events": events}, origin)


class EventsConsumer(_Http):
    methods = ("GET",)

    async def serve(self, session, body, origin):
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        first = lambda name: (query.get(name) or [""])[0]  # noqa: E731
        if not await self.load(session, first("visitor"), first("conversation")):
            await self.answer(400, {"events": [error_event("hello-first", _("Say hello first."))]}, origin)
            return
        after = int(first("after")) if first("after").isdigit() else 0
        conversation = session.conversation
        if conversation is None:
            await self.answer(200, {"events": [], "conversation": None, "cursor": after}, origin)
            return
        layer = get_channel_layer(LAYER)
        channel = await layer.new_channel()
        group = conversation_group(session.client.pk, conversation.uuid)
        await layer.group_add(group, channel)
        session.hold()
        try:
            events, view = await sync_to_async(_catch_up, thread_sensitive=False)(session, after)
            if not events:
                events = await _wait(layer, channel, POLL)
        finally:
            await layer.group_discard(group, channel)
            if session.held:
                keeper().release(session.held)
        events = [e for e in events if e.get("kind") in VISITOR_KINDS
                  and not (e.get("kind") == "typing" and e.get("sender") == "visitor")]  # fmt: skip
        cursor = max([after, *(e["id"] for e in events if e.get("kind") == "message" and isinstance(e.get("id"), int))])
        await self.answer(200, {"events": events, "conversation": view, "cursor": cursor}, origin)


def _catch_up(session: VisitorSession, after: int):
    close_old_connections()
    conversation = session.conversation
    place = line.position(client=session.client, conversation=conversation) if conversation.state == "waiting" else None
    return visitors.history(client=session.client, conversation=conversation, after=after), \
        visitors.conversation_view(conversation, place)  # fmt: skip


async def _wait(layer, channel: str, timeout: float) -> list[dict]:
    """The events that reach `channel` within `timeout` (the first, and those right behind it)."""
    events = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return events
        try:
            message = await asyncio.wait_for(layer.receive(channel), timeout=left)
        except TimeoutError:
            return events
        if message.get("type") == EVENT:
            events.append(message.get("event") or {})
            deadline = min(deadline, time.monotonic() + 0.05)


class NoSuchPath(AsyncHttpConsumer):
    async def handle(self, body):
        await self.send_response(404, b'{"code": "not-found", "detail": "Not found."}',
                                 headers=[(b"Content-Type", b"application/json")])  # fmt: skip


class NoSuchSocket(AsyncWebsocketConsumer):
    async def connect(self):
        await self.close()


visitor_application = URLRouter([
    path("chat/ws/<str:key>/", VisitorConsumer.as_asgi()),
    re_path(r"^chat/ws/", NoSuchSocket.as_asgi()),
])  # fmt: skip
visitor_http = URLRouter([
    path("chat/api/<str:key>/send", SendConsumer.as_asgi()),
    path("chat/api/<str:key>/events", EventsConsumer.as_asgi()),
    re_path(r"^chat/api/", NoSuchPath.as_asgi()),
])  # fmt: skip


class VisitorsFirst:
    """/chat/ws/ and /chat/api/ go to the visitors' end (its own origin check); the rest to `other`."""

    def __init__(self, visitors_app, other, prefix: str):
        self.visitors, self.other, self.prefix = visitors_app, other, prefix

    async def __call__(self, scope, receive, send):
        if scope.get("path", "").startswith(self.prefix):
            return await self.visitors(scope, receive, send)
        return await self.other(scope, receive, send)
