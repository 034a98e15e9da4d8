"""The visitor's side of web chat (synchronous services; chat/consumers.py and chat/sessions.py call
them through sync_to_async): which widget a page may open, the visitor's chats (start, say, close,
leave a message when nobody is there, ask for the transcript), the limits that keep one visitor or
a flood from hurting the client's agents and the other visitors, and the identity a client's site
signs for a visitor logged in there.

Limits (Redis counters shared by every web process, settings.OCX_CHAT):
- chats started per visitor (their secret) and per address (an IPv6 address by its /64) through one
  widget in an hour: the widget's max_sessions_per_visitor (an address ADDRESS_SHARE times that: an
  office's visitors share one);
- messages per minute in a conversation: the widget's messages_per_minute; a message's length: its
  max_message_length (chat.services.clean_text);
- the client's chats waiting or open at once: OCX_CHAT_MAX_PER_CLIENT;
- transcripts mailed per conversation an hour: TRANSCRIPTS_PER_HOUR.
Past a limit a VisitorError with a stable code; the socket says it and keeps serving.

Signed identity: the client's site passes {ref, name, email, expires, signature}, the signature being
hex HMAC-SHA256 with the widget's identity secret over "ref\\nname\\nemail\\nexpires" (expires: Unix
seconds). A good one marks the chat verified with that name and e-mail; a forged or expired one is
refused (the visitor may still chat, unverified).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time

import redis
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tenants.utils import tenant_context

from chat import line, loopdb
from chat.models import ChatWidget, Conversation, Message
from chat.services import ChatEnded, clean_text, message_event, message_post, message_post_on_loop
from config.redis_store import get_redis, rkey
from telephony.widgets import visitor as address_of
from tenants.errors import PlatformError
from tenants.models import Client

log = logging.getLogger(__name__)

ADDRESS_SHARE = 5  # chats per address = this many times the widget's chats per visitor
SESSION_WINDOW = 3600
TRANSCRIPTS_PER_HOUR = 3
HISTORY = 200  # messages sent back to a visitor who comes back
OPEN = (Conversation.State.WAITING, Conversation.State.ACTIVE)


class VisitorError(PlatformError):
    """A visitor's command refused: its code goes to the widget (error event)."""

    def __init__(self, message: str, *, code: str = "error", field: str = ""):
        super().__init__(message)
        self.code, self.field = code, field


class WidgetNotFound(VisitorError):
    pass


def not_found() -> VisitorError:
    return VisitorError(_("No such chat."), code="not-found")


def visitor_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_visitor_secret() -> str:
    return secrets.token_urlsafe(24)


def valid_secret(secret) -> bool:
    return isinstance(secret, str) and 16 <= len(secret) <= 64 and secret.isascii()


def widget_for(*, client: Client, key: str, origin: str) -> ChatWidget | None:
    """The enabled widget with this key when `origin` is exactly one of its web sites; else None
    (the caller refuses without saying which)."""
    if not key or not isinstance(key, str) or len(key) > 40 or client is None:
        return None
    with tenant_context(client):
        widget = ChatWidget.objects.select_related("queue").filter(key=key, enabled=True).first()
    if widget is None or not origin or origin.lower().rstrip("/") not in widget.origin_list():
        return None
    return widget


# Identity signed by the client's site.


def identity_message(ref: str, name: str, email: str, expires) -> bytes:
    return f"{ref}\n{name}\n{email}\n{expires}".encode()


def identity_sign(secret: str, *, ref: str, name: str = "", email: str = "", expires: int) -> str:
    """What a client's site computes (README: Signed visitors); here for tests and the docs."""
    return hmac.new(secret.encode(), identity_message(ref, name, email, expires), hashlib.sha256).hexdigest()


def identity_verify(widget: ChatWidget, identity) -> dict:
    """The signed identity's {ref, name, email}; VisitorError "identity-refused" when forged,
    malformed or expired."""
    refused = VisitorError(_("The visitor's identity could not be verified."), code="identity-refused")
    if not isinstance(identity, dict) or not widget.identity_secret:
        raise refused
    ref, name, email = (identity.get(k, "") for k in ("ref", "name", "email"))
    expires, signature = identity.get("expires"), identity.get("signature")
    if not all(isinstance(v, str) for v in (ref, name, email, signature)) or not ref:
        raise refused
    if isinstance(expires, bool) or not isinstance(expires, int) or expires < time.time():
        raise refused
    wanted = identity_sign(widget.identity_secret, ref=ref, name=name, email=email, expires=expires)
    if not hmac.compare_digest(wanted, signature.lower()):
        raise refused
    if len(ref) > 100 or len(name) > 100 or len(email) > 254:
        raise refused
    try:
        validate_email(email) if email else None
    except ValidationError:
        raise refused from None
    return {"ref": ref, "name": name, "email": email}


# Limits.

