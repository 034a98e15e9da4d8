"""Writes of call recording: the client's policy, a user's own choice, the recordings' rows (the
engine's, through its Database thread) and their removal after the client's retention period."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tenants.utils import schema_context, tenant_context

from recordings.models import LineChoice, LineRecording, Mode, Recording, RecordingPolicy
from telephony.directory import sip_directory_rooms_changed
from telephony.models import Extension
from tenants.audit import audit
from tenants.errors import NotAllowed
from tenants.models import Client, Role, User

log = logging.getLogger(__name__)
POLICY_FIELDS = ("mode", "announce", "users_choose", "users_listen", "retention_days")
MAX_RETENTION = 3650
STILL_WRITTEN = dt.timedelta(minutes=10)  # a file changed this recently is never removed (a recording in progress)


def policy_of(client: Client) -> RecordingPolicy:
    """The client's recording policy (never recorded, until its operators choose)."""
    with tenant_context(client):
        return RecordingPolicy.objects.filter(pk=1).first() or RecordingPolicy(pk=1)


def _bool(value, name: str, errors: dict) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "on", "off", "1", "0", "yes", "no"):
        return value.lower() in ("true", "on", "1", "yes")
    errors[name] = [_("Must be true or false.")]
    return False


@transaction.atomic
def policy_update(*, actor: User, client: Client, **fields) -> RecordingPolicy:
    """Change the client's recording policy: every bad field is named at once; the engines read the
    client's dial plan again (they apply it from the next call)."""
    if actor.role != Role.CLIENT or actor.client_id != client.pk:
        raise NotAllowed(_("Only the client's operators choose how its calls are recorded."))
    errors: dict[str, list[str]] = {name: [_("Unknown field.")] for name in set(fields) - set(POLICY_FIELDS)}
    policy = policy_of(client)
    if "mode" in fields:
        if fields["mode"] not in Mode.values:
            errors["mode"] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(Mode.values)}]
        else:
            policy.mode = fields["mode"]
    for name in ("announce", "users_choose", "users_listen"):
        if name in fields:
            setattr(policy, name, _bool(fields[name], name, errors))
    if "retention_days" in fields:
        days = fields["retention_days"]
        try:
            days = int(days)
        except (TypeError, ValueError):
            days = None
        if days is None or isinstance(fields["retention_days"], bool) or not 1 <= days <= MAX_RETENTION:
            errors["retention_days"] = [_("A whole number of days from 1 to %(most)s.") % {"most": MAX_RETENTION}]
        else:
            policy.retention_days = days
    if errors:
        raise ValidationError(errors)
    with tenant_context(client):
        policy.save()
        audit(actor, "recording_policy.update", policy, client=client,
              **{name: getattr(policy, name) for name in POLICY_FIELDS})  # fmt: skip
    sip_directory_rooms_changed(client)
    return policy


def line_choice_of(client: Client, extension: Extension) -> str:
    with tenant_context(client):
        found = LineRecording.objects.filter(extension=extension).first()
    return found.mode if found else LineChoice.CLIENT


@transaction.atomic
def line_choice_update(*, actor: User, client: Client, extension: Extension, mode: str) -> str:
    """A user's own choice for their line's calls (or an operator's for a user), while the client lets
    users choose."""
    own = actor.role == Role.USER and extension.account_id == actor.pk
    if not (own or actor.role == Role.CLIENT) or actor.client_id != client.pk:
        raise NotAllowed(_("Only the user and the client's operators choose for a line."))
    if mode not in LineChoice.values:
        raise ValidationError({"mode": [_("Choose one of: %(choices)s.") % {"choices": ", ".join(LineChoice.values)}]})
    policy = policy_of(client)
    if not policy.users_choose and mode != LineChoice.CLIENT:
        if own:
            raise ValidationError({"mode": [_("Your company records calls as it chose: users do not choose.")]})
        raise ValidationError({"mode": [_("A user's own choice applies only while the recording settings let users "
                                          "choose: change them first.")]})  # fmt: skip
    with tenant_context(client):
        LineRecording.objects.update_or_create(extension=extension, defaults={"mode": mode})
        audit(actor, "recording_choice.update", extension, client=client, line=extension.number, mode=mode)
    sip_directory_rooms_changed(client)
    return mode


def recording_file(recording: Recording) -> Path:
    return Path(settings.OCX_RECORDINGS_DIR) / recording.file


# The engine's side (run in its Database thread, outside any request) --------------------------------


