"""Writes on queues: `queue_save` (a queue with its members, every bad field at once: members' rows'
errors are named `members.<row>.<field>`), `queue_delete` (refused, saying what, while something
points at the queue), and agents' state: `agent_login` / `agent_logout` (per queue, or all of the
agent's queues), `agent_pause` / `agent_unpause` (across queues, with a reason). An agent acts for
themselves (portal, API, feature codes on their phone); the client's operators for anyone.

Each write is kept in PostgreSQL and, after commit, the client's live state in Redis is written again
from it (queues/state.py `rebuild`), which tells the engines holding its callers to try again."""

from __future__ import annotations

import contextlib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tenants.utils import tenant_context

from config.redis_store import get_redis
from queues import state
from queues.models import Agent, Member, Queue, Supervisor
from telephony.directory import sip_directory_rooms_changed
from telephony.models import Extension
from tenants.audit import audit
from tenants.errors import NotAllowed
from tenants.events import group_for_client, publish
from tenants.fields import add as _add
from tenants.fields import take
from tenants.models import Client, Role, User

FIELDS = (
    "name",
    "number",
    "strategy",
    "ring_seconds",
    "wrapup_seconds",
    "max_wait_seconds",
    "max_wait_kind",
    "max_wait_target",
    "max_callers",
    "full_kind",
    "full_target",
    "announce_every",
    "pause_after_missed",
    "sticky_minutes",
    "service_level_seconds",
    "missed_call_emails",
    "callback_key",
    "callback_retries",
    "callback_retry_seconds",
    "rating",
    "supervision_tone",
)
MEMBER_FIELDS = ("extension", "penalty", "order")
REASON_LENGTH = 60


def _require_operator(actor: User, client: Client) -> None:
    if actor.role != Role.CLIENT or actor.client_id != client.pk:
        raise NotAllowed(_("Only the client's operators manage its queues."))


def _require_self_or_operator(actor: User | None, client: Client, extension: Extension) -> None:
    """None: the line's own phone (a feature code), which proved who it is to the edge."""
    if actor is None or (actor.role == Role.CLIENT and actor.client_id == client.pk):
        return
    if actor.role == Role.USER and actor.client_id == client.pk and extension.account_id == actor.pk:
        return
    raise NotAllowed(_("Agents change their own state; the client's operators anyone's."))


def state_changed(client: Client) -> None:
    """After commit: the client's agents and members in Redis again, and the engines told."""

    def write() -> None:
        with tenant_context(client):
            state.rebuild(get_redis(), settings.OCX_REDIS_PREFIX, client)
        # The client's wallboards look again (queues/consumers.py); a lost event costs only their refresh.
        with contextlib.suppress(Exception):
            publish(group_for_client(client.pk), {"type": "queue.changed", "client": client.pk, "what": "agents"})

    transaction.on_commit(write)


@transaction.atomic
def queue_save(
    *,
    actor: User,
    client: Client,
    queue: Queue | None = None,
    members: list[dict] | None = None,
    supervisors: list[str] | None = None,
    **fields,
) -> Queue:
    """Create a queue (queue None) or change one (the fields given). `members`, when given, are all the
    queue's members from now on: dicts of extension (its number), penalty and order; a member kept
    stays logged in as it was. Every bad field is a field error naming it."""
    from telephony.destinations import clean

    _require_operator(actor, client)
    with tenant_context(client):
        item = queue or Queue()
        errors: dict[str, list[str]] = {}
        take(item, fields, FIELDS, errors)
        if "name" not in errors and Queue.objects.filter(name=item.name).exclude(pk=item.pk).exists():
            _add(errors, "name", _("A queue named %(name)s exists already.") % {"name": item.name})
        if item.number and "number" not in errors:
            if Extension.objects.filter(number=item.number).exists():
                _add(errors, "number", _("Extension %(number)s is a user's.") % {"number": item.number})
            elif Queue.objects.filter(number=item.number).exclude(pk=item.pk).exists():
                _add(errors, "number", _("Another queue has the number %(number)s.") % {"number": item.number})
        for when in ("max_wait", "full"):
            try:
                kind, target = clean(client, getattr(item, f"{when}_kind"), getattr(item, f"{when}_target"), field=when)
            except ValidationError as error:
                for name, messages in error.message_dict.items():
                    _add(errors, name, messages)
            else:
                if kind == "queue" and item.pk is not None and target == str(item.pk):
                    _add(errors, f"{when}_target", _("A queue cannot send its callers back into itself."))
                setattr(item, f"{when}_kind", kind)
                setattr(item, f"{when}_target", target)
        if "missed_call_emails" in fields and "missed_call_emails" not in errors:
            item.missed_call_emails = _addresses(item.missed_call_emails, errors)
        rows = None if members is None else _rows(members, errors)
        watchers = None if supervisors is None else _supervisors(supervisors, errors)
        try:
            item.full_clean(exclude=list(errors), validate_unique=False)
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                _add(errors, name, messages)
        if errors:
            raise ValidationError(errors)
        created = item.pk is None
        item.save()
        if rows is not None:
            logged = set(item.members.filter(logged_in=True).values_list("extension_id", flat=True))
            item.members.all().delete()
            Member.objects.bulk_create(
                [Member(queue=item, logged_in=row["extension"].pk in logged, **row) for row in rows]
            )
        if watchers is not None:
            item.supervisors.all().delete()
            Supervisor.objects.bulk_create([Supervisor(queue=item, extension=line) for line in watchers])
        audit(
            actor,
            "queue.create" if created else "queue.update",
            item,
            client=client,
            fields=sorted(
                [*fields, *(["members"] if members is not None else []), *(["supervisors"] if watchers else [])]
            ),
        )
    sip_directory_rooms_changed(client)  # the engines read the queues with the dial plan
    state_changed(client)
    return item


