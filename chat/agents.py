"""The agents' side of chats (writes): offers shown and missed, accept, an agent's line and typing,
transfer to an agent or a queue, close (also the visitor's: `conversation_close`), the record each
conversation leaves, canned answers and agents' chat settings. Called in the client's schema, the
client explicit; PostgreSQL is the truth (the Conversation row), Redis the live state
(queues/state.py, chat/dispatch.py), written after commit or undone when the row says no.

The record: one per conversation, when it ends (records.Cdr, service "chat", inbound, the
conversation's uuid as its call uuid, written in the same transaction as the close, so a Redis
restart loses none), with a "queue" leg per queue it waited in, shaped like the calls' legs (queue,
joined, wait, offers, outcome, agent, wrapup) plus channel "chat" and first_response, so that
queues/stats.py counts chats with calls. A transfer to another queue ends the leg (answered, by its
agent) and opens one in the new queue, where the chat keeps its first join time as its place in line
(the visitor waited already); a transfer to an agent is noted in the leg's offers ("transferred").
"""

from __future__ import annotations

import datetime as dt
import logging

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tenants.utils import tenant_context

from chat import dispatch, loopdb
from chat.events import agent_group, conversation_group, publish, publish_async
from chat.models import CannedAnswer, Conversation, Message
from chat.selectors import extension_of
from chat.services import DEFAULT_MAX_LENGTH, clean_text, in_schema, message_post_on_loop
from config.redis_store import get_redis
from queues.models import Agent, Member, Queue
from records.models import Cdr
from records.writer import insert_sql
from telephony.models import Extension
from tenants.audit import audit
from tenants.errors import NotAllowed, NotPossible
from tenants.models import Client, Role, User

log = logging.getLogger(__name__)
CLOSED_BY = ("visitor", "agent", "system")
SIDE = {"visitor": "caller", "agent": "callee", "system": "engine"}


def _r():
    return get_redis(), settings.OCX_REDIS_PREFIX


def summary(conversation: Conversation, *, messages: bool = False) -> dict:
    """What a console shows of a chat."""
    found = {
        "conversation": str(conversation.uuid),
        "id": conversation.pk,
        "state": conversation.state,
        "queue": conversation.queue.name if conversation.queue else "",
        "visitor": conversation.visitor_name,
        "email": conversation.visitor_email,
        "verified": conversation.verified,
        "page": conversation.page,
        "agent": conversation.agent_name,
        "created_at": conversation.created_at.isoformat() if conversation.created_at else None,
    }
    if messages:
        found["messages"] = [
            {"id": m.pk, "sender": m.sender, "author": m.author_name, "body": m.body, "at": m.created_at.isoformat()}
            for m in conversation.messages.all()
        ]
    return found


def _users_of(numbers) -> dict[str, int]:
    return dict(Extension.objects.filter(number__in=list(numbers)).values_list("number", "account_id"))


def _locked(conversation_uuid) -> Conversation | None:
    return (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("queue")
        .filter(uuid=conversation_uuid)
        .first()
    )


def _now_iso() -> str:
    return timezone.now().isoformat()


# Offers (the dispatcher's database steps) -----------------------------------------------------------


def offer_event(conversation_uuid: str, agents: list[str], until: float) -> list[tuple[int, dict]]:
    """(user id, offer event) for each agent the chat is offered to."""
    conversation = Conversation.objects.select_related("queue").filter(uuid=conversation_uuid).first()
    if conversation is None:
        return []
    first = conversation.messages.filter(sender=Message.Sender.VISITOR).first()
    event = {"kind": "offer", **summary(conversation), "until": until, "first": first.body if first else ""}
    return [(user, event) for user in _users_of(agents).values()]


