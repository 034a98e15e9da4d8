"""Reads on menus and rule sets: what the engine needs of a client's menus and call routing during a
call (plain snapshots read with the client's dial plan, so a caller walks a menu and is routed while
PostgreSQL is away; a rule's patterns are compiled once, here)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from conferencing.notifications import message_path
from menus.models import Menu, RuleSet
from menus.routing import compile_patterns
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


@dataclass(frozen=True)
class RuleView:
    position: int
    callers: re.Pattern | None  # None: any caller
    dialled: re.Pattern | None
    schedule: int | None  # a schedule's id that must say open (when_open) or closed
    when_open: bool
    to: tuple[str, str]  # (kind, target)


@dataclass(frozen=True)
class RuleSetView:
    id: int
    name: str
    rules: tuple[RuleView, ...]
    default: tuple[str, str]  # ("", ""): nowhere


def routes_for_plan(client: Client) -> dict[int, RuleSetView]:
    """The client's rule sets by id; runs in the client's schema (a dial plan section)."""
    return {
        rule_set.pk: RuleSetView(
            rule_set.pk,
            rule_set.name,
            tuple(
                RuleView(
                    rule.position,
                    compile_patterns(rule.callers),
                    compile_patterns(rule.dialled),
                    rule.schedule,
                    rule.when_open,
                    (rule.destination_kind, rule.destination_target),
                )
                for rule in rule_set.rules.all()
            ),
            (rule_set.default_kind, rule_set.default_target),
        )
        for rule_set in RuleSet.objects.prefetch_related("rules")
    }
