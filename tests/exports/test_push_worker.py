"""Pushes run by real Celery workers (subprocesses on the tests' queue and database) to a real FTP
server: a worker killed with SIGKILL mid-push frees its destination within the lease, and the records
are still pushed exactly once; "Run now" while a push runs follows that push.

The workers see only committed rows, so the destination and its records are made on a connection of
their own (committed) and removed at the end."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import subprocess
import sys
import threading
import time

import pytest
from django.conf import settings
from django.utils import timezone

from exports.crypto import encrypt
from exports.models import PushDestination, PushFile
from exports.services import push_destination_run_now
from exports.tasks import cdr_push_due, cdr_push_run
from records.models import Cdr
from tenants.models import AuditEvent
from tests.exports.conftest import FTP_PASSWORD, FTP_USER, T0
from tests.waiting import committed, wait_for

LEASE_SECONDS = 4


def ids_in(body: bytes) -> list[int]:
    return [int(row["id"]) for row in csv.DictReader(io.StringIO(body.decode()))]


@pytest.fixture
def workers(tmp_path):
    """workers() -> a started Celery worker process (solo pool) on the tests' queue and database,
    with a short push lease; each is stopped at the end if still running."""
    db = settings.DATABASES["default"]
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "OCX_PUSH_LEASE_SECONDS": str(LEASE_SECONDS),
           "OCX_EXPORTS_DIR": str(tmp_path / "worker-exports")}  # fmt: skip
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        log = open(tmp_path / f"worker-{len(started)}.log", "wb")  # noqa: SIM115 - the process writes it
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--queues",
             settings.CELERY_TASK_DEFAULT_QUEUE, "--without-heartbeat", "--without-gossip", "--without-mingle",
             "--loglevel", "INFO"],
            cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        started.append(worker)
        return worker

    yield start
    for worker in started:  # a warm shutdown hands back what it had prefetched for the next worker
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)


@pytest.fixture
def pushed_records(world, make_cdr):
    """A destination of client A1 on a server, and records(n) -> n committed calls of client A1; all
    deleted at the end."""
    made: list[int] = []
    destinations: list[int] = []

    def destination(server) -> PushDestination:
        def create():
            return PushDestination.objects.create(
                brand_id=world.client_a1.brand_id, client_id=world.client_a1.pk, name="Worker test", protocol="ftp",
                host="127.0.0.1", port=server.port, username=FTP_USER, secret=encrypt(FTP_PASSWORD),
                schedule="every", every_minutes=5, starts_at=T0, cursor_at=T0, next_run_at=T0,
            )  # fmt: skip

        made_destination = committed(create)
        destinations.append(made_destination.pk)
        return made_destination

    def records(count: int, *, ended_at: dt.datetime | None = None) -> list[int]:
        def create():
            ends = [ended_at or T0 + dt.timedelta(minutes=1, seconds=i) for i in range(count)]
            return [make_cdr(world.client_a1, started_at=end - dt.timedelta(seconds=65), ended_at=end,
                             caller_name="x" * 95).pk for end in ends]  # fmt: skip

        ids = committed(create)
        made.extend(ids)
        return ids

    yield destination, records

    def clean():
        PushDestination.objects.filter(pk__in=destinations).delete()
        Cdr.objects.filter(pk__in=made).delete()
        AuditEvent.objects.filter(action="cdr_push.run", target="Worker test").delete()

    committed(clean)


def run_now(world, destination: PushDestination) -> str:
    return committed(push_destination_run_now, actor=world.client_a1_op, destination=destination)


def test_a_worker_killed_mid_push_frees_the_destination_and_records_go_once(world, ftp_server, workers,
                                                                          pushed_records):  # fmt: skip
    make_destination, records = pushed_records
    destination = make_destination(ftp_server)
    first_ids = records(400)  # about 120 KB of CSV
    ftp_server.throttle(40_000)  # about 3 s on the wire

    doomed = workers()
    cdr_push_run.delay(destination.pk)
    file = wait_for(lambda: PushFile.objects.filter(destination_id=destination.pk, status="sending").first(),
                    "the first worker sends the file", 60)  # fmt: skip
    wait_for(lambda: any(name.endswith(".part") for name in ftp_server.files()), "bytes on the server", 10)
    destination.refresh_from_db()
    assert destination.lease_holder.split(":")[1] == str(doomed.pid), "the page can name the worker"
    doomed.kill()  # SIGKILL: no finally, no release
    doomed.wait(10)
    killed_at = time.monotonic()

    assert run_now(world, destination) == "queued", "a push holds the destination: the run follows it"
    ftp_server.throttle(0)
    workers()

    def done():
        return PushFile.objects.filter(pk=file.pk, status="done").exists()

    wait_for(done, "a second worker sends the file once the dead worker's lease ran out", 30,
             poke=lambda: cdr_push_due.delay())  # the beat, every minute in production  # fmt: skip
    assert time.monotonic() - killed_at < LEASE_SECONDS + 20, "not 30 minutes"
    file.refresh_from_db()
    assert (file.attempts, file.rows) == (2, 400), "the same file sent again"
    on_server = ftp_server.files()
    assert list(on_server) == [file.name], "one file, the cut upload replaced"
    assert ids_in(on_server[file.name]) == first_ids, "every record once"

    def released():  # (the worker marks the file done, then gives the destination back)
        destination.refresh_from_db()
        return (destination.lease_holder, destination.lease_until, destination.run_requested_at) == ("", None, None)

    wait_for(released, "the destination given back after the push", 10)
    assert destination.cursor_at == file.window_to

    # Run now while the (live) worker pushes: it says so, and that push starts the next run as it ends.
    second_ids = records(400, ended_at=timezone.now() - dt.timedelta(seconds=5))
    ftp_server.throttle(40_000)
    assert run_now(world, destination) == "started"
    second = wait_for(lambda: PushFile.objects.filter(destination_id=destination.pk, status="sending").first(),
                      "the worker sends a second file", 30)  # fmt: skip
    late_ids = records(1, ended_at=timezone.now())
    assert run_now(world, destination) == "queued"
    third = wait_for(lambda: PushFile.objects.filter(destination_id=destination.pk, status="done")
                     .exclude(pk__in=[file.pk, second.pk]).first(), "the run asked during the push", 30)  # fmt: skip
    on_server = ftp_server.files()
    assert ids_in(on_server[second.name]) == second_ids
    assert ids_in(on_server[third.name]) == late_ids
    assert sorted(on_server) == sorted([file.name, second.name, third.name])


def test_an_error_without_a_message_is_named_by_its_type(world, make_destination, make_cdr):
    """A server that accepts the connection and closes it at once: ftplib raises a bare EOFError."""
    import socket

    from exports.push import push_destination_run

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def slam():
        conn, _ = listener.accept()
        conn.close()

    threading.Thread(target=slam, daemon=True).start()
    server = type("Server", (), {"port": port})()
    destination = make_destination(server)
    make_cdr(world.client_a1, minutes=1)
    try:
        file = push_destination_run(destination.pk, now=T0 + dt.timedelta(minutes=10))
    finally:
        listener.close()
    destination.refresh_from_db()
    assert destination.last_error == f"Cannot reach ftp://127.0.0.1:{port}/: EOFError."
    assert file.last_error == destination.last_error


def test_run_now_says_what_happens(world, portal, ftp_server, make_destination):
    destination = make_destination(ftp_server)
    operator = portal(world.brand_a_op)
    url = f"/exports/pushes/{destination.pk}/"

    page = operator.post(url + "run/", follow=True).content.decode()
    assert "The push starts now" in page
    destination.refresh_from_db()
    assert destination.run_requested_at is not None

    PushDestination.objects.filter(pk=destination.pk).update(
        lease_until=timezone.now() + dt.timedelta(seconds=60), lease_holder="worker-7.example:4242:0a1b2c3d"
    )
    assert "running now on worker-7.example:4242" in operator.get(url).content.decode()
    page = operator.post(url + "run/", follow=True).content.decode()
    assert "A push to this server is running now; this run starts as soon as it ends" in page

    PushDestination.objects.filter(pk=destination.pk).update(lease_until=None, lease_holder="", enabled=False)
    page = operator.post(url + "run/", follow=True).content.decode()
    assert "This push is disabled" in page and "starts now" not in page


def test_the_lease_is_short_and_renewed_while_the_push_runs(world, settings, monkeypatch):
    """Renewed by a thread every third of OCX_PUSH_LEASE_SECONDS, on its own connection."""
    from exports.push import Lease

    monkeypatch.setitem(settings.OCX_EXPORTS, "push_lease_seconds", 1)
    holder = {}

    def run():
        destination = PushDestination.objects.create(
            brand_id=world.brand_a.pk, name="Lease test", protocol="ftp", host="h.example", username="u",
            secret=encrypt("p"), starts_at=T0, cursor_at=T0, next_run_at=T0,
        )  # fmt: skip
        lease = Lease(destination.pk, timezone.now())
        assert lease.take()
        first = PushDestination.objects.get(pk=destination.pk).lease_until
        assert first <= timezone.now() + dt.timedelta(seconds=1), "short"
        holder["renewed"] = wait_for(
            lambda: PushDestination.objects.get(pk=destination.pk).lease_until > first, "renewed", 3
        )
        lease.release()
        holder["after"] = PushDestination.objects.values_list("lease_until", "lease_holder").get(pk=destination.pk)
        destination.delete()

    committed(run)
    assert holder == {"renewed": True, "after": (None, "")}
