"""Writes for CDR exports: export jobs (queued, written to a file by Celery) and push destinations.

The actor comes first and the scope is the actor's: a brand operator's jobs and destinations belong
to the brand (a destination may narrow to one of its clients), a client operator's to the client, a
user's export job to the user.
"""

from __future__ import annotations

import logging
import posixpath
import secrets

import asyncssh
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from exports.crypto import encrypt
from exports.models import ExportJob, PushDestination
from exports.schedule import next_run_after
from exports.selectors import CdrFilter, cdr_csv, cdr_export_records
from tenants.audit import audit
from tenants.errors import NotAllowed
from tenants.models import Brand, Client, Role, User

log = logging.getLogger(__name__)
PROGRESS_KEY = "exports:job:{}:rows"
PROGRESS_EVERY = 64  # chunks of 64 KiB between two progress updates

DESTINATION_FIELDS = {"name", "protocol", "host", "port", "username", "uses_key", "host_key", "tls_verify",
                      "remote_dir", "schedule", "every_minutes", "daily_at", "bom", "alert_emails",
                      "enabled"}  # fmt: skip


# Export jobs ----------------------------------------------------------------------------------


def cdr_export_start(*, actor: User, filters: CdrFilter, bom: bool = True) -> ExportJob:
    """Queue an export of the actor's records with these filters; a Celery task writes the file."""
    from exports.tasks import cdr_export_run

    owner = {}
    if actor.role == Role.BRAND:
        owner = {"brand_id": actor.brand_id}
    elif actor.role in (Role.CLIENT, Role.USER):
        owner = {"client_id": actor.client_id}
    job = ExportJob.objects.create(requested_by=actor, filters=filters.as_json(), bom=bom, **owner)
    audit(actor, "cdr_export.start", job, brand=actor.brand, client=actor.client, filters=job.filters)
    transaction.on_commit(lambda: cdr_export_run.delay(job.pk))
    return job


def export_job_progress(job: ExportJob) -> int:
    """Per cent written: from the running task's count in the cache, 100 once done."""
    if job.status == ExportJob.Status.DONE:
        return 100
    if job.status != ExportJob.Status.RUNNING or not job.total:
        return 0
    return min(99, int(100 * (cache.get(PROGRESS_KEY.format(job.pk)) or 0) / job.total))


def export_job_path(job: ExportJob):
    return settings.OCX_EXPORTS["dir"] / "jobs" / job.file


def export_job_run(job_id: int) -> ExportJob:
    """Write the job's CSV under OCX_EXPORTS_DIR/jobs (Celery). A redelivered task rewrites it."""
    job = ExportJob.objects.select_related("requested_by").get(pk=job_id)
    if job.status == ExportJob.Status.DONE:
        return job
    folder = settings.OCX_EXPORTS["dir"] / "jobs"
    folder.mkdir(parents=True, exist_ok=True)
    job.file = job.file or f"{job.pk}-{secrets.token_hex(8)}.csv"
    path, partial = folder / job.file, folder / (job.file + ".part")
    try:
        records = cdr_export_records(actor=job.requested_by, filters=CdrFilter.from_json(job.filters))
        job.total, job.status, job.started_at, job.error = records.count(), ExportJob.Status.RUNNING, timezone.now(), ""
        job.save(update_fields=["file", "total", "status", "started_at", "error"])
        lines = size = 0
        with partial.open("wb") as out:
            for index, chunk in enumerate(cdr_csv(records, bom=job.bom), start=1):
                out.write(chunk)
                lines, size = lines + chunk.count(b"\n"), size + len(chunk)
                if index % PROGRESS_EVERY == 0:
                    cache.set(PROGRESS_KEY.format(job.pk), lines - 1, timeout=3600)
        partial.replace(path)
    except Exception as exc:
        log.exception("export job %s failed", job.pk)
        partial.unlink(missing_ok=True)
        ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.FAILED, error=_job_error(exc)[:2000],
                                                   finished_at=timezone.now())  # fmt: skip
        job.refresh_from_db()
        return job
    # One record per line (billing.csvio.text_sql keeps cells on one line): the lines after the header.
    ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.DONE, rows=max(0, lines - 1), size=size,
                                               finished_at=timezone.now())  # fmt: skip
    cache.delete(PROGRESS_KEY.format(job.pk))
    job.refresh_from_db()
    return job


def _job_error(exc: Exception) -> str:
    """Why a job failed, for the people who asked for it: the database's own first line, never the
    query it quotes after it (the server log has the whole)."""
    if isinstance(exc, DatabaseError):
        return "The database refused the export: " + (str(exc).strip().splitlines() or ["no reason given"])[0]
    return str(exc)


def export_files_expire(*, now=None) -> int:
    """Delete export jobs (and their files) older than OCX_EXPORT_KEEP_DAYS; the count deleted."""
    cutoff = (now or timezone.now()) - timezone.timedelta(days=settings.OCX_EXPORTS["keep_days"])
    old = list(ExportJob.objects.filter(created_at__lt=cutoff))
    for job in old:
        if job.file:
            export_job_path(job).unlink(missing_ok=True)
    ExportJob.objects.filter(pk__in=[job.pk for job in old]).delete()
    return len(old)


# Push destinations ----------------------------------------------------------------------------


def _owner(actor: User, brand: Brand | None, client: Client | None) -> tuple[Brand, Client | None]:
    """The brand and client a new destination belongs to, checked against the actor's scope."""
    if actor.role == Role.CLIENT:
        return actor.client.brand, actor.client
    if actor.role == Role.BRAND:
        if client is not None and client.brand_id != actor.brand_id:
            raise ValidationError({"client": [_("Choose one of your clients.")]})
        return actor.brand, client
    if actor.role == Role.GOD:
        if client is not None:
            return client.brand, client
        if brand is None:
            raise ValidationError({"brand": [_("Choose the brand (or a client).")]})
        return brand, None
    raise NotAllowed(_("Only operators manage CDR pushes."))


