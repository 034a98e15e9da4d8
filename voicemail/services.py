"""Writes on voicemail: boxes (a user's is kept in step with their extension, shared ones are the
operators'), PINs, greetings and messages.

Two kinds of callers:
- people (portal, API): keyword-only functions with the actor first checked, every bad field
  reported at once (`mailbox_save`, `mailbox_delete`, `message_move`, `message_mark`,
  `message_delete`);
- the call engine, from its database threads (`engine.database.call(fn, client_id, ...)`): plain
  positional functions that enter the client's schema themselves (`message_deposit`,
  `mailbox_pin_check`, `mailbox_pin_try`, `mailbox_pin_set`, `mailbox_greeting_recorded`, `message_heard`,
  `message_file`, `message_remove`). Each is one transaction, safe to run again.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from pathlib import Path

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django_tenants.utils import schema_context, tenant_context

from telephony.directory import sip_directory_rooms_changed
from tenants.audit import audit
from tenants.errors import NotAllowed
from tenants.models import Client, Role, User
from tenants.signin import attempt_reserve, signin_succeeded
from voicemail.models import GREETINGS, Mailbox, Message, voicemail_dir

log = logging.getLogger(__name__)
PIN = re.compile(r"^[0-9]{4,10}$")
OPERATOR_FIELDS = ("number", "name", "pin", "max_seconds", "max_messages", "operator_kind", "operator_target",
                   "email", "email_new_message", "email_attach_audio", "email_missed_call")  # fmt: skip
USER_FIELDS = ("pin", "operator_kind", "operator_target", "email_new_message", "email_attach_audio",
               "email_missed_call")  # fmt: skip


def pin_problem(pin: str) -> str | None:
    return None if PIN.match(pin or "") else "A PIN is 4 to 10 digits."


# The user's box follows their extension (telephony/services.py calls these) ---------------------------


def shared_box_numbered(number: str) -> Mailbox | None:
    """The client's shared box with this number (an extension may not take it); client schema."""
    return Mailbox.objects.filter(number=number, extension__isnull=True).first()


def mailbox_follow_extension(extension) -> Mailbox:
    """Make the user's box with their extension, or bring its number in step; client schema, inside
    the extension's transaction."""
    box, created = Mailbox.objects.get_or_create(extension=extension, defaults={"number": extension.number})
    if not created and box.number != extension.number:
        box.number = extension.number
        box.save(update_fields=["number"])
    return box


def mailbox_files(mailbox: Mailbox | None) -> list[Path]:
    """The box's files (messages, greetings), to remove once its deletion is committed; client schema."""
    if mailbox is None:
        return []
    files = [voicemail_dir() / f for f in Message.objects.filter(mailbox=mailbox).values_list("file", flat=True)]
    return files + [p for p in (mailbox.greeting(kind) for kind in GREETINGS) if p is not None]


# People's writes -------------------------------------------------------------------------------------


def _may_handle(actor: User, client: Client, mailbox: Mailbox | None) -> tuple[str, ...]:
    """The fields the actor may set on the box: operators any box's, a user their own box's few."""
    if actor.client_id != client.pk:
        raise NotAllowed("Not one of your boxes.")
    if actor.role == Role.CLIENT:
        return OPERATOR_FIELDS
    user_box = mailbox is not None and mailbox.extension is not None
    if actor.role == Role.USER and user_box and mailbox.extension.account_id == actor.pk:
        return USER_FIELDS
    raise NotAllowed("Only the client's operators manage its voicemail boxes.")