def _addresses(text: str, errors: dict) -> str:
    """The missed-call addresses as stored ("a@x, b@y"); each bad one named in a field error."""
    found = [part.strip() for part in (text or "").replace(";", ",").split(",") if part.strip()]
    for address in found:
        try:
            validate_email(address)
        except ValidationError:
            _add(errors, "missed_call_emails", _("%(address)s is no e-mail address.") % {"address": address})
    return ", ".join(found)


def _supervisors(numbers, errors: dict) -> list[Extension]:
    """The supervisors' lines by extension number (each once); a bad one is a `supervisors` error."""
    if not isinstance(numbers, list | tuple) or not all(isinstance(n, str | int) for n in numbers):
        _add(errors, "supervisors", _("The supervisors are a list of extensions."))
        return []
    lines = []
    for number in dict.fromkeys(str(n).strip() for n in numbers if str(n).strip()):
        line = Extension.objects.filter(number=number).first()
        if line is None:
            _add(errors, "supervisors", _("No user has extension %(number)s.") % {"number": number})
        else:
            lines.append(line)
    return lines


def _rows(members, errors: dict) -> list[dict]:
    """The members as stored; each bad row's fields as `members.<n>.<field>` errors."""
    rows, seen = [], {}
    if not isinstance(members, list | tuple):
        _add(errors, "members", _("The members are a list of extension, penalty and order."))
        return rows
    for n, member in enumerate(members):
        prefix = f"members.{n}."
        if not isinstance(member, dict):
            _add(errors, f"members.{n}", _("An extension, its penalty and its order."))
            continue
        number = str(member.get("extension") or "").strip()
        extension = Extension.objects.filter(number=number).first() if number else None
        if extension is None:
            _add(errors, prefix + "extension", _("No user has extension %(number)s.") % {"number": number or "-"})
        elif number in seen:
            _add(
                errors,
                prefix + "extension",
                _("Extension %(number)s is a member twice (rows %(first)s and %(again)s).")
                % {"number": number, "first": seen[number] + 1, "again": n + 1},
            )
        else:
            seen[number] = n
        values = {}
        for name, top in (("penalty", 99), ("order", 999)):
            value = member.get(name)
            value = 0 if value in (None, "") else value
            try:
                value = int(value)
            except (TypeError, ValueError):
                value = -1
            if not 0 <= value <= top:
                _add(errors, prefix + name, _("A whole number from 0 to %(max)s.") % {"max": top})
            values[name] = value
        if extension is not None:
            rows.append({"extension": extension, **values})
    return rows


@transaction.atomic
def queue_delete(*, actor: User, client: Client, queue: Queue) -> None:
    """Remove a queue nothing points at (else a field error saying what does)."""
    from telephony.destinations import pointing_at

    _require_operator(actor, client)
    with tenant_context(client):
        users = pointing_at(client, "queue", str(queue.pk))
        if users:
            raise ValidationError(
                {
                    "queue": _("These lead to the queue: %(users)s. Point them elsewhere first.")
                    % {"users": "; ".join(users)}
                }
            )
        audit(actor, "queue.delete", queue, client=client, name=queue.name)
        queue.delete()
    sip_directory_rooms_changed(client)
    state_changed(client)


# Agents -------------------------------------------------------------------------------------------------


