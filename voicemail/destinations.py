"""Voicemail's destination kind: a box, by its number (telephony/destinations.py)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from telephony.destinations import kind


@kind("voicemail", "A voicemail box (the caller leaves a message)")
def _voicemail(client, target: str) -> str:
    from voicemail.models import Mailbox

    if not Mailbox.objects.filter(number=target).exists():
        raise ValidationError(f"No voicemail box has the number {target or '(empty)'}.")
    return target
