"""The conferencing service's destination kind: a conference room (telephony/destinations.py)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from telephony.destinations import kind


@kind("conference", "A conference room (the caller is asked for the PIN)")
def _conference(client, target: str) -> str:
    from conferencing.models import Room

    if not Room.objects.filter(conference_id=target).exists():
        raise ValidationError(f"No conference room has the ID {target or '(empty)'}.")
    return target
