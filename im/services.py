"""Writes on instant messages between a client's people.

`message_send` is the one entry point that delivers a message, whoever sends it: the portal's page, its
socket, the API, and later a phone's SIP MESSAGE (`via="sip"`, the bridge resolving the phone's line to
its account). It checks the text (length, no binary or control characters), counts the sender's rate
(a Redis counter every web process shares), stores the message, moves the sender's read pointer past
it, and once committed pushes it to every member's sockets through im.live (with each one's unread
counts). `conversation_start` opens a one-to-one conversation (one per pair: the same one again) or a
small group; `conversation_read` moves a reader's pointer; `typing_told` says who is typing where."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

import redis
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django_tenants.utils import tenant_context

from config.redis_store import get_redis, rkey
from im import live
from im.models import MAX_MEMBERS, MAX_TITLE, Conversation, Member, Message
from tenants.errors import NotAllowed, PlatformError
from tenants.models import Client, Role, User

log = logging.getLogger(__name__)
VIAS = {choice.value for choice in Message.Via}
# Binary and control characters (tab and line ends are text), and lone surrogates (no UTF-8 for them).
REFUSED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
# KEYS[1] = the sender's counter; ARGV = window seconds, limit. 1 = counted, 0 = over the limit.
COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1])) end
if n > tonumber(ARGV[2]) then return 0 end
return 1
"""


MAX_ID = 2**63 - 1  # PostgreSQL's bigint: a larger id names no row (and must not reach a query)


def row_id(value) -> int | None:
    """An id as sent (JSON number or digits), or None when it cannot name a row."""
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 < number <= MAX_ID else None


class TooManyMessages(PlatformError):
    code = "too-many-messages"
    status = 429


def _people(client: Client) -> Iterable[User]:
    """Who may message whom in a client: its active users and operators."""
    return User.objects.filter(client=client, role__in=(Role.USER, Role.CLIENT), is_active=True)


def _require_person(actor: User, client: Client) -> None:
    if actor.role not in (Role.USER, Role.CLIENT) or actor.client_id != client.pk or not actor.is_active:
        raise NotAllowed(_("Only the company's people send each other messages."))


def clean_body(body, *, field: str = "body") -> str:
    """The message's text as stored, or a field error naming `field`."""
    if not isinstance(body, str):
        raise ValidationError({field: [_("A message is text.")]})
    if REFUSED.search(body):
        raise ValidationError({field: [_("A message may not contain binary or control characters.")]})
    text = body.strip()
    if not text:
        raise ValidationError({field: [_("Write a message.")]})
    limit = settings.OCX_IM["max_length"]
    if len(text) > limit:
        raise ValidationError({field: [_("A message has at most %(max)s characters.") % {"max": limit}]})
    return text


def _count(client: Client, sender: User) -> None:
    limits = settings.OCX_IM
    try:
        counted = get_redis().eval(COUNT, 1, rkey("im", "rate", client.pk, sender.pk), limits["window"],
                                   limits["per_window"])  # fmt: skip
    except redis.RedisError:  # without Redis nothing is delivered live either: refuse now, keep nothing
        log.exception("instant message rate unavailable")
        raise TooManyMessages(_("Messages cannot be sent now: try again later.")) from None
    if not counted:
        raise TooManyMessages(_("Too many messages: wait a moment before sending more."))


def _recipients(client: Client, sender: User, to_users, field: str) -> list[int]:
    """The account ids `to_users` names (accounts or ids), each an active person of the client."""
    if not isinstance(to_users, list | tuple | set) or not to_users:
        raise ValidationError({field: [_("Choose at least one colleague.")]})
    given = [u.pk if isinstance(u, User) else u for u in to_users]
    if any(isinstance(u, bool | float) or not isinstance(u, int | str) for u in given):
        raise ValidationError({field: [_("Colleagues are given by their ids.")]})
    try:
        numbers = {int(u) for u in given}
    except ValueError:
        raise ValidationError({field: [_("Colleagues are given by their ids.")]}) from None
    ids = sorted(numbers - {sender.pk})
    if not ids:
        raise ValidationError({field: [_("Choose at least one colleague other than yourself.")]})
    if len(ids) > MAX_MEMBERS - 1:
        raise ValidationError({field: [_("A group has at most %(max)s people.") % {"max": MAX_MEMBERS}]})
    known = set(_people(client).filter(pk__in=[pk for pk in ids if 0 < pk <= MAX_ID]).values_list("pk", flat=True))
    unknown = [str(pk) for pk in ids if pk not in known]
    if unknown:  # (another client's people are not known here: no hint that they exist)
        raise ValidationError({field: [_("No such colleague: %(ids)s.") % {"ids": ", ".join(unknown)}]})
    return ids


@transaction.atomic
def conversation_start(*, client: Client, actor: User, to_users, title: str = "", field: str = "to") -> Conversation:
    """The one-to-one conversation of the actor and one colleague (the existing one if any; a title is
    for groups), or a new group of the actor and the colleagues named. Bad input is a field error."""
    _require_person(actor, client)
    ids = _recipients(client, actor, to_users, field)
    if not isinstance(title, str) or REFUSED.search(title):
        raise ValidationError({"title": [_("A title is text without control characters.")]})
    title = title.strip()
    if len(title) > MAX_TITLE:
        raise ValidationError({"title": [_("A title has at most %(max)s characters.") % {"max": MAX_TITLE}]})
    with tenant_context(client):
        if len(ids) == 1 and not title:
            key = ":".join(map(str, sorted((actor.pk, ids[0]))))
            found = Conversation.objects.filter(direct_key=key).first()
            if found is not None:
                return found
            try:
                with transaction.atomic():
                    conversation = Conversation.objects.create(kind=Conversation.Kind.DIRECT, direct_key=key,
                                                               created_by=actor)  # fmt: skip
            except IntegrityError:  # both started it at once: the other one's
                return Conversation.objects.get(direct_key=key)
        else:
            conversation = Conversation.objects.create(kind=Conversation.Kind.GROUP, title=title, created_by=actor)
        Member.objects.bulk_create([Member(conversation=conversation, account_id=pk) for pk in [actor.pk, *ids]])
    return conversation


