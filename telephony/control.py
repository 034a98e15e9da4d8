"""Call control from the portals and the API: a command to the engine that holds the call, over the
channel layer, with an answer awaited for a bounded time, so a dead engine gives a clear error."""

from __future__ import annotations

import asyncio

from asgiref.sync import async_to_sync
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext, gettext_noop
from django_tenants.utils import schema_context

from config.redis_store import get_redis
from records.models import Cdr
from telephony import commands
from telephony.commands import Answer, CallCommand, Code, Command
from telephony.engine_registry import EngineInfo, engine_channel, least_busy, registry_key
from telephony.models import Extension
from tenants.audit import audit
from tenants.errors import CallEnded, EngineUnavailable, NotAllowed, NotPossible, PlatformError
from tenants.models import Client, Role

ENGINE_ANSWER_TIMEOUT = 3.0


# The API's error for each code an engine answers (telephony.commands.Code): the one place they meet.
API_ERRORS: dict[Code, type[PlatformError]] = {
    Code.BAD_COMMAND: EngineUnavailable,
    Code.ENGINE_UNAVAILABLE: EngineUnavailable,
    Code.NO_SUCH_CALL: CallEnded,
    Code.NOT_ANSWERED: NotPossible,
    Code.NOT_ON_HOLD: NotPossible,
    Code.NO_LINE_IN_COMMON: NotPossible,
    Code.NOT_POSSIBLE: NotPossible,
    Code.CONFERENCE_NOT_RUNNING: NotPossible,
    Code.NO_SUCH_ROOM: NotPossible,
    Code.NO_SUCH_PARTICIPANT: NotPossible,
    Code.NO_NUMBERS_TO_CALL: NotPossible,
}


def refusal(answer: Answer, doing: str) -> PlatformError:
    """The API's error for an engine's refusal, its detail after `doing` ("Not parked: ...")."""
    return API_ERRORS[answer.code](f"{doing}: {(answer.detail or answer.code).rstrip('.')}.")


def live_engines() -> dict[str, EngineInfo]:
    records = get_redis().hvals(registry_key(settings.OCX_REDIS_PREFIX))
    engines = (EngineInfo.from_json(raw) for raw in records)
    return {engine.id: engine for engine in engines if engine.fresh()}


async def _ask(engine_id: str, message: dict, timeout: float) -> dict:
    # A layer of its own: receiving binds a layer to the event loop it runs on, and a sync view's
    # async_to_sync may run on a new loop each time.
    layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
    try:
        reply_to = await layer.new_channel("engine-reply.")
        await layer.send(engine_channel(engine_id), {**message, "reply_to": reply_to})
        return await asyncio.wait_for(layer.receive(reply_to), timeout)
    finally:
        await layer.close_pools()


def ask_engine(engine_id: str, command: Command, *, timeout: float = ENGINE_ANSWER_TIMEOUT) -> Answer:
    """A command to a live engine and its answer; EngineUnavailable when it is gone or silent."""
    if engine_id not in live_engines():
        raise EngineUnavailable(gettext("The engine %(engine)s is not running.") % {"engine": engine_id})
    try:
        return Answer.from_message(async_to_sync(_ask)(engine_id, command.to_message(), timeout))
    except TimeoutError:
        raise EngineUnavailable(gettext("The engine %(engine)s does not answer.") % {"engine": engine_id}) from None


def _command(cdr: Cdr, command: type[CallCommand], doing: str, *, timeout: float = ENGINE_ANSWER_TIMEOUT,
             **fields) -> Answer:  # fmt: skip
    """Send a command to the engine that holds the call; its answer, or the API's error for its refusal."""
    if cdr.ended_at is not None:
        raise CallEnded(gettext("This call has ended already."))
    answer = ask_engine(cdr.engine, command(call=str(cdr.call_uuid), **fields), timeout=timeout)
    if not answer.ok:
        raise refusal(answer, gettext(doing))
    return answer


