"""Voicemail's mails, sent by the Celery worker through Django's e-mail settings, each in its
recipient's language: a new message (the WAV attached when the box says so and it is small enough,
else a link to the portal) and a missed call (a call to a user that nobody answered and that left no
message), each when the box's owner turned it on."""

from __future__ import annotations

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
from tenants.i18n import language_of_account
from tenants.models import Client
from voicemail.models import Mailbox, Message


def portal_link(client: Client, path: str) -> str:
    """The client portal's address of `path` (the portal's primary domain, OCX_WEB_URL_PORT)."""
    from tenants.services import client_primary_domain

    port = str(settings.OCX_WEB_URL_PORT)
    scheme = "https" if port == "443" else "http"
    host = client_primary_domain(client) + ("" if port in ("80", "443", "") else f":{port}")
    return f"{scheme}://{host}{path}"


def recipient(client: Client, box: Mailbox) -> tuple[str, str]:
    """Where a box's mail goes and in which language: a user's box its user, a shared box its address
    (in the client's language)."""
    if box.extension_id is not None:
        account = box.extension.account
        return account.email, language_of_account(account)
    return box.email, client.language or client.brand.language or settings.LANGUAGE_CODE


def _send(subject: str, body: str, to: str, client: Client, attachment: tuple[str, bytes] | None = None) -> None:
    sender = formataddr((client.brand.name, settings.DEFAULT_FROM_EMAIL))
    mail = EmailMessage(subject, body, sender, [to])
    if attachment is not None:
        mail.attach(attachment[0], attachment[1], "audio/wav")
    mail.send()


@shared_task(autoretry_for=(OSError, smtplib.SMTPException), retry_backoff=30, max_retries=5)
def message_mail(*, client_id: int, message_id: int) -> bool:
    """Mail a new message to its box's owner when the box says so; whether a mail went."""
    client = Client.objects.select_related("brand").filter(pk=client_id).first()
    if client is None:
        return False
    with schema_context(client.schema_name):
        message = Message.objects.select_related("mailbox__extension__account").filter(pk=message_id).first()
        if message is None or not message.mailbox.email_new_message:
            return False
        box = message.mailbox
        to, language = recipient(client, box)
        if not to:
            return False
        attachment = None
        size = message.path.stat().st_size if message.path.exists() else None
        if box.email_attach_audio and size is not None and size <= settings.OCX_VOICEMAIL_MAIL_MAX_BYTES:
            attachment = (f"message-{message.received_at:%Y%m%d-%H%M%S}.wav", message.path.read_bytes())
        context = {
            "box": box, "message": message, "attached": attachment is not None,
            "received": message.received_at.astimezone(zone_named(client.timezone)),
            "link": portal_link(client, f"/voicemail/messages/{message.pk}/"),
        }  # fmt: skip
        with translation.override(language):
            body = render_to_string("voicemail/message_mail.txt", context)
            subject = _("New voicemail from %(caller)s (%(seconds)s s)") % {
                "caller": message.caller_name or message.caller_number or _("an unknown caller"),
                "seconds": round(message.seconds),
            }
    _send(subject, body, to, client, attachment)
    return True


@shared_task(autoretry_for=(OSError, smtplib.SMTPException), retry_backoff=30, max_retries=5)
def missed_call_mail(*, client_id: int, number: str, caller_number: str, caller_name: str, at: str,
                     call_uuid: str | None = None) -> bool:  # fmt: skip
    """Mail a missed call to the user of extension `number` when their box says so (not when the call
    left a message after all: its box answered it)."""
    import datetime as dt

    client = Client.objects.select_related("brand").filter(pk=client_id).first()
    if client is None:
        return False
    with schema_context(client.schema_name):
        boxes = Mailbox.objects.select_related("extension__account")
        box = boxes.filter(number=number, extension__isnull=False).first()
        if box is None or not box.email_missed_call:
            return False
        if call_uuid and Message.objects.filter(call_uuid=call_uuid).exists():
            return False
        to, language = recipient(client, box)
        if not to:
            return False
        context = {
            "box": box, "caller_number": caller_number, "caller_name": caller_name,
            "when": dt.datetime.fromisoformat(at).astimezone(zone_named(client.timezone)),
            "link": portal_link(client, "/"),
        }  # fmt: skip
        with translation.override(language):
            body = render_to_string("voicemail/missed_call_mail.txt", context)
            caller = caller_name or caller_number or _("an unknown caller")
            subject = _("Missed call from %(caller)s") % {"caller": caller}
    _send(subject, body, to, client)
    return True
