"""Conference usage, straight from the call records (records.Cdr, service "conference": one row per
join, called at = started_at, joined at = answered_at, disconnected at = ended_at).

Usage per company and moderator (events, total minutes, conferences) and the per-conference
report (caller, name, called at, joined, disconnected, minutes), for the portals, the API and CSV.
Everyone sees their scope: the provider all companies, a brand its companies, an operator the
company, a moderator the conferences of their own rooms.
"""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet, Sum

from records.models import Cdr
from tenants.models import Role

USAGE_COLUMNS = ["company", "moderator", "moderator_id", "service", "events", "conferences", "minutes"]
DETAIL_COLUMNS = ["conference", "caller_number", "caller_name", "direction", "called_at", "joined_at",
                  "disconnected_at", "minutes", "engine"]  # fmt: skip


def conference_records(actor) -> QuerySet[Cdr]:
    """The conference joins the actor may see."""
    joins = Cdr.objects.filter(service=Cdr.Service.CONFERENCE)
    if actor.role == Role.USER:
        return joins.filter(client_id=actor.client_id).filter(Q(moderator_id=actor.pk) | Q(account_id=actor.pk))
    return joins.restrict(actor)


def minutes(seconds: int | None) -> float:
    return round((seconds or 0) / 60, 2)


def conference_usage(actor, *, since=None, until=None) -> list[dict]:
    """Per company and moderator: joins (events), distinct conferences and minutes in conferences.
    Attempts that never joined (a dial-out refused or unanswered, a wrong PIN) are not usage."""
    rows = (
        conference_records(actor)
        .started_within(since, until)
        .filter(ended_at__isnull=False, answered_at__isnull=False)
        .values("client_id", "client__name", "moderator_id", "moderator__name")
        .annotate(events=Count("id"), conferences=Count("conference", distinct=True), seconds=Sum("billsec"))
        .order_by("client__name", "moderator__name", "moderator_id")
    )
    return [
        {
            "company": r["client__name"],
            "client_id": r["client_id"],
            "moderator": r["moderator__name"] or "",
            "moderator_id": r["moderator_id"],
            "service": "conference",
            "events": r["events"],
            "conferences": r["conferences"],
            "minutes": minutes(r["seconds"]),
        }
        for r in rows
    ]


def conference_detail(actor, *, conference: str = "", client_id: int | None = None, moderator_id: int | None = None,
                      since=None, until=None) -> QuerySet[Cdr]:  # fmt: skip
    """The joins (one row each), newest first, narrowed to a conference, company or moderator."""
    records = conference_records(actor).started_within(since, until).filter(ended_at__isnull=False)
    if conference:
        records = records.filter(conference=conference)
    if client_id is not None:
        records = records.filter(client_id=client_id)
    if moderator_id is not None:
        records = records.filter(moderator_id=moderator_id)
    return records.order_by("-started_at", "-id")


def dial_outs_failed(actor, *, client_id: int, conference: str, since) -> QuerySet[Cdr]:
    """A room's calls out that never joined (busy, 480, no answer, no such line), newest first."""
    return (
        conference_records(actor)
        .filter(client_id=client_id, conference=conference, direction=Cdr.Direction.OUTBOUND)
        .filter(started_at__gte=since, ended_at__isnull=False, answered_at__isnull=True)
        .order_by("-started_at", "-id")
    )


def detail_row(cdr: Cdr) -> dict:
    return {"conference": cdr.conference, "caller_number": cdr.caller_number, "caller_name": cdr.caller_name,
            "direction": "dial-out" if cdr.direction == Cdr.Direction.OUTBOUND else "dial-in",
            "called_at": cdr.started_at, "joined_at": cdr.answered_at, "disconnected_at": cdr.ended_at,
            "minutes": minutes(cdr.billsec), "engine": cdr.engine}  # fmt: skip