def offer_missed(conversation_uuid: str, counts: dict[str, int], pause_after: int) -> list[tuple[int, dict]]:
    """The offer rang out: written in the leg, agents paused after `pause_after` in a row (0: never);
    (user id, withdrawn event) for each."""
    from queues.services import _pause

    client = connection.tenant
    with transaction.atomic():
        conversation = _locked(conversation_uuid)
        if conversation is not None:
            missed = [{"agent": ext, "result": "missed", "at": _now_iso()} for ext in counts]
            conversation.offers = [*conversation.offers, *missed]
            conversation.save(update_fields=["offers"])
        for ext, count in counts.items():
            if pause_after and count >= pause_after:
                line = Extension.objects.filter(number=ext).first()
                if line is not None:
                    log.info("chat %s: agent %s missed %s offers in a row: paused", conversation_uuid, ext, count)
                    _pause(None, client, line, True, _("%(count)s missed offers") % {"count": count})
    event = {"kind": "withdrawn", "conversation": str(conversation_uuid), "reason": "missed"}
    return [(user, event) for user in _users_of(counts).values()]


def waited_too_long(*, client: Client, conversation_uuid: str, max_wait: int) -> bool:
    """A waiting chat past the queue's max wait ends ("timeout"); True when it did."""
    with transaction.atomic():
        conversation = _locked(conversation_uuid)
        if conversation is None or conversation.state != Conversation.State.WAITING:
            return conversation is None
        since = conversation.joined_at or conversation.created_at
        if timezone.now() - since < dt.timedelta(seconds=max_wait):
            return False
        _close(client, conversation, "system", outcome=Conversation.Outcome.TIMEOUT)
    return True


# The agent's actions -----------------------------------------------------------------------------------


def _agent_line(actor: User, client: Client) -> Extension:
    if actor.client_id != client.pk or actor.role not in (Role.CLIENT, Role.USER):
        raise NotAllowed(_("Only the client's agents answer its chats."))
    line = extension_of(actor)
    if line is None:
        raise NotAllowed(_("Only the client's agents answer its chats."))
    return line


def chat_accept(*, actor: User, client: Client, conversation_uuid) -> Conversation:
    """The agent takes a chat offered to them: with an agent now, the other offers withdrawn."""
    line = _agent_line(actor, client)
    redis, prefix = _r()
    conversation = Conversation.objects.filter(uuid=conversation_uuid).first()
    if conversation is None or conversation.queue_id is None:
        raise NotPossible(_("This chat is no longer offered to you."))
    others = dispatch.accept(redis, prefix, client.pk, conversation.queue_id, conversation.uuid, line.number)
    if others is None:
        raise NotPossible(_("This chat is no longer offered to you."))
    try:
        with transaction.atomic():
            conversation = _locked(conversation.uuid)
            if conversation.state != Conversation.State.WAITING:
                raise NotPossible(_("The visitor has left."))
            now = timezone.now()
            conversation.state = Conversation.State.ACTIVE
            conversation.agent, conversation.agent_name = actor, actor.get_full_name()
            if conversation.answered_at is None:
                conversation.answered_at = now
            conversation.offers = [
                *conversation.offers,
                {"agent": line.number, "result": "answered", "at": now.isoformat()},
                *({"agent": ext, "result": "answered-elsewhere", "at": now.isoformat()} for ext in others),
            ]
            conversation.save()
    except Exception:
        dispatch.untake(redis, prefix, client.pk, line.number)
        raise
    uuid = str(conversation.uuid)
    publish(
        conversation_group(client.pk, uuid), {"kind": "joined", "conversation": uuid, "agent": actor.get_full_name()}
    )
    publish(agent_group(client.pk, actor.pk), {"kind": "accepted", "conversation": uuid})
    for user in _users_of(others).values():
        publish(agent_group(client.pk, user), {"kind": "withdrawn", "conversation": uuid, "reason": "taken"})
    return conversation


def _own_chat(actor: User, client: Client, conversation_uuid) -> Conversation:
    conversation = Conversation.objects.restrict(actor).select_related("queue").filter(uuid=conversation_uuid).first()
    _refuse_unless_mine(actor, conversation.agent_id if conversation is not None else None, conversation is None)
    return conversation


def _refuse_unless_mine(actor: User, agent_id: int | None, missing: bool) -> None:
    """A chat outside the actor's scope (Conversation.objects.restrict), or another agent's for a user."""
    if missing or (agent_id != actor.pk and actor.role != Role.CLIENT):
        raise NotAllowed(_("This chat is not yours."))


