"""Writing call detail records (billing.Cdr) from the engine.

A call's row is written when it starts, updated when it is answered and when it ends. The engine
hands these writes to one writer thread with its own PostgreSQL connection: they reach the
database in order, a few milliseconds later, and when calls come fast several go in one
transaction. The event loop never waits for the database. A write that fails (database restarting)
is retried, in order, until it succeeds, so no record is lost while the engine lives; records an
engine leaves open when it dies are closed by the survivors (cdr_close_lost).
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time

import psycopg
from django.conf import settings
from django.db import transaction
from psycopg import sql
from psycopg.types.json import Jsonb

from billing.models import Cdr
from tenants.models import AuditEvent

log = logging.getLogger(__name__)
TABLE = Cdr._meta.db_table
AUDIT_TABLE = AuditEvent._meta.db_table
BATCH = 200


def open_values(*, call_uuid, engine: str, route, started_at: dt.datetime, dialled: str = "",
                direction: str = Cdr.Direction.INTERNAL, service: str = Cdr.Service.CALL, conference: str = "",
                moderator: int | None = None) -> dict:  # fmt: skip
    caller, callee = route.caller, route.callee
    return {
        "call_uuid": call_uuid, "engine": engine, "brand_id": route.brand, "client_id": route.client,
        "account_id": caller.account, "callee_account_id": callee.account if callee else None,
        "direction": direction, "disposition": Cdr.Disposition.IN_PROGRESS, "caller_number": caller.number,
        "caller_name": caller.name, "callee_number": callee.number if callee else printable(dialled, 64),
        "callee_name": callee.name if callee else "", "started_at": started_at, "duration": 0, "billsec": 0,
        "hangup_cause": "", "hangup_side": "", "quality": {}, "legs": [], "service": service,
        "conference": conference, "moderator_id": moderator,
    }  # fmt: skip


def printable(text: str, limit: int) -> str:
    """What a phone dialled, as a record can hold it: valid text, no control characters, bounded."""
    clean = text.encode("utf-8", "replace").decode("utf-8", "replace")
    return "".join(ch for ch in clean if ch.isprintable())[:limit]


def close_values(*, started_at: dt.datetime, answered_at: dt.datetime | None, ended_at: dt.datetime,
                 disposition: str, cause: str, side: str, quality: dict, legs: list, segments: list | None = None,
                 supervisions: list | None = None) -> dict:  # fmt: skip
    values = {
        "ended_at": ended_at, "duration": max(0, round((ended_at - started_at).total_seconds())),
        "billsec": max(0, round((ended_at - answered_at).total_seconds())) if answered_at else 0,
        "disposition": disposition, "hangup_cause": cause[:40], "hangup_side": side, "quality": quality, "legs": legs,
    }  # fmt: skip
    if segments is not None:
        values["segments"] = close_open(segments, ended_at)
    if supervisions is not None:
        values["supervisions"] = close_open(supervisions, ended_at)
    return values


def close_open(periods: list[dict], at: dt.datetime) -> list[dict]:
    """Segments or supervisions with the one still open (no `ended_at`) ended at `at`."""
    closed = []
    for period in periods:
        if period.get("ended_at") is None and period.get("began_at"):
            began = dt.datetime.fromisoformat(period["began_at"])
            period = {**period, "ended_at": at.isoformat(), "seconds": max(0, round((at - began).total_seconds()))}
        closed.append(period)
    return closed


def _sql_value(value):
    return Jsonb(value) if isinstance(value, dict | list) else value


def insert_sql(values: dict) -> tuple[sql.Composed, list]:
    """An INSERT that a retry after a lost COMMIT answer cannot turn into a duplicate or an error."""
    statement = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (call_uuid) DO NOTHING").format(
        sql.Identifier(TABLE), sql.SQL(", ").join(map(sql.Identifier, values)),
        sql.SQL(", ").join(sql.Placeholder() * len(values)),
    )  # fmt: skip
    return statement, [_sql_value(v) for v in values.values()]


def audit_sql(
    *, action: str, brand: int, client: int, target: str, data: dict, at: dt.datetime
) -> tuple[sql.Composed, list]:
    """An audit row (tenants.AuditEvent) for what the engine did on nobody's web request (a supervision)."""
    values = {"at": at, "actor_email": "", "action": action, "brand_id": brand, "client_id": client,
              "target": target[:200], "data": data}  # fmt: skip
    statement = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(AUDIT_TABLE), sql.SQL(", ").join(map(sql.Identifier, values)),
        sql.SQL(", ").join(sql.Placeholder() * len(values)),
    )  # fmt: skip
    return statement, [_sql_value(v) for v in values.values()]


