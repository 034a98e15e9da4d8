"""Writing call detail records (records.Cdr) from the engine.

A call's row is written when it starts, updated when it is answered and when it ends. The engine
hands these writes to one writer thread with its own PostgreSQL connection: they reach the
database in order, a few milliseconds later, and when calls come fast several go in one
transaction. The event loop never waits for the database. Each write is first a line in the engine's
spool on local disk (records/spool.py), so a record outlives the engine while the database
is away; a write that fails (database restarting) is retried, in order, until it succeeds. Records an
engine leaves open when it dies are closed by the survivors at its last heartbeat (cdr_close_lost),
and its spool is adopted by an engine of the same host (CdrWriter.adopt_orphans).
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

from records.models import Cdr
from records.spool import Spool, Write
from tenants.models import AuditEvent

log = logging.getLogger(__name__)
TABLE = Cdr._meta.db_table
AUDIT_TABLE = AuditEvent._meta.db_table
BATCH = 200


def open_values(*, call_uuid, engine: str, route, started_at: dt.datetime, dialled: str = "",
                direction: str = Cdr.Direction.INTERNAL, service: str = Cdr.Service.CALL, conference: str = "",
                moderator: int | None = None, carrier: int | None = None) -> dict:  # fmt: skip
    caller, callee = route.caller, route.callee
    return {
        "call_uuid": call_uuid, "engine": engine, "brand_id": route.brand, "client_id": route.client,
        "account_id": caller.account, "callee_account_id": callee.account if callee else None,
        "direction": direction, "disposition": Cdr.Disposition.IN_PROGRESS, "caller_number": caller.number,
        "caller_name": caller.name, "callee_number": callee.number if callee else printable(dialled, 64),
        "callee_name": callee.name if callee else "", "started_at": started_at, "duration": 0, "billsec": 0,
        "hangup_cause": "", "hangup_side": "", "quality": {}, "legs": [], "service": service,
        "conference": conference, "moderator_id": moderator, "carrier_id": carrier,
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
    """One thread, one connection, writes in order; `open`, `answered` and `close` return at once, with
    the write in the spool when the engine has one."""

    def __init__(self, spool: Spool | None = None):
        db = settings.DATABASES["default"]
        self.dsn = {"host": db["HOST"], "port": db["PORT"] or 5432, "user": db["USER"], "password": db["PASSWORD"],
                    "dbname": db["NAME"]}  # fmt: skip
        self.spool = spool
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.pending = 0
        self._lock = threading.Lock()
        self.idle = threading.Event()
        self.idle.set()
        self._thread = threading.Thread(target=self._run, name="cdr-writer", daemon=True)
        self._thread.start()

    def open(self, **fields) -> None:
        values = open_values(**fields)
        self._put(Write("open", str(values["call_uuid"]), values))

    def answered(self, call_uuid, at: dt.datetime, by: str = "") -> None:
        self._put(Write("update", str(call_uuid), {"answered_at": at, **({"answered_by": by} if by else {})}))

    def audit(self, call_uuid, **fields) -> None:
        """An audit row about a call (a supervision), written in the call's order."""
        self._put(Write("audit", str(call_uuid), fields))

    def update(self, call_uuid, **values) -> None:
        self._put(Write("update", str(call_uuid), values))

    def close(self, call_uuid, **fields) -> None:
        self._put(Write("close", str(call_uuid), close_values(**fields)))

    def lost(self, call_uuid, at: dt.datetime) -> None:
        """A call of a dead engine that never ended: it ends at `at`, cause engine-lost."""
        self._put(Write("lost", str(call_uuid), {"ended_at": at}))

    def _put(self, write: Write) -> None:
        with self._lock:  # the spool's lines and the queue in the same order, whichever thread writes
            segment = 0
            if self.spool is not None:
                try:
                    segment = self.spool.append(write)
                except OSError:  # disk full...: the write still goes to the database from memory
                    log.exception("a call record write could not be spooled")
            self.pending += 1
            self.idle.clear()
            self.queue.put((write, segment))

    def wait(self, timeout: float) -> bool:
        """Until every queued write is in the database (shutdown); False on timeout."""
        return self.idle.wait(timeout)

    def adopt_orphans(self) -> int:
        """File work (run it in a thread): the spools of this host's engines that died go into ours, in
        their order, and the calls they never closed end at their last sign of life. Returns the writes
        taken over."""
        spool = self.spool
        if spool is None:
            return 0
        adopted = 0
        for name, writes, last_seen in spool.orphans():
            ended = {w.call_uuid for w in writes if w.op in ("close", "lost")}
            for write in writes:
                self._put(write)
            for call_uuid in dict.fromkeys(w.call_uuid for w in writes if w.call_uuid not in ended):
                self.lost(call_uuid, last_seen)
            with self._lock:
                if self.spool is None:  # we are stopping: theirs stays for the next engine (writing twice is harmless)
                    break
                self.spool.sync()  # ours holds them on disk before theirs goes
            adopted += len(writes)
            if writes:
                log.warning("took over %d call record writes of engine %s, which died", len(writes), name)
        return adopted

    def touch(self) -> None:
        """A sign of life in our spool (every heartbeat): where our open calls end if we die."""
        with self._lock:
            if self.spool is not None:
                self.spool.touch()

    def close_spool(self) -> None:
        with self._lock:
            if self.spool is not None:
                self.spool.close()
                self.spool = None

    def _write(self, connection, batch: list) -> psycopg.Connection:
        """The batch in one transaction; if the database refuses it, each write on its own, so one bad
        record (logged and dropped) never holds back the others; the database being away is waited out.
        Retrying is safe: the INSERT ignores a row already there, the UPDATEs set the same values."""
        while True:
            try:
                if connection is None or connection.closed:
                    connection = psycopg.connect(**self.dsn, options="-c search_path=public")
                try:
                    with connection.transaction(), connection.cursor() as cursor:
                        for write in batch:
                            _execute(cursor, write)
                except psycopg.OperationalError:
                    raise
                except Exception:
                    log.warning("a batch of call records was refused; writing them one by one", exc_info=True)
                    for write in batch:
                        self._one(connection, write)
                return connection
            except psycopg.OperationalError:
                log.exception("the database is away; %d call records wait", len(batch))
                if connection is not None:
                    connection.close()
                connection = None
                time.sleep(1.0)

    @staticmethod
    def _one(connection, write: Write) -> None:
        try:
            with connection.transaction(), connection.cursor() as cursor:
                _execute(cursor, write)
        except psycopg.OperationalError:
            raise
        except Exception:
            log.exception("a call record was refused and dropped: %r", write)

    def _run(self) -> None:
        connection = None
        while True:
            batch = [self.queue.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            spool = self.spool
            if spool is not None:
                try:
                    spool.sync()
                except (OSError, IndexError):  # closed meanwhile, or the disk failed: the database still gets them
                    log.warning("the call record spool could not be synced", exc_info=True)
            connection = self._write(connection, [write for write, _ in batch])
            with self._lock:
                self.pending -= len(batch)
                if self.spool is not None:
                    try:
                        self.spool.written(through=batch[-1][1], everything=self.pending == 0)
                    except OSError:
                        log.warning("the call record spool could not be emptied", exc_info=True)
                if self.pending == 0:
                    self.idle.set()


def _execute(cursor, write: Write) -> None:
    if write.op == "open":
        cursor.execute(*insert_sql(write.values))
    elif write.op in ("update", "close"):
        cursor.execute(*update_sql(write.call_uuid, write.values))
    elif write.op == "lost":
        row = cursor.execute(
            sql.SQL("SELECT started_at, answered_at, quality, legs, segments, supervisions FROM {} WHERE "
                    "call_uuid = %s AND (ended_at IS NULL OR hangup_cause = 'engine-lost') FOR UPDATE"
                    ).format(sql.Identifier(TABLE)),
            [write.call_uuid],
        ).fetchone()  # fmt: skip
        if row is not None:
            cursor.execute(*update_sql(write.call_uuid, lost_values(*row, at=write.values["ended_at"])))
    elif write.op == "audit":
        at = write.values["at"]  # a string when the write comes back from a spool
        values = {**write.values, "at": dt.datetime.fromisoformat(at) if isinstance(at, str) else at}
        cursor.execute(*audit_sql(**values))
    else:
        raise ValueError(f"unknown call record write {write.op!r}")


def lost_values(started_at: dt.datetime, answered_at: dt.datetime | None, quality: dict, legs: list,
                segments: list, supervisions: list, *, at: dt.datetime) -> dict:  # fmt: skip
    """How a call ends when its engine died: at the engine's last sign of life (never before it began)."""
    return close_values(started_at=started_at, answered_at=answered_at, ended_at=max(at, answered_at or started_at),
                        disposition=Cdr.Disposition.ANSWERED if answered_at else Cdr.Disposition.FAILED,
                        cause="engine-lost", side="engine", quality=quality, legs=legs,
                        segments=segments, supervisions=supervisions)  # fmt: skip


def cdr_close_lost(live: set[str], *, last_seen: dict[str, dt.datetime], now: dt.datetime) -> int:
    """Close the open records of engines that are not live (died, killed): their calls went with them,
    at the engine's last heartbeat (`last_seen`; `now` for an engine the registry lost).
    Any surviving engine may run this; rows another survivor is closing are skipped."""
    closed = 0
    with transaction.atomic():
        lost = Cdr.objects.select_for_update(skip_locked=True).filter(ended_at__isnull=True).exclude(engine__in=live)
        for cdr in lost:
            at = last_seen.get(cdr.engine)
            if at is None:
                log.warning("engine %s is not in the registry: its call %s ends now", cdr.engine, cdr.call_uuid)
            values = lost_values(cdr.started_at, cdr.answered_at, cdr.quality, cdr.legs, cdr.segments,
                                 cdr.supervisions, at=at or now)  # fmt: skip
            Cdr.objects.filter(pk=cdr.pk).update(**values)
            closed += 1
    return closed
