"""Ring groups' destination kind: a group, by its id (telephony/destinations.py)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from telephony.destinations import kind, points_at


@kind("group", gettext_lazy("A ring group (its members ring)"))
def _group(client, target: str) -> str:
    from ringgroups.models import RingGroup

    if not target.isdigit() or not RingGroup.objects.filter(pk=int(target)).exists():
        raise ValidationError(_("No ring group has the id %(id)s.") % {"id": target or _("(empty)")})
    return str(int(target))


@points_at
def _groups_pointing(client, kind_name: str, target: str) -> list[str]:
    """Ring groups whose no-answer destination is (kind, target); a group pointing at itself goes with it."""
    from ringgroups.models import RingGroup

    groups = RingGroup.objects.filter(no_answer_kind=kind_name, no_answer_target=target)
    if kind_name == "group":
        groups = groups.exclude(pk=int(target) if target.isdigit() else None)
    return [_("ring group %(name)s") % {"name": name} for name in groups.values_list("name", flat=True)]