def update_sql(call_uuid, values: dict) -> tuple[sql.Composed, list]:
    assignments = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(column)) for column in values)
    statement = sql.SQL("UPDATE {} SET {} WHERE call_uuid = %s").format(sql.Identifier(TABLE), assignments)
    return statement, [*map(_sql_value, values.values()), call_uuid]


class CdrWriter:
    """One thread, one connection, writes in order; `open`, `answered` and `close` return at once."""

    def __init__(self):
        db = settings.DATABASES["default"]
        self.dsn = {"host": db["HOST"], "port": db["PORT"] or 5432, "user": db["USER"], "password": db["PASSWORD"],
                    "dbname": db["NAME"]}  # fmt: skip
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.pending = 0
        self._lock = threading.Lock()
        self.idle = threading.Event()
        self.idle.set()
        self._thread = threading.Thread(target=self._run, name="cdr-writer", daemon=True)
        self._thread.start()

    def open(self, **fields) -> None:
        self._put(insert_sql(open_values(**fields)))

    def answered(self, call_uuid, at: dt.datetime, by: str = "") -> None:
        self._put(update_sql(call_uuid, {"answered_at": at, **({"answered_by": by} if by else {})}))

    def audit(self, **fields) -> None:
        self._put(audit_sql(**fields))

    def update(self, call_uuid, **values) -> None:
        self._put(update_sql(call_uuid, values))

    def close(self, call_uuid, **fields) -> None:
        self._put(update_sql(call_uuid, close_values(**fields)))

    def _put(self, statement: tuple[sql.Composed, list]) -> None:
        with self._lock:
            self.pending += 1
            self.idle.clear()
        self.queue.put(statement)

    def wait(self, timeout: float) -> bool:
        """Until every queued write is in the database (shutdown); False on timeout."""
        return self.idle.wait(timeout)

    def _write(self, connection, batch: list) -> psycopg.Connection:
        """The batch in one transaction; if the database refuses it, each statement on its own, so one bad
        record (logged and dropped) never holds back the others; the database being away is waited out.
        Retrying is safe: the INSERT ignores a row already there, the UPDATEs set the same values."""
        while True:
            try:
                if connection is None or connection.closed:
                    connection = psycopg.connect(**self.dsn, options="-c search_path=public")
                try:
                    with connection.transaction(), connection.cursor() as cursor:
                        for statement, params in batch:
                            cursor.execute(statement, params)
                except psycopg.OperationalError:
                    raise
                except Exception:
                    log.warning("a batch of call records was refused; writing them one by one", exc_info=True)
                    for statement, params in batch:
                        self._one(connection, statement, params)
                return connection
            except psycopg.OperationalError:
                log.exception("the database is away; %d call records wait", len(batch))
                if connection is not None:
                    connection.close()
                connection = None
                time.sleep(1.0)

    @staticmethod
    def _one(connection, statement, params) -> None:
        try:
            with connection.transaction(), connection.cursor() as cursor:
                cursor.execute(statement, params)
        except psycopg.OperationalError:
            raise
        except Exception:
            log.exception("a call record was refused and dropped: %r", params)

    def _run(self) -> None:
        connection = None
        while True:
            batch = [self.queue.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            connection = self._write(connection, batch)
            with self._lock:
                self.pending -= len(batch)
                if self.pending == 0:
                    self.idle.set()


def cdr_close_lost(live: set[str], *, at: dt.datetime) -> int:
    """Close the open records of engines that are not live (died, killed): their calls went with them.
    Any surviving engine may run this; rows another survivor is closing are skipped."""
    closed = 0
    with transaction.atomic():
        lost = Cdr.objects.select_for_update(skip_locked=True).filter(ended_at__isnull=True).exclude(engine__in=live)
        for cdr in lost:
            disposition = Cdr.Disposition.ANSWERED if cdr.answered_at else Cdr.Disposition.FAILED
            values = close_values(started_at=cdr.started_at, answered_at=cdr.answered_at, ended_at=at,
                                  disposition=disposition, cause="engine-lost", side="engine", quality=cdr.quality,
                                  legs=cdr.legs, segments=cdr.segments, supervisions=cdr.supervisions)  # fmt: skip
            Cdr.objects.filter(pk=cdr.pk).update(**values)
            closed += 1
    return closed
