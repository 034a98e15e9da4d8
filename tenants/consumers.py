"""WebSocket side of the portals: the same host routing and scope rule as HTTP.

`/ws/events/` streams the live events of the connected account's scope (later issues publish call
and conference events through `events.publish`). An operator's dashboard also asks for its figures
(`{"watch": "dashboard"}`): the socket sends them (`dashboard.figures`, tenants/figures.py) at once,
again shortly after each event that changes them in its scope, and every REFRESH seconds (phones'
registrations expire silently). Figures are computed here for the socket's own account, so a socket
never carries another scope's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.security.websocket import WebsocketDenier
from django.db import close_old_connections
from django.urls import path

from tenants.events import (
    CLOSE_SECOND_FACTOR,
    CLOSE_SIGNED_OUT,
    DASHBOARD_CHANGES,
    group_for_sockets_of_client,
    group_for_sockets_of_user,
    groups_for,
)
from tenants.figures import dashboard_figures
from tenants.models import Role
from tenants.routing import actor_refusal, host_of, portal_for_host
from tenants.second_factor import second_factor_blocks

log = logging.getLogger(__name__)

SETTLE = 0.4  # seconds between an event and the figures it changed: the engine's records and index catch up
REFRESH = 15.0  # seconds between figures sent anyway


@database_sync_to_async
def _resolve_portal(host: str):
    return portal_for_host(host)


class _PortalResolver:
    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", []))
        host = host_of(headers.get(b"host", b"").decode("latin-1"))
        scope = dict(scope, portal=await _resolve_portal(host))
        return await self.inner(scope, receive, send)


class SameHostOriginValidator:
    """A socket opens only from a page of the host it connects to.

    Sibling clients' portals share a site (client-a.brand.example and client-b.brand.example), so a
    page on one could open a socket to the other with the browser's cookie for it; browsers always
    send Origin on a WebSocket handshake, so a missing or foreign Origin is refused (403).
    """

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", []))
        host = host_of(headers.get(b"host", b"").decode("latin-1"))
        try:
            origin = urlsplit(headers.get(b"origin", b"").decode("latin-1")).hostname
        except ValueError:
            origin = None
        if not host or origin is None or host_of(origin) != host:
            return await WebsocketDenier()(scope, receive, send)
        return await self.inner(scope, receive, send)


def PortalWebSocketMiddleware(inner):  # noqa: N802 - a middleware stack, named like one
    """Host -> portal first (the session table lives in the public schema), then session auth."""
    return _PortalResolver(AuthMiddlewareStack(inner))


@database_sync_to_async
def _groups(user, portal, session) -> list[str] | int:
    """The event groups and the control groups (closing) of an account's socket on this portal, or the
    code the socket is closed with: the same rules as the portal's pages (second factor included)."""
    close_old_connections()
    if portal is None or actor_refusal(user, portal):
        return CLOSE_SIGNED_OUT
    if second_factor_blocks(user, session):
        return CLOSE_SECOND_FACTOR
    control = [group_for_sockets_of_user(user.pk)]
    if user.client_id is not None:
        control.append(group_for_sockets_of_client(user.client_id))
    return [*groups_for(user), *control]


@database_sync_to_async
def _figures(user) -> dict:
    close_old_connections()
    return dashboard_figures(actor=user)


class EventsConsumer(AsyncJsonWebsocketConsumer):
    groups_joined: list[str] | None = None
    watcher: asyncio.Task | None = None
    changed: asyncio.Event | None = None

    async def connect(self):
        joined = await _groups(self.scope.get("user"), self.scope.get("portal"), self.scope.get("session"))
        if isinstance(joined, int):  # refused before accepting
            await self.close(code=joined)
            return
        self.groups_joined = joined
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if self.watcher is not None:
            self.watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.watcher
        for group in self.groups_joined or []:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        """`{"watch": "dashboard"}`: an operator's dashboard wants its figures (once per socket)."""
        wants = isinstance(content, dict) and content.get("watch") == "dashboard"
        if wants and self.watcher is None and self.scope["user"].role in (Role.GOD, Role.BRAND, Role.CLIENT):
            self.changed = asyncio.Event()
            self.watcher = asyncio.get_running_loop().create_task(self.watch_dashboard())

    async def watch_dashboard(self):
        while True:
            try:
                figures = await _figures(self.scope["user"])
            except Exception:  # PostgreSQL or Redis away for a moment: the page keeps its figures, we try again
                log.exception("dashboard figures could not be computed")
            else:
                await self.send_json({"type": "dashboard.figures", "figures": figures})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), timeout=REFRESH)
                await asyncio.sleep(SETTLE)  # and the events of the same moment go with it
            self.changed.clear()

    async def platform_event(self, message):
        event = message["event"]
        await self.send_json(event)
        if self.changed is not None and event.get("type") in DASHBOARD_CHANGES:
            self.changed.set()

    async def sockets_close(self, message):
        """The account's right ended (tenants.events.sockets_close): suspension, deactivation, new password."""
        await self.close(code=message["code"])


websocket_urlpatterns = [path("ws/events/", EventsConsumer.as_asgi())]
