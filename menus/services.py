"""Writes on voice menus (a client's operators, in the portal and the API): `menu_save` (a menu with
its keys, every bad field at once: rows' errors are named `options.<row>.<field>`) and `menu_delete`
(refused, saying what, while a number, a forwarding or another menu points at the menu).

A menu must lead somewhere: among its keys, its timeout and invalid-key destinations, and the menus
they lead to, at least one path reaches something that is not a menu (a person, voicemail, a
conference, hang-up...) or it offers direct dialing. A loop of menus with no way out is refused, as
is a key mapped twice."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django_tenants.utils import tenant_context

from menus.models import KEYS, Menu, Option
from menus.steering import Node, graph_without, node_key, trapped
from telephony.directory import sip_directory_rooms_changed
from telephony.media.prompts import TEXTS
from tenants.audit import audit
from tenants.fields import add as _add
from tenants.fields import take
from tenants.models import Client, User
from tenants.scoping import require_client_operator

FIELDS = ("name", "greeting_message", "greeting_prompt", "direct_dial", "timeout", "retries", "timeout_kind",
          "timeout_target", "invalid_kind", "invalid_target")  # fmt: skip
OPTION_FIELDS = ("key", "destination_kind", "destination_target")


def _require_operator(actor: User, client: Client) -> None:
    require_client_operator(actor, client, _("Only the client's operators manage its menus."))


@transaction.atomic
def menu_save(*, actor: User, client: Client, menu: Menu | None = None, options: list[dict] | None = None,
              **fields) -> Menu:  # fmt: skip
    """Create a menu (menu None) or change one (the fields given; the others keep their values).
    `options`, when given, are all the menu's keys from now on: dicts of key, destination_kind and
    destination_target. Every bad field is a field error naming it."""
    from conferencing.models import Message
    from telephony.destinations import clean

    _require_operator(actor, client)
    with tenant_context(client):
        item = menu or Menu()
        errors: dict[str, list[str]] = {}
        take(item, {k: v for k, v in fields.items() if k != "greeting_message"}, FIELDS, errors)
        if "greeting_message" in fields:
            name, value = "greeting_message", fields["greeting_message"]
            pk = getattr(value, "pk", value)
            if pk in (None, ""):
                item.greeting_message = None
            else:
                message = Message.objects.filter(pk=pk).first() if str(pk).isdigit() else None
                if message is None:
                    _add(errors, name, _("Choose a message of the company's library."))
                elif not message.recorded:
                    _add(errors, name, _("The message %(name)s has no audio yet.") % {"name": message.name})
                else:
                    item.greeting_message = message
        if item.greeting_prompt and item.greeting_prompt not in TEXTS:
            _add(errors, "greeting_prompt", _("No prompt is named %(name)s.") % {"name": item.greeting_prompt})
        elif item.greeting_prompt and item.greeting_message_id and "greeting_message" not in errors:
            _add(errors, "greeting_prompt", _("Choose a library message or a prompt, not both."))
        if "name" not in errors and Menu.objects.filter(name=item.name).exclude(pk=item.pk).exists():
            _add(errors, "name", _("A menu named %(name)s exists already.") % {"name": item.name})
        for when in ("timeout", "invalid"):
            try:
                kind, target = clean(client, getattr(item, f"{when}_kind"), getattr(item, f"{when}_target"),
                                     field=when)  # fmt: skip
            except ValidationError as error:
                for name, messages in error.message_dict.items():
                    _add(errors, name, messages)
            else:
                setattr(item, f"{when}_kind", kind)
                setattr(item, f"{when}_target", target)
        rows = None if options is None else _rows(client, options, errors)
        try:
            item.full_clean(exclude=["greeting_message", *errors], validate_unique=False)
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                _add(errors, name, messages)
        if not errors:
            trapped = _trapped(item, rows)
            if trapped:
                _add(errors, "options", _("Callers could go round these menus forever: %(menus)s. Give one a key, a "
                                          "timeout or an invalid-key destination that is not a menu.")
                     % {"menus": ", ".join(trapped)})  # fmt: skip
        if errors:
            raise ValidationError(errors)
        created = item.pk is None
        item.save()
        if rows is not None:
            item.options.all().delete()
            Option.objects.bulk_create([Option(menu=item, **row) for row in rows])
        audit(actor, "menu.create" if created else "menu.update", item, client=client,
              fields=sorted([*fields, *(["options"] if options is not None else [])]))  # fmt: skip
    sip_directory_rooms_changed(client)  # the engines read the menus with the dial plan
    return item


def _rows(client: Client, options, errors: dict) -> list[dict]:
    """The keys as stored; each bad row's fields as `options.<n>.<field>` errors."""
    from telephony.destinations import clean

    rows, seen = [], {}
    if not isinstance(options, list | tuple):
        _add(errors, "options", _("The keys are a list of key and destination."))
        return rows
    for n, option in enumerate(options):
        prefix = f"options.{n}."
        if not isinstance(option, dict):
            _add(errors, f"options.{n}", _("A key and its destination."))
            continue
        key = str(option.get("key") or "").strip()
        if key not in KEYS:
            _add(errors, prefix + "key", _("A key is one of 0-9, * and #."))
        elif key in seen:
            _add(errors, prefix + "key", _("Key %(key)s is mapped twice (rows %(first)s and %(again)s).")
                 % {"key": key, "first": seen[key] + 1, "again": n + 1})  # fmt: skip
        else:
            seen[key] = n
        kind, target = option.get("destination_kind") or "", option.get("destination_target") or ""
        if not str(kind).strip():
            _add(errors, prefix + "destination_kind", _("Choose where the key leads."))
            continue
        try:
            kind, target = clean(client, str(kind), str(target), field="destination")
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                _add(errors, prefix + name, messages)
            continue
        rows.append({"key": key, "destination_kind": kind, "destination_target": target})
    return rows


def _trapped(item: Menu, rows: list[dict] | None) -> list[str]:
    """The names of the menus and rule sets, among those that lead to `item` (itself included), from
    which no path leads out once `item` is saved with `rows` as its keys (menus/steering.py)."""
    me = node_key("menu", item.pk)
    graph = graph_without(me)
    if rows is None:
        rows = list(item.options.values("destination_kind", "destination_target")) if item.pk else []
    ways = [(row["destination_kind"], row["destination_target"]) for row in rows]
    ways += [(item.timeout_kind, item.timeout_target), (item.invalid_kind, item.invalid_target)]
    graph[me] = Node(item.name, item.direct_dial, ways)
    return trapped(graph, me)


@transaction.atomic
def menu_delete(*, actor: User, client: Client, menu: Menu) -> None:
    """Remove a menu nothing points at (else a field error saying what does)."""
    from telephony.destinations import delete_unused

    _require_operator(actor, client)
    delete_unused(actor=actor, client=client, kind_name="menu", row=menu, field="menu", action="menu.delete",
                  refusal=_("These lead to the menu: %(users)s. Point them elsewhere first."))  # fmt: skip
