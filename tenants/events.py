"""Live events to the portals: one Channels group per scope (platform, brand, client, user)."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from tenants.models import Role


def group_for_platform() -> str:
    return "ocx.platform"


def group_for_brand(brand_id: int) -> str:
    return f"ocx.brand.{brand_id}"


def group_for_client(client_id: int) -> str:
    return f"ocx.client.{client_id}"


def group_for_user(user_id: int) -> str:
    return f"ocx.user.{user_id}"


def groups_for(user) -> list[str]:
    """The groups an account listens to: its own scope's, and its own as a person."""
    if user.role == Role.GOD:
        return [group_for_platform()]
    if user.role == Role.BRAND:
        return [group_for_brand(user.brand_id)]
    if user.role == Role.CLIENT:
        return [group_for_client(user.client_id)]
    return [group_for_user(user.pk)]


# Control groups: every socket of an account, and every socket of a client's accounts, so that a
# suspension, a deactivation or a password change closes the sockets already open.
def group_for_sockets_of_user(user_id: int) -> str:
    return f"ocx.sockets.user.{user_id}"


def group_for_sockets_of_client(client_id: int) -> str:
    return f"ocx.sockets.client.{client_id}"


CLOSE_SIGNED_OUT = 4401  # the account may no longer use the socket (deactivated, deleted, new password)
CLOSE_SUSPENDED = 4403  # the account's client is suspended or deleted
CLOSE_SECOND_FACTOR = 4428  # an operator requires a second factor of the account, and it has none yet


def sockets_close(group: str, code: int) -> None:
    """Close every socket in a control group once the transaction that ended their right commits, on
    every channel layer (web chat's consoles listen on a layer of their own, settings.CHANNEL_LAYERS)."""

    def send() -> None:
        for alias in settings.CHANNEL_LAYERS:
            async_to_sync(get_channel_layer(alias).group_send)(group, {"type": "sockets.close", "code": code})

    transaction.on_commit(send)


# The events after which a dashboard's figures are sent again (tenants/consumers.py): calls that
# start, are answered or end (the client's group), registrations (every scope's: the edges send each
# group at most one per DASHBOARD_TICK, telephony/edge/news.py), the conferences' (every scope's), and
# `dashboard.changed`, which the engines send the brand's and the platform's groups at most every
# DASHBOARD_TICK seconds instead of each call's events.
DASHBOARD_CHANGES = frozenset({
    "call.ringing", "call.answered", "call.ended", "registration.changed", "dashboard.changed",
    "conference.joined", "conference.left", "conference.ended",
})  # fmt: skip
DASHBOARD_TICK = 0.5


def publish(group: str, event: dict) -> None:
    """Send an event (a JSON-able dict with a "type") to every socket in a group."""
    async_to_sync(get_channel_layer().group_send)(group, {"type": "platform.event", "event": event})
