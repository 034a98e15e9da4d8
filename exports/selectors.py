"""Reads for CDR exports: which records an actor exports with which filters, and the SQL that writes
them as CSV through PostgreSQL's COPY (billing.csvio), at about `psql \\copy`'s rate with flat memory.

The columns a billing system needs: id, created at, company, user (a conference's moderator), service
type and id, destination number, direction, called at, joined at, disconnected at, duration, billable
seconds, cost, price, engine; then who answered, who talked with whom (segments) and who listened in
(supervisions). Cost and price come from billing's rating (rated_prices).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from django.db import connection
from django.db.models import BigIntegerField, QuerySet, Value

from billing.csvio import copy_csv, text_sql, time_sql
from billing.models import Rating
from exports.models import ExportJob
from records.models import Cdr
from records.selectors import records_finished
from tenants.models import Client, Role, User

COLUMNS = ["id", "call_uuid", "created_at", "company", "company_id", "user_id", "user_name", "service_type",
           "service_id", "caller_number", "caller_name", "destination_number", "direction", "disposition", "called_at",
           "joined_at", "disconnected_at", "duration", "billable_seconds", "cost", "price", "engine", "answered_by",
           "segments", "supervisions"]  # fmt: skip
# The record's own columns the export reads (the scope and filters come from the ORM, see export_sql).
CDR_FIELDS = ["id", "call_uuid", "client_id", "account_id", "callee_account_id", "moderator_id", "service",
              "conference", "caller_number", "caller_name", "callee_number", "direction", "disposition", "started_at",
              "answered_at", "ended_at", "duration", "billsec", "engine", "answered_by", "segments",
              "supervisions"]  # fmt: skip
# Who talked with whom (a record's segments) and who listened in (its supervisions), one cell each:
# "answer 101-102 10s; transfer 101-103 23s" and "monitor 103 102 <from>/<to> 8s". The cells start with
# a word and hold numbers, times and words the engine wrote: nothing a spreadsheet takes for a formula.
SEGMENT = "concat_ws(' ', {0}->>'reason', concat({0}->>'caller', '-', {0}->>'callee'), concat({0}->>'seconds', 's'))"
SUPERVISION = ("concat_ws(' ', {0}->>'mode', {0}->>'supervisor', {0}->>'agent_number', "
               "concat({0}->>'began_at', '/', {0}->>'ended_at'), concat({0}->>'seconds', 's'))")  # fmt: skip


def periods_sql(column: str, element: str) -> str:
    """The cell of a JSON list of segments or supervisions: empty, the one (most answered calls have
    one segment: no subquery), or each in order; on one line."""
    many = (f"(SELECT string_agg({element.format('e')}, '; ' ORDER BY n) "  # noqa: S608
            f"FROM jsonb_array_elements({column}) WITH ORDINALITY AS t(e, n))")  # fmt: skip
    one = element.format(f"({column}->0)")
    cell = f"CASE jsonb_array_length({column}) WHEN 0 THEN '' WHEN 1 THEN {one} ELSE {many} END"
    return f"translate({cell}, E'\\r\\n', '  ')"


@dataclass(frozen=True)
class CdrFilter:
    """What an export is narrowed to: called between since (included) and until (excluded), a company,
    a service (call, conference, notification), a direction (internal, inbound, outbound)."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    client: int | None = None
    service: str = ""
    direction: str = ""

    def as_json(self) -> dict:
        data = asdict(self)
        data["since"] = self.since.isoformat() if self.since else None
        data["until"] = self.until.isoformat() if self.until else None
        return data

    @classmethod
    def from_json(cls, data: dict) -> CdrFilter:
        moment = {key: dt.datetime.fromisoformat(data[key]) if data.get(key) else None for key in ("since", "until")}
        return cls(**moment, client=data.get("client"), service=data.get("service") or "",
                   direction=data.get("direction") or "")  # fmt: skip