@transaction.atomic
def mailbox_save(*, actor: User, client: Client, mailbox: Mailbox | None = None, **fields) -> Mailbox:
    """Create a shared box (mailbox None) or change a box (the fields given; the others keep their
    values). `pin` is the PIN in clear, stored hashed. A user's box keeps its extension's number.
    Every bad field is a field error naming it."""
    from telephony.destinations import clean
    from telephony.models import Extension

    with tenant_context(client):
        allowed = _may_handle(actor, client, mailbox)
        refused = set(fields) - set(allowed)
        if refused:
            raise ValidationError({name: "You may not change this field." for name in sorted(refused)})
        box = mailbox or Mailbox()
        errors: dict[str, list[str]] = {}
        for name, value in fields.items():
            if isinstance(value, str) and "\x00" in value:
                errors[name] = ["Must not contain NUL characters."]
                continue
            value = value.strip() if isinstance(value, str) else value
            if name == "pin":
                problem = pin_problem(value)
                if problem:
                    errors["pin"] = [problem]
                else:
                    box.pin_hash = make_password(value)
            elif name == "number" and box.extension_id is not None and value != box.number:
                errors["number"] = ["A user's box has the user's extension number."]
            else:
                setattr(box, name, value)
        if box.extension_id is None and "number" not in errors:
            if Extension.objects.filter(number=box.number).exists():
                errors["number"] = [f"{box.number} is an extension's number."]
            elif Mailbox.objects.filter(number=box.number).exclude(pk=box.pk).exists():
                errors["number"] = [f"Box {box.number} exists already."]
        try:
            kind, target = clean(client, box.operator_kind, box.operator_target, field="operator")
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                errors.setdefault(name, []).extend(messages)
        else:
            if kind not in ("", "user", "external"):
                errors.setdefault("operator_kind", []).append("The operator is a user or an external number.")
            box.operator_kind, box.operator_target = kind, target
        try:
            box.full_clean(exclude=["extension", "pin_hash", *errors], validate_unique=False)
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                errors.setdefault(name, []).extend(messages)
        if errors:
            raise ValidationError(errors)
        created = box.pk is None
        box.save()
        audit(actor, "mailbox.create" if created else "mailbox.update", box, client=client,
              fields=sorted(fields))  # fmt: skip
    sip_directory_rooms_changed(client)  # the engines read the boxes with the dial plan
    return box


@transaction.atomic
def mailbox_delete(*, actor: User, client: Client, mailbox: Mailbox) -> None:
    """Remove a shared box, its messages and files (a user's box goes with their extension)."""
    with tenant_context(client):
        _may_handle(actor, client, None)
        if mailbox.extension_id is not None:
            raise ValidationError({"mailbox": "A user's box goes with the user's extension."})
        audit(actor, "mailbox.delete", mailbox, client=client, number=mailbox.number)
        files = mailbox_files(mailbox)
        mailbox.delete()
    sip_directory_rooms_changed(client)
    transaction.on_commit(lambda: [path.unlink(missing_ok=True) for path in files])


def _message_of(actor: User, client: Client, message: Message) -> None:
    if actor.client_id != client.pk or actor.role not in (Role.CLIENT, Role.USER):
        raise NotAllowed("Not one of your messages.")
    if not Message.objects.restrict(actor).filter(pk=message.pk).exists():
        raise NotAllowed("Not one of your messages.")


@transaction.atomic
def message_move(*, actor: User, client: Client, message: Message, folder: str) -> Message:
    """File a message in a folder (new, saved or a name of the user's)."""
    with tenant_context(client):
        _message_of(actor, client, message)
        message.folder = (folder or "").strip()
        try:
            message.full_clean(exclude=["mailbox"], validate_unique=False)
        except ValidationError as error:
            raise ValidationError({"folder": error.message_dict.get("folder", error.messages)}) from None
        message.save(update_fields=["folder"])
    return message


@transaction.atomic
def message_mark(*, actor: User, client: Client, message: Message, heard: bool) -> Message:
    with tenant_context(client):
        _message_of(actor, client, message)
        message.heard = bool(heard)
        message.save(update_fields=["heard"])
    return message


@transaction.atomic
def message_delete(*, actor: User, client: Client, message: Message) -> None:
    with tenant_context(client):
        _message_of(actor, client, message)
        path = message.path
        message.delete()
    transaction.on_commit(lambda: path.unlink(missing_ok=True))


# The engine's writes (positional, from its database threads) ---------------------------------------


def _client(client_id: int) -> Client:
    return Client.objects.get(pk=client_id)