# The agent's every line and keystroke look their chat up: one narrow statement from the event loop
# (chat/loopdb.py; Django's queryset for it, in a worker thread, was a sixth of a busy chat process's
# time). The scope is Conversation.objects.restrict's: an operator any chat of the client (the schema
# holds one client), a user the chats they answer (_refuse_unless_mine).
OPEN_WITH = (
    "SELECT c.id, c.state, c.agent_id, c.first_response_at, w.max_message_length"
    " FROM {schema}chat_conversation c LEFT JOIN {schema}chat_chatwidget w ON w.id = c.widget_id WHERE c.uuid = %s"
)


async def _open_with(actor: User, client: Client, conversation_uuid) -> tuple[Conversation, int]:
    """The agent's open chat, lean (what a line and typing need), and its widget's longest line."""
    found = await loopdb.run(in_schema(OPEN_WITH, client.schema_name), [conversation_uuid])
    missing = found is None or actor.role not in (Role.CLIENT, Role.USER)
    _refuse_unless_mine(actor, found[2] if found is not None else None, missing)
    pk, state, agent_id, first_response_at, longest = found
    if state != Conversation.State.ACTIVE or agent_id != actor.pk:
        raise NotPossible(_("This chat is not open with you."))
    conversation = Conversation(pk=pk, uuid=conversation_uuid, state=state, agent_id=agent_id,
                                first_response_at=first_response_at)  # fmt: skip
    return conversation, longest or DEFAULT_MAX_LENGTH


def _canned(client: Client, body: str) -> str:
    """A canned answer's /shortcut alone is replaced by its text."""
    with tenant_context(client):
        canned = CannedAnswer.objects.filter(shortcut=body.strip()[1:]).exclude(shortcut="").first()
    return canned.body if canned is not None else body


async def chat_send(*, actor: User, client: Client, conversation_uuid, body) -> Message:
    """The agent's line in their chat, from the event loop (the console's socket)."""
    conversation, longest = await _open_with(actor, client, conversation_uuid)
    if isinstance(body, str) and body.strip().startswith("/"):
        body = await database_sync_to_async(_canned)(client, body)
    return await message_post_on_loop(client=client, conversation=conversation, sender=Message.Sender.AGENT,
                                      body=body, author=actor, max_length=longest)  # fmt: skip


async def chat_typing(*, actor: User, client: Client, conversation_uuid) -> None:
    try:
        conversation, _longest = await _open_with(actor, client, conversation_uuid)
    except NotPossible:
        return  # (typing in a chat that just ended: nothing to say)
    uuid = str(conversation.uuid)
    event = {"kind": "typing", "conversation": uuid, "sender": "agent", "on": True}
    await publish_async(conversation_group(client.pk, uuid), event)


def _leg(conversation: Conversation, *, outcome: str, end: dt.datetime, wrapup: int) -> dict:
    """The record's "queue" leg of the chat's current queue."""
    joined = conversation.joined_at or conversation.created_at
    answered = next((o["at"] for o in conversation.offers if o.get("result") == "answered"), None)
    until = dt.datetime.fromisoformat(answered) if answered else end
    agent = next((o["agent"] for o in conversation.offers if o.get("result") == "answered"), "")
    leg = {
        "leg": "queue", "channel": "chat", "queue": conversation.queue_id, "queue_name":
        conversation.queue.name if conversation.queue else "", "joined": joined.isoformat(),
        "wait": round(max(0.0, (until - joined).total_seconds()), 1), "offers": list(conversation.offers),
        "outcome": outcome, "agent": agent, "wrapup": wrapup if agent else 0,
    }  # fmt: skip
    if agent and conversation.first_response_at and not conversation.legs and conversation.answered_at:
        leg["first_response"] = round(max(0.0, (conversation.first_response_at - conversation.answered_at)
                                          .total_seconds()), 1)  # fmt: skip
    return leg


