"""Chat writes shared by the visitor's and the agent's side (chat/visitors.py, chat/dispatch.py): a
message said in a conversation. Called in the client's schema (tenant_context), client explicit."""

from __future__ import annotations

import functools
import unicodedata

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from chat import loopdb
from chat.events import conversation_group, publish, publish_async
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
# process a sixth of its time: every line of every chat comes here. In the session's schema (the caller's
# tenant_context), or in the one named (`in_schema`, from the event loop: chat/loopdb.py).
INSERT = (
    "INSERT INTO {schema}chat_message (conversation_id, sender, author_id, author_name, body, created_at)"
    " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id"
)
FIRST_RESPONSE = (
    "UPDATE {schema}chat_conversation SET first_response_at = %s WHERE id = %s AND first_response_at IS NULL"
)


@functools.cache
def in_schema(statement: str, schema: str = "") -> str:
    """The statement on the tables of that schema (quoted), or of the session's search path."""
    prefix = f"{connection.ops.quote_name(schema)}." if schema else ""
    return statement.format(schema=prefix)


def _line(*, conversation: Conversation, sender: str, body, author, max_length: int | None) -> Message:
    """One line of a chat, checked, not kept yet."""
    if max_length is None:
        max_length = conversation.widget.max_message_length if conversation.widget else DEFAULT_MAX_LENGTH
    body = clean_text(body, max_length=max_length)
    return Message(conversation_id=conversation.pk, sender=sender, author_id=author.pk if author else None,
                   author_name=(author.get_full_name() if author is not None else "") or "", body=body,
                   created_at=timezone.now())  # fmt: skip


def _values(message: Message) -> list:
    return [message.conversation_id, message.sender, message.author_id, message.author_name, message.body,
            message.created_at]  # fmt: skip


def _first_response(conversation: Conversation, message: Message) -> bool:
    """An agent's first line sets the chat's first response time (True: it must be kept)."""
    if message.sender == Message.Sender.AGENT and conversation.first_response_at is None:
        conversation.first_response_at = message.created_at
        return True
    return False


def message_post(
    *, client: Client, conversation: Conversation, sender: str, body: str, author=None, max_length: int | None = None
) -> Message:
    """Keep one line of a chat and send it to everyone in the conversation (in the client's schema)."""
    message = _line(conversation=conversation, sender=sender, body=body, author=author, max_length=max_length)
    with connection.cursor() as cursor:
        cursor.execute(in_schema(INSERT), _values(message))
        message.pk = cursor.fetchone()[0]
        if _first_response(conversation, message):
            cursor.execute(in_schema(FIRST_RESPONSE), [message.created_at, conversation.pk])
    message._state.adding = False
    publish(conversation_group(client.pk, conversation.uuid), message_event(message))
    return message


async def message_post_on_loop(
    *, client: Client, conversation: Conversation, sender: str, body: str, author=None, max_length: int | None = None
) -> Message:
    """message_post from the event loop, on its own connections (chat/loopdb.py): a visitor's or an
    agent's line, the hot path of a busy chat process."""
    message = _line(conversation=conversation, sender=sender, body=body, author=author, max_length=max_length)
    message.pk = (await loopdb.run(in_schema(INSERT, client.schema_name), _values(message)))[0]
    if _first_response(conversation, message):
        await loopdb.run(in_schema(FIRST_RESPONSE, client.schema_name), [message.created_at, conversation.pk])
    message._state.adding = False
    await publish_async(conversation_group(client.pk, conversation.uuid), message_event(message))
    return message
