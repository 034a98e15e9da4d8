"""Scheduled pushes to a real FTP server (pyftpdlib in a thread): every record finished is pushed exactly
once, across a server down for several runs, an upload cut half-way, wrong credentials and records
committed late; FTPS with TLS."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core import mail

from exports.models import PushDestination, PushFile
from exports.push import push_destination_run
from exports.services import push_destination_update
from tests.exports.conftest import FTP_PASSWORD, T0


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def run(destination: PushDestination, minutes: float) -> PushFile | None:
    """A run at T0 + minutes, as the beat would start it once the destination is due."""
    PushDestination.objects.filter(pk=destination.pk).update(next_run_at=at(minutes))
    return push_destination_run(destination.pk, now=at(minutes))


def sent(server, destination: PushDestination, minutes: float, folder: str = "") -> list[int]:
    """Run, then the ids in the file the run sent."""
    file = run(destination, minutes)
    return ids_in(server.files(folder)[file.name])


def ids_in(body: bytes) -> list[int]:
    return [int(row["id"]) for row in csv.DictReader(io.StringIO(body.decode()))]


def test_normal_push(world, ftp_server, make_cdr, make_destination):
    destination = make_destination(ftp_server)
    a1 = make_cdr(world.client_a1, minutes=0)
    a2 = make_cdr(world.client_a2, minutes=1)
    make_cdr(world.client_b1, minutes=0)  # another brand's
    make_cdr(world.client_a1, minutes=2, unfinished=True)

    first = run(destination, 10)
    assert (first.status, first.rows, first.attempts) == ("done", 2, 1)
    assert first.name == "brand-a-20261102T090000Z-20261102T091000Z.csv"
    assert ids_in(ftp_server.files()[first.name]) == [a1.pk, a2.pk], "oldest end first"
    destination.refresh_from_db()
    assert (destination.cursor_at, destination.last_cdr_id, destination.failures) == (at(10), a2.pk, 0)
    assert destination.next_run_at == at(15)

    later = make_cdr(world.client_a1, minutes=11)
    second = run(destination, 20)
    assert second.name == "brand-a-20261102T091000Z-20261102T092000Z.csv", "from = the last file's to"
    assert ids_in(ftp_server.files()[second.name]) == [later.pk]
    assert sorted(ftp_server.files()) == [first.name, second.name], "no partial file left"
    assert mail.outbox == []


def test_records_finishing_during_a_run_wait_for_the_next(world, ftp_server, make_cdr, make_destination):
    destination = make_destination(ftp_server)
    before = make_cdr(world.client_a1, minutes=0, ended_at=at(10) - dt.timedelta(microseconds=1))
    after = make_cdr(world.client_a1, minutes=0, ended_at=at(10))  # the bound is fixed at the run's start
    assert sent(ftp_server, destination, 10) == [before.pk]
    assert sent(ftp_server, destination, 20) == [after.pk]


def test_server_down_for_several_runs_then_back(world, ftp_server, make_cdr, make_destination):
    destination = make_destination(ftp_server)
    made = [make_cdr(world.client_a1, minutes=1)]
    ftp_server.stop()
    for minutes in (10, 20, 30):
        failed = run(destination, minutes)
        assert failed.status == "open", "nothing reached the server: the file may still grow"
        made.append(make_cdr(world.client_a2, minutes=minutes + 1))
    destination.refresh_from_db()
    assert destination.failures == 3 and destination.cursor_at == T0, "no advance"
    assert "Cannot reach ftp://127.0.0.1:" in destination.last_error and "refused" in destination.last_error
    assert destination.next_run_at == at(30) + dt.timedelta(seconds=240), "backoff doubles: 60, 120, 240 s"
    assert len(mail.outbox) == 1, "one alert per failure streak"
    assert mail.outbox[0].to == ["ops@brand-a.example"] and "failed" in mail.outbox[0].subject
    assert "Connection refused" in mail.outbox[0].body

    ftp_server.start()
    catch_up = run(destination, 40)
    assert catch_up.status == "done" and catch_up.rows == 4
    assert catch_up.name == "brand-a-20261102T090000Z-20261102T094000Z.csv", "one catch-up file"
    assert list(ftp_server.files()) == [catch_up.name]
    assert ids_in(ftp_server.files()[catch_up.name]) == [cdr.pk for cdr in made]
    assert len(mail.outbox) == 2 and "works again" in mail.outbox[1].subject
    destination.refresh_from_db()
    assert (destination.failures, destination.last_error, destination.cursor_at) == (0, "", at(40))


def test_upload_cut_half_way(world, ftp_server, make_cdr, make_destination):
    destination = make_destination(ftp_server)
    made = [make_cdr(world.client_a1, minutes=i / 10, caller_name="x" * 80) for i in range(60)]
    ftp_server.cut_after(2000)
    cut = run(destination, 10)
    assert cut.status == "sending" and cut.attempts == 1, "bytes may be on the server: the file is fixed"
    # The server drops the data connection: the client sees the 426 reply or, when its send is under
    # way, the broken pipe first; either way the failure is named.
    assert "426" in cut.last_error or "Broken pipe" in cut.last_error, cut.last_error
    destination.refresh_from_db()
    assert destination.cursor_at == T0 and destination.failures == 1, "no advance"
    partial = ftp_server.files()
    assert list(partial) == [cut.name + ".part"] and len(partial[cut.name + ".part"]) < 20000

    newer = make_cdr(world.client_a1, minutes=12)
    ftp_server.cut_after(None)
    again = run(destination, 20)
    assert (again.pk, again.name, again.status, again.attempts) == (cut.pk, cut.name, "done", 2), "same name"
    assert ids_in(ftp_server.files()[cut.name]) == [cdr.pk for cdr in made], "same records, not the newer one"
    assert list(ftp_server.files()) == [cut.name], "the partial upload was replaced, not kept beside"
    following = run(destination, 30)
    assert following.name == "brand-a-20261102T091000Z-20261102T093000Z.csv"
    assert ids_in(ftp_server.files()[following.name]) == [newer.pk]


def test_a_retry_overwrites_a_file_already_renamed(world, ftp_server, make_cdr, make_destination, monkeypatch):
    """The upload succeeded but the run died before recording it: the next run sends the same name again."""
    destination = make_destination(ftp_server)
    cdr = make_cdr(world.client_a1, minutes=1)
    monkeypatch.setattr("exports.push._succeeded", lambda *args: (_ for _ in ()).throw(SystemExit("killed")))
    with pytest.raises(SystemExit):
        run(destination, 10)
    monkeypatch.undo()
    file = PushFile.objects.get(destination=destination)
    assert file.status == "sending" and list(ftp_server.files()) == [file.name]
    PushDestination.objects.filter(pk=destination.pk).update(lease_until=None)  # the dead worker's lease ran out
    assert run(destination, 20).pk == file.pk
    assert list(ftp_server.files()) == [file.name] and ids_in(ftp_server.files()[file.name]) == [cdr.pk]


def test_wrong_credentials(world, ftp_server, make_cdr, make_destination, portal):
    destination = make_destination(ftp_server, secret="not-the-password")
    make_cdr(world.client_a1, minutes=1)
    failed = run(destination, 10)
    assert failed.status == "open"
    destination.refresh_from_db()
    assert destination.last_error.startswith(f"ftp://127.0.0.1:{ftp_server.port}/ refused the login of cdrs: 530")
    assert destination.last_error.endswith(".") and not destination.last_error.endswith(".."), destination.last_error
    assert destination.cursor_at == T0 and ftp_server.files() == {}
    page = portal(world.brand_a_op).get(f"/exports/pushes/{destination.pk}/").content.decode()
    assert "refused the login of cdrs" in page and "1 failed try in a row" in page
    assert "failing (1)" in portal(world.brand_a_op).get("/exports/pushes/").content.decode()

    push_destination_update(actor=world.brand_a_op, destination=destination, secret=FTP_PASSWORD)
    assert run(destination, 20).status == "done"


def test_a_record_committed_late_is_pushed_once(world, ftp_server, make_cdr, make_destination):
    destination = make_destination(ftp_server)
    first = make_cdr(world.client_a1, minutes=1)
    assert sent(ftp_server, destination, 10) == [first.pk]
    # An engine's end written late (database away, clock behind): it ended before the cursor.
    late = make_cdr(world.client_a2, minutes=2, ended_at=at(5))
    second = run(destination, 20)
    assert ids_in(ftp_server.files()[second.name]) == [late.pk]
    third = run(destination, 30)
    assert ids_in(ftp_server.files()[third.name]) == []
    everything = [i for body in ftp_server.files().values() for i in ids_in(body)]
    assert sorted(everything) == sorted([first.pk, late.pk]), "each once"


def test_a_client_destination_carries_its_client_only(world, ftp_server, make_cdr, make_destination):
    destination = make_destination(ftp_server, actor=world.client_a1_op, remote_dir="in")
    (ftp_server.root / "in").mkdir()
    mine = make_cdr(world.client_a1, minutes=1)
    make_cdr(world.client_a2, minutes=1)
    file = run(destination, 10)
    assert file.name.startswith("client-a1-") and destination.client_id == world.client_a1.pk
    assert ids_in(ftp_server.files("in")[file.name]) == [mine.pk]


def test_ftps(world, ftps_server, make_cdr, make_destination):
    destination = make_destination(ftps_server, protocol="ftps")
    cdr = make_cdr(world.client_a1, minutes=1)
    assert run(destination, 10).status == "open", "a self-signed certificate is refused by default"
    destination.refresh_from_db()
    assert "CERTIFICATE_VERIFY_FAILED" in destination.last_error
    push_destination_update(actor=world.brand_a_op, destination=destination, tls_verify=False)
    file = run(destination, 20)
    assert file.status == "done" and ids_in(ftps_server.files()[file.name]) == [cdr.pk]


def test_only_one_worker_runs_a_destination(world, ftp_server, make_destination):
    destination = make_destination(ftp_server)
    PushDestination.objects.filter(pk=destination.pk).update(lease_until=at(20))
    assert push_destination_run(destination.pk, now=at(10)) is None
    assert not PushFile.objects.filter(destination=destination).exists()