def _other_party(actor, cdr: Cdr, field: str, question: str) -> str:
    """The party in the call that is not the actor ("caller" or "callee"); an actor who is not in the
    call (an operator) must say, in `field`."""
    if actor.pk == cdr.account_id:
        return "callee"
    if actor.pk == cdr.callee_account_id:
        return "caller"
    raise ValidationError({field: question})


def call_hangup(*, actor, cdr: Cdr) -> None:
    """Hang up a call in the actor's scope (the caller restricted `cdr` already)."""
    _command(cdr, commands.Hangup, gettext_noop("Not hung up"))


def call_hold(*, actor, cdr: Cdr, held: str | None = None) -> str:
    """Put a party on hold (it hears music, the other party silence); by default the actor's other
    party when the actor is in the call. Returns who is held."""
    if held is None:
        held = _other_party(actor, cdr, "held", gettext("Say who to put on hold: caller or callee."))
    if held not in ("caller", "callee"):
        raise ValidationError({"held": gettext("Choose caller or callee.")})
    _command(cdr, commands.Hold, gettext_noop("Not possible"), held=held)
    return held


def call_resume(*, actor, cdr: Cdr) -> None:
    _command(cdr, commands.Resume, gettext_noop("Not possible"))


def call_transfer(*, actor, cdr: Cdr, to: str, leaving: str | None = None) -> str:
    """Blind transfer: `leaving` ("caller" or "callee"; by default the actor, when in the call) goes,
    the other party is connected to extension `to`. Waits for the target's answer (up to the engine's
    ring timeout); NotPossible with the reason when it failed (the call goes on as it was)."""
    if leaving is None:  # the actor leaves: the actor is the party the actor's other party is not
        other = _other_party(actor, cdr, "leaving", gettext("Say who leaves: caller or callee."))
        leaving = "callee" if other == "caller" else "caller"
    _command(cdr, commands.Transfer, gettext_noop("Not transferred"), to=to, leaving=leaving,
             timeout=settings.OCX_ENGINE["ring_timeout"] + 5)  # fmt: skip
    return leaving


def call_join(*, actor, cdr: Cdr, other: Cdr) -> None:
    """Attended transfer: the line that is in both calls (the actor's, after a consultation call)
    leaves them, and the two other parties talk; `other` (the consultation call) ends."""
    if other.call_uuid == cdr.call_uuid:
        raise ValidationError({"with": gettext("Name the other call: the consultation call.")})
    if other.ended_at is not None:
        raise CallEnded(gettext("The consultation call has ended already."))
    if other.engine != cdr.engine:
        raise NotPossible(gettext("Not transferred: the two calls are held by different engines."))
    _command(cdr, commands.Join, gettext_noop("Not transferred"), other=str(other.call_uuid))


SUPERVISION_MODES = commands.SUPERVISION_MODES


def call_record(*, actor, cdr: Cdr, action: str) -> None:
    """Start, pause, resume or stop recording a call in the actor's scope (its client's policy decides
    what may be: the engine refuses a start where recording is off, a stop where it is always on)."""
    if action not in commands.RECORD_ACTIONS:
        raise ValidationError({"action": f"Choose one of: {', '.join(commands.RECORD_ACTIONS)}."})
    _command(cdr, commands.Record, "Not possible", action=action)


def call_supervise(*, actor, cdr: Cdr, extension, mode: str, agent: str = "callee") -> None:
    """Monitor (listen), whisper (talk to the `agent` side only) or barge into (talk with both) a call:
    the engine rings line `extension`, which the client's operators must have allowed to, and joins
    it once answered (waits up to the ring timeout)."""
    if mode not in SUPERVISION_MODES:
        raise ValidationError(
            {"mode": gettext("Choose one of: %(choices)s.") % {"choices": ", ".join(SUPERVISION_MODES)}}
        )
    if agent not in ("caller", "callee"):
        raise ValidationError({"agent": gettext("Choose caller or callee.")})
    if not extension.may_barge:
        raise NotAllowed(
            gettext("Line %(number)s may not monitor, whisper or barge; an operator can allow it.")
            % {"number": extension.number}
        )
    _command(cdr, commands.Supervise, gettext_noop("Not joined"), number=extension.number, mode=mode, agent=agent,
             timeout=settings.OCX_ENGINE["ring_timeout"] + 5)  # fmt: skip
    # The engine's own audit row names the line; this one the person who asked for it.
    audit(actor, "call.supervise.request", cdr.call_uuid, client=Client.objects.get(pk=cdr.client_id),
          line=extension.number, mode=mode, agent=agent)  # fmt: skip


