"""Reads for the conferencing pages and API: which room fields are edited, what runs where."""

from __future__ import annotations

import datetime as dt

from django.utils.dateparse import parse_datetime

from conferencing.live import running_conferences
from conferencing.models import Room
from conferencing.services import FIELDS
from tenants.models import Client, User

# The fields the services write, in the model's order: the API and the portal form offer exactly these.
ROOM_FIELDS = [field.name for field in Room._meta.fields if field.name in FIELDS]


def dial_code(room: Room) -> str:
    """What a phone of the client dials to reach the room without being asked for its ID."""
    return f"*88{room.conference_id}"


def moderators_of(rooms) -> dict[int, User]:
    """The rooms' moderators by id, in one query (their accounts live in the public schema)."""
    ids = {room.moderator_id for room in rooms}
    return {user.pk: user for user in User.objects.filter(pk__in=ids)}


def live_state(conference: dict | None) -> dict:
    """The engine's summary of a running conference in the shape the API and the pages show; the
    same keys when it does not run, so readers need no special case."""
    if conference is None:
        return {"running": False, "conference": None, "started_at": None, "locked": False, "recording": False,
                "participants": [], "callout": None}  # fmt: skip
    return {
        "running": True,
        "conference": conference["conference"],
        "started_at": _moment(conference.get("started_at")),
        "locked": conference.get("locked", False),
        "recording": conference.get("recording", False),
        "participants": [{**p, "joined_at": _moment(p.get("joined_at"))} for p in conference.get("participants", [])],
        "callout": conference.get("callout"),
    }


def running_conferences_for(*, actor: User) -> list[dict]:
    """The running conferences of every client in the actor's scope (the provider's and brands'
    view), with the company's name, longest running first."""
    clients = {client.pk: client for client in Client.objects.restrict(actor).select_related("brand")}
    rows = []
    for conference in running_conferences():
        client = clients.get(conference.get("client"))
        if client is None:  # another brand's company: not in this scope
            continue
        state = live_state(conference)
        rows.append({**state, "client": client, "room": conference.get("name", ""), "engine": conference.get("engine"),
                     "count": len(state["participants"])})  # fmt: skip
    return sorted(rows, key=lambda row: row["started_at"] or dt.datetime.max.replace(tzinfo=dt.UTC))


def _moment(text: str | None) -> dt.datetime | None:
    return parse_datetime(text) if text else None