def recording_open(client_id: int, *, kind: str, call_uuid: str | None, conference: str = "", caller: str = "",
                   callee: str = "", accounts: list[int] = (), engine: str = "",
                   file: str | None = None) -> tuple[int, Path]:  # fmt: skip
    """A recording begins: its row, and the file to write (a new name under the client's folder,
    OCX_RECORDINGS_DIR/<client>/<yyyy-mm>/, unless `file` names one already written to)."""
    client = Client.objects.get(pk=client_id)
    now = timezone.now()
    if file is None:
        name = f"{now:%Y%m%dT%H%M%S}-{call_uuid or 'recording'}-{uuid.uuid4().hex[:6]}.wav"
        file = f"{client_id}/{now:%Y-%m}/{name}"
    path = Path(settings.OCX_RECORDINGS_DIR) / file
    path.parent.mkdir(parents=True, exist_ok=True)
    with schema_context(client.schema_name):
        row = Recording.objects.create(kind=kind, call_uuid=call_uuid, conference=conference, caller=caller[:64],
                                       callee=callee[:64], started_at=now, file=file, engine=engine,
                                       accounts=sorted({a for a in accounts if a}))  # fmt: skip
    return row.pk, path


def recording_close(client_id: int, recording_id: int, *, seconds: float, accounts: list[int] = (),
                    callee: str | None = None) -> None:  # fmt: skip
    """A recording is whole: its length, and every user whose call it was."""
    client = Client.objects.get(pk=client_id)
    with schema_context(client.schema_name):
        row = Recording.objects.filter(pk=recording_id).first()
        if row is None:
            return
        row.ended_at, row.seconds = timezone.now(), round(seconds, 2)
        row.accounts = sorted({*row.accounts, *(a for a in accounts if a)})
        if callee is not None and not row.callee:
            row.callee = callee[:64]
        row.save(update_fields=["ended_at", "seconds", "accounts", "callee"])
        _tell_webhooks(client_id, row)


def _tell_webhooks(client_id: int, row: Recording) -> None:
    """recording.ready for the client's webhooks that want it (webhooks/tasks.py), in its schema."""
    from webhooks.tasks import webhook_event_queue

    webhook_event_queue(client_id, "recording.ready", {
        "id": row.pk, "kind": row.kind, "call_id": str(row.call_uuid) if row.call_uuid else None,
        "conference": row.conference, "caller": row.caller, "callee": row.callee,
        "started_at": row.started_at.isoformat(), "ended_at": row.ended_at.isoformat(), "seconds": row.seconds,
        "audio": f"/api/v1/recordings/{row.pk}/audio/"})  # fmt: skip


def recording_settings(client_id: int) -> RecordingPolicy:
    client = Client.objects.get(pk=client_id)
    return policy_of(client)


# Retention -------------------------------------------------------------------------------------------


def recordings_settle(client: Client, *, now: dt.datetime | None = None) -> int:
    """Recordings whose engine died while writing them (no end, the file unchanged for minutes) are
    closed with what their file holds, so they list as whole (a WAV written a chunk at a time plays
    up to its last chunk). How many."""
    now = now or timezone.now()
    settled = 0
    with tenant_context(client):
        for recording in Recording.objects.filter(ended_at__isnull=True, started_at__lt=now - STILL_WRITTEN):
            path = recording_file(recording)
            try:
                stat = path.stat()
            except FileNotFoundError:
                stat = None
            changed = dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC) if stat else recording.started_at
            if now - changed < STILL_WRITTEN:
                continue
            channels = 2 if recording.kind == Recording.Kind.CALL else 1
            recording.seconds = round(max(0, (stat.st_size if stat else 44) - 44) / (2 * channels * 8000), 2)
            recording.ended_at = changed
            recording.save(update_fields=["seconds", "ended_at"])
            settled += 1
    return settled


def recordings_expire(client: Client, *, now: dt.datetime | None = None) -> int:
    """Remove the client's recordings (file and row) older than its retention period; never one still
    being written (no end yet and its file changed in the last minutes). How many were removed."""
    now = now or timezone.now()
    policy = policy_of(client)
    removed = 0
    with tenant_context(client):
        old = Recording.objects.filter(started_at__lt=now - dt.timedelta(days=policy.retention_days))
        for recording in old.iterator():
            path = recording_file(recording)
            if recording.ended_at is None:
                try:
                    changed = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
                except FileNotFoundError:
                    changed = None
                if changed is not None and now - changed < STILL_WRITTEN:
                    continue  # an engine still writes it
            path.unlink(missing_ok=True)
            recording.delete()
            removed += 1
    if removed:
        log.info("client %s: %d recording(s) past %d days removed", client.pk, removed, policy.retention_days)
    return removed