def chat_transfer(
    *, actor: User, client: Client, conversation_uuid, to_agent: Extension | None = None, to_queue: Queue | None = None
) -> Conversation:
    """Give an open chat to another agent of the client (when they can take one more now) or back into
    another queue's line."""
    if (to_agent is None) == (to_queue is None):
        raise ValidationError({"to": _("Choose an agent or a queue.")})
    redis, prefix = _r()
    conversation = _own_chat(actor, client, conversation_uuid)
    old_line = extension_of(conversation.agent) if conversation.agent else None
    if conversation.state != Conversation.State.ACTIVE:
        raise NotPossible(_("This chat is not open with an agent."))
    if to_agent is not None:
        if old_line is not None and to_agent.pk == old_line.pk:
            raise ValidationError({"agent": _("The chat is with this agent already.")})
        if not dispatch.take(redis, prefix, client.pk, to_agent.number):
            raise ValidationError(
                {"agent": _("Extension %(number)s cannot take a chat now.") % {"number": to_agent.number}}
            )
    wrapup = conversation.queue.wrapup_seconds if conversation.queue else 0
    try:
        with transaction.atomic():
            conversation = _locked(conversation.uuid)
            if conversation.state != Conversation.State.ACTIVE:
                raise NotPossible(_("This chat is not open with an agent."))
            now = timezone.now()
            talk = (now - (conversation.answered_at or now)).total_seconds()
            uuid = str(conversation.uuid)
            if to_agent is not None:
                user = User.objects.get(pk=to_agent.account_id)
                conversation.agent, conversation.agent_name = user, user.get_full_name()
                given = {"agent": to_agent.number, "result": "transferred", "at": now.isoformat()}
                conversation.offers = [*conversation.offers, given]
                conversation.save()
                publish(agent_group(client.pk, user.pk), {"kind": "assigned", "conversation": uuid})
                publish(conversation_group(client.pk, uuid),
                        {"kind": "joined", "conversation": uuid, "agent": user.get_full_name()})  # fmt: skip
            else:
                conversation.legs = [*conversation.legs, _leg(conversation, outcome="answered", end=now, wrapup=wrapup)]
                conversation.state, conversation.queue = Conversation.State.WAITING, to_queue
                conversation.agent, conversation.agent_name = None, ""
                conversation.joined_at, conversation.offers = now, []
                conversation.save()
                at = conversation.created_at.timestamp()
                transaction.on_commit(lambda: dispatch.rejoin(redis, prefix, client.pk, to_queue.pk, uuid, at))
                publish(conversation_group(client.pk, uuid), {"kind": "waiting", "conversation": uuid,
                                                              "queue": to_queue.name})  # fmt: skip
            said = _("Transferred to %(to)s.") % {"to": conversation.agent_name or to_queue.name}
            Message.objects.create(conversation=conversation, sender=Message.Sender.SYSTEM, body=said)
            publish(agent_group(client.pk, actor.pk), {"kind": "gone", "conversation": uuid, "reason": "transferred"})
            if old_line is not None:
                queue_id = conversation.queue_id
                transaction.on_commit(lambda: dispatch.chat_over(redis, prefix, client.pk, queue_id, old_line.number,
                                                                 wrapup=0, talk=talk))  # fmt: skip
    except Exception:
        if to_agent is not None:
            dispatch.untake(redis, prefix, client.pk, to_agent.number)
        raise
    return conversation


def chat_close(*, actor: User, client: Client, conversation_uuid) -> Conversation:
    """The agent (or an operator) ends a chat."""
    conversation = _own_chat(actor, client, conversation_uuid)
    return conversation_close(client=client, conversation=conversation, by="agent")


def conversation_close(*, client: Client, conversation: Conversation, by: str, gone: bool = False,
                       full: bool = False) -> Conversation:  # fmt: skip
    """End a conversation (by the visitor, the agent or the platform): closed, the agent's slot freed with
    the queue's wrap-up, out of the line (offers withdrawn) when it was waiting, "closed" sent, and its
    record written. Closing a closed one does nothing. A waiting chat the platform ends is timed out,
    unless its visitor is `gone` (abandoned: chat/keeper.py saw no page of theirs for a while) or its
    queue's line was `full` as it started (counted with the calls turned away full)."""
    if by not in CLOSED_BY:
        raise ValueError(by)
    with transaction.atomic():
        locked = _locked(conversation.uuid)
        if locked is None or locked.state == Conversation.State.CLOSED:
            return locked or conversation
        outcome = (Conversation.Outcome.ANSWERED if locked.state == Conversation.State.ACTIVE
                   else Conversation.Outcome.FULL if full
                   else Conversation.Outcome.TIMEOUT if by == "system" and not gone
                   else Conversation.Outcome.ABANDONED)  # fmt: skip
        _close(client, locked, by, outcome=outcome)
    return locked


