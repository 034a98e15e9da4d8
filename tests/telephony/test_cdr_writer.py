"""The engine's call-record writer: in order, off the event loop, and never stopped by one bad record."""

from __future__ import annotations

import uuid

import psycopg
from django.utils import timezone
from psycopg import sql

from billing.models import Cdr
from telephony.engine.cdrs import CdrWriter
from telephony.engine.dialplan import Party, Route
from tests.telephony.test_engine_calls import database_url


def test_a_refused_record_is_dropped_alone_and_odd_dialled_text_is_stored_clean(world):
    writer = CdrWriter()
    route = Route(client=world.client_a1.pk, brand=world.brand_a.pk, domain="x", caller=Party("101", "A", None),
                  callee=None, status=404)  # fmt: skip
    started = timezone.now()
    first, second = uuid.uuid4(), uuid.uuid4()
    try:
        writer.open(call_uuid=first, engine="t", route=route, started_at=started, dialled="\udcff9\x00" + "9" * 80)
        writer._put((sql.SQL("INSERT INTO no_such_table VALUES (1)"), []))  # the database refuses this one
        writer.open(call_uuid=second, engine="t", route=route, started_at=started, dialled="200")
        writer.open(call_uuid=second, engine="t", route=route, started_at=started, dialled="200")  # a retry
        writer.close(second, started_at=started, answered_at=None, ended_at=started, disposition="failed",
                     cause="404", side="engine", quality={}, legs=[])  # fmt: skip
        assert writer.wait(10), "the writer stalled"
        with psycopg.connect(database_url()) as db:
            rows = dict(db.execute("SELECT call_uuid, callee_number FROM billing_cdr WHERE call_uuid = ANY(%s)",
                                   [[first, second]]).fetchall())  # fmt: skip
            closed = db.execute("SELECT disposition FROM billing_cdr WHERE call_uuid = %s", [second]).fetchone()
        assert rows == {first: "?9" + "9" * 62, second: "200"}  # surrogate replaced, NUL gone, 64 at most
        assert closed == (Cdr.Disposition.FAILED,)
    finally:
        with psycopg.connect(database_url(), autocommit=True) as db:
            db.execute("DELETE FROM billing_cdr WHERE call_uuid = ANY(%s)", [[first, second]])