# KEYS: counters; ARGV: window, then one limit per key. Counts the request on every key unless one is
# past its limit already; returns the index (1-based) of the first key past its limit, or 0.
COUNT = """
for i, key in ipairs(KEYS) do
  local seen = tonumber(redis.call('GET', key) or '0')
  if seen >= tonumber(ARGV[i + 1]) then return i end
end
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, ARGV[1]) end
end
return 0
"""


def _count(keys: list[str], limits: list[int], window: int) -> int:
    try:
        return int(get_redis().eval(COUNT, len(keys), *keys, window, *limits))
    except redis.RedisError as error:  # without Redis the chats cannot be offered either: refused for now
        raise _counts_away() from error


async def _count_on_loop(keys: list[str], limits: list[int], window: int) -> int:
    try:
        return int(await loopdb.redis().eval(COUNT, len(keys), *keys, window, *limits))
    except redis.RedisError as error:
        raise _counts_away() from error


def _counts_away() -> VisitorError:
    log.exception("chat limits unavailable")
    return VisitorError(_("Something went wrong: try again."), code="error")


def _admit_start(client: Client, widget: ChatWidget, visitor: str, address: str) -> None:
    if (
        Conversation.objects.filter(state__in=OPEN).count() >= settings.OCX_CHAT["max_per_client"]
    ):  # (one indexed count per chat started, never per message)
        raise VisitorError(_("Too many chats at once: try again in a few minutes."), code="busy")
    most = widget.max_sessions_per_visitor
    keys = [rkey("chat", "started", client.pk, widget.pk, "v", visitor),
            rkey("chat", "started", client.pk, widget.pk, "a", address_of(address or "unknown"))]  # fmt: skip
    if _count(keys, [most, most * ADDRESS_SHARE], SESSION_WINDOW):
        raise VisitorError(_("You have started too many chats: try again later."), code="too-many-chats")


def _said_key(client: Client, conversation: Conversation) -> str:
    return rkey("chat", "said", client.pk, conversation.uuid.hex)


def _too_many_messages() -> VisitorError:
    return VisitorError(_("Too many messages: wait a moment."), code="too-many-messages")


def admit_message(*, client: Client, conversation: Conversation, widget: ChatWidget) -> None:
    if _count([_said_key(client, conversation)], [widget.messages_per_minute], 60):
        raise _too_many_messages()


# The visitor's chats.


def open_conversation(*, client: Client, widget: ChatWidget, visitor: str) -> Conversation | None:
    with tenant_context(client):
        return (
            Conversation.objects.select_related("queue")
            .filter(widget=widget, visitor_key=visitor, state__in=OPEN)
            .first()
        )


def history(*, client: Client, conversation: Conversation, after: int = 0) -> list[dict]:
    with tenant_context(client):
        rows = list(Message.objects.filter(conversation=conversation, pk__gt=after).order_by("-id")[:HISTORY])
    return [message_event(m) for m in reversed(rows)]


def conversation_view(conversation: Conversation, place: int | None = None) -> dict:
    return {"id": str(conversation.uuid), "state": conversation.state, "agent": conversation.agent_name,
            "verified": conversation.verified, "name": conversation.visitor_name, "position": place}  # fmt: skip


def _fields(name, email, *, verified: dict | None) -> tuple[str, str]:
    if verified:
        return verified["name"], verified["email"]
    errors = {}
    name = name.strip() if isinstance(name, str) else ""
    if len(name) > 100:
        errors["name"] = [_("At most 100 characters.")]
    email = email.strip() if isinstance(email, str) else ""
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = [_("Enter a valid e-mail address.")]
    if errors:
        raise ValidationError(errors)
    return name, email


def conversation_start(*, client: Client, widget: ChatWidget, visitor: str, name="", email="", text="",
                       verified: dict | None = None, origin: str = "", page: str = "",
                       address: str = "") -> tuple[Conversation, int]:  # fmt: skip
    """A visitor's new chat (or the one they have open): kept, its first line said, in the widget's
    queue's line; with its place. Refused when nobody could answer (code "offline": the widget shows
    its offline form), past a limit, or when the queue's line is full."""
    with tenant_context(client):
        existing = Conversation.objects.filter(widget=widget, visitor_key=visitor, state__in=OPEN).first()
        if existing is not None:
            existing.widget = widget
            return existing, line.position(client=client, conversation=existing) or 0
        body = clean_text(text, max_length=widget.max_message_length, field="text")
        name, email = _fields(name, email, verified=verified)
        if not line.anyone_ready(client=client, queue=widget.queue):
            raise VisitorError(_("Nobody can answer now: leave a message."), code="offline")
        _admit_start(client, widget, visitor, address)
        with transaction.atomic():
            conversation = Conversation.objects.create(
                widget=widget, queue=widget.queue, visitor_key=visitor, visitor_name=name, visitor_email=email,
                visitor_ref=verified["ref"] if verified else "", verified=bool(verified), origin=origin[:300],
                page=str(page or "")[:500], address=address if _ip(address) else None,
            )  # fmt: skip
            admit_message(client=client, conversation=conversation, widget=widget)  # (the first line counts)
            message_post(client=client, conversation=conversation, sender=Message.Sender.VISITOR, body=body)
        place = line.join(client=client, conversation=conversation)
        if not place:  # the queue's line is full: the chat ends here (its record says so), the visitor may
            # leave a message
            from chat.agents import conversation_close

            conversation_close(client=client, conversation=conversation, by="system", full=True)
            conversation.state = Conversation.State.CLOSED
            raise VisitorError(_("Too many people are waiting: leave a message."), code="offline")
    return conversation, place


