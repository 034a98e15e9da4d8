"""Reads on voicemail: a box's message counts (message waiting), and what the engine needs of a box
and its messages during a call (plain snapshots, read in its database threads).

"New" means not heard yet, in any folder: a message heard by phone or in the portal no longer
lights the phone's message-waiting lamp.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from django.db.models import Count, Q
from django_tenants.utils import schema_context

from tenants.models import Client
from voicemail.models import GREETINGS, Mailbox, Message


@dataclass(frozen=True)
class MessageCounts:
    new: int  # not heard yet
    total: int


def mailbox_counts(*, client: Client | int, number: str) -> MessageCounts | None:
    """New and total messages of box `number` (a user's box has their extension's number); None
    when the client has no such box. Enters the client's schema itself (callable from anywhere)."""
    client = client if isinstance(client, Client) else Client.objects.get(pk=client)
    with schema_context(client.schema_name):
        box = Mailbox.objects.filter(number=number).annotate(
            new=Count("messages", filter=Q(messages__heard=False)), total=Count("messages")
        ).values("new", "total").first()  # fmt: skip
    return None if box is None else MessageCounts(box["new"], box["total"])


@dataclass(frozen=True)
class BoxView:
    """A box as the engine sees it, read with the client's dial plan (so a caller leaves a message
    while PostgreSQL is away): what it plays and takes; the message count is asked at the call."""

    id: int
    number: str
    name: str
    user: bool  # a user's box (their extension), not a shared one
    has_pin: bool
    max_seconds: int
    max_messages: int
    operator: tuple[str, str]  # (kind, target); ("", "") none
    greetings: dict[str, Path]  # kind -> absolute path, for the greetings it has


def mailboxes_for_plan(client: Client) -> dict[str, BoxView]:
    """The client's boxes by number; runs in the client's schema (a dial plan section)."""
    boxes = {}
    for box in Mailbox.objects.all():
        greetings = {kind: box.greeting(kind) for kind in GREETINGS if box.has_greeting(kind)}
        boxes[box.number] = BoxView(box.pk, box.number, box.name, box.extension_id is not None, bool(box.pin_hash),
                                    box.max_seconds, box.max_messages, (box.operator_kind, box.operator_target),
                                    greetings)  # fmt: skip
    return boxes


def mailbox_message_count(client_id: int, box_id: int) -> int:
    """How many messages box `box_id` holds (a full box takes no more)."""
    with schema_context(Client.objects.get(pk=client_id).schema_name):
        return Message.objects.filter(mailbox_id=box_id).count()


@dataclass(frozen=True)
class MessageView:
    id: int
    caller_number: str
    caller_name: str
    received_at: dt.datetime
    seconds: float
    folder: str
    heard: bool
    path: Path


def messages_for_phone(client_id: int, box_id: int) -> list[MessageView]:
    """The messages a box's owner hears by phone, in that order: the new (unheard) ones first, then
    those heard already; each group oldest first (the order they came in, as VoiceMailMain plays)."""
    with schema_context(Client.objects.get(pk=client_id).schema_name):
        rows = Message.objects.filter(mailbox_id=box_id).order_by("heard", "received_at", "id")
        return [MessageView(m.pk, m.caller_number, m.caller_name, m.received_at, m.seconds, m.folder, m.heard,
                            m.path) for m in rows]  # fmt: skip


@dataclass(frozen=True)
class WaitingState:
    """What the message-waiting lamp of box `number` shows, and to whom it is told unsolicited."""

    new: int
    old: int
    domain: str  # the client's SIP domain
    unsolicited_to: str  # the SIP user name of a user's box's line, when the client tells those phones; else ""


def mailbox_waiting(client_id: int, number: str) -> WaitingState:
    """The counts of box `number` (none: 0/0, a box removed) for message waiting; enters the client's
    schema itself (the engine's database threads)."""
    from voicemail.models import Options

    client = Client.objects.get(pk=client_id)
    with schema_context(client.schema_name):
        counts = mailbox_counts(client=client, number=number) or MessageCounts(0, 0)
        unsolicited = ""
        if Options.current().unsolicited_mwi:
            unsolicited = Mailbox.objects.filter(number=number, extension__isnull=False).values_list(
                "extension__sip_username", flat=True).first() or ""  # fmt: skip
    return WaitingState(counts.new, counts.total - counts.new, client.sip_domain, unsolicited)


def mailbox_member(client_id: int, number: str, extension_number: str) -> bool:
    """Whether the line `extension_number` is a member of the shared box `number` (its phone may watch
    the box's messages); enters the client's schema itself."""
    with schema_context(Client.objects.get(pk=client_id).schema_name):
        return Mailbox.objects.filter(number=number, extension__isnull=True,
                                      members__number=extension_number).exists()  # fmt: skip
