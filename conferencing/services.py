"""Writes on a client's conference rooms: operators manage every room, a moderator their own."""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.translation import gettext as _
from django_tenants.utils import tenant_context

from conferencing.models import Room, numbers_of
from telephony.directory import sip_directory_rooms_changed
from telephony.models import Extension
from tenants.audit import audit
from tenants.errors import NotAllowed
from tenants.models import Client, Role, User

FIELDS = {"name", "conference_id", "participant_pin", "moderator_pin", "access_number", "starts_at", "ends_at",
          "recurrence", "max_participants", "max_minutes", "entry_tone", "wait_for_moderator",
          "end_with_moderator", "record", "hot_numbers", "hot_retries", "hot_retry_seconds",
          "trigger_number"}  # fmt: skip


def _digits(count: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(count))


def _require_member(actor: User, client: Client) -> None:
    if actor.role not in (Role.CLIENT, Role.USER) or actor.client_id != client.pk:
        raise NotAllowed(_("Only the client's operators and moderators manage its conference rooms."))


def _check(room: Room, client: Client) -> None:
    """Field errors for the whole room at once; runs in the client's schema."""
    errors: dict[str, list[str]] = {}
    try:
        room.full_clean(exclude=["moderator"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    others = Room.objects.exclude(pk=room.pk)
    if "conference_id" not in errors and others.filter(conference_id=room.conference_id).exists():
        errors["conference_id"] = [_("Conference ID %(id)s is already in use.") % {"id": room.conference_id}]
    for name in ("access_number", "trigger_number"):
        number = getattr(room, name)
        if not number or name in errors:
            continue
        if others.filter(models.Q(access_number=number) | models.Q(trigger_number=number)).exists():
            errors[name] = [_("%(number)s is already another room's number.") % {"number": number}]
        elif Extension.objects.filter(number=number).exists():
            errors[name] = [_("%(number)s is an extension's number.") % {"number": number}]
    if room.access_number and room.access_number == room.trigger_number:
        errors["trigger_number"] = [_("The trigger number must differ from the access number.")]
    lines = set(Extension.objects.values_list("number", flat=True))
    strangers = [n for n in numbers_of(room.hot_numbers) if n not in lines]
    if strangers:
        errors["hot_numbers"] = [_("Not an extension of this company: %(numbers)s. Calling outside numbers needs a "
                                   "carrier, which the platform does not have yet.")
                                 % {"numbers": ", ".join(strangers[:5])}]  # fmt: skip
    if room.participant_pin and room.participant_pin == room.moderator_pin:
        errors["moderator_pin"] = [_("The moderator PIN must differ from the participants' PIN.")]
    if room.starts_at and room.ends_at and room.ends_at <= room.starts_at:
        errors["ends_at"] = [_("The end must come after the start.")]
    if room.recurrence and not room.starts_at:
        errors["recurrence"] = [_("A recurring room needs a start.")]
    moderator = User.objects.filter(pk=room.moderator_id, client=client, role=Role.USER).first()
    if moderator is None:
        errors["moderator"] = [_("Choose one of the client's users as the moderator.")]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def room_create(*, actor: User, client: Client, moderator: User | None = None, **fields) -> Room:
    """A room; a moderator makes rooms for themselves, operators for any user. Empty conference ID
    and PINs are generated."""
    _require_member(actor, client)
    if set(fields) - FIELDS:
        raise NotAllowed(_("Unknown room fields: %(fields)s.") % {"fields": ", ".join(sorted(set(fields) - FIELDS))})
    if actor.role == Role.USER:
        moderator = actor
    with tenant_context(client):
        room = Room(moderator_id=moderator.pk if moderator else None,
                    **{k: v.strip() if isinstance(v, str) else v for k, v in fields.items()})  # fmt: skip
        if not room.conference_id:
            room.conference_id = next(c for c in (_digits(6) for _ in range(50))
                                      if not Room.objects.filter(conference_id=c).exists())  # fmt: skip
        room.participant_pin = room.participant_pin or _digits(6)
        room.moderator_pin = room.moderator_pin or next(p for p in iter(lambda: _digits(6), None)
                                                        if p != room.participant_pin)  # fmt: skip
        _check(room, client)
        room.save()
        audit(actor, "room.create", room, client=client, conference_id=room.conference_id)
    sip_directory_rooms_changed(client)
    return room


@transaction.atomic
def room_update(*, actor: User, client: Client, room: Room, moderator: User | None = None, **fields) -> Room:
    _require_member(actor, client)
    if actor.role == Role.USER and room.moderator_id != actor.pk:
        raise NotAllowed(_("You may only change your own rooms."))
    if set(fields) - FIELDS:
        raise NotAllowed(_("Unknown room fields: %(fields)s.") % {"fields": ", ".join(sorted(set(fields) - FIELDS))})
    if moderator is not None and actor.role != Role.CLIENT:
        raise NotAllowed(_("Only operators hand a room to another moderator."))
    with tenant_context(client):
        for name, value in fields.items():
            setattr(room, name, value.strip() if isinstance(value, str) else value)
        if moderator is not None:
            room.moderator_id = moderator.pk
        _check(room, client)
        room.save()
        audit(actor, "room.update", room, client=client, fields=sorted(fields))
    sip_directory_rooms_changed(client)
    return room


@transaction.atomic
def room_delete(*, actor: User, client: Client, room: Room) -> None:
    _require_member(actor, client)
    if actor.role == Role.USER and room.moderator_id != actor.pk:
        raise NotAllowed(_("You may only delete your own rooms."))
    with tenant_context(client):
        audit(actor, "room.delete", room, client=client, conference_id=room.conference_id)
        room.delete()
    sip_directory_rooms_changed(client)