def call_park(*, actor, cdr: Cdr, parked: str | None = None) -> int:
    """Park a party ("caller" or "callee"; by default the actor's other party) in the client's first
    free slot: it hears music, the other party is let go. Returns the slot; any line of the client
    takes the call back by dialling *71<slot>, or through call_retrieve."""
    if parked is None:
        parked = _other_party(actor, cdr, "parked", gettext("Say who to park: caller or callee."))
    if parked not in ("caller", "callee"):
        raise ValidationError({"parked": gettext("Choose caller or callee.")})
    return _command(cdr, commands.Park, gettext_noop("Not parked"), parked=parked)["slot"]


def call_retrieve(*, actor, cdr: Cdr, extension) -> None:
    """Take a parked call back: the engine rings the line `extension` and joins it to the parked party
    once answered (waits up to the ring timeout); NotPossible when the call is not parked or nobody
    answered (the call stays parked)."""
    _command(cdr, commands.Retrieve, gettext_noop("Not retrieved"), number=extension.number,
             timeout=settings.OCX_ENGINE["ring_timeout"] + 5)  # fmt: skip


def call_originate(*, actor, client, to: str, extension) -> str:
    """Click-to-call: the least-busy engine rings the line's devices, then calls `to` once the user
    answers. Returns the new call's id at once (its progress shows in the call events and the list)."""
    if actor.role not in (Role.CLIENT, Role.USER) or actor.client_id != client.pk:
        raise NotAllowed(gettext("Only the client's operators and users place calls."))
    with schema_context(client.schema_name):  # the dial plan rings extensions only: say so now, not by silence
        if not Extension.objects.filter(number=to).exists():
            raise ValidationError(
                {"to": gettext("No extension %(number)s here: call an existing extension.") % {"number": to}}
            )
        if to == extension.number:
            raise ValidationError({"to": gettext("That is the line that rings first: call another extension.")})
    return place_originate(client=client, extension=extension, to=to)


def place_originate(*, client, extension, to: str, widget: int = 0) -> str:
    """The least-busy engine rings `extension`, then calls `to` (a widget's visitor: a number of the
    phone network, telephony/widgets.py); the new call's id."""
    engine = least_busy(live_engines().values())
    if engine is None:
        raise EngineUnavailable(gettext("No call engine is running."))
    answer = ask_engine(engine.id, commands.Originate(client=client.pk, extension=extension.pk, to=to, widget=widget))
    if not answer.ok:
        raise refusal(answer, gettext("Not called"))
    return answer["call"]


def phone_text_send(*, client, extension, to: str, text: str) -> dict:
    """Send a user's text (the portal's instant messages) to the phones of extension `to` of the same
    client, written as from `extension` (SIP MESSAGE through the least-busy engine and the edge,
    telephony/engine/applications/messages.py). {"status": the phones' SIP answer (200 taken, 480 no
    phone registered, 202 no answer yet), "delivered": True, False or None}."""
    engine = least_busy(live_engines().values())
    if engine is None:
        raise EngineUnavailable(gettext("No call engine is running."))
    answer = ask_engine(engine.id, commands.SendText(client=client.pk, sender=extension.pk, to=to, text=text))
    if not answer.ok:
        raise refusal(answer, gettext("Not sent"))
    return {"status": answer["status"], "delivered": answer["delivered"]}
