"""Celery beat work of call recording: recordings past their client's retention period, and the disk
where recordings and voicemail live."""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.mail import send_mail
from django.utils import translation
from django.utils.translation import gettext as _

from config.redis_store import get_redis, rkey
from recordings import disk
from recordings.services import recordings_expire as expire_client
from recordings.services import recordings_settle
from tenants.i18n import language_of_account
from tenants.models import Client, Role, User

log = logging.getLogger(__name__)
RANK = {disk.OK: 0, disk.WARN: 1, disk.FULL: 2}


@shared_task
def recordings_expire() -> int:
    """Every client's recordings past its retention period: files and rows removed (and those an engine
    left unfinished when it died are closed with what their files hold)."""
    removed = 0
    for client in Client.objects.exclude(schema_name="public").order_by("pk"):
        try:
            recordings_settle(client)
            removed += expire_client(client)
        except Exception:  # one client's trouble does not keep the others' files
            log.exception("recordings of client %s not expired", client.pk)
    return removed


def disk_recipients() -> dict[str, list[str]]:
    """Who hears of a filling disk: the platform operators, by the language their mail speaks (each
    account's own). The recordings' and voicemail's disk is the platform's, shared by every brand and
    client: only its operators can free or grow it, and a brand told would be told of every other brand's
    calls filling it too."""
    languages: dict[str, list[str]] = {}
    for account in User.objects.filter(role=Role.GOD, is_active=True).exclude(email="").order_by("pk"):
        languages.setdefault(language_of_account(account), []).append(account.email)
    return languages


def _disk_mail(rows: list[dict], state: str) -> tuple[str, str]:
    """The subject and body of a disk's mail (every watched directory on it named), in the active
    language."""
    row = rows[0]
    values = {"path": ", ".join(r["path"] for r in rows), "free": f"{row['free'] / 1024**3:.1f}",
              "percent": row["free_percent"], "total": f"{row['total'] / 1024**3:.1f}"}  # fmt: skip
    if state == disk.FULL:
        subject = _("Disk full: %(path)s") % values
        body = _("New recordings are refused on the disk holding %(path)s: %(free)s GB (%(percent)s%%) free of "
                 "%(total)s GB.") % values  # fmt: skip
    else:
        subject = _("Disk low: %(path)s") % values
        body = _("Free space is running low on the disk holding %(path)s: %(free)s GB (%(percent)s%%) free of "
                 "%(total)s GB.") % values  # fmt: skip
    return subject, body + "\n"


@shared_task
def disk_watch() -> list[dict]:
    """Each watched directory's disk state; one mail per disk when it crosses into warn or full, naming
    every watched directory on it (recordings and voicemail share a disk by default: one crossing, one
    mail). Once per crossing: the disk's last state is kept in Redis (under its first directory), and a
    disk back to ok arms the mail again."""
    r = get_redis()
    found = disk.disk_rows()
    for rows in disk.disk_groups(found):
        states = [row["state"] for row in rows if row["state"] in RANK]
        if not states:
            continue
        state = max(states, key=RANK.__getitem__)
        before = (r.getset(rkey(f"disk:state:{rows[0]['path']}"), state) or b"ok").decode()
        if RANK[state] > RANK.get(before, 0):
            recipients = []
            for language, addresses in disk_recipients().items():
                with translation.override(language):
                    send_mail(*_disk_mail(rows, state), None, addresses)
                recipients += addresses
            for row in rows:
                row["mailed"] = recipients
    return found
