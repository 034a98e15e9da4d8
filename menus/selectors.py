"""Reads on menus: what the engine needs of a client's menus during a call (plain snapshots read
with the client's dial plan, so a caller walks a menu while PostgreSQL is away)."""

from __future__ import annotations

from dataclasses import dataclass

from conferencing.notifications import message_path
from menus.models import Menu
from tenants.models import Client


@dataclass(frozen=True)
class MenuView:
    id: int
    name: str
    greeting_file: str  # a library message's file ("" none)
    greeting_prompt: str  # else a prompt's name ("" none)
    direct_dial: bool
    timeout: int
    retries: int
    keys: dict[str, tuple[str, str]]  # key -> (kind, target)
    on_timeout: tuple[str, str]  # ("", ""): goodbye
    on_invalid: tuple[str, str]


def menus_for_plan(client: Client) -> dict[int, MenuView]:
    """The client's menus by id; runs in the client's schema (a dial plan section)."""
    menus = {}
    for menu in Menu.objects.select_related("greeting_message").prefetch_related("options"):
        message = menu.greeting_message
        greeting = str(message_path(client.pk, message.pk)) if message is not None and message.recorded else ""
        menus[menu.pk] = MenuView(menu.pk, menu.name, greeting, menu.greeting_prompt, menu.direct_dial, menu.timeout,
                                  menu.retries, {o.key: (o.destination_kind, o.destination_target)
                                                 for o in menu.options.all()},
                                  (menu.timeout_kind, menu.timeout_target),
                                  (menu.invalid_kind, menu.invalid_target))  # fmt: skip
    return menus
