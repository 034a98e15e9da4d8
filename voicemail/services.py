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
from django.utils.translation import gettext as _
from django_tenants.utils import schema_context, tenant_context

from telephony.directory import sip_directory_rooms_changed
from tenants.audit import audit
from tenants.errors import NotAllowed
from tenants.models import Client, Role, User
from tenants.signin import attempt_reserve, signin_succeeded
from voicemail.events import mailbox_changed
from voicemail.models import GREETINGS, Mailbox, Message, voicemail_dir

log = logging.getLogger(__name__)
PIN = re.compile(r"^[0-9]{4,10}$")
MAX_GREETING_SECONDS = 120  # an uploaded greeting (as one recorded by phone)
OPERATOR_FIELDS = ("number", "name", "pin", "max_seconds", "max_messages", "operator_kind", "operator_target",
                   "email", "email_new_message", "email_attach_audio", "email_missed_call", "members")  # fmt: skip
USER_FIELDS = ("pin", "operator_kind", "operator_target", "email_new_message", "email_attach_audio",
               "email_missed_call")  # fmt: skip


def pin_problem(pin: str) -> str | None:
    return None if PIN.match(pin or "") else _("A PIN is 4 to 10 digits.")


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
        raise NotAllowed(_("Not one of your boxes."))
    if actor.role == Role.CLIENT:
        return OPERATOR_FIELDS
    user_box = mailbox is not None and mailbox.extension is not None
    if actor.role == Role.USER and user_box and mailbox.extension.account_id == actor.pk:
        return USER_FIELDS
    raise NotAllowed(_("Only the client's operators manage its voicemail boxes."))


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
            raise ValidationError({name: _("You may not change this field.") for name in sorted(refused)})
        box = mailbox or Mailbox()
        errors: dict[str, list[str]] = {}
        members = None
        for name, value in fields.items():
            if name == "members":
                members, problem = _members(box, value)
                if problem:
                    errors["members"] = [problem]
                continue
            if isinstance(value, str) and "\x00" in value:
                errors[name] = [_("Must not contain NUL characters.")]
                continue
            value = value.strip() if isinstance(value, str) else value
            if name == "pin":
                problem = pin_problem(value)
                if problem:
                    errors["pin"] = [problem]
                else:
                    box.pin_hash = make_password(value)
            elif name == "number" and box.extension_id is not None and value != box.number:
                errors["number"] = [_("A user's box has the user's extension number.")]
            else:
                setattr(box, name, value)
        if box.extension_id is None and "number" not in errors:
            if Extension.objects.filter(number=box.number).exists():
                errors["number"] = [_("%(number)s is an extension's number.") % {"number": box.number}]
            elif Mailbox.objects.filter(number=box.number).exclude(pk=box.pk).exists():
                errors["number"] = [_("Box %(number)s exists already.") % {"number": box.number}]
        try:
            kind, target = clean(client, box.operator_kind, box.operator_target, field="operator")
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                errors.setdefault(name, []).extend(messages)
        else:
            if kind not in ("", "user", "external"):
                errors.setdefault("operator_kind", []).append(_("The operator is a user or an external number."))
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
        if members is not None:
            box.members.set(members)
        audit(actor, "mailbox.create" if created else "mailbox.update", box, client=client,
              fields=sorted(fields))  # fmt: skip
    sip_directory_rooms_changed(client)  # the engines read the boxes with the dial plan
    return box


def _members(box: Mailbox, value) -> tuple[list, str | None]:
    """A shared box's members (extensions or their ids), or why they are refused; client schema."""
    from telephony.models import Extension

    wanted = [getattr(item, "pk", item) for item in (value or [])]
    if box.extension_id is not None and wanted:
        return [], _("A user's box is for its user only: share a box of its own instead.")
    if not all(isinstance(pk, int) for pk in wanted):
        return [], _("Members are users' extensions.")
    found = list(Extension.objects.filter(pk__in=wanted))
    if len(found) != len(set(wanted)):
        return [], _("Members are users' extensions of this client.")
    return found, None


