"""Chat writes shared by the visitor's and the agent's side (chat/visitors.py, chat/dispatch.py): a
message said in a conversation. Called in the client's schema (tenant_context), client explicit."""

from __future__ import annotations

import functools
import logging
import unicodedata

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from chat import loopdb
from chat.events import conversation_group, publish, publish_async
from chat.models import Conversation, Message
from tenants.errors import NotPossible
from tenants.models import Client

log = logging.getLogger(__name__)
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
# The line is kept only while its chat is not closed (FOR KEY SHARE: a close under way is waited for and
# its state read again): a side that missed the "closed" event, or a line racing the close, is refused,
# not kept after the chat's record. An agent's first line sets the chat's first response time in the same
# statement (FIRST): one transaction, so a connection lost between two statements (the loop's statements
# go round its connections) never keeps a line the sender was told to send again.
INSERT = (
    "INSERT INTO {schema}chat_message (conversation_id, sender, author_id, author_name, body, created_at)"
    " SELECT c.id, %s, %s, %s, %s, %s FROM {schema}chat_conversation c WHERE c.id = %s AND c.state <> 'closed'"
    " FOR KEY SHARE RETURNING id"
)
FIRST = (
    "WITH kept AS (INSERT INTO {schema}chat_message (conversation_id, sender, author_id, author_name, body,"
    " created_at) SELECT c.id, %s, %s, %s, %s, %s FROM {schema}chat_conversation c WHERE c.id = %s"
    " AND c.state <> 'closed' FOR KEY SHARE RETURNING id), first AS (UPDATE {schema}chat_conversation c"
    " SET first_response_at = %s FROM kept WHERE c.id = %s AND c.first_response_at IS NULL) SELECT id FROM kept"
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
    return [message.sender, message.author_id, message.author_name, message.body, message.created_at,
            message.conversation_id]  # fmt: skip


def _first_response(conversation: Conversation, message: Message) -> bool:
    """An agent's first line sets the chat's first response time (True: it must be kept)."""
    if message.sender == Message.Sender.AGENT and conversation.first_response_at is None:
        conversation.first_response_at = message.created_at
        return True
    return False


def _statement(conversation: Conversation, message: Message, schema: str = "") -> tuple[str, list]:
    if _first_response(conversation, message):
        return in_schema(FIRST, schema), [*_values(message), message.created_at, conversation.pk]
    return in_schema(INSERT, schema), _values(message)


class ChatEnded(NotPossible):
    """A line said in a chat that is closed (its side had not heard yet, or the close came first)."""


def _ended() -> ChatEnded:
    return ChatEnded(_("This chat has ended."))


def message_post(
    *, client: Client, conversation: Conversation, sender: str, body: str, author=None, max_length: int | None = None
) -> Message:
    """Keep one line of a chat and send it to everyone in the conversation (in the client's schema);
    ChatEnded when the chat has ended."""
    message = _line(conversation=conversation, sender=sender, body=body, author=author, max_length=max_length)
    with connection.cursor() as cursor:
        cursor.execute(*_statement(conversation, message))
        found = cursor.fetchone()
    if found is None:
        raise _ended()
    message.pk = found[0]
    message._state.adding = False
    publish(conversation_group(client.pk, conversation.uuid), message_event(message))
    return message


async def message_post_on_loop(
    *, client: Client, conversation: Conversation, sender: str, body: str, author=None, max_length: int | None = None
) -> Message:
    """message_post from the event loop, on its own connections (chat/loopdb.py): a visitor's or an
    agent's line, the hot path of a busy chat process. ChatEnded when the chat has ended."""
    message = _line(conversation=conversation, sender=sender, body=body, author=author, max_length=max_length)
    found = await loopdb.run(*_statement(conversation, message, client.schema_name))
    if found is None:
        raise _ended()
    message.pk = found[0]
    message._state.adding = False
    message.delivered = True
    try:
        await publish_async(conversation_group(client.pk, conversation.uuid), message_event(message))
    except Exception:  # Redis away: the line is kept, only its live delivery is lost (the other side
        # reads it when their socket opens again); its sender is shown it, never asked to send it twice
        log.warning("chat line %s kept, not delivered live", message.pk, exc_info=True)
        message.delivered = False
    return message
