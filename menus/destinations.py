"""Menus' destination kind: a menu, by its id (telephony/destinations.py)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from telephony.destinations import finder, kind


@kind("menu", gettext_lazy("A voice menu (the caller chooses by key)"))
def _menu(client, target: str) -> str:
    from menus.models import Menu

    if not target.isdigit() or not Menu.objects.filter(pk=int(target)).exists():
        raise ValidationError(_("No menu has the id %(id)s.") % {"id": target or _("(empty)")})
    return str(int(target))


@finder
def _pointing(client, kind_name: str, target: str, *, exclude: tuple[str, str]) -> list[str]:
    """Numbers (and their schedules' closed branch), users' forwarding and menus sending calls there."""
    from django.db.models import Q

    from menus.models import Menu
    from pstn.models import Number
    from telephony.models import Forwarding

    found = []
    here = Q(destination_kind=kind_name, destination_target=target) | Q(closed_kind=kind_name, closed_target=target)
    for e164 in Number.objects.filter(here, client=client).values_list("e164", flat=True):
        found.append(_("number %(number)s") % {"number": e164})
    for when in ("always", "busy", "no_answer", "unreachable"):
        for number in Forwarding.objects.filter(**{f"{when}_kind": kind_name, f"{when}_target": target}).values_list(
            "extension__number", flat=True
        ):
            found.append(_("the forwarding of extension %(number)s") % {"number": number})
    menus = Menu.objects.exclude(pk=int(exclude[1])) if exclude[0] == "menu" else Menu.objects.all()
    pointing = menus.filter(options__destination_kind=kind_name, options__destination_target=target)
    pointing = pointing | menus.filter(timeout_kind=kind_name, timeout_target=target)
    pointing = pointing | menus.filter(invalid_kind=kind_name, invalid_target=target)
    for name in sorted(set(pointing.values_list("name", flat=True))):
        found.append(_("menu %(name)s") % {"name": name})
    return found
