"""Reads of chats, in the client's schema (tenant_context set by the caller): the agents' open chats,
the conversations an actor may see and their search."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from chat.models import Conversation, Message
from telephony.models import Extension


def open_chats_by_extension() -> dict[str, int]:
    """{extension number: chats open with its user} from PostgreSQL (queues/state.py rebuilds from it)."""
    counts = dict(
        Conversation.objects.filter(state=Conversation.State.ACTIVE, agent__isnull=False)
        .values_list("agent_id")
        .annotate(n=Count("id"))
        .values_list("agent_id", "n")
    )
    lines = Extension.objects.filter(account_id__in=counts).values_list("account_id", "number")
    return {number: counts[account] for account, number in lines}


def extension_of(user) -> Extension | None:
    """The agent's line (an agent is known to the queues by their extension)."""
    if user is None:
        return None
    return Extension.objects.filter(account_id=user.pk).first()


def conversations_for(actor) -> QuerySet:
    """What the actor may see: operators every chat, a user those they answered."""
    return Conversation.objects.restrict(actor).select_related("queue", "widget")


def conversation_search(
    rows: QuerySet,
    *,
    text: str = "",
    visitor: str = "",
    agent: str = "",
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    state: str = "",
) -> QuerySet:
    """Conversations whose messages hold `text`, whose visitor (name, e-mail, id on the client's site)
    or agent matches, started within [since, until)."""
    if text:
        said = Message.objects.filter(conversation=OuterRef("pk"), body__icontains=text)
        rows = rows.filter(Exists(said))
    if visitor:
        rows = rows.filter(
            Q(visitor_name__icontains=visitor) | Q(visitor_email__icontains=visitor) | Q(visitor_ref__icontains=visitor)
        )
    if agent:
        rows = rows.filter(agent_name__icontains=agent)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    if until is not None:
        rows = rows.filter(created_at__lt=until)
    if state:
        rows = rows.filter(state=state)
    return rows
