"""Call engines (`manage.py call_engine`) when PostgreSQL goes away and comes back, and when an engine
dies: they reconnect, refuse what they cannot route with 503 so the edge tries another engine, keep
their call records in a spool on disk, and a dead engine's calls end at its last heartbeat.

The session's PostgreSQL is shared by every test, so it is never stopped: an engine under test
reaches it through a TCP forwarder (tests/telephony/tcpcut.py) that the test cuts and restores."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis.asyncio as aioredis
from asgiref.sync import async_to_sync
from django.conf import settings
from django.utils import timezone

from config.redis_store import get_redis
from telephony.callindex import forget_engine
from telephony.engine_registry import EngineInfo, engine_heartbeat, engine_withdraw, registry_key
from tests.telephony.conftest import SECRET, database_url, free_port
from tests.telephony.tcpcut import TcpCut
from tests.waiting import committed, wait_for


@dataclass
class EngineProcess:
    port: int
    process: subprocess.Popen
    log: Path

    def info(self) -> EngineInfo | None:
        """Its record in the engine registry (its last heartbeat)."""
        for raw in get_redis().hvals(registry_key(settings.OCX_REDIS_PREFIX)):
            info = EngineInfo.from_json(raw)
            if info.port == self.port and info.id.split(":")[-2] == str(self.process.pid):
                return info
        return None

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_engine(edge, *, database: str, spool: Path, port: int | None = None, **settings_env) -> EngineProcess:
    port, rtp = port or free_port(), free_port()
    log = Path(tempfile.gettempdir()) / f"ocx-test-engine-{port}-{time.monotonic_ns()}.log"
    env = {**os.environ, "DATABASE_URL": database, "OCX_CDR_SPOOL_DIR": str(spool), "OCX_ENGINE_DRAIN": "1",
           "OCX_ENGINE_RING_TIMEOUT": "8", **settings_env}  # fmt: skip
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "call_engine", "--port", str(port), "--rtp-ports", f"{rtp}-{rtp + 40}",
             "--edge", f"127.0.0.1:{edge.port}"],
            cwd=settings.BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    engine = EngineProcess(port, process, log)
    wait_for(lambda: engine.info() is not None or process.poll() is not None, "the engine did not start", 20)
    if process.poll() is not None:
        raise AssertionError(f"call_engine exited: {engine.log_tail()}")
    edge.sees(engine.info().id)
    return engine


def forget(engine_id: str) -> None:
    """A dead engine out of the registry and the call index, as its survivor would do after
    OCX_ENGINE_LOST_AFTER: later tests must not find its lines' entries."""
    engine_withdraw(get_redis(), settings.OCX_REDIS_PREFIX, engine_id)

    async def clean() -> None:
        redis = aioredis.from_url(settings.REDIS_URL)
        try:
            await forget_engine(redis, settings.OCX_REDIS_PREFIX, engine_id)
        finally:
            await redis.aclose()

    async_to_sync(clean)()


def through(cut: TcpCut) -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@127.0.0.1:{cut.port}/{db['NAME']}"


def forget_dial_plans() -> None:
    """What the engines hear when every client's configuration changed: their dial plan caches empty,
    as they do anyway TTL seconds after loading."""
    get_redis().publish(f"{settings.OCX_REDIS_PREFIX}:sip:invalidate", "all")
    time.sleep(0.2)  # no sign to wait for: the engines drop their caches on the published message


@pytest.fixture
def pg_cut():
    db = settings.DATABASES["default"]
    cut = TcpCut((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)))
    yield cut
    cut.close()


@pytest.fixture
def started():
    """Engines started by the test, stopped at its end; the call records they committed are deleted
    then, so that the tests after it start without them."""
    since = timezone.now()
    engines: list[EngineProcess] = []
    yield engines
    for engine in engines:
        engine.stop()
    with psycopg.connect(database_url(), autocommit=True) as db:
        db.execute("DELETE FROM billing_cdr WHERE started_at >= %s", [since])


@pytest.fixture
def two_lines(world, sip_lines, phones, edge):
    """Phones registered as 101 (caller) and 102 (callee, answering at once)."""
    sip_lines(world.user_a1, SECRET)
    sip_lines(world.user_a1b, SECRET)
    domain, proxy = world.client_a1.sip_domain, f"127.0.0.1:{edge.port}"
    caller, callee = phones(name="caller"), phones(name="callee")
    assert caller.register(username="101", domain=domain, secret=SECRET, proxy=proxy)["code"] == 200
    assert callee.register(username="102", domain=domain, secret=SECRET, proxy=proxy,
                           incoming={"answer": 200})["code"] == 200  # fmt: skip
    return caller, callee, domain


