"""The conferencing service's destination kind: a conference room (telephony/destinations.py)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from telephony.destinations import kind


@kind("conference", gettext_lazy("A conference room (the caller is asked for the PIN)"))
def _conference(client, target: str) -> str:
    from conferencing.models import Room

    if not Room.objects.filter(conference_id=target).exists():
        raise ValidationError(_("No conference room has the ID %(id)s.") % {"id": target or _("(empty)")})
    return target