@transaction.atomic
def mailbox_delete(*, actor: User, client: Client, mailbox: Mailbox) -> None:
    """Remove a shared box, its messages and files (a user's box goes with their extension)."""
    with tenant_context(client):
        _may_handle(actor, client, None)
        if mailbox.extension_id is not None:
            raise ValidationError({"mailbox": _("A user's box goes with the user's extension.")})
        audit(actor, "mailbox.delete", mailbox, client=client, number=mailbox.number)
        files = mailbox_files(mailbox)
        number = mailbox.number
        mailbox.delete()
    sip_directory_rooms_changed(client)
    mailbox_changed(client.pk, number)
    transaction.on_commit(lambda: [path.unlink(missing_ok=True) for path in files])


def _message_of(actor: User, client: Client, message: Message) -> None:
    if actor.client_id != client.pk or actor.role not in (Role.CLIENT, Role.USER):
        raise NotAllowed(_("Not one of your messages."))
    if not Message.objects.restrict(actor).filter(pk=message.pk).exists():
        raise NotAllowed(_("Not one of your messages."))


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
        mailbox_changed(client.pk, message.mailbox.number)
    return message


@transaction.atomic
def message_mark(*, actor: User, client: Client, message: Message, heard: bool) -> Message:
    with tenant_context(client):
        _message_of(actor, client, message)
        message.heard = bool(heard)
        message.save(update_fields=["heard"])
        mailbox_changed(client.pk, message.mailbox.number)
    return message


@transaction.atomic
def message_delete(*, actor: User, client: Client, message: Message) -> None:
    with tenant_context(client):
        _message_of(actor, client, message)
        path = message.path
        number = message.mailbox.number
        message.delete()
    transaction.on_commit(lambda: path.unlink(missing_ok=True))
    mailbox_changed(client.pk, number)


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
        number = Mailbox.objects.filter(pk=box_id).values_list("number", flat=True).first()
        if number is None:
            return None
        message, created = Message.objects.get_or_create(file=file, defaults={
            "mailbox_id": box_id, "caller_number": caller_number[:32], "caller_name": caller_name[:100],
            "call_uuid": call_uuid, "received_at": received_at, "seconds": round(seconds, 1)})  # fmt: skip
    if created:
        mailbox_changed(client_id, number)
        transaction.on_commit(lambda: _queue_mail(client_id, message.pk))
        transaction.on_commit(lambda: _tell_webhooks(client_id, number, message))
    return message.pk


def _tell_webhooks(client_id: int, box_number: str, message: Message) -> None:
    """voicemail.ready for the client's webhooks that want it (webhooks/tasks.py)."""
    from webhooks.tasks import webhook_event_queue

    with schema_context(_client(client_id).schema_name):
        webhook_event_queue(client_id, "voicemail.ready", {
            "id": message.pk, "box": box_number, "caller": message.caller_number, "caller_name": message.caller_name,
            "call_id": str(message.call_uuid) if message.call_uuid else None,
            "received_at": message.received_at.isoformat(), "seconds": message.seconds,
            "audio": f"/api/v1/voicemail/messages/{message.pk}/audio.wav"})  # fmt: skip


def _queue_mail(client_id: int, message_id: int) -> None:
    """The new message's mail, for the Celery worker (the message is kept whatever befalls its mail)."""
    from voicemail.tasks import message_mail

    try:
        message_mail.delay(client_id=client_id, message_id=message_id)
    except Exception:  # the broker away: the message is there, its mail is lost (said in the log)
        log.exception("could not queue the mail of voicemail message %s", message_id)


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


def _box_number_of(message_id: int) -> str | None:
    return Message.objects.filter(pk=message_id).values_list("mailbox__number", flat=True).first()


@transaction.atomic
def message_heard(client_id: int, message_id: int) -> None:
    with schema_context(_client(client_id).schema_name):
        if Message.objects.filter(pk=message_id, heard=False).update(heard=True):
            mailbox_changed(client_id, _box_number_of(message_id))


