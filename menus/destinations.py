"""Menus' destination kinds: a menu, a rule set (call routing by conditions), by their ids
(telephony/destinations.py)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from telephony.destinations import kind, points_at


@kind("menu", gettext_lazy("A voice menu (the caller chooses by key)"))
def _menu(client, target: str) -> str:
    from menus.models import Menu

    if not target.isdigit() or not Menu.objects.filter(pk=int(target)).exists():
        raise ValidationError(_("No menu has the id %(id)s.") % {"id": target or _("(empty)")})
    return str(int(target))


@points_at
def _menus_pointing(client, kind_name: str, target: str) -> list[str]:
    """Menus whose keys, timeout or invalid-key destination are (kind, target); a menu pointing at
    itself goes with it."""
    from menus.models import Menu

    menus = Menu.objects.all()
    if kind_name == "menu":
        menus = menus.exclude(pk=int(target) if target.isdigit() else None)
    pointing = menus.filter(options__destination_kind=kind_name, options__destination_target=target)
    pointing = pointing | menus.filter(timeout_kind=kind_name, timeout_target=target)
    pointing = pointing | menus.filter(invalid_kind=kind_name, invalid_target=target)
    return [_("menu %(name)s") % {"name": name} for name in sorted(set(pointing.values_list("name", flat=True)))]


@kind("route", gettext_lazy("Routing rules (by caller, number dialled, schedule)"))
def _route(client, target: str) -> str:
    from menus.models import RuleSet

    if not target.isdigit() or not RuleSet.objects.filter(pk=int(target)).exists():
        raise ValidationError(_("No rule set has the id %(id)s.") % {"id": target or _("(empty)")})
    return str(int(target))


@points_at
def _rule_sets_pointing(client, kind_name: str, target: str) -> list[str]:
    """Rule sets whose rules or default destination are (kind, target); a rule set pointing at itself
    goes with it."""
    from menus.models import RuleSet

    rule_sets = RuleSet.objects.all()
    if kind_name == "route":
        rule_sets = rule_sets.exclude(pk=int(target) if target.isdigit() else None)
    pointing = rule_sets.filter(rules__destination_kind=kind_name, rules__destination_target=target)
    pointing = pointing | rule_sets.filter(default_kind=kind_name, default_target=target)
    return [_("rule set %(name)s") % {"name": n} for n in sorted(set(pointing.values_list("name", flat=True)))]
