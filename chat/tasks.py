"""Web chat's mails, sent by the Celery worker through Django's e-mail settings (like the queues'): a
message a visitor left when nobody was available, to the widget's offline address (Reply-To: the
visitor), and a chat's transcript to the visitor who asked for it. Plain text: what visitors typed is
never HTML here either."""

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
from tenants.i18n import _first, _portal_choices
from tenants.models import Client


def _context(client: Client, conversation) -> dict:
    zone = zone_named(client.timezone)
    lines = [
        {"at": m.created_at.astimezone(zone), "who": m.author_name or m.get_sender_display(), "body": m.body}
        for m in conversation.messages.order_by("id")
    ]
    return {"conversation": conversation, "lines": lines, "widget": conversation.widget,
            "started": conversation.created_at.astimezone(zone)}  # fmt: skip


@shared_task(autoretry_for=(OSError, smtplib.SMTPException), retry_backoff=30, max_retries=5)
def offline_mail(*, client_id: int, conversation_id: int) -> bool:
    """Mail an offline message to its widget's address (read now: none, no mail); whether one went."""
    from chat.models import Conversation

    client = Client.objects.select_related("brand").filter(pk=client_id).first()
    if client is None:
        return False
    with schema_context(client.schema_name):
        conversation = Conversation.objects.select_related("widget").filter(pk=conversation_id).first()
        if conversation is None or conversation.widget is None or not conversation.widget.offline_email:
            return False
        with translation.override(_first(*_portal_choices(client.brand, client))):
            context = _context(client, conversation)
            body = render_to_string("chat/offline_mail.txt", context)
            who = conversation.visitor_name or conversation.visitor_email
            subject = _("Chat message from %(who)s (%(widget)s)") % {"who": who, "widget": conversation.widget.name}
        to, reply = [conversation.widget.offline_email], [conversation.visitor_email]
    sender = formataddr((client.brand.name, settings.DEFAULT_FROM_EMAIL))
    EmailMessage(subject, body, sender, to, reply_to=reply).send()
    return True


@shared_task(autoretry_for=(OSError, smtplib.SMTPException), retry_backoff=30, max_retries=5)
def transcript_mail(*, client_id: int, conversation_id: int, to: str) -> bool:
    """Mail a chat's lines, as they are now, to the visitor who asked."""
    from chat.models import Conversation

    client = Client.objects.select_related("brand").filter(pk=client_id).first()
    if client is None:
        return False
    with schema_context(client.schema_name):
        conversation = Conversation.objects.select_related("widget").filter(pk=conversation_id).first()
        if conversation is None:
            return False
        with translation.override(_first(*_portal_choices(client.brand, client))):
            context = _context(client, conversation)
            body = render_to_string("chat/transcript_mail.txt", context)
            title = (conversation.widget.title or conversation.widget.name) if conversation.widget else client.name
            subject = _("Your chat with %(title)s") % {"title": title}
    sender = formataddr((client.name, settings.DEFAULT_FROM_EMAIL))
    EmailMessage(subject, body, sender, [to]).send()
    return True