def message_file(client_id: int, message_id: int, folder: str) -> None:
    """Move a message to a folder by phone (saved); it was heard."""
    with schema_context(_client(client_id).schema_name):
        if Message.objects.filter(pk=message_id).update(folder=folder, heard=True):
            mailbox_changed(client_id, _box_number_of(message_id))


@transaction.atomic
def message_remove(client_id: int, message_id: int) -> None:
    """Delete a message by phone: its row, then its file once that is committed."""
    with schema_context(_client(client_id).schema_name):
        found = Message.objects.filter(pk=message_id).values_list("file", "mailbox__number").first()
        if found is None:
            return
        file, number = found
        Message.objects.filter(pk=message_id).delete()
    mailbox_changed(client_id, number)
    path: Path = voicemail_dir() / file
    transaction.on_commit(lambda: path.unlink(missing_ok=True))


# Greetings uploaded in the portal or the API ------------------------------------------------------


def _greeting_kind(kind: str) -> None:
    if kind not in GREETINGS:
        raise ValidationError({"kind": _("A greeting is one of: %(kinds)s.") % {"kinds": ", ".join(GREETINGS)}})


@transaction.atomic
def mailbox_greeting_upload(*, actor: User, client: Client, mailbox: Mailbox, kind: str, upload) -> Mailbox:
    """A box's greeting from an uploaded audio file (any format FFmpeg reads), converted like the
    message library's uploads (conferencing.notifications.upload_samples); not audio: a field error."""
    from conferencing.notifications import AudioUploadRefused, upload_samples, write_wav
    from voicemail.models import box_directory

    with tenant_context(client):
        _may_handle(actor, client, mailbox)
        _greeting_kind(kind)
        if upload is None:
            raise ValidationError({"audio": _("Choose an audio file.")})
        try:
            samples = upload_samples(upload, max_seconds=int(MAX_GREETING_SECONDS))
        except AudioUploadRefused as exc:
            raise ValidationError({"audio": [str(exc)]}) from None
        path = box_directory(client.pk, mailbox.pk) / f"greeting-{kind}-{uuid.uuid4().hex[:8]}.wav"
        write_wav(path, samples)
        old = mailbox.greeting(kind)
        setattr(mailbox, f"greeting_{kind}", str(path.relative_to(voicemail_dir())))
        mailbox.save(update_fields=[f"greeting_{kind}"])
        audit(actor, "mailbox.greeting", mailbox, client=client, kind=kind, seconds=round(len(samples) / 8000, 1))
    transaction.on_commit(lambda: old.unlink(missing_ok=True) if old else None)
    sip_directory_rooms_changed(client)  # the engines read the greetings with the dial plan
    return mailbox


@transaction.atomic
def mailbox_greeting_remove(*, actor: User, client: Client, mailbox: Mailbox, kind: str) -> Mailbox:
    """Remove a greeting: callers hear the platform's prompt again."""
    with tenant_context(client):
        _may_handle(actor, client, mailbox)
        _greeting_kind(kind)
        old = mailbox.greeting(kind)
        setattr(mailbox, f"greeting_{kind}", "")
        mailbox.save(update_fields=[f"greeting_{kind}"])
        audit(actor, "mailbox.greeting_remove", mailbox, client=client, kind=kind)
    transaction.on_commit(lambda: old.unlink(missing_ok=True) if old else None)
    sip_directory_rooms_changed(client)
    return mailbox


@transaction.atomic
def options_save(*, actor: User, client: Client, unsolicited_mwi: bool) -> None:
    """The client's voicemail options (its operators)."""
    from voicemail.models import Options

    with tenant_context(client):
        if actor.client_id != client.pk or actor.role != Role.CLIENT:
            raise NotAllowed(_("Only the client's operators set its voicemail options."))
        options = Options.current()
        options.unsolicited_mwi = bool(unsolicited_mwi)
        options.save()
        audit(actor, "voicemail.options", options, client=client, unsolicited_mwi=options.unsolicited_mwi)
    sip_directory_rooms_changed(client)  # the engines' plans say whether phones are told of their box
