"""Queues' mails, sent by the Celery worker through Django's e-mail settings (like voicemail's notices):
a queue's caller who hung up while waiting, or whose maximum wait sent them on, mailed to the queue's
`missed_call_emails` in the client's language, so that somebody calls them back."""

from __future__ import annotations

import datetime as dt
import smtplib
from email.utils import formataddr

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _
from django_tenants.utils import schema_context

from tenants.dates import zone_named
from tenants.i18n import _first, _portal_choices
from tenants.models import Client

OUTCOMES = ("abandoned", "timeout")


@shared_task(autoretry_for=(OSError, smtplib.SMTPException), retry_backoff=30, max_retries=5)
def queue_missed_call_mail(*, client_id: int, queue_id: int, caller_number: str, caller_name: str, wait: float,
                           outcome: str, at: str) -> bool:  # fmt: skip
    """Mail a queue's missed caller to the queue's addresses (read now: none, no mail); whether one went."""
    from queues.models import Queue

    client = Client.objects.select_related("brand").filter(pk=client_id).first()
    if client is None or outcome not in OUTCOMES:
        return False
    with schema_context(client.schema_name):
        queue = Queue.objects.filter(pk=queue_id).first()
        to = [a.strip() for a in (queue.missed_call_emails if queue else "").split(",") if a.strip()]
        if not to:
            return False
        when = dt.datetime.fromisoformat(at).astimezone(zone_named(client.timezone))
        context = {"queue": queue.name, "caller_number": caller_number, "caller_name": caller_name,
                   "wait": round(wait), "timeout": outcome == "timeout", "when": when}  # fmt: skip
        with translation.override(_first(*_portal_choices(client.brand, client))):
            body = render_to_string("queues/missed_call_mail.txt", context)
            caller = caller_name or caller_number or _("an unknown caller")
            subject = _("Missed queue call from %(caller)s (%(queue)s)") % {"caller": caller, "queue": queue.name}
    EmailMessage(subject, body, formataddr((client.brand.name, settings.DEFAULT_FROM_EMAIL)), to).send()
    return True
