"""Where a call can be sent: one idea used by numbers, forwarding, schedules and (later) menus and
queues. A destination is a kind and a target, stored as two columns wherever something points at
one (pstn.Number.destination_kind/_target, ...).

Each kind is registered once, here or by the app that owns what it points at (conferencing registers
"conference"): its label, and `clean(client, target)`, run in the client's schema, which returns the
target as stored or raises ValidationError with a message for people. The engine runs a destination
through the kind's runner (telephony/engine/destinations.py); a new kind is one module that
registers both.

What points at a destination (so that it is not deleted from under them) is asked of every app that
stores destinations: each registers `points_at(client, kind, target)` (numbers and forwarding here,
menus' keys in menus, groups' no-answer in ringgroups), and `pointing_at` lists them all for people.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_tenants.utils import schema_context


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    clean: Callable  # (client, target) -> the target as stored; ValidationError when it is not one


_kinds: dict[str, Kind] = {}
_pointers: list[Callable] = []  # (client, kind, target) -> what points there, for people


def kind(name: str, label: str):
    """Decorator: register `clean` as destination kind `name`."""

    def register(clean: Callable) -> Callable:
        _kinds[name] = Kind(name, label, clean)
        return clean

    return register


def kinds() -> list[Kind]:
    return list(_kinds.values())


def points_at(lister: Callable) -> Callable:
    """Decorator: `lister(client, kind, target)`, run in the client's schema, names what of an app
    points at that destination (a thing pointing at itself goes with it and is not named)."""
    _pointers.append(lister)
    return lister


def pointing_at(client, kind_name: str, target: str) -> list[str]:
    """Everything that points at (kind, target), for people, each once (numbers and their schedules'
    closed branch, users' forwarding, menus' keys, groups...); run in the client's schema."""
    found: list[str] = []
    for lister in _pointers:
        found += [name for name in lister(client, kind_name, target) if name not in found]
    return found


def delete_unused(*, actor, client, kind_name: str, row, field: str, refusal: str, action: str) -> None:
    """Delete `row`, a destination of `kind_name` (target: its id), when nothing points at it; else a
    field error on `field`: `refusal` with %(users)s, what does. Audited as `action`; the engines read
    the client's dial plan anew."""
    from telephony.directory import sip_directory_rooms_changed
    from tenants.audit import audit

    with schema_context(client.schema_name):
        users = pointing_at(client, kind_name, str(row.pk))
        if users:
            raise ValidationError({field: refusal % {"users": "; ".join(users)}})
        audit(actor, action, row, client=client, name=row.name)
        row.delete()
    sip_directory_rooms_changed(client)


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


@points_at
def _numbers_and_forwarding(client, kind_name: str, target: str) -> list[str]:
    from pstn.models import Number
    from telephony.models import Forwarding

    found = []
    pointed = Q(destination_kind=kind_name, destination_target=target) | Q(closed_kind=kind_name,
                                                                            closed_target=target)  # fmt: skip
    for e164 in Number.objects.filter(pointed, client=client).values_list("e164", flat=True):
        found.append(_("number %(number)s") % {"number": e164})
    for when in ("always", "busy", "no_answer", "unreachable"):
        for number in Forwarding.objects.filter(**{f"{when}_kind": kind_name, f"{when}_target": target}).values_list(
            "extension__number", flat=True
        ):
            found.append(_("the forwarding of extension %(number)s") % {"number": number})
    return found


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
