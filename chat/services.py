"""Chat writes shared by the visitor's and the agent's side (chat/visitors.py, chat/dispatch.py): a
message said in a conversation. Called in the client's schema (tenant_context), client explicit."""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from chat.events import conversation_group, publish
from chat.models import Conversation, Message
from tenants.models import Client

DEFAULT_MAX_LENGTH = 2000


def clean_text(body, *, max_length: int = DEFAULT_MAX_LENGTH, field: str = "body") -> str:
    """A message's text as kept: stripped, not empty, at most max_length characters, no control
    characters but line breaks and tabs (binary pasted in is refused, not stored). HTML is kept as
    typed: every page and the widget show it as text."""
    if not isinstance(body, str):
        raise ValidationError({field: _("Send the message as text.")})
    body = body.replace("\r\n", "\n").strip()
    if not body:
        raise ValidationError({field: _("Type a message.")})
    if len(body) > max_length:
        text = _("A message has at most %(limit)d characters (this one has %(count)d).")
        raise ValidationError({field: text % {"limit": max_length, "count": len(body)}})
    if any(unicodedata.category(c) in ("Cc", "Cs", "Co") and c not in "\n\t" for c in body):
        raise ValidationError({field: _("The message holds characters that are not text.")})
    return body


def message_event(message: Message) -> dict:
    return {
        "kind": "message",
        "id": message.pk,
        "sender": message.sender,
        "author": message.author_name,
        "body": message.body,
        "at": message.created_at.isoformat(),
    }


# One statement, where Model.save's machinery (signals, field hooks, a compiled INSERT) cost a busy chat
# process a sixth of its time: every line of every chat comes here.
INSERT = (
    "INSERT INTO chat_message (conversation_id, sender, author_id, author_name, body, created_at)"
    " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id"
)


def _keep(message: Message) -> None:
    with connection.cursor() as cursor:
        cursor.execute(INSERT, [message.conversation_id, message.sender, message.author_id, message.author_name,
                                message.body, message.created_at])  # fmt: skip
        message.pk = cursor.fetchone()[0]
    message._state.adding = False


def message_post(
    *, client: Client, conversation: Conversation, sender: str, body: str, author=None, max_length: int | None = None
) -> Message:
    """Keep one line of a chat and send it to everyone in the conversation. An agent's first line
    sets the first response time."""
    if max_length is None:
        max_length = conversation.widget.max_message_length if conversation.widget else DEFAULT_MAX_LENGTH
    body = clean_text(body, max_length=max_length)
    message = Message(conversation_id=conversation.pk, sender=sender, author_id=author.pk if author else None,
                      author_name=(author.get_full_name() if author is not None else "") or "", body=body,
                      created_at=timezone.now())  # fmt: skip
    _keep(message)
    if sender == Message.Sender.AGENT and conversation.first_response_at is None:
        conversation.first_response_at = message.created_at or timezone.now()
        Conversation.objects.filter(pk=conversation.pk, first_response_at__isnull=True).update(
            first_response_at=conversation.first_response_at
        )
    publish(conversation_group(client.pk, conversation.uuid), message_event(message))
    return message
