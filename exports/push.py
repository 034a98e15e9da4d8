"""Scheduled pushes: each run sends the records finished since the last verified file, as ONE CSV named
`<scope>-<from>-<to>.csv`, and moves the destination on only once the server holds every byte.

Exactly once, across any failure:

- The upper bound of a run is fixed when its file is made (`window_to` = the run's start): records
  finishing while it runs are left for the next file.
- Every record a file carries is claimed in `PushedCdr`, unique per destination and record, in the
  transaction that makes the file: no record can be in two files.
- Until a byte may have left (`on_sending`), a file is OPEN: a run that could not connect or log in
  leaves it so, and the next run takes the records finished since into the same file under its new
  name (a server down for hours gets one catch-up file). From the first byte on it is SENDING: its
  records and name are fixed, and every retry sends the same name, overwriting what a cut transfer
  left; it is DONE when the size on the server matched, and only then does the cursor advance.
- Late records. `ended_at` is the engine's clock, and the engines write a record's end a few
  milliseconds later, or much later when the database was away (records/writer.py retries
  until it succeeds), so a record can become visible with an end before the cursor. Rather than a
  safety lag (which only narrows the gap), each run looks again at the records that ended up to
  OCX_PUSH_LOOKBACK_HOURS (default 24) before the cursor and takes those no file has claimed: a
  record committed up to that late is still sent once, in the next file. Claims older than that
  window are pruned. A record committed later than the window after its end is not pushed (it is
  still in the exports).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone, translation
from django.utils.text import slugify
from django.utils.translation import gettext as _

from exports.models import PushDestination, PushedCdr, PushFile
from exports.schedule import next_run_after, retry_after
from exports.selectors import cdr_csv
from exports.transfer import TransferError, upload
from records.models import Cdr
from tenants.i18n import CODES, language_of_account
from tenants.models import Role, User

log = logging.getLogger(__name__)


def destination_records(destination: PushDestination) -> QuerySet[Cdr]:
    """The call records of the destination's scope: the brand's clients', or one client's."""
    if destination.client_id is not None:
        return Cdr.objects.filter(client_id=destination.client_id)
    return Cdr.objects.filter(brand_id=destination.brand_id)


def file_records(file: PushFile) -> QuerySet[Cdr]:
    return Cdr.objects.filter(id__in=PushedCdr.objects.filter(file=file).values("cdr_id"))


def file_name(destination: PushDestination, since: dt.datetime, until: dt.datetime) -> str:
    scope = destination.client.slug if destination.client_id else slugify(destination.brand.name) or "brand"
    stamp = "%Y%m%dT%H%M%SZ"
    return f"{scope}-{since.astimezone(dt.UTC):{stamp}}-{until.astimezone(dt.UTC):{stamp}}.csv"


def push_destinations_due(now: dt.datetime | None = None) -> list[int]:
    return list(PushDestination.objects.due(now or timezone.now()).values_list("pk", flat=True))


def push_destination_run(destination_id: int, *, now: dt.datetime | None = None) -> PushFile | None:
    """One run for a destination (Celery): the file to send, sent and verified, or the failure recorded
    with a retry planned. None when another worker holds the destination or there is nothing to do."""
    now = now or timezone.now()
    lease = Lease(destination_id, now)
    if not lease.take():
        return None
    try:
        destination = PushDestination.objects.select_related("brand", "client").get(pk=destination_id)
        file = _file_to_send(destination, now)
        if file is None:
            PushDestination.objects.filter(pk=destination.pk).update(next_run_at=next_run_after(destination, now))
            return None
        _send(destination, file, now)
        file.refresh_from_db()
        return file
    finally:
        lease.release()


class Lease:
    """One worker at a time per destination, and only while it lives: the lease is short
    (OCX_PUSH_LEASE_SECONDS) and a thread renews it while the push runs, so a worker killed mid-push
    (SIGKILL, OOM, host lost) frees the destination within that time. It names its holder (host:pid),
    which the destination's page shows. Times follow the run's `now`, moved on by the time elapsed."""

    def __init__(self, destination_id: int, now: dt.datetime):
        self.destination_id, self.began, self.started = destination_id, now, time.monotonic()
        self.seconds = settings.OCX_EXPORTS["push_lease_seconds"]
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._renew, name=f"push-lease-{destination_id}", daemon=True)

    def _until(self) -> dt.datetime:
        return self.began + dt.timedelta(seconds=time.monotonic() - self.started + self.seconds)

    def _mine(self) -> QuerySet[PushDestination]:
        return PushDestination.objects.filter(pk=self.destination_id, lease_holder=self.holder)

    def take(self) -> bool:
        """Hold the destination if it is due and free; a run asked for is then this one."""
        taken = (
            PushDestination.objects.due(self.began)
            .filter(pk=self.destination_id)
            .update(lease_until=self._until(), lease_holder=self.holder, run_requested_at=None)
        )
        if taken:
            self.thread.start()
        return bool(taken)

    def _renew(self) -> None:
        try:
            while not self.stopped.wait(self.seconds / 3):
                try:
                    if not self._mine().update(lease_until=self._until()):
                        log.warning("CDR push %s: the lease of %s was lost", self.destination_id, self.holder)
                        return
                except Exception:  # the database away: try again next time; the claims keep records once
                    log.exception("CDR push %s: could not renew the lease", self.destination_id)
                    connection.close()
        finally:
            connection.close()

    def release(self) -> None:
        """Give the destination up; a Run now asked while this push ran starts at once."""
        self.stopped.set()
        self.thread.join(timeout=10)
        self._mine().update(lease_until=None, lease_holder="")
        if PushDestination.objects.filter(pk=self.destination_id, run_requested_at__isnull=False).exists():
            from exports.tasks import cdr_push_run

            transaction.on_commit(lambda: cdr_push_run.delay(self.destination_id))


def _file_to_send(destination: PushDestination, now: dt.datetime) -> PushFile | None:
    """The SENDING file as it is, else the OPEN file (or a new one) grown to the records finished before now."""
    with transaction.atomic():
        file = destination.files.exclude(status=PushFile.Status.DONE).order_by("window_to", "id").first()
        if file is not None and file.status == PushFile.Status.SENDING:
            return file
        since = destination.cursor_at
        if now - since < dt.timedelta(seconds=1):
            return None
        name = file_name(destination, since, now)
        if file is None:
            file = PushFile.objects.create(destination=destination, name=name, window_from=since, window_to=now)
        else:
            file.name, file.window_to = name, now
        _claim(destination, file, now)
        file.rows = PushedCdr.objects.filter(file=file).count()
        file.save()
    return file


def _claim(destination: PushDestination, file: PushFile, upper: dt.datetime) -> None:
    """Claim for the file the scope's records finished before `upper` that no file of the destination
    has, looking back OCX_PUSH_LOOKBACK_HOURS behind the cursor for late ones."""
    lookback = dt.timedelta(hours=settings.OCX_EXPORTS["push_lookback_hours"])
    horizon = max(destination.cursor_at - lookback, destination.starts_at)
    claimed = PushedCdr.objects.filter(destination_id=destination.pk, cdr_id=OuterRef("pk"))
    records = (
        destination_records(destination)
        .filter(ended_at__gte=horizon, ended_at__lt=upper)
        .filter(~Exists(claimed))
        .order_by()
        .values("id", "ended_at")
    )
    select, params = records.query.sql_with_params()
    table = connection.ops.quote_name(PushedCdr._meta.db_table)
    insert = (  # identifiers quoted, values bound
        f"INSERT INTO {table} (destination_id, file_id, cdr_id, ended_at) SELECT %s, %s, q.id, q.ended_at "  # noqa: S608
        f"FROM ({select}) q ON CONFLICT (destination_id, cdr_id) DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(insert, (destination.pk, file.pk, *params))


def _local_path(file: PushFile) -> Path:
    folder = settings.OCX_EXPORTS["dir"] / "push"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{file.pk}.csv"


def _send(destination: PushDestination, file: PushFile, now: dt.datetime) -> None:
    path = _local_path(file)
    with path.open("wb") as out:
        for chunk in cdr_csv(file_records(file), bom=destination.bom, order=("ended_at", "id")):
            out.write(chunk)

    def sending() -> None:
        PushFile.objects.filter(pk=file.pk).update(status=PushFile.Status.SENDING, attempts=file.attempts + 1)

    try:
        sent = upload(destination, path, file.name, on_sending=sending)
    except TransferError as exc:
        _failed(destination, file, exc.message, now)
        return
    except Exception as exc:  # a bug or an unexpected library error: recorded like a failure, then raised
        _failed(destination, file, f"Unexpected error: {exc!r}", now)
        raise
    _succeeded(destination, file, sent.size, sent.host_key, now)
    path.unlink(missing_ok=True)


def _succeeded(destination: PushDestination, file: PushFile, size: int, host_key: str, now: dt.datetime) -> None:
    last = PushedCdr.objects.filter(file=file).order_by("-ended_at", "-cdr_id").first()
    recovered = destination.failures > 0
    with transaction.atomic():
        PushFile.objects.filter(pk=file.pk).update(status=PushFile.Status.DONE, size=size, sent_at=timezone.now(),
                                                   last_error="")  # fmt: skip
        changes = {"cursor_at": file.window_to, "last_success_at": timezone.now(), "failures": 0, "last_error": "",
                   "next_run_at": next_run_after(destination, now)}  # fmt: skip
        if last is not None:
            changes.update(last_cdr_ended_at=last.ended_at, last_cdr_id=last.cdr_id)
        if host_key and not destination.host_key:
            changes["host_key"] = host_key  # trusted from the first login on (SFTP)
        PushDestination.objects.filter(pk=destination.pk).update(**changes)
        lookback = dt.timedelta(hours=settings.OCX_EXPORTS["push_lookback_hours"])
        PushedCdr.objects.filter(destination_id=destination.pk, ended_at__lt=file.window_to - lookback).delete()
    if recovered:
        facts = {"name": destination.name, "file": file.name, "rows": file.rows, "address": destination.address,
                 "failures": destination.failures}  # fmt: skip
        _alert(
            destination,
            lambda: _("CDR push to %(name)s works again") % facts,
            lambda: _("%(file)s (%(rows)s records) reached %(address)s after %(failures)s failed tries.") % facts,
        )


def _failed(destination: PushDestination, file: PushFile, error: str, now: dt.datetime) -> None:
    failures = destination.failures + 1
    PushFile.objects.filter(pk=file.pk).update(last_error=error)
    PushDestination.objects.filter(pk=destination.pk).update(failures=failures, last_error=error, last_error_at=now,
                                                             next_run_at=retry_after(failures, now))  # fmt: skip
    log.warning("CDR push %s (%s) failed: %s", destination.pk, destination.address, error)
    if failures == 1:
        facts = {"name": destination.name, "file": file.name, "rows": file.rows, "address": destination.address}
        _alert(
            destination,
            lambda: _("CDR push to %(name)s failed") % facts,
            lambda: (
                _("%(file)s (%(rows)s records) could not be sent to %(address)s:") % facts
                + f"\n\n{error}\n\n"
                + _("It is tried again with a growing delay; no record is lost or sent twice meanwhile.")
            ),
        )


def alert_recipients(destination: PushDestination) -> list[str]:
    listed = [a.strip() for a in destination.alert_emails.replace(";", ",").split(",") if a.strip()]
    if listed:
        return listed
    operators = User.objects.filter(is_active=True)
    if destination.client_id is not None:
        operators = operators.filter(role=Role.CLIENT, client_id=destination.client_id)
    else:
        operators = operators.filter(role=Role.BRAND, brand_id=destination.brand_id)
    return list(operators.values_list("email", flat=True))


def alert_languages(destination: PushDestination, recipients: list[str]) -> dict[str, list[str]]:
    """The recipients by the language their alert speaks: an account's own (tenants.i18n), else, for an
    address that is nobody's account, the destination's client's, else its brand's, else English."""
    accounts = User.objects.filter(email__in=recipients).select_related("client", "brand", "client__brand")
    spoken = {account.email.lower(): language_of_account(account) for account in accounts}
    scope = [destination.client.language if destination.client_id else "", destination.brand.language]
    default = next((code for code in scope if code in CODES), settings.LANGUAGE_CODE)
    languages: dict[str, list[str]] = {}
    for address in recipients:
        languages.setdefault(spoken.get(address.lower(), default), []).append(address)
    return languages


def _alert(destination: PushDestination, subject: Callable[[], str], body: Callable[[], str]) -> None:
    """One mail per language among the recipients, each in it (subject and body made in that language)."""
    recipients = alert_recipients(destination)
    if not recipients:
        return
    try:
        for language, addresses in alert_languages(destination, recipients).items():
            with translation.override(language):
                send_mail(subject(), body(), None, addresses)
    except Exception:  # a mail server down must not stop the pushes
        log.exception("could not send the push alert for destination %s", destination.pk)