def message_send(*, client: Client, sender: User, conversation: Conversation | None = None, to_users=None,
                 body, via: str = "portal") -> Message:  # fmt: skip
    """Deliver a message from `sender` into `conversation`, or to the colleagues `to_users` (accounts or
    ids: their one-to-one or a new group). Stored, counted against the sender's rate, pushed to every
    member's sockets once committed (im.live). `via`: portal, api or sip (a phone's SIP MESSAGE)."""
    _require_person(sender, client)
    if via not in VIAS:
        raise ValueError(f"unknown via {via!r}")
    if (conversation is None) == (to_users is None):
        raise ValueError("give a conversation or to_users")
    text = clean_body(body)
    with transaction.atomic():
        if conversation is None:
            conversation = conversation_start(client=client, actor=sender, to_users=to_users)
        with tenant_context(client):
            if not Member.objects.filter(conversation=conversation, account_id=sender.pk).exists():
                raise NotAllowed(_("Not a conversation of yours."))
            _count(client, sender)
            message = Message.objects.create(conversation=conversation, sender=sender, body=text, via=via)
            Conversation.objects.filter(pk=conversation.pk).update(last_message_at=message.sent_at)
            Member.objects.filter(conversation=conversation, account_id=sender.pk).update(last_read_id=message.pk)
        transaction.on_commit(lambda: message_delivered(client, message))
        if via != Message.Via.SIP and conversation.kind == Conversation.Kind.DIRECT:
            transaction.on_commit(lambda: _phone_copy_soon(client, message))
    return message


def _phone_copy_soon(client: Client, message: Message) -> None:
    """Off the request: an engine answers once the colleague's phones did (up to a second or two)."""
    threading.Thread(target=phone_copy, args=(client, message), name="im-phone-copy", daemon=True).start()


def phone_copy(client: Client, message: Message) -> dict | None:
    """A one-to-one portal message also goes to the colleague's phones (SIP MESSAGE from the sender's
    line, telephony.control.phone_text_send), when both have a line; what the phones answered, or None
    when it was not sent. The portal keeps the message whatever the phones do."""
    from django.db import close_old_connections

    from telephony.control import phone_text_send
    from telephony.models import Extension

    try:
        with tenant_context(client):
            other = Member.objects.filter(conversation_id=message.conversation_id).exclude(
                account_id=message.sender_id).values_list("account_id", flat=True).first()  # fmt: skip
            lines = {e.account_id: e for e in Extension.objects.filter(account_id__in=[message.sender_id, other])}
        if message.sender_id not in lines or other not in lines:
            return None
        return phone_text_send(client=client, extension=lines[message.sender_id], to=lines[other].number,
                               text=message.body)  # fmt: skip
    except Exception:  # no engine, no phone: the portal has the message all the same
        log.info("instant message %s not sent to phones", message.pk, exc_info=True)
        return None
    finally:
        close_old_connections()


def message_delivered(client: Client, message: Message) -> None:
    """Push a stored message to its conversation's members' sockets, each with their unread counts."""
    from im.selectors import message_shown, senders, unread_totals

    try:
        with tenant_context(client):
            members = list(Member.objects.filter(conversation_id=message.conversation_id))
            totals = unread_totals([m.account_id for m in members])
            shown = message_shown(message, senders([message]))
            here = {m.account_id: 0 if m.account_id == message.sender_id else Message.objects.filter(
                conversation_id=message.conversation_id, id__gt=m.last_read_id).exclude(
                sender_id=m.account_id).count() for m in members}  # fmt: skip
        live.push_each({
            live.group_for_im_user(m.account_id): {"type": "im.message", "message": shown,
                                                   "unread": totals[m.account_id],
                                                   "conversation_unread": here[m.account_id]}
            for m in members
        })  # fmt: skip
    except Exception:  # the message is stored: the pages show it when read again
        log.exception("instant message %s could not be pushed", message.pk)


def conversation_read(*, client: Client, actor: User, conversation: Conversation, up_to: int | None = None) -> int:
    """The actor has read the conversation (up to the message id `up_to`, or all of it): their pointer
    moves forward only; their other sockets hear their new unread total, which is returned."""
    from im.selectors import unread_total

    _require_person(actor, client)
    with tenant_context(client):
        latest = Message.objects.filter(conversation=conversation).order_by("-id").values_list("id", flat=True).first()
        target = min(latest or 0, up_to) if isinstance(up_to, int) else (latest or 0)
        Member.objects.filter(conversation=conversation, account_id=actor.pk, last_read_id__lt=target).update(
            last_read_id=target
        )
        total = unread_total(actor.pk)
    live.push([live.group_for_im_user(actor.pk)], {"type": "im.read", "conversation": conversation.pk,
                                                   "unread": total})  # fmt: skip
    return total


def typing_told(*, client: Client, actor: User, conversation_id) -> list[str] | None:
    """The groups to tell that the actor is typing in a conversation of theirs (the other members'),
    or None when it is not one of the actor's."""
    if row_id(conversation_id) is None:
        return None
    with tenant_context(client):
        members = list(Member.objects.filter(conversation_id=conversation_id).values_list("account_id", flat=True))
    if actor.pk not in members:
        return None
    return [live.group_for_im_user(pk) for pk in members if pk != actor.pk]
