"""Queue supervisors (queues.models.Supervisor): a user the client's operators made supervisor of one
or more queues sees the live calls of those queues' agents (`supervised_calls`) and monitors, whispers
to or barges into one (`supervision_start`): the engine rings the supervisor's own line first and
joins it in the mode asked (telephony/engine/applications/supervision.py, by the typed command
Supervise with `granted`: being the queue's supervisor is the permission, the line needs no other).
A call of an agent who is in none of the supervisor's queues, or of another client, is not found
(404), whoever asks; an agent's line exempt from supervision is refused by the engine."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils.translation import gettext, gettext_noop
from django_tenants.utils import tenant_context

from queues.models import Member, Supervisor
from records.models import Cdr
from telephony import commands
from telephony.commands import SUPERVISION_MODES
from telephony.models import Extension
from tenants.audit import audit
from tenants.errors import NotAllowed, NotPossible
from tenants.models import Client, Role, User


@dataclass(frozen=True)
class SupervisedCall:
    """A live call of an agent of the supervisor's queues, as the supervisor's pages and the API show it."""

    call: str  # the call's id (its record's call_uuid)
    agent: str  # the agent's extension
    agent_side: str  # "caller" or "callee": the side the agent is on
    other: str  # the number the agent talks with
    started_at: object
    answered_at: object


def supervisor_line(actor: User, client: Client) -> Extension | None:
    """The actor's own line when they supervise at least one queue of the client."""
    if actor.role != Role.USER or actor.client_id != client.pk:
        return None
    with tenant_context(client):
        line = Extension.objects.filter(account_id=actor.pk).first()
        if line is None or not Supervisor.objects.filter(extension=line).exists():
            return None
        return line


def supervised_agents(client: Client, line: Extension) -> dict[int, str]:
    """Account -> extension number of the agents of the queues `line` supervises (the line itself aside)."""
    with tenant_context(client):
        queues = Supervisor.objects.filter(extension=line).values_list("queue_id", flat=True)
        members = Member.objects.filter(queue_id__in=list(queues)).exclude(extension=line)
        return dict(members.values_list("extension__account_id", "extension__number"))


def _agent_side(cdr: Cdr, agents: dict[int, str]) -> str | None:
    """The side of the call an agent is on now (its last segment), if one is."""
    if not cdr.segments:
        return None
    now = cdr.segments[-1]
    for side in ("callee", "caller"):
        if now.get(f"{side}_account") in agents:
            return side
    return None


def supervised_calls(*, actor: User, client: Client) -> list[SupervisedCall]:
    """The live, answered calls of the agents of the actor's queues (none when the actor supervises none)."""
    line = supervisor_line(actor, client)
    if line is None:
        return []
    agents = supervised_agents(client, line)
    if not agents:
        return []
    found = []
    for cdr in Cdr.objects.filter(client_id=client.pk).active().order_by("started_at")[:500]:
        side = _agent_side(cdr, agents)
        if side is None:
            continue
        now = cdr.segments[-1]
        other = now.get("caller" if side == "callee" else "callee") or ""
        found.append(SupervisedCall(str(cdr.call_uuid), now.get(side) or "", side, other, cdr.started_at,
                                    cdr.answered_at))  # fmt: skip
    return found


def supervised_call(*, actor: User, client: Client, call: str) -> SupervisedCall:
    """One of `supervised_calls`; Http404 for any other call (another queue's, another client's, ended)."""
    found = next((c for c in supervised_calls(actor=actor, client=client) if c.call == str(call)), None)
    if found is None:
        raise Http404
    return found


def supervision_start(*, actor: User, client: Client, call: str, mode: str) -> SupervisedCall:
    """Ring the supervisor's own line and join it to the agent's call in `mode` (monitor, whisper to
    the agent, barge); waits for the answer (up to the ring timeout). NotPossible when the engine
    could not (nobody answered, the agent's line is exempt, the call ended)."""
    from telephony.control import _command

    if mode not in SUPERVISION_MODES:
        raise ValidationError(
            {"mode": gettext("Choose one of: %(choices)s.") % {"choices": ", ".join(SUPERVISION_MODES)}}
        )
    target = supervised_call(actor=actor, client=client, call=call)
    line = supervisor_line(actor, client)
    if line is None:  # (supervised_call found none already; kept for the type checker)
        raise NotAllowed(gettext("Only a queue's supervisors do this."))
    with tenant_context(client):  # (the engine refuses it too, for the dial codes and operators)
        if Extension.objects.filter(number=target.agent, supervision_exempt=True).exists():
            raise NotPossible(gettext("Not joined: the agent's line is exempt from supervision."))
    cdr = Cdr.objects.get(call_uuid=target.call)
    _command(cdr, commands.Supervise, gettext_noop("Not joined"), number=line.number, mode=mode,
             agent=target.agent_side, granted=1, timeout=settings.OCX_ENGINE["ring_timeout"] + 5)  # fmt: skip
    audit(actor, "call.supervise.request", cdr.call_uuid, client=client, line=line.number, mode=mode,
          agent=target.agent_side)  # fmt: skip
    return target