def call(caller, callee, domain, label: str) -> str:
    """A call from 101 to 102, connected; the callee's label."""
    caller.call(label, f"sip:102@{domain}")
    incoming = callee.wait_incoming()["call"]
    caller.wait_call_state(label, "confirmed")
    callee.wait_call_state(incoming, "confirmed")
    return incoming


def hang_up(caller, callee, label: str, incoming: str) -> None:
    caller.hangup(label)
    callee.wait_call_state(incoming, "disconnected")


def record(**match) -> tuple | None:
    """A call record as the engines committed it (outside the test's transaction)."""
    where = " AND ".join(f"{column} = %s" for column in match)
    with psycopg.connect(database_url()) as db:
        return db.execute(
            "SELECT call_uuid, disposition, hangup_cause, started_at, answered_at, ended_at, billsec, engine"
            f" FROM billing_cdr WHERE {where} ORDER BY id DESC LIMIT 1",  # column names are ours
            list(match.values()),
        ).fetchone()


def records_since(since: dt.datetime) -> list[tuple]:
    with psycopg.connect(database_url()) as db:
        return db.execute(
            "SELECT call_uuid, disposition, hangup_cause, started_at, answered_at, ended_at, billsec, engine"
            " FROM billing_cdr WHERE started_at >= %s ORDER BY started_at",
            [since],
        ).fetchall()


@pytest.fixture
def clean_records():
    """Records the engines commit during the test are deleted after it."""
    since = timezone.now()
    yield since
    with psycopg.connect(database_url(), autocommit=True) as db:
        db.execute("DELETE FROM billing_cdr WHERE started_at >= %s", [since])


def test_an_engine_answers_503_while_postgresql_is_away_and_takes_calls_again_when_it_returns(
    two_lines, edge, pg_cut, started, tmp_path, clean_records
):
    caller, callee, domain = two_lines
    engine = start_engine(edge, database=through(pg_cut), spool=tmp_path / "spool")
    started.append(engine)
    hang_up(caller, callee, "c1", call(caller, callee, domain, "c1"))

    pg_cut.cut()
    forget_dial_plans()
    caller.call("c2", f"sip:102@{domain}")
    refused = caller.wait_call_state("c2", "disconnected")
    assert refused["code"] == 503, (refused, engine.log_tail())  # the only engine: the edge has no other to try
    wait_for(
        lambda: engine.info() is not None and not engine.info().database,
        "the engine does not tell the edges that it lost the database",
        5,
    )

    pg_cut.restore()
    wait_for(lambda: engine.info().database, "the engine does not see the database back", 5)
    hang_up(caller, callee, "c3", call(caller, callee, domain, "c3"))
    rows = wait_for(
        lambda: len(rows := records_since(clean_records)) == 2 and all(r[5] for r in rows) and rows,
        "the calls' records are not all written",
        10,
    )
    assert [r[1] for r in rows] == ["answered", "answered"]
    assert "the connection is closed" not in engine.log_tail()


def test_while_one_engine_lost_postgresql_the_edge_gives_calls_to_the_other(
    world, sip_lines, phones, two_lines, edge, pg_cut, started, tmp_path, clean_records
):
    caller, callee, domain = two_lines
    sip_lines(world.user_a1c, SECRET)
    third = phones(name="third")
    assert third.register(username="103", domain=domain, secret=SECRET, proxy=f"127.0.0.1:{edge.port}")["code"] == 200
    healthy = start_engine(edge, database=database_url(), spool=tmp_path / "spool")
    started.append(healthy)
    held = call(third, callee, domain, "held")  # 103 -> 102 on the healthy engine, which now looks busier
    cut_off = start_engine(edge, database=through(pg_cut), spool=tmp_path / "spool")
    started.append(cut_off)
    pg_cut.cut()
    forget_dial_plans()
    for n in range(2):  # the least busy engine lost the database: the calls still go through
        hang_up(caller, callee, f"c{n}", call(caller, callee, domain, f"c{n}"))
    hang_up(third, callee, "held", held)
    rows = wait_for(
        lambda: len(rows := records_since(clean_records)) == 3 and all(r[5] for r in rows) and rows,
        "the calls' records are not all written",
        10,
    )
    assert {r[7].split(":")[1] for r in rows} == {str(healthy.process.pid)}


