"""Where a call can be sent: one idea used by numbers, forwarding, schedules and (later) menus and
queues. A destination is a kind and a target, stored as two columns wherever something points at
one (pstn.Number.destination_kind/_target, ...).

Each kind is registered once, here or by the app that owns what it points at (conferencing registers
"conference"): its label, and `clean(client, target)`, run in the client's schema, which returns the
target as stored or raises ValidationError with a message for people. The engine runs a destination
through the kind's runner (telephony/engine/destinations.py); a new kind is one module that
registers both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_tenants.utils import schema_context


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    clean: Callable  # (client, target) -> the target as stored; ValidationError when it is not one


_kinds: dict[str, Kind] = {}


def kind(name: str, label: str):
    """Decorator: register `clean` as destination kind `name`."""

    def register(clean: Callable) -> Callable:
        _kinds[name] = Kind(name, label, clean)
        return clean

    return register


def kinds() -> list[Kind]:
    return list(_kinds.values())


def clean(client, kind_name: str, target: str, *, field: str = "destination") -> tuple[str, str]:
    """(kind, target) as stored, checked in `client`'s schema; ValidationError naming `field`_kind or
    `field`_target. An empty kind is no destination (and its target must be empty too)."""
    kind_name, target = (kind_name or "").strip(), (target or "").strip()
    if not kind_name:
        return "", ""
    found = _kinds.get(kind_name)
    if found is None:
        choices = ", ".join(sorted(_kinds))
        raise ValidationError({f"{field}_kind": _("Choose one of: %(choices)s.") % {"choices": choices}})
    try:
        with schema_context(client.schema_name):
            return kind_name, found.clean(client, target)
    except ValidationError as error:
        raise ValidationError({f"{field}_target": error.messages}) from error


Finder = Callable  # (client, kind, target, *, exclude: tuple[str, str]) -> [what points there, for people]
_finders: list[Finder] = []


def finder(find: Finder) -> Finder:
    """Decorator: `find` lists what points at a destination among the rows an app owns (numbers,
    forwardings, menus' keys, queues' overflows); `exclude` is the (kind, id) of the row being deleted,
    whose own pointers do not count."""
    _finders.append(find)
    return find


def pointing_at(client, kind_name: str, target: str, *, exclude: tuple[str, str] = ("", "")) -> list[str]:
    """Everything that sends calls to (kind, target), for people (in the client's schema): deleting
    what it names is refused while this is not empty."""
    found: list[str] = []
    with schema_context(client.schema_name):
        for find in _finders:
            found += find(client, kind_name, target, exclude=exclude)
    return sorted(set(found), key=found.index)


@kind("user", gettext_lazy("A user (their devices, then their forwarding)"))
def _user(client, target: str) -> str:
    from telephony.models import Extension

    if not Extension.objects.filter(number=target).exists():
        raise ValidationError(_("No user has extension %(number)s.") % {"number": target or _("(empty)")})
    return target


@kind("external", gettext_lazy("An external number"))
def _external(client, target: str) -> str:
    compact = "".join(c for c in target if c not in " ()-./")
    if compact.isdigit() and phonenumbers.is_emergency_number(compact, client.country or "US"):
        raise ValidationError(
            _("%(number)s is an emergency number: calls are never sent on to one (people dial it).")
            % {"number": target}
        )
    try:
        number = phonenumbers.parse(target, client.country)
    except phonenumbers.NumberParseException as error:
        raise ValidationError(_("%(number)s is not a phone number.") % {"number": target or _("(empty)")}) from error
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            _("%(number)s is not a valid number in %(country)s.") % {"number": target, "country": client.country}
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@kind("hangup", gettext_lazy("Hang up (after a short message)"))
def _hangup(client, target: str) -> str:
    if target not in ("", "closed", "goodbye"):
        raise ValidationError(_("Choose no message, closed or goodbye."))
    return target