def _check(destination: PushDestination, secret: str) -> None:
    errors: dict[str, list[str]] = {}
    try:
        destination.full_clean(exclude=["secret", "cursor_at", "next_run_at", "starts_at"], validate_unique=False,
                               validate_constraints=False)  # fmt: skip
    except ValidationError as exc:
        errors.update(exc.message_dict)
    sftp = destination.protocol == PushDestination.Protocol.SFTP
    if destination.uses_key and not sftp:
        errors.setdefault("uses_key", []).append(_("Keys are for SFTP; FTP and FTPS log in with a password."))
    if destination.uses_key and secret:
        try:
            asyncssh.import_private_key(secret)
        except (asyncssh.KeyImportError, ValueError):
            errors.setdefault("secret", []).append(_("Paste an unencrypted private key (OpenSSH or PEM)."))
    if destination.host_key:
        try:
            asyncssh.import_public_key(destination.host_key)
        except (asyncssh.KeyImportError, ValueError):
            errors.setdefault("host_key", []).append(_("Paste the server's public key, e.g. ssh-ed25519 AAAA..."))
    if destination.schedule == PushDestination.Schedule.EVERY and not 1 <= destination.every_minutes <= 1440:
        errors.setdefault("every_minutes", []).append(_("Between 1 and 1440 minutes."))
    if destination.schedule == PushDestination.Schedule.DAILY and destination.daily_at is None:
        errors.setdefault("daily_at", []).append(_("Give the time of day."))
    if ".." in posixpath.normpath(destination.remote_dir).split("/"):
        errors.setdefault("remote_dir", []).append(_("A directory inside the account, without '..'."))
    if errors:
        raise ValidationError(errors)


def push_destination_create(*, actor: User, secret: str, brand: Brand | None = None, client: Client | None = None,
                            starts_at=None, **fields) -> PushDestination:  # fmt: skip
    """A new destination; it sends the records finished from `starts_at` (default now) on. Every
    refused field is reported at once."""
    errors: dict[str, list[str]] = {}
    try:
        brand, client = _owner(actor, brand, client)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    now = timezone.now()
    starts_at = starts_at or now
    values = {name: value for name, value in fields.items() if name in DESTINATION_FIELDS}
    destination = PushDestination(brand=brand, client=client, starts_at=starts_at, cursor_at=starts_at,
                                  next_run_at=now, **values)  # fmt: skip
    if not secret:
        errors["secret"] = [_("Give the password or key.")]
    try:
        _check(destination, secret)
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            errors.setdefault(key, messages)
    if errors:
        raise ValidationError(errors)
    destination.secret = encrypt(secret)
    destination.next_run_at = next_run_after(destination, now)
    destination.save()
    audit(actor, "cdr_push.create", destination, brand=brand, client=client, address=destination.address)
    return destination


def push_destination_update(*, actor: User, destination: PushDestination, secret: str = "",
                            **fields) -> PushDestination:  # fmt: skip
    """Change a destination; an empty secret keeps the stored one. A new host or user forgets the host key."""
    if actor.role not in (Role.GOD, Role.BRAND, Role.CLIENT):
        raise NotAllowed(_("Only operators manage CDR pushes."))
    moved = any(fields.get(name, getattr(destination, name)) != getattr(destination, name) for name in ("host", "port"))
    for name, value in fields.items():
        if name in DESTINATION_FIELDS:
            setattr(destination, name, value)
    if moved and "host_key" not in fields:
        destination.host_key = ""
    _check(destination, secret)
    if secret:
        destination.secret = encrypt(secret)
    destination.next_run_at = next_run_after(destination, timezone.now())
    destination.save()
    audit(actor, "cdr_push.update", destination, brand=destination.brand, client=destination.client,
          fields=sorted(name for name in fields if name in DESTINATION_FIELDS))  # fmt: skip
    return destination


def push_destination_delete(*, actor: User, destination: PushDestination) -> None:
    if actor.role not in (Role.GOD, Role.BRAND, Role.CLIENT):
        raise NotAllowed(_("Only operators manage CDR pushes."))
    audit(actor, "cdr_push.delete", destination, brand=destination.brand, client=destination.client)
    destination.delete()


def push_destination_run_now(*, actor: User, destination: PushDestination) -> str:
    """Ask for a run at once (the next scheduled run stays as it was) and say what happens: "started"
    (a worker takes it now) or "queued" (a push of this destination is running; this run follows as
    soon as it ends, or once its lease ran out if its worker died)."""
    from exports.tasks import cdr_push_run

    if actor.role not in (Role.GOD, Role.BRAND, Role.CLIENT):
        raise NotAllowed(_("Only operators manage CDR pushes."))
    if not destination.enabled:
        raise ValidationError(_("This push is disabled: enable it first (Edit), then run it."))
    now = timezone.now()
    with transaction.atomic():
        # Locked: a push ending meanwhile releases the destination after this commits, and then sees the request.
        lease_until = (
            PushDestination.objects.select_for_update().values_list("lease_until", flat=True).get(pk=destination.pk)
        )
        PushDestination.objects.filter(pk=destination.pk).update(run_requested_at=now)
        audit(actor, "cdr_push.run", destination, brand=destination.brand, client=destination.client)
    if lease_until is not None and lease_until > now:
        return "queued"  # the running push starts it when it releases the destination (exports/push.py)
    transaction.on_commit(lambda: cdr_push_run.delay(destination.pk))
    return "started"
