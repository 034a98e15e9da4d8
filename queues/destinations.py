"""Queues' destination kind: a queue, by its id (telephony/destinations.py); and what of the queues
points at a destination (their maximum-wait and full destinations)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from telephony.destinations import kind, points_at


@kind("queue", gettext_lazy("A call queue (agents answer in turn)"))
def _queue(client, target: str) -> str:
    from queues.models import Queue

    if not target.isdigit() or not Queue.objects.filter(pk=int(target)).exists():
        raise ValidationError(_("No queue has the id %(id)s.") % {"id": target or _("(empty)")})
    return str(int(target))


@points_at
def _queues_pointing(client, kind_name: str, target: str) -> list[str]:
    """Queues whose maximum-wait or full destination is (kind, target); a queue pointing at itself goes
    with it."""
    from queues.models import Queue

    queues = Queue.objects.all()
    if kind_name == "queue":
        queues = queues.exclude(pk=int(target) if target.isdigit() else None)
    here = Q(max_wait_kind=kind_name, max_wait_target=target) | Q(full_kind=kind_name, full_target=target)
    return [_("queue %(name)s") % {"name": name} for name in queues.filter(here).values_list("name", flat=True)]