def test_records_of_an_engine_that_died_while_postgresql_was_away_are_written_by_its_successor(
    two_lines, edge, pg_cut, started, tmp_path, clean_records
):
    """Engine A loses the database; one call ends, another is still up when A is killed. Nothing was
    written; a new engine on the same host takes over A's spool: the ended call has its record as
    it ended, the other one ends at A's last sign of life, cause engine-lost."""
    caller, callee, domain = two_lines
    spool = tmp_path / "spool"
    first = start_engine(edge, database=through(pg_cut), spool=spool)
    started.append(first)
    warm = call(caller, callee, domain, "warm")  # the dial plan is cached: calls go on without the database
    hang_up(caller, callee, "warm", warm)
    wait_for(lambda: record(engine=first.info().id) is not None, "the first record is not written", 5)

    pg_cut.cut()
    ended = call(caller, callee, domain, "ended")
    time.sleep(1.2)  # the call lasts a moment while PostgreSQL is cut
    hang_up(caller, callee, "ended", ended)
    call(caller, callee, domain, "cut-short")
    time.sleep(1.5)  # a heartbeat or two
    engine_id = first.info().id
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    killed_at = timezone.now()
    pg_cut.restore()
    assert len(records_since(clean_records)) == 1, "nothing but the first call reached the database"

    successor = start_engine(edge, database=database_url(), spool=spool)
    started.append(successor)
    rows = wait_for(
        lambda: len(rows := records_since(clean_records)) == 3 and all(r[5] for r in rows) and rows,
        "the dead engine's records were not written by its successor",
        10,
    )
    _, ended_row, short_row = rows
    assert all(row[7] == engine_id for row in rows)
    assert (ended_row[1], ended_row[2]) == ("answered", "bye") and ended_row[6] >= 1
    assert (short_row[1], short_row[2]) == ("answered", "engine-lost")
    assert short_row[5] <= killed_at, "the call ends at the dead engine's last sign of life, not when it was found"
    assert killed_at - short_row[5] < dt.timedelta(seconds=5)
    wait_for(lambda: all(p.stat().st_size == 0 for p in spool.glob("*/*.cdrs")), "the spools do not empty", 5)
    forget(engine_id)  # the dead engine's record and index entries, for later tests


def test_a_dead_engines_open_records_end_at_its_last_heartbeat(world, edge, started, tmp_path, clean_records,
                                                                cdr_factory):  # fmt: skip
    """The survivor closes them when it finds the engine silent (15-20 s after its death, or at the
    next start when the only engine died): the call still ends when the engine was last heard of."""
    survivor = start_engine(edge, database=database_url(), spool=tmp_path / "spool")
    started.append(survivor)
    dead = EngineInfo(id=f"dead-{uuid.uuid4().hex[:6]}:1:5070", host="127.0.0.1", port=9, at=time.time() - 20)
    engine_heartbeat(get_redis(), settings.OCX_REDIS_PREFIX, dead)
    call_uuid = uuid.uuid4()
    try:
        committed(cdr_factory, call_uuid=call_uuid, engine=dead.id, direction="internal", number="102",
                  started_at=timezone.now() - dt.timedelta(seconds=80), answer_after=10, ended=False)  # fmt: skip
        row = wait_for(lambda: (r := record(call_uuid=call_uuid)) and r[5] and r, "the record was not closed", 12)
        assert (row[1], row[2]) == ("answered", "engine-lost")
        assert abs(row[5].timestamp() - dead.at) < 0.01, (row[5], dead.at)
        assert row[6] == 50  # billed up to the last heartbeat: 70 s answered, silent for the last 20
    finally:
        engine_withdraw(get_redis(), settings.OCX_REDIS_PREFIX, dead.id)
        with psycopg.connect(database_url(), autocommit=True) as db:
            db.execute("DELETE FROM billing_cdr WHERE call_uuid = %s", [call_uuid])


def test_the_phones_of_an_engine_that_died_while_postgresql_was_away_are_hung_up_at_once(
    two_lines, edge, pg_cut, started, tmp_path, clean_records
):
    """Ending a dead engine's calls at the phones needs no database: the survivor sends the BYEs while
    PostgreSQL is still away, and closes the record when it returns."""
    caller, callee, domain = two_lines
    first = start_engine(edge, database=through(pg_cut), spool=tmp_path / "a", OCX_ENGINE_LOST_AFTER="3")
    started.append(first)
    incoming = call(caller, callee, domain, "c1")  # the only engine: the call is on it
    survivor = start_engine(edge, database=through(pg_cut), spool=tmp_path / "b", OCX_ENGINE_LOST_AFTER="3")
    started.append(survivor)
    pg_cut.cut()
    dead_id = first.info().id
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    callee.wait_call_state(incoming, "disconnected", timeout=15)
    caller.wait_call_state("c1", "disconnected", timeout=5)
    assert record(engine=dead_id)[5] is None, "the database is still away: nothing closed the record yet"
    pg_cut.restore()
    row = wait_for(lambda: (r := record(engine=dead_id)) and r[5] and r, "the record is closed", 15)
    assert (row[1], row[2]) == ("answered", "engine-lost")
    forget(dead_id)