def _memberships(extension: Extension, queue: Queue | None):
    found = Member.objects.filter(extension=extension)
    return found.filter(queue=queue) if queue is not None else found


@transaction.atomic
def agent_login(*, actor: User | None, client: Client, extension: Extension, queue: Queue | None = None) -> list[str]:
    """Log the agent in to `queue` (None: every queue they are a member of); the queues' names."""
    return _log(actor, client, extension, queue, True)


@transaction.atomic
def agent_logout(*, actor: User | None, client: Client, extension: Extension, queue: Queue | None = None) -> list[str]:
    """Log the agent out of `queue` (None: all their queues); the queues' names."""
    return _log(actor, client, extension, queue, False)


def _log(actor, client: Client, extension: Extension, queue: Queue | None, logged_in: bool) -> list[str]:
    _require_self_or_operator(actor, client, extension)
    with tenant_context(client):
        if queue is not None and not _memberships(extension, queue).exists():
            raise ValidationError(
                {
                    "queue": _("Extension %(number)s is not a member of the queue %(name)s.")
                    % {"number": extension.number, "name": queue.name}
                }
            )
        memberships = _memberships(extension, queue)
        names = sorted(memberships.values_list("queue__name", flat=True))
        memberships.update(logged_in=logged_in)
        if actor is not None:
            audit(actor, "agent.login" if logged_in else "agent.logout", extension, client=client, queues=names)
    state_changed(client)
    return names


@transaction.atomic
def agent_pause(*, actor: User | None, client: Client, extension: Extension, reason: str = "") -> Agent:
    """Pause the agent in all their queues (they are offered no caller until unpaused)."""
    reason = (reason or "").strip()
    if len(reason) > REASON_LENGTH or "\x00" in reason:
        raise ValidationError({"reason": _("At most %(max)s characters.") % {"max": REASON_LENGTH}})
    return _pause(actor, client, extension, True, reason)


@transaction.atomic
def agent_unpause(*, actor: User | None, client: Client, extension: Extension) -> Agent:
    return _pause(actor, client, extension, False, "")


def _pause(actor, client: Client, extension: Extension, paused: bool, reason: str) -> Agent:
    _require_self_or_operator(actor, client, extension)
    with tenant_context(client):
        agent, _created = Agent.objects.select_for_update().get_or_create(extension=extension)
        agent.paused, agent.pause_reason = paused, reason
        agent.paused_at = timezone.now() if paused else None
        agent.save()
        if actor is not None:
            audit(actor, "agent.pause" if paused else "agent.unpause", extension, client=client, reason=reason)
    state_changed(client)
    return agent


def agent_missed_pause(client_id: int, number: str, missed: int) -> None:
    """The engine paused an agent who missed `missed` offers in a row (client schema entered here)."""
    client = Client.objects.get(pk=client_id)
    with tenant_context(client):
        extension = Extension.objects.filter(number=number).first()
        if extension is None:
            return
        with transaction.atomic():
            _pause(None, client, extension, True, _("%(count)s missed calls") % {"count": missed})


def agent_by_phone(client_id: int, number: str, action: str) -> list[str] | None:
    """A feature code from the agent's own line: login / logout / pause / unpause. The queues concerned
    (login, logout), [] for pause and unpause; None when the line is no queue's member."""
    client = Client.objects.get(pk=client_id)
    with tenant_context(client):
        extension = Extension.objects.filter(number=number).first()
        if extension is None or not Member.objects.filter(extension=extension).exists():
            return None
        with transaction.atomic():
            if action in ("login", "logout"):
                return _log(None, client, extension, None, action == "login")
            _pause(None, client, extension, action == "pause", _("paused by phone") if action == "pause" else "")
            return []


def agent_states(client: Client, extension: Extension) -> dict:
    """The agent's queues (name, logged in), whether paused and their web chat settings, for their own
    page and the API."""
    with tenant_context(client):
        agent = Agent.objects.filter(extension=extension).first()
        queues = [
            {"queue": m.queue_id, "name": m.queue.name, "logged_in": m.logged_in}
            for m in Member.objects.filter(extension=extension).select_related("queue").order_by("queue__name")
        ]
    return {
        "extension": extension.number,
        "paused": bool(agent and agent.paused),
        "pause_reason": agent.pause_reason if agent else "",
        "paused_at": agent.paused_at if agent else None,
        "queues": queues,
        "chat_limit": agent.chat_limit if agent else state.CHAT_LIMIT,
        "chats_during_calls": bool(agent and agent.chats_during_calls),
    }
