"""Reads on instant messages: a person's conversations with their unread counts, a conversation's
history (paged backwards by message id), the unread total shown in the portal's menu. Run them in the
client's schema (a request's, or tenant_context)."""

from __future__ import annotations

from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce

from im.models import Conversation, Member, Message
from tenants.models import User

HISTORY_PAGE = 50
HISTORY_MAX = 200


def _unread_of(account_id: int):
    """The unread messages of the member row's conversation for `account_id` (their own excluded)."""
    counted = (
        Message.objects.filter(conversation=OuterRef("conversation"), id__gt=OuterRef("last_read_id"))
        .exclude(sender_id=account_id)
        .order_by()
        .values("conversation")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def unread_totals(account_ids) -> dict[int, int]:
    """Each person's unread messages across their conversations (0 for none)."""
    totals = dict.fromkeys(account_ids, 0)
    for account_id in totals:
        rows = Member.objects.filter(account_id=account_id).annotate(unread=_unread_of(account_id))
        totals[account_id] = sum(row.unread for row in rows)
    return totals


def unread_total(account_id: int) -> int:
    return unread_totals([account_id])[account_id]


def conversations_of(actor) -> list[Conversation]:
    """The actor's conversations, latest first, each with `unread` (their unread count), `people` (the
    members' accounts) and `others` (the members but the actor)."""
    mine = Member.objects.filter(account_id=actor.pk).annotate(unread=_unread_of(actor.pk))
    unread = {m.conversation_id: m.unread for m in mine}
    conversations = list(Conversation.objects.restrict(actor).prefetch_related("members"))
    _with_people(conversations, actor)
    for conversation in conversations:
        conversation.unread = unread.get(conversation.pk, 0)
    return conversations


def _with_people(conversations: list[Conversation], actor) -> None:
    ids = {m.account_id for c in conversations for m in c.members.all()}
    people = {u.pk: u for u in User.objects.filter(pk__in=ids).only("id", "name", "email", "role")}
    for conversation in conversations:
        conversation.people = [people[m.account_id] for m in conversation.members.all() if m.account_id in people]
        conversation.others = [p for p in conversation.people if p.pk != actor.pk]


def conversation_name(conversation: Conversation) -> str:
    """A group's title, or the other people's names (with `_with_people` done)."""
    return conversation.title or ", ".join(p.name for p in getattr(conversation, "others", [])) or "—"


def conversation_view(actor, conversation: Conversation) -> Conversation:
    """One conversation with `people`, `others` and the actor's `unread` and `last_read_id`."""
    _with_people([conversation], actor)
    member = Member.objects.filter(conversation=conversation, account_id=actor.pk).annotate(
        unread=_unread_of(actor.pk)
    )[0]
    conversation.unread, conversation.last_read_id = member.unread, member.last_read_id
    return conversation


def history(conversation: Conversation, *, before: int | None = None, limit: int = HISTORY_PAGE) -> list[Message]:
    """Up to `limit` messages before the message id `before` (None: the latest), oldest first."""
    rows = Message.objects.filter(conversation=conversation)
    if before is not None:
        rows = rows.filter(id__lt=before)
    page = list(rows.order_by("-id")[: max(1, min(limit, HISTORY_MAX))])
    page.reverse()
    return page


def senders(messages: list[Message]) -> dict[int, str]:
    """The names of the messages' senders by account id."""
    ids = {m.sender_id for m in messages}
    return dict(User.objects.filter(pk__in=ids).values_list("id", "name"))


def message_shown(message: Message, names: dict[int, str]) -> dict:
    """A message as the API and the sockets give it (the body as text: pages put it in as text)."""
    return {"id": message.pk, "conversation": message.conversation_id, "sender": message.sender_id,
            "sender_name": names.get(message.sender_id, ""), "body": message.body, "via": message.via,
            "sent_at": message.sent_at.isoformat()}  # fmt: skip
