"""The engine's call-record writer: in order, off the event loop, and never stopped by one bad record."""

from __future__ import annotations

import datetime as dt
import os
import uuid

import psycopg
from django.utils import timezone

from records import spool as spool_module
from records.models import Cdr
from records.spool import Spool, Write
from records.writer import CdrWriter, close_values, open_values
from telephony.engine.dialplan import Party, Route
from tests.telephony.conftest import database_url


def test_a_refused_record_is_dropped_alone_and_odd_dialled_text_is_stored_clean(world):
    writer = CdrWriter()
    route = Route(client=world.client_a1.pk, brand=world.brand_a.pk, domain="x", caller=Party("101", "A", None),
                  callee=None, status=404)  # fmt: skip
    started = timezone.now()
    first, second = uuid.uuid4(), uuid.uuid4()
    try:
        writer.open(call_uuid=first, engine="t", route=route, started_at=started, dialled="\udcff9\x00" + "9" * 80)
        writer.update(first, no_such_column=1)  # the database refuses this one
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


def test_a_dead_engines_spool_taken_over_twice_still_gives_one_row_per_call_with_its_fields(world, tmp_path):
    """An engine that died with writes in its spool: the next engine writes them; a spool replayed
    again (the adopter died before deleting it) changes nothing."""
    route = Route(client=world.client_a1.pk, brand=world.brand_a.pk, domain="x", caller=Party("101", "A", None),
                  callee=Party("102", "B", None))  # fmt: skip
    started = timezone.now() - dt.timedelta(seconds=90)
    ended, cut_short = uuid.uuid4(), uuid.uuid4()
    dead = Spool(tmp_path, "host:4242:5070")
    for write in [
        Write("open", str(ended), open_values(call_uuid=ended, engine="host:4242:5070", route=route,
                                              started_at=started)),
        Write("update", str(ended), {"answered_at": started + dt.timedelta(seconds=5)}),
        Write("close", str(ended), close_values(started_at=started, answered_at=started + dt.timedelta(seconds=5),
                                                ended_at=started + dt.timedelta(seconds=35), disposition="answered",
                                                cause="bye", side="caller", quality={"caller": {"lost": 0}},
                                                legs=[{"leg": "caller", "call_id": "x"}])),
        Write("open", str(cut_short), open_values(call_uuid=cut_short, engine="host:4242:5070", route=route,
                                                  started_at=started + dt.timedelta(seconds=40))),
        Write("update", str(cut_short), {"answered_at": started + dt.timedelta(seconds=45)}),
    ]:  # fmt: skip
        dead.append(write)
    [path] = [segment.path for segment in dead.segments]
    last_seen = started + dt.timedelta(seconds=60)  # its last heartbeat touched the file then
    copy = path.read_bytes() + b'{"op": "upd'  # and a line cut short by the death
    path.write_bytes(copy)
    for segment in dead.segments:  # the engine dies: its lock goes with it
        os.close(segment.fd)
    os.utime(path, (last_seen.timestamp(), last_seen.timestamp()))
    columns = (
        "call_uuid, disposition, hangup_cause, hangup_side, answered_at, ended_at, duration, billsec, quality, legs"
    )
    try:
        writer = CdrWriter(Spool(tmp_path, "host:4343:5070"))  # the next engine, in the host's spool folder
        assert writer.adopt_orphans() == 5 and not path.exists()
        assert writer.wait(10), "the writer stalled"
        with psycopg.connect(database_url()) as db:
            first = db.execute(f"SELECT {columns} FROM billing_cdr WHERE call_uuid = ANY(%s) ORDER BY started_at",
                               [[ended, cut_short]]).fetchall()  # fmt: skip
        assert [row[:4] for row in first] == [(ended, "answered", "bye", "caller"),
                                              (cut_short, "answered", "engine-lost", "engine")]  # fmt: skip
        assert [row[5] - started for row in first] == [dt.timedelta(seconds=35), dt.timedelta(seconds=60)]
        assert [row[7] for row in first] == [30, 15]  # the lost call billed up to the dead engine's last sign
        assert first[0][8:] == ({"caller": {"lost": 0}}, [{"leg": "caller", "call_id": "x"}])

        path.write_bytes(copy)  # replayed again
        os.utime(path, (last_seen.timestamp(), last_seen.timestamp()))
        assert writer.adopt_orphans() == 5
        assert writer.wait(10)
        with psycopg.connect(database_url()) as db:
            again = db.execute(f"SELECT {columns} FROM billing_cdr WHERE call_uuid = ANY(%s) ORDER BY started_at",
                               [[ended, cut_short]]).fetchall()  # fmt: skip
        assert again == first
        assert [p.stat().st_size for p in tmp_path.glob("*.cdrs")] == [0], "the adopter's spool empties once written"
    finally:
        with psycopg.connect(database_url(), autocommit=True) as db:
            db.execute("DELETE FROM billing_cdr WHERE call_uuid = ANY(%s)", [[ended, cut_short]])


def test_the_spool_holds_only_what_waits_for_the_database(world, tmp_path, monkeypatch):
    """Past ROTATE bytes a new spool file starts; the old ones go once written, the last one empties."""
    monkeypatch.setattr(spool_module, "ROTATE", 600)  # about two writes per file
    route = Route(client=world.client_a1.pk, brand=world.brand_a.pk, domain="x", caller=Party("101", "A", None),
                  callee=None, status=404)  # fmt: skip
    writer = CdrWriter(Spool(tmp_path, "host:5151:5070"))
    calls = [uuid.uuid4() for _ in range(6)]
    try:
        for call_uuid in calls:
            writer.open(call_uuid=call_uuid, engine="host:5151:5070", route=route, started_at=timezone.now(),
                        dialled="200")  # fmt: skip
        assert writer.wait(10), "the writer stalled"
        files = list(tmp_path.glob("*.cdrs"))
        assert len(files) == 1 and files[0].stat().st_size == 0, [(f.name, f.stat().st_size) for f in files]
        assert writer.spool.segments[-1].number >= 2, "the spool did not rotate"
        with psycopg.connect(database_url()) as db:
            assert db.execute("SELECT count(*) FROM billing_cdr WHERE call_uuid = ANY(%s)", [calls]).fetchone() == (6,)
        writer.close_spool()
        assert list(tmp_path.glob("*.cdrs")) == [], "a clean stop leaves no empty spool behind"
    finally:
        with psycopg.connect(database_url(), autocommit=True) as db:
            db.execute("DELETE FROM billing_cdr WHERE call_uuid = ANY(%s)", [calls])


def test_an_engine_restarted_with_its_predecessors_id_takes_over_its_spool_instead_of_overwriting_it(tmp_path):
    """In a container the engine's pid, so its id, may be the same after a restart."""
    dead = Spool(tmp_path, "host:7:5070")
    dead.append(Write("update", str(uuid.uuid4()), {"answered_at": timezone.now()}))
    for segment in dead.segments:  # the engine dies
        os.close(segment.fd)
    successor = Spool(tmp_path, "host:7:5070")
    try:
        [(_, writes, _)] = list(successor.orphans())
        assert [write.op for write in writes] == ["update"]
    finally:
        successor.close()
