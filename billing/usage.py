"""Usage across services, straight from the call records (records.Cdr), grouped as a conferencing
bridge bills: per company, person and service (events, minutes, price where rated), and coarser for
the providers: per company (brand portal) and per brand (god portal). With the chart series of the
same filter: minutes per day and calls per hour of day, both counted by the database.

The person of a record is the moderator for a conference join, the user who placed a call, and the
user called for a notification. A call whose parties changed (transfer, park, retrieve: its segments)
is billed per segment to the party on the caller's side of it: the caller for as long as they were
in the call, then whoever took that side (a caller who transferred away pays nothing after it left);
the record's price stays with the caller. Everyone sees their scope (Cdr.objects.restrict); a user only the
rows where they are the person. Days and hours are in the current time zone (tenants.dates).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import connection
from django.db.models import Case, Count, F, IntegerField, Max, Min, Q, QuerySet, Sum, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import ExtractHour, TruncDate
from django.utils import timezone
from django.utils.translation import gettext

from billing.models import Rating
from conferencing.reports import minutes
from records.models import Cdr
from tenants.models import Client, Role, User

SERVICES = ["all", *Cdr.Service.values]
GROUPS = {"person": ("client_id", "person_id", "service"), "company": ("client_id",), "brand": ("brand_id",)}
COLUMNS = {
    "person": ["company", "person", "person_id", "service", "events", "minutes", "price"],
    "company": ["brand", "company", "events", "minutes", "price"],
    "brand": ["brand", "events", "minutes", "price"],
}
MAX_DAYS = 366
CDR = Cdr._meta.db_table
# The seconds a call's person (its caller) is billed for: all of them, or with segments the segments
# the caller was on the caller's side of.
OWN_SECONDS = RawSQL(  # noqa: S611 - no outside input: the table name and literals
    f"(CASE WHEN {CDR}.service = 'call' AND jsonb_array_length({CDR}.segments) > 0 THEN (SELECT "  # noqa: S608
    f"coalesce(sum((s->>'seconds')::int), 0) FROM jsonb_array_elements({CDR}.segments) s "
    f"WHERE (s->>'caller_account')::bigint = {CDR}.account_id) ELSE {CDR}.billsec END)::int",
    [],
    output_field=IntegerField(),
)


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
    """The finished records in the actor's scope and filter, each with its `person_id` and the
    `seconds` that person is billed for (see above)."""
    records = _scoped(actor, service=service, since=since, until=until, client_id=client_id)
    if actor.role == Role.USER:
        records = records.filter(person_id=actor.pk)
    if person_id is not None:
        records = records.filter(person_id=person_id)
    return records


def _scoped(actor, *, service: str, since, until, client_id) -> QuerySet[Cdr]:
    if service not in SERVICES:
        raise UsageFilterError("service", gettext("Choose one of %(choices)s.") % {"choices": ", ".join(SERVICES)})
    # A user's own usage includes the joins of the rooms they moderate (their Cdr scope does not).
    own = actor.role == Role.USER
    records = Cdr.objects.filter(client_id=actor.client_id) if own else Cdr.objects.restrict(actor)
    # A conference's usage is its joins: a dial-out that never joined (refused, unanswered) is no event.
    records = records.filter(ended_at__isnull=False).exclude(service=Cdr.Service.CONFERENCE, answered_at__isnull=True)
    records = records.annotate(
        person_id=Case(
            When(service=Cdr.Service.CONFERENCE, then=F("moderator_id")),
            When(service=Cdr.Service.NOTIFICATION, then=F("callee_account_id")),
            default=F("account_id"),
        ),
        seconds=OWN_SECONDS,
    )
    if service != "all":
        records = records.filter(service=service)
    records = records.started_within(since, until)
    if client_id is not None:
        records = records.filter(client_id=client_id)
    return records


def segments_of_others(actor, **filters) -> dict[tuple[int, int], tuple[int, int]]:
    """(client, person) -> (calls, seconds) of the segments people were billed for in calls placed by
    someone else (they took the caller's side by a transfer or retrieve)."""
    return {(client, who): (calls, seconds) for client, who, calls, seconds in _others(actor, [], **filters)}


def _others(actor, keys: list[tuple[str, list]], *, service: str = "all", since=None, until=None, client_id=None,
            person_id=None) -> list[tuple]:  # fmt: skip
    """Rows of (*keys, client, person, calls, seconds) for segments_of_others; keys are SQL over the
    record `c` with their parameters."""
    if service not in ("all", Cdr.Service.CALL):
        return []
    records = _scoped(actor, service=Cdr.Service.CALL, since=since, until=until, client_id=client_id)
    inner, params = records.order_by().values("id", "client_id", "account_id", "segments",
                                              "started_at").query.sql_with_params()  # fmt: skip
    person = person_id if actor.role != Role.USER else actor.pk
    grouped = ", ".join([*(key for key, _ in keys), "c.client_id", "(s->>'caller_account')::bigint"])
    sql = (
        f"SELECT {grouped}, count(DISTINCT c.id), sum((s->>'seconds')::int) "  # noqa: S608
        f"FROM ({inner}) c CROSS JOIN LATERAL jsonb_array_elements(c.segments) s "
        "WHERE s->>'caller_account' IS NOT NULL AND (s->>'caller_account')::bigint IS DISTINCT FROM c.account_id"
        f"{' AND (s->>%s)::bigint = %s' if person is not None else ''} "
        f"GROUP BY {', '.join(str(n + 1) for n in range(len(keys) + 2))}"
    )
    arguments = [*(value for _, values in keys for value in values), *params]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*arguments, *(["caller_account", person] if person is not None else [])])
        return [(*row[:-2], row[-2], int(row[-1])) for row in cursor.fetchall()]


