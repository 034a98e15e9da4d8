"""Reads for the conferencing pages and API: which room fields are edited, what runs where, how the
campaigns stand, the rows of the reports."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, F, Q, QuerySet
from django.utils.dateparse import parse_datetime

from conferencing.live import running_conferences
from conferencing.models import Campaign, Message, Room, Target
from conferencing.reports import DETAIL_COLUMNS, detail_row
from conferencing.services import FIELDS
from records.models import Cdr
from tenants.models import Client, Role, User

# The fields the services write, in the model's order: the API and the portal form offer exactly these.
ROOM_FIELDS = [field.name for field in Room._meta.fields if field.name in FIELDS]


def dial_code(room: Room) -> str:
    """What a phone of the client dials to reach the room without being asked for its ID."""
    return f"*88{room.conference_id}"


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


# The per-number report of a campaign, as the page, the API and the CSV show it.
TARGET_COLUMNS = ["number", "state", "attempts", "last_called_at", "answered_at", "confirmed_at", "cause"]


def record_code(message: Message) -> str:
    """What its maker's phone dials to record a library message."""
    return f"*89{message.pk}"


def accounts_of(ids) -> dict[int, User]:
    """Accounts by id, in one query (they live in the public schema, rows in the client's)."""
    return {user.pk: user for user in User.objects.filter(pk__in=set(ids))}


def campaigns_counted(campaigns: QuerySet[Campaign]) -> QuerySet[Campaign]:
    """Campaigns with their message and how their numbers stand: how many numbers, confirmed,
    answered at least once, and still to call (pending, ringing, or not confirmed with a retry still
    to come: what campaign_maybe_done waits for)."""
    busy = Q(targets__state__in=[Target.State.PENDING, Target.State.CALLING])
    retry_left = ~Q(targets__state__in=[Target.State.CONFIRMED, Target.State.REFUSED]) & Q(
        targets__attempts__lte=F("retries")
    )
    counted = campaigns.select_related("message").annotate(
        numbers_count=Count("targets"),
        confirmed_count=Count("targets", filter=Q(targets__state=Target.State.CONFIRMED)),
        answered_count=Count("targets", filter=Q(targets__answered_at__isnull=False)),
        waiting_count=Count("targets", filter=busy | retry_left),
    )
    return counted.order_by(*Campaign._meta.ordering)  # a grouped query does not take the model's ordering


def target_row(target: Target) -> dict:
    return {name: getattr(target, name) for name in TARGET_COLUMNS}


def usage_totals(rows: list[dict]) -> dict:
    """The totals row of a conference usage report."""
    return {"events": sum(r["events"] for r in rows), "conferences": sum(r["conferences"] for r in rows),
            "minutes": round(sum(r["minutes"] for r in rows), 2)}  # fmt: skip


def detail_columns(actor: User) -> list[str]:
    """The per-conference report's columns: the provider and brands see the company too."""
    return ["company", *DETAIL_COLUMNS] if actor.role in (Role.GOD, Role.BRAND) else DETAIL_COLUMNS


def join_row(cdr: Cdr) -> dict:
    """One join of the per-conference report, with its company (select_related("client"))."""
    return {"company": cdr.client.name, "client_id": cdr.client_id, **detail_row(cdr)}