def _close(client: Client, conversation: Conversation, by: str, *, outcome: str) -> None:
    """(in the caller's transaction, the row locked)"""
    redis, prefix = _r()
    now = timezone.now()
    was_active = conversation.state == Conversation.State.ACTIVE
    queue = conversation.queue
    wrapup = queue.wrapup_seconds if queue else 0
    line = extension_of(conversation.agent) if was_active and conversation.agent else None
    legs = [*conversation.legs, _leg(conversation, outcome=outcome, end=now, wrapup=wrapup)] if queue or \
        conversation.legs else list(conversation.legs)  # fmt: skip
    conversation.state, conversation.outcome = Conversation.State.CLOSED, outcome
    conversation.closed_at, conversation.closed_by = now, by
    conversation.legs = legs
    conversation.save()
    _record(client, conversation, line)
    uuid = str(conversation.uuid)
    if line is not None:
        talk = (now - (conversation.answered_at or now)).total_seconds()
        queue_id = conversation.queue_id
        transaction.on_commit(lambda: dispatch.chat_over(redis, prefix, client.pk, queue_id, line.number,
                                                         wrapup=wrapup, talk=talk))  # fmt: skip
        publish(agent_group(client.pk, conversation.agent_id), {"kind": "gone", "conversation": uuid, "reason": by})
    elif conversation.queue_id is not None:
        queue_id = conversation.queue_id

        def out_of_line() -> None:
            gone = dispatch.withdraw(redis, prefix, client.pk, uuid, missed=False) or {}
            dispatch.leave(redis, prefix, client.pk, queue_id, uuid)
            for user in _users_of(gone).values():
                publish(agent_group(client.pk, user), {"kind": "withdrawn", "conversation": uuid, "reason": "gone"})

        transaction.on_commit(out_of_line)
    publish(conversation_group(client.pk, uuid), {"kind": "closed", "conversation": uuid, "by": by})


def _record(client: Client, conversation: Conversation, line: Extension | None) -> None:
    """The conversation's one record (records.Cdr through the record writer's idempotent insert)."""
    started, answered, ended = conversation.created_at, conversation.answered_at, conversation.closed_at
    last_agent = next((leg["agent"] for leg in reversed(conversation.legs) if leg.get("agent")), "")
    if conversation.outcome == Conversation.Outcome.ANSWERED or answered:
        disposition = Cdr.Disposition.ANSWERED
    elif conversation.outcome == Conversation.Outcome.TIMEOUT:
        disposition = Cdr.Disposition.NO_ANSWER
    else:
        disposition = Cdr.Disposition.CANCELLED
    visitor = conversation.visitor_email or conversation.visitor_ref or "visitor"
    values = {
        "call_uuid": conversation.uuid, "engine": "chat", "brand_id": client.brand_id, "client_id": client.pk,
        "account_id": None, "callee_account_id": conversation.agent_id, "direction": Cdr.Direction.INBOUND,
        "service": Cdr.Service.CHAT, "conference": "", "moderator_id": None, "carrier_id": None,
        "disposition": disposition, "caller_number": visitor[:64], "caller_name": conversation.visitor_name[:100],
        "callee_number": (line.number if line else last_agent) or (conversation.queue.number if conversation.queue
                                                                   else "") or "chat",
        "callee_name": (conversation.agent_name or (conversation.queue.name if conversation.queue else ""))[:100],
        "started_at": started, "answered_at": answered if disposition == Cdr.Disposition.ANSWERED else None,
        "ended_at": ended, "duration": max(0, round((ended - started).total_seconds())),
        "billsec": max(0, round((ended - answered).total_seconds())) if answered else 0,
        "hangup_cause": f"closed-by-{conversation.closed_by}"[:40], "hangup_side": SIDE.get(conversation.closed_by, ""),
        "quality": {}, "legs": conversation.legs, "answered_by": (line.number if line else last_agent)[:64],
    }  # fmt: skip
    statement, params = insert_sql(values)
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(cursor.cursor), params)