def usage_rows(actor, *, group: str = "", **filters) -> list[dict]:
    """The usage table: one row per group (see GROUPS), ordered by brand, company, person, service."""
    group = group or groups_for(actor)[0]
    if group not in groups_for(actor):
        raise UsageFilterError(
            "group", gettext("Choose one of %(choices)s.") % {"choices": ", ".join(groups_for(actor))}
        )
    keys = GROUPS[group]
    rated = Q(rating__status=Rating.Status.RATED)
    names = {"brand_id": "brand__name", "client_id": "client__name"}
    rows = (
        usage_records(actor, **filters)
        .values(
            *keys, *(names[k] for k in keys if k in names), *(["brand_id", "brand__name"] if group == "company" else [])
        )
        .annotate(
            events=Count("id"),
            talked=Sum("seconds" if group == "person" else "billsec"),
            price=Sum("rating__price", filter=rated),
        )
        .order_by(
            *(["brand__name"] if group != "person" else []), *(["client__name"] if group != "brand" else []), *keys
        )
    )
    rows = list(rows)
    if group == "person":
        _add_segments_of_others(actor, rows, filters)
    people = User.objects.in_bulk([r["person_id"] for r in rows if r.get("person_id")]) if group == "person" else {}
    price = shows_price(actor)
    result = []
    for r in rows:
        row = {"events": r["events"], "minutes": minutes(r["talked"]), "price": r["price"] if price else None}
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


def _add_segments_of_others(actor, rows: list[dict], filters: dict) -> None:
    """Per person: the calls others placed in which they took the caller's side, with its seconds."""
    others = segments_of_others(actor, **filters)
    if not others:
        return
    by_key = {(r["client_id"], r["person_id"], r["service"]): r for r in rows}
    names = dict(Client.objects.filter(pk__in={client for client, _ in others}).values_list("pk", "name"))
    for (client, person), (calls, seconds) in others.items():
        row = by_key.get((client, person, Cdr.Service.CALL))
        if row is None:
            row = by_key[(client, person, Cdr.Service.CALL)] = {
                "client_id": client, "client__name": names.get(client, ""), "person_id": person,
                "service": Cdr.Service.CALL, "events": 0, "talked": 0, "price": None,
            }  # fmt: skip
            rows.append(row)
        row["events"] += calls
        row["talked"] = (row["talked"] or 0) + int(seconds)


def usage_totals(rows: list[dict]) -> dict:
    """The totals row: events, minutes and (when any row is priced) price."""
    prices = [r["price"] for r in rows if r.get("price") is not None]
    return {"events": sum(r["events"] for r in rows), "minutes": round(sum(r["minutes"] for r in rows), 2),
            "price": sum(prices, Decimal(0)) if prices else None}  # fmt: skip


def usage_series(actor, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
                 **filters) -> dict:  # fmt: skip
    """Minutes per day (every day of the period, zeros included) and calls per hour of day (0-23). For
    one person (a user's own, or a person filter): what they are billed for, their segments of calls
    others placed included (see above)."""
    records = usage_records(actor, since=since, until=until, **filters)
    zone = timezone.get_current_timezone()
    one_person = actor.role == Role.USER or filters.get("person_id") is not None
    per_day = dict(
        records.annotate(day=TruncDate("started_at", tzinfo=zone))
        .values("day")
        .annotate(talked=Sum("seconds" if one_person else "billsec"))
        .values_list("day", "talked")
    )
    per_hour = dict(
        records.annotate(hour=ExtractHour("started_at", tzinfo=zone))
        .values("hour")
        .annotate(n=Count("id"))
        .values_list("hour", "n")
    )
    if one_person:
        local = ("c.started_at AT TIME ZONE %s", [str(zone)])
        keys = [(f"({local[0]})::date", local[1]), (f"extract(hour FROM {local[0]})::int", local[1])]
        for day, hour, _, _, calls, seconds in _others(actor, keys, since=since, until=until, **filters):
            per_day[day] = (per_day.get(day) or 0) + seconds
            per_hour[hour] = per_hour.get(hour, 0) + calls
    bounds = {"first": None, "last": None}
    if since is None or until is None:  # an open period: as far as the records go
        bounds = records.aggregate(first=Min("started_at"), last=Max("started_at"))
    first = since or bounds["first"]
    last = until - dt.timedelta(microseconds=1) if until else bounds["last"]
    first, last = (moment and moment.astimezone(zone).date() for moment in (first, last))
    days = []
    if first and last:
        if (last - first).days >= MAX_DAYS:
            raise UsageFilterError(
                "until", gettext("Choose at most %(days)s days for the charts.") % {"days": MAX_DAYS}
            )
        days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    return {
        "minutes_per_day": [{"day": day, "minutes": minutes(per_day.get(day))} for day in days],
        "calls_per_hour": [{"hour": hour, "calls": per_hour.get(hour, 0)} for hour in range(24)],
    }