def _ip(address: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return True


async def visitor_says(*, client: Client, widget: ChatWidget, conversation: Conversation, text) -> Message:
    """One line from the visitor in their open chat (limits first), from the event loop: the visitor's
    every line comes here (chat/loopdb.py)."""
    if conversation.state not in OPEN:
        raise VisitorError(_("This chat has ended."), code="closed")
    # (checked before counting: a refused message costs nothing against the minute's limit)
    text = clean_text(text, max_length=widget.max_message_length, field="text")
    if await _count_on_loop([_said_key(client, conversation)], [widget.messages_per_minute], 60):
        raise _too_many_messages()
    conversation.widget = widget  # (its length: no query)
    try:
        return await message_post_on_loop(client=client, conversation=conversation, sender=Message.Sender.VISITOR,
                                          body=text, max_length=widget.max_message_length)  # fmt: skip
    except ChatEnded:  # (closed where this side did not hear it: the close's event was lost, or came after)
        conversation.state = Conversation.State.CLOSED
        raise VisitorError(_("This chat has ended."), code="closed") from None


def visitor_close(*, client: Client, conversation: Conversation) -> None:
    """The visitor ends their chat, through the agents' side (chat.agents.conversation_close): a waiting
    one leaves the line, its offer withdrawn from the agents it rang (abandoned), one with an agent
    frees the agent's slot; each leaves its record."""
    from chat.agents import conversation_close

    with tenant_context(client):
        conversation_close(client=client, conversation=conversation, by="visitor")
        conversation.refresh_from_db(fields=["state", "outcome", "closed_at", "closed_by", "agent_name"])


def waiting_abandoned(*, client: Client, conversation_uuid: str) -> bool:
    """A waiting chat whose visitor is gone (no web process kept it for a while): closed, abandoned, as
    when the visitor ends it."""
    from chat.agents import conversation_close

    with tenant_context(client):
        conversation = Conversation.objects.filter(uuid=conversation_uuid, state=Conversation.State.WAITING).first()
        if conversation is None:
            return False
        conversation_close(client=client, conversation=conversation, by="system", gone=True)
    return True


def offline_message(*, client: Client, widget: ChatWidget, visitor: str, name="", email="", text="",
                    verified: dict | None = None, origin: str = "", page: str = "",
                    address: str = "") -> Conversation:  # fmt: skip
    """Nobody could answer: the visitor's message kept as a closed conversation (outcome offline, seen
    by the client's agents) and mailed to the widget's offline address."""
    from chat.tasks import offline_mail

    with tenant_context(client):
        body = clean_text(text, max_length=widget.max_message_length, field="text")
        name, email = _fields(name, email, verified=verified)
        if not email:
            raise ValidationError({"email": [_("Leave your e-mail address so that we can answer.")]})
        _admit_start(client, widget, visitor, address)
        with transaction.atomic():
            now = timezone.now()
            conversation = Conversation.objects.create(
                widget=widget, queue=widget.queue, visitor_key=visitor, visitor_name=name, visitor_email=email,
                visitor_ref=verified["ref"] if verified else "", verified=bool(verified), origin=origin[:300],
                page=str(page or "")[:500], address=address if _ip(address) else None,
                state=Conversation.State.CLOSED, outcome=Conversation.Outcome.OFFLINE, closed_at=now,
                closed_by="visitor",
            )  # fmt: skip
            Message.objects.create(conversation=conversation, sender=Message.Sender.VISITOR, body=body)
            if widget.offline_email:
                transaction.on_commit(lambda: offline_mail.delay(client_id=client.pk, conversation_id=conversation.pk))
    return conversation


def transcript_request(*, client: Client, conversation: Conversation, email) -> None:
    """Mail the chat's lines to the visitor (at most TRANSCRIPTS_PER_HOUR a conversation)."""
    from chat.tasks import transcript_mail

    email = email.strip() if isinstance(email, str) else ""
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": [_("Enter a valid e-mail address.")]}) from None
    if _count([rkey("chat", "transcript", client.pk, conversation.uuid.hex)], [TRANSCRIPTS_PER_HOUR], 3600):
        raise VisitorError(_("The transcript was sent already: try again later."), code="too-many-transcripts")
    with tenant_context(client):
        Conversation.objects.filter(pk=conversation.pk).update(transcript_to=email)
    transcript_mail.delay(client_id=client.pk, conversation_id=conversation.pk, to=email)