# Canned answers and agents' chat settings ---------------------------------------------------------------


def _require_operator(actor: User, client: Client) -> None:
    if actor.role != Role.CLIENT or actor.client_id != client.pk:
        raise NotAllowed(_("Only the client's operators manage canned answers."))


@transaction.atomic
def canned_save(*, actor: User, client: Client, canned: CannedAnswer | None = None, **fields) -> CannedAnswer:
    """Create a canned answer (canned None) or change the fields given; every bad field named."""
    _require_operator(actor, client)
    item = canned or CannedAnswer()
    errors: dict[str, list[str]] = {}
    for name in ("title", "shortcut", "body"):
        if name in fields:
            value = fields[name]
            if not isinstance(value, str):
                errors[name] = [_("Text, please.")]
                continue
            setattr(item, name, value.strip())
    if "body" in fields and "body" not in errors:
        try:
            item.body = clean_text(item.body, max_length=2000, field="body")
        except ValidationError as error:
            errors.update(error.message_dict)
    if item.shortcut and "shortcut" not in errors:
        item.shortcut = item.shortcut.lstrip("/")
        if not item.shortcut.replace("-", "").replace("_", "").isalnum() or " " in item.shortcut:
            errors["shortcut"] = [_("Letters, digits, - and _ only.")]
        elif CannedAnswer.objects.filter(shortcut=item.shortcut).exclude(pk=item.pk).exists():
            errors["shortcut"] = [_("Another canned answer has this shortcut.")]
    if "title" not in errors and CannedAnswer.objects.filter(title=item.title).exclude(pk=item.pk).exists():
        errors["title"] = [_("A canned answer with this title exists already.")]
    try:
        item.full_clean(exclude=list(errors), validate_unique=False)
    except ValidationError as error:
        for name, messages in error.message_dict.items():
            errors.setdefault(name, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    created = item.pk is None
    item.save()
    audit(actor, "chat.canned.create" if created else "chat.canned.update", item, client=client,
          fields=sorted(fields))  # fmt: skip
    return item


@transaction.atomic
def canned_delete(*, actor: User, client: Client, canned: CannedAnswer) -> None:
    _require_operator(actor, client)
    audit(actor, "chat.canned.delete", canned, client=client, title=canned.title)
    canned.delete()


LIMIT_MAX = 20


@transaction.atomic
def agent_chat_settings(*, actor: User, client: Client, extension: Extension, chat_limit=None,
                        chats_during_calls=None) -> Agent:  # fmt: skip
    """An agent's chats at once (0 to 20; 0: no chats) and whether they take chats during calls (the
    agent themselves or the client's operators)."""
    from queues.services import _require_self_or_operator, state_changed

    _require_self_or_operator(actor, client, extension)
    agent, _created = Agent.objects.select_for_update().get_or_create(extension=extension)
    errors = {}
    if chat_limit is not None:
        try:
            value = int(chat_limit)
            if isinstance(chat_limit, bool) or not 0 <= value <= LIMIT_MAX or str(chat_limit).strip() != str(value):
                raise ValueError
        except (TypeError, ValueError):
            errors["chat_limit"] = [_("A whole number from 0 to %(max)s.") % {"max": LIMIT_MAX}]
        else:
            agent.chat_limit = value
    if chats_during_calls is not None:
        if not isinstance(chats_during_calls, bool):
            errors["chats_during_calls"] = [_("True or false.")]
        else:
            agent.chats_during_calls = chats_during_calls
    if errors:
        raise ValidationError(errors)
    agent.save()
    audit(actor, "agent.chat", extension, client=client, chat_limit=agent.chat_limit,
          chats_during_calls=agent.chats_during_calls)  # fmt: skip
    state_changed(client)
    return agent


def is_member(extension: Extension) -> bool:
    return Member.objects.filter(extension=extension).exists()
