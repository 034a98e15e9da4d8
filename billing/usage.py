"""Usage across services, straight from the call records (billing.Cdr), grouped as a conferencing
bridge bills: per company, person and service (events, minutes, price where rated), and coarser for
the providers: per company (brand portal) and per brand (god portal). With the chart series of the
same filter: minutes per day and calls per hour of day, both counted by the database.

The person of a record is the moderator for a conference join, the user who placed a call, and the
user called for a notification. Everyone sees their scope (Cdr.objects.restrict); a user only the
rows where they are the person. Days and hours are in the current time zone (tenants.dates).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Case, Count, F, Max, Min, Q, QuerySet, Sum, When
from django.db.models.functions import ExtractHour, TruncDate
from django.utils import timezone

from billing.models import Cdr, Rating
from conferencing.reports import minutes
from tenants.models import Role, User

SERVICES = ["all", *Cdr.Service.values]
GROUPS = {"person": ("client_id", "person_id", "service"), "company": ("client_id",), "brand": ("brand_id",)}
COLUMNS = {
    "person": ["company", "person", "person_id", "service", "events", "minutes", "price"],
    "company": ["brand", "company", "events", "minutes", "price"],
    "brand": ["brand", "events", "minutes", "price"],
}
MAX_DAYS = 366


class UsageFilterError(ValueError):
    """A filter the actor may not use (error code `bad-usage-filter`), keyed by field."""

    code = "bad-usage-filter"

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def groups_for(actor) -> list[str]:
    """The groupings an actor may ask for, the default first."""
    return {Role.GOD: ["brand", "company", "person"], Role.BRAND: ["company", "person"]}.get(actor.role, ["person"])


def shows_price(actor) -> bool:
    """Prices are the provider's and the company's business (users see no rating)."""
    return actor.role in (Role.GOD, Role.BRAND, Role.CLIENT)


def usage_records(actor, *, service: str = "all", since: dt.datetime | None = None, until: dt.datetime | None = None,
                  client_id: int | None = None, person_id: int | None = None) -> QuerySet[Cdr]:  # fmt: skip
    """The finished records in the actor's scope and filter, each with its `person_id`."""
    if service not in SERVICES:
        raise UsageFilterError("service", f"Choose one of {', '.join(SERVICES)}.")
    # A user's own usage includes the joins of the rooms they moderate (their Cdr scope does not).
    own = actor.role == Role.USER
    records = Cdr.objects.filter(client_id=actor.client_id) if own else Cdr.objects.restrict(actor)
    records = records.filter(ended_at__isnull=False).annotate(
        person_id=Case(
            When(service=Cdr.Service.CONFERENCE, then=F("moderator_id")),
            When(service=Cdr.Service.NOTIFICATION, then=F("callee_account_id")),
            default=F("account_id"),
        )
    )
    if actor.role == Role.USER:
        records = records.filter(person_id=actor.pk)
    if service != "all":
        records = records.filter(service=service)
    records = records.started_within(since, until)
    if client_id is not None:
        records = records.filter(client_id=client_id)
    if person_id is not None:
        records = records.filter(person_id=person_id)
    return records


def usage_rows(actor, *, group: str = "", **filters) -> list[dict]:
    """The usage table: one row per group (see GROUPS), ordered by brand, company, person, service."""
    group = group or groups_for(actor)[0]
    if group not in groups_for(actor):
        raise UsageFilterError("group", f"Choose one of {', '.join(groups_for(actor))}.")
    keys = GROUPS[group]
    rated = Q(rating__status=Rating.Status.RATED)
    names = {"brand_id": "brand__name", "client_id": "client__name"}
    rows = (
        usage_records(actor, **filters)
        .values(
            *keys, *(names[k] for k in keys if k in names), *(["brand_id", "brand__name"] if group == "company" else [])
        )
        .annotate(events=Count("id"), seconds=Sum("billsec"), price=Sum("rating__price", filter=rated))
        .order_by(
            *(["brand__name"] if group != "person" else []), *(["client__name"] if group != "brand" else []), *keys
        )
    )
    rows = list(rows)
    people = User.objects.in_bulk([r["person_id"] for r in rows if r.get("person_id")]) if group == "person" else {}
    price = shows_price(actor)
    result = []
    for r in rows:
        row = {"events": r["events"], "minutes": minutes(r["seconds"]), "price": r["price"] if price else None}
        if group in ("brand", "company"):
            row.update(brand=r["brand__name"], brand_id=r.get("brand_id"))
        if group in ("company", "person"):
            row.update(company=r["client__name"], client_id=r["client_id"])
        if group == "person":
            person = people.get(r["person_id"])
            row.update(person=person.name if person else "", person_id=r["person_id"], service=r["service"])
        result.append(row)
    if group == "person":
        result.sort(key=lambda row: (row["company"], row["person"].lower(), row["person_id"] or 0, row["service"]))
    return result


def usage_totals(rows: list[dict]) -> dict:
    """The totals row: events, minutes and (when any row is priced) price."""
    prices = [r["price"] for r in rows if r.get("price") is not None]
    return {"events": sum(r["events"] for r in rows), "minutes": round(sum(r["minutes"] for r in rows), 2),
            "price": sum(prices, Decimal(0)) if prices else None}  # fmt: skip


def usage_series(actor, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
                 **filters) -> dict:  # fmt: skip
    """Minutes per day (every day of the period, zeros included) and calls per hour of day (0-23)."""
    records = usage_records(actor, since=since, until=until, **filters)
    zone = timezone.get_current_timezone()
    per_day = dict(
        records.annotate(day=TruncDate("started_at", tzinfo=zone))
        .values("day")
        .annotate(seconds=Sum("billsec"))
        .values_list("day", "seconds")
    )
    per_hour = dict(
        records.annotate(hour=ExtractHour("started_at", tzinfo=zone))
        .values("hour")
        .annotate(n=Count("id"))
        .values_list("hour", "n")
    )
    bounds = {"first": None, "last": None}
    if since is None or until is None:  # an open period: as far as the records go
        bounds = records.aggregate(first=Min("started_at"), last=Max("started_at"))
    first = since or bounds["first"]
    last = until - dt.timedelta(microseconds=1) if until else bounds["last"]
    first, last = (moment and moment.astimezone(zone).date() for moment in (first, last))
    days = []
    if first and last:
        if (last - first).days >= MAX_DAYS:
            raise UsageFilterError("until", f"Choose at most {MAX_DAYS} days for the charts.")
        days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    return {
        "minutes_per_day": [{"day": day, "minutes": minutes(per_day.get(day))} for day in days],
        "calls_per_hour": [{"hour": hour, "calls": per_hour.get(hour, 0)} for hour in range(24)],
    }