@transaction.atomic
def message_deposit(client_id: int, box_id: int, file: str, *, caller_number: str, caller_name: str,
                    call_uuid: str | uuid.UUID | None, received_at: dt.datetime,
                    seconds: float) -> int | None:  # fmt: skip
    """The row of a message the engine recorded (`file` relative to OCX_VOICEMAIL_DIR, in place);
    its id, or None when the box is gone. Written again (a retry) it is the same row."""
    with schema_context(_client(client_id).schema_name):
        if not Mailbox.objects.filter(pk=box_id).exists():
            return None
        message, _ = Message.objects.get_or_create(file=file, defaults={
            "mailbox_id": box_id, "caller_number": caller_number[:32], "caller_name": caller_name[:100],
            "call_uuid": call_uuid, "received_at": received_at, "seconds": round(seconds, 1)})  # fmt: skip
        return message.pk


def mailbox_pin_check(client_id: int, box_id: int, pin: str) -> bool:
    """Whether `pin` opens the box (a box without a PIN opens to no PIN by phone)."""
    with schema_context(_client(client_id).schema_name):
        stored = Mailbox.objects.filter(pk=box_id).values_list("pin_hash", flat=True).first()
    return bool(stored) and bool(pin) and check_password(pin, stored)


def mailbox_pin_try(client_id: int, box_number: str, box_id: int | None, pin: str, caller: str) -> bool:
    """A PIN typed by phone for box `box_number` (`box_id` None: the client has no such box; the engine
    counts its owner's tries at their own line, *97, as `own:<number>`) by line `caller`: whether it
    opens the box. Wrong tries are counted per box and per calling line across calls (tenants.signin's
    counters, settings.OCX_VOICEMAIL_PIN): past either limit even the right PIN is refused until the
    lock ends, so a robot that calls again and again gets nowhere. A box that does not exist counts
    like one that does (nothing tells them apart)."""
    box_key, line_key = f"{client_id}:{box_number}", f"{client_id}:{caller}"
    if attempt_reserve(kind="vmpin-", config=settings.OCX_VOICEMAIL_PIN, email=box_key, address=line_key) > 0:
        log.warning("voicemail PIN tries locked for box %s or line %s of client %s", box_number, caller, client_id)
        return False
    if box_id is None or not mailbox_pin_check(client_id, box_id, pin):
        return False
    signin_succeeded(email=box_key, address=line_key, kind="vmpin-")
    return True


@transaction.atomic
def mailbox_pin_set(client_id: int, box_id: int, pin: str) -> str | None:
    """A new PIN entered by phone; None, or why it is refused."""
    problem = pin_problem(pin)
    if problem:
        return problem
    client = _client(client_id)
    with schema_context(client.schema_name):
        Mailbox.objects.filter(pk=box_id).update(pin_hash=make_password(pin))
    sip_directory_rooms_changed(client)
    return None


@transaction.atomic
def mailbox_greeting_recorded(client_id: int, box_id: int, kind: str, file: str) -> None:
    """A greeting recorded by phone is in place at `file` (relative to OCX_VOICEMAIL_DIR)."""
    if kind not in GREETINGS:
        raise ValueError(f"no greeting {kind}")
    client = _client(client_id)
    with schema_context(client.schema_name):
        Mailbox.objects.filter(pk=box_id).update(**{f"greeting_{kind}": file})
    sip_directory_rooms_changed(client)


def message_heard(client_id: int, message_id: int) -> None:
    with schema_context(_client(client_id).schema_name):
        Message.objects.filter(pk=message_id).update(heard=True)


def message_file(client_id: int, message_id: int, folder: str) -> None:
    """Move a message to a folder by phone (saved); it was heard."""
    with schema_context(_client(client_id).schema_name):
        Message.objects.filter(pk=message_id).update(folder=folder, heard=True)


@transaction.atomic
def message_remove(client_id: int, message_id: int) -> None:
    """Delete a message by phone: its row, then its file once that is committed."""
    with schema_context(_client(client_id).schema_name):
        file = Message.objects.filter(pk=message_id).values_list("file", flat=True).first()
        if file is None:
            return
        Message.objects.filter(pk=message_id).delete()
    path: Path = voicemail_dir() / file
    transaction.on_commit(lambda: path.unlink(missing_ok=True))
