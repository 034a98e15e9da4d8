"""Call recording outside the engine: the client's policy (portal and API, every bad field at once), who
hears which recording (operators all of their client's, users their own calls' only where the client
allows), the files served with byte ranges, retention, and the disk's thresholds."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django_tenants.utils import tenant_context

from config.redis_store import get_redis, rkey
from recordings import disk
from recordings.models import Recording, RecordingPolicy
from recordings.tasks import disk_watch, recordings_expire

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def recording_of(world):
    """recording_of(*accounts, days_ago=0, ended=True, client=A1) -> a recording with a 1 kB file."""
    made = []

    def make(*accounts, days_ago: float = 0, ended: bool = True, client=None):
        client = client or world.client_a1
        started = NOW - dt.timedelta(days=days_ago)
        file = f"{client.pk}/tests/{time.monotonic_ns()}.wav"
        path = Path(settings.OCX_RECORDINGS_DIR) / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(range(256)) * 4)
        made.append(path)
        with tenant_context(client):
            return Recording.objects.create(caller="101", callee="102", started_at=started,
                                            ended_at=started + dt.timedelta(seconds=4) if ended else None, seconds=4,
                                            file=file, accounts=[a.pk for a in accounts])  # fmt: skip

    yield make
    for path in made:
        path.unlink(missing_ok=True)


def set_policy(world, **fields):
    with tenant_context(world.client_a1):
        RecordingPolicy.objects.update_or_create(pk=1, defaults=fields)


def test_the_policy_through_the_api_every_bad_field_at_once(world, api):
    http = api(world.client_a1_op)
    assert http.get("/api/v1/recording-policy/").json()["mode"] == "never"
    bad = http.put("/api/v1/recording-policy/", {"mode": "sometimes", "retention_days": 0, "announce": "maybe",
                                                 "colour": "red"}, format="json")  # fmt: skip
    assert bad.status_code == 400
    assert set(bad.json()["fields"]) == {"mode", "retention_days", "announce", "colour"}
    good = http.patch("/api/v1/recording-policy/", {"mode": "on_demand", "announce": True, "users_listen": True,
                                                    "retention_days": 30}, format="json")  # fmt: skip
    assert good.status_code == 200, good.json()
    assert (good.json()["mode"], good.json()["retention_days"], good.json()["users_choose"]) == ("on_demand", 30, False)
    assert api(world.user_a1).get("/api/v1/recording-policy/").status_code == 404
    assert api(world.client_b1_op).get("/api/v1/recording-policy/").json()["mode"] == "never"  # its own client's


def test_the_policy_page_shows_every_bad_field_at_once(world, portal):
    http = portal(world.client_a1_op)
    assert http.get("/recordings/settings/").status_code == 200
    page = http.post("/recordings/settings/", {"mode": "sometimes", "retention_days": "0"}).content.decode()
    assert "Select a valid choice" in page and "from 1 to 3650" in page
    saved = http.post("/recordings/settings/", {"mode": "always", "retention_days": "14", "announce": "on"})
    assert saved.status_code == 302
    with tenant_context(world.client_a1):
        policy = RecordingPolicy.objects.get(pk=1)
    assert (policy.mode, policy.retention_days, policy.announce, policy.users_listen) == ("always", 14, True, False)
    assert portal(world.user_a1).get("/recordings/settings/").status_code == 404


def test_a_users_own_choice_only_where_the_client_lets_users_choose(world, api):
    http = api(world.user_a1)
    refused = http.put("/api/v1/me/recording/", {"mode": "always"}, format="json")
    assert refused.status_code == 400 and "mode" in refused.json()["fields"]
    set_policy(world, users_choose=True)
    assert http.put("/api/v1/me/recording/", {"mode": "always"}, format="json").json() == {"mode": "always"}
    assert http.get("/api/v1/me/recording/").json() == {"mode": "always"}
    assert http.put("/api/v1/me/recording/", {"mode": "loud"}, format="json").status_code == 400
    assert api(world.client_a1_op).get("/api/v1/me/recording/").status_code == 404


def test_operators_hear_every_recording_users_their_own_only_where_allowed(world, api, portal, recording_of):
    theirs = recording_of(world.user_a1, world.user_a1b)
    others = recording_of(world.user_a1b, world.user_a1c)
    operator = api(world.client_a1_op)
    assert {r["id"] for r in operator.get("/api/v1/recordings/").json()["results"]} == {theirs.pk, others.pk}
    assert operator.get(f"/api/v1/recordings/{others.pk}/audio/").status_code == 200

    user = api(world.user_a1)
    assert user.get("/api/v1/recordings/").json()["results"] == []  # the client does not let users listen
    assert user.get(f"/api/v1/recordings/{theirs.pk}/").status_code == 404
    assert user.get(f"/api/v1/recordings/{theirs.pk}/audio/").status_code == 404
    assert portal(world.user_a1).get(f"/recordings/{theirs.pk}/audio/").status_code == 404
    assert "does not let users hear" in portal(world.user_a1).get("/recordings/").content.decode()

    set_policy(world, users_listen=True)
    assert [r["id"] for r in user.get("/api/v1/recordings/").json()["results"]] == [theirs.pk]
    assert user.get(f"/api/v1/recordings/{theirs.pk}/audio/").status_code == 200
    assert user.get(f"/api/v1/recordings/{others.pk}/audio/").status_code == 404  # another user's call
    assert portal(world.user_a1).get(f"/recordings/{others.pk}/audio/").status_code == 404
    page = portal(world.user_a1).get("/recordings/").content.decode()
    assert f"/recordings/{theirs.pk}/audio/" in page and f"/recordings/{others.pk}/audio/" not in page


def test_the_audio_is_served_with_byte_ranges(world, api, portal, recording_of):
    recording = recording_of(world.user_a1)
    for http, url in ((api(world.client_a1_op), f"/api/v1/recordings/{recording.pk}/audio/"),
                      (portal(world.client_a1_op), f"/recordings/{recording.pk}/audio/")):  # fmt: skip
        part = http.get(url, HTTP_RANGE="bytes=256-511")
        assert part.status_code == 206 and part["Content-Range"] == "bytes 256-511/1024"
        assert part.content == bytes(range(256)) and part["Content-Type"] == "audio/wav"
        whole = http.get(url)
        assert whole.status_code == 200 and b"".join(whole.streaming_content) == bytes(range(256)) * 4
    assert api(world.client_a1_op).get("/api/v1/recordings/", {"call": "nope"}).status_code == 400


def test_hostile_ranges_never_break_the_audio_and_a_part_is_streamed(world, api, portal, recording_of):
    recording = recording_of(world.user_a1)
    huge = "9" * 5000  # Python reads no integer of over 4300 digits: that was a 500
    for http, url in ((api(world.client_a1_op), f"/api/v1/recordings/{recording.pk}/audio/"),
                      (portal(world.client_a1_op), f"/recordings/{recording.pk}/audio/")):  # fmt: skip
        for header in (f"bytes={huge}-", f"bytes=-{huge}", f"bytes=0-{huge}", "bytes=0-0,1-1", "bytes=5-2"):
            whole = http.get(url, HTTP_RANGE=header)
            assert whole.status_code == 200 and b"".join(whole.streaming_content) == bytes(range(256)) * 4, header
        assert http.get(url, HTTP_RANGE="bytes=1024-").status_code == 416
        assert http.get(url, HTTP_RANGE="bytes=-0").status_code == 416
        suffix = http.get(url, HTTP_RANGE="bytes=-99999999999")
        assert suffix.status_code == 206 and suffix["Content-Range"] == "bytes 0-1023/1024"
    # A player's usual first ask ("bytes=0-": the whole file) of a long recording is read a chunk at a
    # time, never into memory at once.
    long = bytes(range(256)) * 4096 * 3  # 3 MB
    (Path(settings.OCX_RECORDINGS_DIR) / recording.file).write_bytes(long)
    for http, url in ((api(world.client_a1_op), f"/api/v1/recordings/{recording.pk}/audio/"),
                      (portal(world.client_a1_op), f"/recordings/{recording.pk}/audio/")):  # fmt: skip
        part = http.get(url, HTTP_RANGE="bytes=1-")
        assert (
            part.status_code == 206
            and part.streaming
            and part["Content-Range"] == f"bytes 1-{len(long) - 1}/{len(long)}"
        )
        assert part["Content-Length"] == str(len(long) - 1) and b"".join(part.streaming_content) == long[1:]


def test_retention_removes_old_recordings_but_never_one_still_written(world, recording_of):
    set_policy(world, retention_days=30)
    old = recording_of(world.user_a1, days_ago=40)
    writing = recording_of(world.user_a1, days_ago=40, ended=False)  # an engine still writes it (fresh file)
    abandoned = recording_of(world.user_a1, days_ago=40, ended=False)  # its engine died long ago
    stale = time.time() - 3600
    abandoned_path = Path(settings.OCX_RECORDINGS_DIR) / abandoned.file
    os.utime(abandoned_path, (stale, stale))
    recent = recording_of(world.user_a1, days_ago=10)
    assert recordings_expire() >= 2
    with tenant_context(world.client_a1):
        kept = set(Recording.objects.values_list("pk", flat=True))
    assert kept == {writing.pk, recent.pk}
    assert not (Path(settings.OCX_RECORDINGS_DIR) / old.file).exists() and not abandoned_path.exists()
    assert (Path(settings.OCX_RECORDINGS_DIR) / writing.file).exists()


def test_disk_state_follows_the_thresholds(settings, tmp_path):
    settings.OCX_DISK_CHECK_SECONDS = 0
    settings.OCX_DISK_WARN, settings.OCX_DISK_FULL = "0%", "0"
    assert disk.disk_state(tmp_path) == disk.OK
    settings.OCX_DISK_WARN = "100%"
    assert disk.disk_state(tmp_path) == disk.WARN
    settings.OCX_DISK_FULL = "1000T"
    assert disk.disk_state(tmp_path / "not" / "made" / "yet") == disk.FULL  # its nearest existing parent's disk
    assert disk.threshold_bytes("2G", 0) == 2 * 1024**3 and disk.threshold_bytes("10%", 1000) == 100


def test_the_disk_is_read_at_most_every_few_seconds(settings, tmp_path, monkeypatch):
    settings.OCX_DISK_CHECK_SECONDS = 60
    settings.OCX_DISK_WARN, settings.OCX_DISK_FULL = "0%", "0"
    reads = []
    real = disk.shutil.disk_usage
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda path: reads.append(path) or real(path))
    for _ in range(100):
        disk.disk_state(tmp_path)
    assert len(reads) == 1


def test_the_operators_are_mailed_once_per_crossing(world, settings):
    settings.OCX_VOICEMAIL_DIR = ""  # the recordings' directory alone (voicemail's, set apart, is mailed of too)
    settings.OCX_DISK_CHECK_SECONDS = 0
    # One watched directory: a voicemail directory that exists (var/voicemail, once any test or `make
    # run` made it) is a second one, whose crossings are mailed too.
    settings.OCX_VOICEMAIL_DIR = settings.OCX_RECORDINGS_DIR
    settings.OCX_DISK_WARN, settings.OCX_DISK_FULL = "100%", "0"
    get_redis().delete(rkey(f"disk:state:{settings.OCX_RECORDINGS_DIR}"))
    mail.outbox.clear()
    assert disk_watch()[0]["state"] == disk.WARN
    disk_watch()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [world.god.email]
    assert "running low" in mail.outbox[0].body
    settings.OCX_DISK_FULL = "100%"
    disk_watch()
    assert len(mail.outbox) == 2 and "refused" in mail.outbox[1].body
    settings.OCX_DISK_WARN, settings.OCX_DISK_FULL = "0%", "0"
    disk_watch()  # back to ok: armed again
    settings.OCX_DISK_WARN = "100%"
    disk_watch()
    assert len(mail.outbox) == 3
    get_redis().delete(rkey(f"disk:state:{settings.OCX_RECORDINGS_DIR}"))


def test_one_disk_is_one_mail_naming_every_directory_on_it(world, settings):
    """Recordings and voicemail on one disk (the default) cross its thresholds together: one mail, not
    one per directory; a directory on another disk is mailed of on its own."""
    settings.OCX_DISK_CHECK_SECONDS = 0
    recordings = settings.OCX_RECORDINGS_DIR
    settings.OCX_VOICEMAIL_DIR = str(Path(recordings).parent / "voicemail")  # the default: a sibling
    assert disk.device(recordings) == disk.device(settings.OCX_VOICEMAIL_DIR)
    keys = [rkey(f"disk:state:{recordings}"), rkey(f"disk:state:{settings.OCX_VOICEMAIL_DIR}")]
    get_redis().delete(*keys)
    settings.OCX_DISK_WARN, settings.OCX_DISK_FULL = "100%", "0"
    mail.outbox.clear()
    try:
        rows = disk_watch()
        assert [row["state"] for row in rows] == [disk.WARN, disk.WARN]
        assert len(mail.outbox) == 1 and mail.outbox[0].to == [world.god.email]
        both = f"{recordings}, {settings.OCX_VOICEMAIL_DIR}"
        assert mail.outbox[0].subject == f"Disk low: {both}" and f"the disk holding {both}:" in mail.outbox[0].body
        assert all(row["mailed"] == [world.god.email] for row in rows)
        disk_watch()
        settings.OCX_DISK_FULL = "100%"
        disk_watch()
        assert len(mail.outbox) == 2 and mail.outbox[1].subject == f"Disk full: {both}"

        # Voicemail set apart on another filesystem (tmpfs): each disk its own mail.
        settings.OCX_VOICEMAIL_DIR = "/dev/shm/ocx-voicemail-test"
        assert disk.device(recordings) != disk.device(settings.OCX_VOICEMAIL_DIR)
        keys.append(rkey(f"disk:state:{settings.OCX_VOICEMAIL_DIR}"))
        mail.outbox.clear()
        disk_watch()
        assert [m.subject for m in mail.outbox] == [f"Disk full: {settings.OCX_VOICEMAIL_DIR}"]  # recordings': known
    finally:
        get_redis().delete(*keys)


def test_the_status_page_shows_the_recordings_disk(world, portal, settings):
    settings.OCX_DISK_WARN, settings.OCX_DISK_FULL = "0%", "100%"
    page = portal(world.god).get("/status/").content.decode()
    assert settings.OCX_RECORDINGS_DIR in page and "full: no new recordings" in page


def test_the_recordings_page_has_a_player_and_a_download_per_recording(world, portal, recording_of):
    recording = recording_of(world.user_a1)
    page = portal(world.client_a1_op).get("/recordings/").content.decode()
    assert f'<audio controls preload="none" src="/recordings/{recording.pk}/audio/"' in page
    assert f"/recordings/{recording.pk}/audio/?download=1" in page
    download = portal(world.client_a1_op).get(f"/recordings/{recording.pk}/audio/?download=1")
    assert download["Content-Disposition"].startswith("attachment;")


def test_a_user_chooses_on_their_recording_page_only_where_the_client_lets_them(world, portal):
    from recordings.models import LineRecording

    http = portal(world.user_a1)
    assert "users do not choose" in http.get("/phone/recording/").content.decode()
    http.post("/phone/recording/", {"mode": "always"})  # the field is disabled: the company's choice stays
    with tenant_context(world.client_a1):
        assert not LineRecording.objects.exclude(mode="client").exists()
    set_policy(world, users_choose=True)
    assert http.post("/phone/recording/", {"mode": "on_demand"}).status_code == 302
    with tenant_context(world.client_a1):
        assert LineRecording.objects.get().mode == "on_demand"
    assert portal(world.client_a1_op).get("/phone/recording/").status_code == 404


def test_a_recording_its_engine_left_unfinished_is_closed_with_what_its_file_holds(world, recording_of):
    from recordings.services import recordings_settle

    left = recording_of(world.user_a1, days_ago=1, ended=False)
    path = Path(settings.OCX_RECORDINGS_DIR) / left.file
    path.write_bytes(bytes(44 + 2 * 2 * 8000 * 3))  # a header and 3 s of stereo
    stale = time.time() - 3600
    os.utime(path, (stale, stale))
    writing = recording_of(world.user_a1, days_ago=1, ended=False)  # its file changed just now
    assert recordings_settle(world.client_a1) == 1
    with tenant_context(world.client_a1):
        left.refresh_from_db()
        writing.refresh_from_db()
    assert left.ended_at is not None and left.seconds == 3.0
    assert writing.ended_at is None


def test_the_beat_runs_retention_hourly_and_watches_the_disk_every_minute():
    from config.celeryconf import app

    schedule = app.conf.beat_schedule
    assert schedule["recordings-expire"] == {"task": "recordings.tasks.recordings_expire", "schedule": 3600.0}
    assert schedule["recordings-disk-watch"] == {"task": "recordings.tasks.disk_watch", "schedule": 60.0}
