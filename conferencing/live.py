"""Live control of running conferences from the portals and the API: the engine that runs a room's
conference is named in the call index (telephony/callindex.py); commands reach it over the channel
layer (telephony.control.ask_engine) and answer with the conference as it is now."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from conferencing.models import Room
from config.redis_store import get_redis
from telephony import commands
from telephony.callindex import where_key
from telephony.commands import STARTING, ConferenceAction, ListConferences
from telephony.control import EngineUnavailable, NotPossible, ask_engine, live_engines, refusal
from telephony.engine_registry import least_busy
from tenants.errors import NotAllowed
from tenants.models import Role

ACTIONS = commands.ACTIONS  # checked by the command type; the portal and the API offer them


def may_control(actor, room: Room, client) -> bool:
    """The room's moderator and the client's operators (the provider and brands watch from their
    own views of running conferences)."""
    if actor.role == Role.CLIENT:
        return actor.client_id == client.pk
    return actor.role == Role.USER and actor.client_id == client.pk and room.moderator_id == actor.pk


def conference_engine(client_id: int, conference_id: str) -> str | None:
    owner = get_redis().hget(where_key(settings.OCX_REDIS_PREFIX, client_id), f"conf:{conference_id}")
    return owner.decode() if owner else None


def conference_live(*, actor, client, room: Room, action: str = "show", participant: str = "",
                    number: str = "") -> dict | None:  # fmt: skip
    """The running conference of a room after `action` (None when it is not running: nobody in it).
    dial-out calls `number` into it; trigger calls the room's list (a hot conference)."""
    if not may_control(actor, room, client):
        raise NotAllowed(_("Only the room's moderator and the client's operators control its conference."))
    command = ConferenceAction(client=client.pk, conference=room.conference_id, action=action,
                               participant=participant, number=number)  # fmt: skip
    problems = command.problems()
    if problems:
        raise ValidationError(problems)
    if action == "trigger" and not room.hot_list:
        raise ValidationError({"action": _("The room has no numbers to call: fill in its list first.")})
    engines = live_engines()
    engine = conference_engine(client.pk, room.conference_id)
    if (engine is None or engine not in engines) and action in STARTING:
        starter = least_busy(engines.values())
        engine = starter.id if starter else None
    if engine is None or engine not in engines:
        if action == "show":
            return None
        raise NotPossible(_("The conference is not running: nobody is in it."))
    answer = ask_engine(engine, command)
    if not answer.ok:
        if action == "show":
            return None
        raise refusal(answer, _("Not done"))
    return answer["conference"]


def running_conferences(client_id: int | None = None) -> list[dict]:
    """Every running conference (of one client, or of all: the provider's and brands' views), as the
    engines report them; an engine that does not answer is skipped."""
    found = []
    for engine_id in live_engines():
        try:
            answer = ask_engine(engine_id, ListConferences(client=client_id))
        except EngineUnavailable:  # a silent engine leaves its conferences out; the others show
            continue
        found += answer.get("conferences", [])
    return found
