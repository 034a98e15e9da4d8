"""Menus' destination kinds: a menu, a rule set (call routing by conditions), by their ids
(telephony/destinations.py)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from telephony.destinations import kind


@kind("menu", gettext_lazy("A voice menu (the caller chooses by key)"))
def _menu(client, target: str) -> str:
    from menus.models import Menu

    if not target.isdigit() or not Menu.objects.filter(pk=int(target)).exists():
        raise ValidationError(_("No menu has the id %(id)s.") % {"id": target or _("(empty)")})
    return str(int(target))


@kind("route", gettext_lazy("Routing rules (by caller, number dialled, schedule)"))
def _route(client, target: str) -> str:
    from menus.models import RuleSet

    if not target.isdigit() or not RuleSet.objects.filter(pk=int(target)).exists():
        raise ValidationError(_("No rule set has the id %(id)s.") % {"id": target or _("(empty)")})
    return str(int(target))