def cdr_export_records(*, actor: User, filters: CdrFilter) -> QuerySet[Cdr]:
    """The finished calls the actor may export (Cdr.restrict), narrowed by the filters."""
    records = records_finished(actor=actor, since=filters.since, until=filters.until)
    if filters.client is not None:
        records = records.filter(client_id=filters.client)
    if filters.service:
        records = records.filter(service=filters.service)
    if filters.direction:
        records = records.filter(direction=filters.direction)
    if actor.role == Role.USER:  # a user's own supervisions only (telephony.selectors.supervisions_seen_by)
        records = records.annotate(supervisions_of=Value(actor.pk, output_field=BigIntegerField()))
    return records


def count_upto(records: QuerySet[Cdr], limit: int) -> int:
    """How many records, counting no further than limit + 1 (enough to choose stream or job)."""
    return records.order_by()[: limit + 1].count()


def rated_prices() -> tuple[str, str, str, str]:
    """Where billing's rating keeps each call's cost and price (billing.Rating, one row per CDR): its
    table, CDR column, cost column and price column. An unrated call's cost and price stay empty."""
    meta = Rating._meta
    return meta.db_table, meta.get_field("cdr").column, meta.get_field("cost").column, meta.get_field("price").column


def export_sql(records: QuerySet[Cdr], *, order: tuple[str, ...] = ("started_at", "id")) -> tuple[str, tuple]:
    """The SELECT (and its parameters) of the export's columns for these records, in this order. The
    scope and filters are the ORM's; names come by LEFT JOIN, so calls of a company or user since deleted
    are still exported."""
    own = "supervisions_of" in records.query.annotations  # (cdr_export_records: a user's export)
    inner, params = (
        records.order_by().values(*CDR_FIELDS, *(["supervisions_of"] if own else [])).query.sql_with_params()
    )
    supervisions = "c.supervisions"
    if own:
        supervisions = ("(SELECT coalesce(jsonb_agg(e ORDER BY n), '[]'::jsonb) FROM "
                        "jsonb_array_elements(c.supervisions) WITH ORDINALITY AS t(e, n) "
                        "WHERE (e->>'supervisor_account')::bigint = c.supervisions_of)")  # fmt: skip
    q = connection.ops.quote_name
    user = "CASE WHEN c.service = 'conference' THEN c.moderator_id ELSE coalesce(c.account_id, c.callee_account_id) END"
    table, link, cost_column, price_column = rated_prices()
    join_rated = f" LEFT JOIN {q(table)} r ON r.{q(link)} = c.id"
    cost, price = f"r.{q(cost_column)}", f"r.{q(price_column)}"
    columns = [
        "c.id", "c.call_uuid", time_sql("c.started_at"), text_sql("cl.name"), "c.client_id", user, text_sql("u.name"),
        "c.service", text_sql("CASE WHEN c.service = 'conference' THEN c.conference ELSE '' END"),
        text_sql("c.caller_number"), text_sql("c.caller_name"), text_sql("c.callee_number"), "c.direction",
        "c.disposition",
        time_sql("c.started_at"), time_sql("c.answered_at"), time_sql("c.ended_at"), "c.duration", "c.billsec",
        cost, price, text_sql("c.engine"), text_sql("c.answered_by"),
        periods_sql("c.segments", SEGMENT), periods_sql(supervisions, SUPERVISION),
    ]  # fmt: skip
    sql = (  # identifiers quoted, values bound
        f"SELECT {', '.join(columns)} FROM ({inner}) c"  # noqa: S608
        f" LEFT JOIN {q(Client._meta.db_table)} cl ON cl.id = c.client_id"
        f" LEFT JOIN {q(User._meta.db_table)} u ON u.id = {user}{join_rated}"
        f" ORDER BY {', '.join('c.' + q(name) for name in order)}"
    )
    return sql, tuple(params)


def cdr_csv(
    records: QuerySet[Cdr], *, bom: bool = False, order: tuple[str, ...] = ("started_at", "id")
) -> Iterator[bytes]:
    """The records as CSV bytes, header first, streamed by COPY on the current database connection."""
    sql, params = export_sql(records, order=order)
    with connection.cursor() as cursor:
        yield from copy_csv(cursor.cursor, sql, params, COLUMNS, bom=bom)


def export_jobs_of(*, actor: User) -> QuerySet[ExportJob]:
    return ExportJob.objects.restrict(actor).select_related("requested_by")
