"""Live events to the portals: one Channels group per scope (platform, brand, client, user)."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

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


def publish(group: str, event: dict) -> None:
    """Send an event (a JSON-able dict with a "type") to every socket in a group."""
    async_to_sync(get_channel_layer().group_send)(group, {"type": "platform.event", "event": event})
