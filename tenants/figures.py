"""What an operator's dashboard watches, within their scope: calls in progress, phones registered,
today's calls, minutes and failures (with their top causes), conferences running and their
participants, the busiest clients, and for the platform operator the engines and edges with their load.

Cheap by design, so the dashboard can be recomputed whenever calls start and end: calls in progress
and registered phones are counted in Redis (the engines' live call index, telephony/callindex.py, and
the edge's location index, telephony/edge/location.py: one pipeline for every client in scope);
today's calls are one query grouped by hang-up cause over the call records' (client|brand|-, started_at)
indexes; conferences running are the open conference records (the records' partial index of open
calls). The portal renders them first (tenants/views/portal.py); the WebSocket pushes them again when
they change (tenants/consumers.py, static/dashboard_live.js). The dict is JSON-able for that reason.
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo

import redis
from django.conf import settings
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce

from config.redis_store import get_redis, rkey
from records.models import Cdr
from telephony.callindex import live_key
from telephony.sip.reasons import reason_phrase
from tenants.models import Client, Role, User

TOP_CAUSES = 5
BUSIEST = 8


def _scope_zone(actor: User, clients: list[Client]) -> str:
    """A client's day is its own time zone's; a brand's and the platform's, the platform's."""
    if actor.role == Role.CLIENT and clients:
        return clients[0].timezone
    return settings.TIME_ZONE


def _start_of_day(zone_name: str, now: dt.datetime) -> dt.datetime:
    try:
        zone = zoneinfo.ZoneInfo(zone_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    local = now.astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def cause_label(cause: str) -> str:
    """A record's hang-up cause as people read it: `503 Service Unavailable`, `bye`."""
    if cause.isdigit():
        return f"{cause} {reason_phrase(int(cause))}"
    return cause or "unknown"


def _live_counts(client_ids: list[int]) -> tuple[dict[int, int], dict[int, int]]:
    """Calls in progress and registered devices per client, in one Redis round trip."""
    if not client_ids:
        return {}, {}
    now_ms = int(time.time() * 1000)
    prefix = settings.OCX_REDIS_PREFIX
    pipe = get_redis().pipeline(transaction=False)
    for pk in client_ids:
        pipe.hlen(live_key(prefix, pk))
        pipe.zcount(rkey("locidx", pk), now_ms, "+inf")
    answers = pipe.execute()
    calls = dict(zip(client_ids, answers[0::2], strict=True))
    registered = dict(zip(client_ids, answers[1::2], strict=True))
    return calls, registered


def _today(actor: User, since: dt.datetime) -> dict:
    """Today's calls, minutes and failures with their top causes: one query grouped by cause (a few
    dozen groups at most), over the index of the scope's records by start."""
    failed = Q(disposition=Cdr.Disposition.FAILED)
    groups = list(
        Cdr.objects.restrict(actor)
        .started_within(since)
        .order_by()
        .values("hangup_cause")
        .annotate(calls=Count("id"), seconds=Coalesce(Sum("billsec"), 0), failed=Count("id", filter=failed))
    )
    causes = sorted((g for g in groups if g["failed"]), key=lambda g: (-g["failed"], g["hangup_cause"]))
    return {
        "calls_today": sum(g["calls"] for g in groups),
        "minutes_today": round(sum(g["seconds"] for g in groups) / 60),
        "failed_today": sum(g["failed"] for g in groups),
        "causes": [
            {"cause": g["hangup_cause"], "label": cause_label(g["hangup_cause"]), "count": g["failed"]}
            for g in causes[:TOP_CAUSES]
        ],
    }


def _conferences(actor: User) -> dict:
    """Running conferences = conferences with a participant in (an open, answered conference record)."""
    open_rows = Cdr.objects.restrict(actor).active().filter(service=Cdr.Service.CONFERENCE, answered_at__isnull=False)
    joined = list(open_rows.order_by().values_list("client_id", "conference"))
    return {"conferences": len(set(joined)), "participants": len(joined)}


def _platform() -> dict:
    """The engines and edges, from their heartbeats in Redis (as the status page shows them)."""
    from tenants.selectors import telephony_status

    try:
        status = telephony_status()
    except redis.RedisError:
        return {"engines": [], "edges": []}
    engines = [
        {key: row[key] for key in ("id", "address", "calls", "capacity", "participants", "conference_free", "up")}
        | {"load": round(100 * row["calls"] / max(row["capacity"], 1)), "state": _state(row)}
        for row in status["engines"]
    ]
    edges = [{"id": e["id"], "address": e["address"], "age": e["age"], "up": e["up"]} for e in status["edges"]]
    return {"engines": engines, "edges": edges}


def _state(engine: dict) -> str:
    if not engine["up"]:
        return "down"
    return "draining" if engine["draining"] else "up"


def dashboard_figures(*, actor: User, now: dt.datetime | None = None) -> dict:
    """The live figures of the actor's dashboard (god, brand or client operator), JSON-able."""
    now = now or dt.datetime.now(dt.UTC)
    clients = list(Client.objects.restrict(actor).order_by().only("pk", "name", "timezone", "max_calls"))
    zone = _scope_zone(actor, clients)
    since = _start_of_day(zone, now)
    calls, registered = _live_counts([c.pk for c in clients])
    figures = {
        "calls_now": sum(calls.values()),
        "registered": sum(registered.values()),
        "today": since.date().isoformat(),
        "timezone": zone,
        **_today(actor, since),
        **_conferences(actor),
    }
    if actor.role == Role.CLIENT:
        figures["capacity"] = clients[0].max_calls if clients else 0
    else:
        busiest = sorted(clients, key=lambda c: (-calls[c.pk], -registered[c.pk], c.name))[:BUSIEST]
        figures["busiest"] = [
            {"id": c.pk, "name": c.name, "calls": calls[c.pk], "registered": registered[c.pk]}
            for c in busiest
            if calls[c.pk] or registered[c.pk]
        ]
    if actor.role == Role.GOD:
        figures.update(_platform())
    return figures
