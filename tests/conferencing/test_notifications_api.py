"""The message library and notification campaigns through the API, as their users meet them: upload
real audio or leave it to be recorded by phone, field errors for a file that is not audio and for
numbers that are not extensions, start a campaign (its Celery task queued, no engine needed: the
calls themselves are tested in tests/telephony/test_notifications.py), its per-number report as JSON
and CSV, who sees what."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import struct
import wave

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import tenant_context

from conferencing import tasks
from conferencing.models import Campaign, Message, Target
from conferencing.notifications import message_create, message_path
from tenants.models import AuditEvent

T1 = dt.datetime(2026, 11, 3, 10, 0, tzinfo=dt.UTC)


def wav_bytes(seconds: float = 0.5, rate: int = 16000, freq: float = 700.0) -> bytes:
    """A real WAV file: a tone, 16-bit mono."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(
            b"".join(
                struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * n / rate)))
                for n in range(int(rate * seconds))
            )
        )
    return out.getvalue()


def wav_upload(name: str = "alert.wav", seconds: float = 0.5) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, wav_bytes(seconds), content_type="audio/wav")


@pytest.fixture(autouse=True)
def library_dir(settings, tmp_path):
    """Message files go to a folder of the test's own."""
    settings.OCX_MESSAGES_DIR = str(tmp_path / "messages")
    return tmp_path / "messages"


@pytest.fixture
def alert(world) -> Message:
    """A recorded message of client a1, made by its operator."""
    return message_create(actor=world.client_a1_op, client=world.client_a1, name="Alert", upload=wav_upload())


@pytest.fixture
def queued(monkeypatch) -> list[tuple]:
    """The campaign_dispatch tasks queued (instead of reaching Celery)."""
    calls: list[tuple] = []
    monkeypatch.setattr(tasks.campaign_dispatch, "delay", lambda *args: calls.append(args))
    return calls


def names(http, kind: str) -> set[str]:
    return {row["name"] for row in http.get(f"/api/v1/{kind}/").json()["results"]}


def in_a1(world, function):
    with tenant_context(world.client_a1):
        return function()


def test_upload_a_wav_then_find_it_and_delete_it(world, api, library_dir, django_capture_on_commit_callbacks):
    http = api(world.client_a1_op)
    created = http.post(
        "/api/v1/messages/", {"name": "Fire drill", "audio": wav_upload("drill.wav", 1.5)}, format="multipart"
    )
    assert created.status_code == 201, created.content
    message = created.json()
    assert (message["name"], message["recorded"], message["created_by"]) == ("Fire drill", True, world.client_a1_op.pk)
    assert message["seconds"] == pytest.approx(1.5, abs=0.05)
    assert message["record_code"] == f"*89{message['id']}"
    stored = message_path(world.client_a1.pk, message["id"])
    with wave.open(str(stored)) as wav:  # kept as what the phones play
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
    assert AuditEvent.objects.filter(action="message.create", actor=world.client_a1_op, target="Fire drill").exists()
    assert names(http, "messages") == {"Fire drill"}
    assert http.get(f"/api/v1/messages/{message['id']}/").json()["seconds"] == message["seconds"]

    with django_capture_on_commit_callbacks(execute=True):
        assert http.delete(f"/api/v1/messages/{message['id']}/").status_code == 204
    assert names(http, "messages") == set()
    assert not stored.exists()


@pytest.mark.parametrize(
    ("filename", "content", "problem"),
    [
        ("notes.txt", b"Meeting at ten, bring the slides.\n" * 20, "Not a usable audio file"),
        ("fake.wav", b"RIFF\x10\x00\x00\x00WAVEjunk", "Not a usable audio file"),
        ("picture.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "Not a usable audio file"),
        ("empty.mp3", b"", "empty"),
    ],
)
def test_a_file_that_is_not_audio_is_a_field_error(world, api, filename, content, problem):
    http = api(world.client_a1_op)
    response = http.post(
        "/api/v1/messages/", {"name": "Bad", "audio": SimpleUploadedFile(filename, content)}, format="multipart"
    )
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid"
    assert problem in " ".join(body["fields"]["audio"])
    assert "/tmp" not in response.content.decode(), "no temporary path in the answer"
    assert not in_a1(world, lambda: Message.objects.filter(name="Bad").exists())


def test_a_message_without_audio_waits_to_be_recorded_by_phone(world, api):
    http = api(world.user_a1)
    created = http.post("/api/v1/messages/", {"name": "Record me"}, format="json")
    assert created.status_code == 201, created.content
    message = created.json()
    assert (message["recorded"], message["seconds"]) == (False, 0)
    assert message["record_code"] == f"*89{message['id']}"
    nameless = http.post("/api/v1/messages/", {"name": ""}, format="json")
    assert nameless.status_code == 400 and "name" in nameless.json()["fields"]


@pytest.mark.parametrize(
    ("fields", "field", "problem"),
    [
        ({"numbers": "102\n555\n0044"}, "numbers", "555, 0044 are neither extensions of this company nor phone"),
        ({"numbers": ""}, "numbers", "List the numbers"),
        ({"numbers": {"a": 1}}, "numbers", "as a list"),
        ({"message": "silent"}, "message", "no audio yet"),
        ({"message": 999999}, "message", "does not exist"),
        ({"confirm_digit": "x"}, "confirm_digit", "One digit."),
        ({"retries": 11}, "retries", "10"),
        ({"retry_seconds": 1}, "retry_seconds", "5"),
        ({"name": ""}, "name", "blank"),
    ],
)
def test_bad_campaign_fields_answer_field_errors(world, api, alert, fields, field, problem):
    if fields.get("message") == "silent":
        silent = message_create(actor=world.client_a1_op, client=world.client_a1, name="Silent")
        fields = {"message": silent.pk}
    payload = {"name": "Drill", "message": alert.pk, "numbers": ["102", "103"], **fields}
    response = api(world.client_a1_op).post("/api/v1/campaigns/", payload, format="json")
    assert response.status_code == 400, response.content
    assert problem in " ".join(response.json()["fields"][field]), response.json()
    assert not in_a1(world, lambda: Campaign.objects.exists())


def test_create_start_and_read_the_report_as_json_and_csv(
    world, api, alert, queued, django_capture_on_commit_callbacks
):
    http = api(world.client_a1_op)
    created = http.post(
        "/api/v1/campaigns/",
        {
            "name": "Drill",
            "message": alert.pk,
            "numbers": "102\n103, 102",
            "confirm_digit": "5",
            "retries": 1,
            "retry_seconds": 60,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    campaign = created.json()
    assert (campaign["status"], campaign["confirm_digit"], campaign["created_by"]) == (
        "draft",
        "5",
        world.client_a1_op.pk,
    )
    assert campaign["counts"] == {"numbers": 2, "confirmed": 0, "answered": 0, "waiting": 2}
    assert [(t["number"], t["state"], t["attempts"]) for t in campaign["targets"]] == [
        ("102", "pending", 0),
        ("103", "pending", 0),
    ]
    assert "numbers" not in campaign
    listed = http.get("/api/v1/campaigns/").json()["results"]
    assert [(c["name"], c["counts"]["numbers"]) for c in listed] == [("Drill", 2)] and "targets" not in listed[0]

    with django_capture_on_commit_callbacks(execute=True):
        started = http.post(f"/api/v1/campaigns/{campaign['id']}/start/")
    assert started.status_code == 200, started.content
    assert started.json()["status"] == "running" and started.json()["started_at"]
    assert queued == [(world.client_a1.pk, campaign["id"])]
    again = http.post(f"/api/v1/campaigns/{campaign['id']}/start/")
    assert again.status_code == 400 and "running already" in again.json()["fields"]["status"][0]
    assert AuditEvent.objects.filter(action="campaign.start", actor=world.client_a1_op).exists()

    # What the engine would write back: 102 confirmed on the first call, 103 busy.
    in_a1(
        world,
        lambda: [
            Target.objects.filter(number="102").update(
                state="confirmed",
                attempts=1,
                last_called_at=T1,
                answered_at=T1 + dt.timedelta(seconds=3),
                confirmed_at=T1 + dt.timedelta(seconds=9),
            ),
            Target.objects.filter(number="103").update(state="busy", attempts=1, last_called_at=T1, cause="486"),
        ],
    )
    detail = http.get(f"/api/v1/campaigns/{campaign['id']}/").json()
    # 103 is busy after one of its three tries: it is still to call.
    assert detail["counts"] == {"numbers": 2, "confirmed": 1, "answered": 1, "waiting": 1}
    assert detail["targets"][0] == {
        "number": "102",
        "state": "confirmed",
        "attempts": 1,
        "last_called_at": "2026-11-03T10:00:00Z",
        "answered_at": "2026-11-03T10:00:03Z",
        "confirmed_at": "2026-11-03T10:00:09Z",
        "cause": "",
    }

    for url in (f"/api/v1/campaigns/{campaign['id']}/report.csv", f"/api/v1/campaigns/{campaign['id']}/?format=csv"):
        response = http.get(url)
        assert response.status_code == 200, url
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert [(r["number"], r["state"], r["attempts"], r["cause"]) for r in rows] == [
            ("102", "confirmed", "1", ""),
            ("103", "busy", "1", "486"),
        ]
        assert rows[0]["confirmed_at"] == "2026-11-03T10:00:09+00:00" and rows[1]["answered_at"] == ""
    assert http.get("/api/v1/campaigns/?format=csv").status_code == 404, "the list has no CSV form"


def test_a_message_a_campaign_uses_is_not_deleted(world, api, alert, django_capture_on_commit_callbacks):
    http = api(world.client_a1_op)
    http.post("/api/v1/campaigns/", {"name": "Drill", "message": alert.pk, "numbers": ["101"]}, format="json")
    refused = http.delete(f"/api/v1/messages/{alert.pk}/")
    assert refused.status_code == 409
    assert refused.json() == {
        "code": "message-in-use",
        "detail": "The message Alert is used by the notification Drill: it stays while a campaign needs it.",
    }
    assert names(http, "messages") == {"Alert"}
    assert message_path(world.client_a1.pk, alert.pk).exists()


def test_a_user_has_their_own_messages_and_campaigns(world, api, alert, queued):
    own, colleague, operator = api(world.user_a1), api(world.user_a1b), api(world.client_a1_op)
    mine = own.post("/api/v1/messages/", {"name": "Mine", "audio": wav_upload()}, format="multipart").json()
    campaign = own.post(
        "/api/v1/campaigns/", {"name": "My drill", "message": mine["id"], "numbers": ["102"]}, format="json"
    )
    assert campaign.status_code == 201, campaign.content
    campaign = campaign.json()
    assert names(own, "messages") == {"Mine"} and names(own, "campaigns") == {"My drill"}
    assert names(operator, "messages") == {"Alert", "Mine"} and names(operator, "campaigns") == {"My drill"}

    assert names(colleague, "messages") == set() and names(colleague, "campaigns") == set()
    for url in (
        f"/api/v1/messages/{mine['id']}/",
        f"/api/v1/campaigns/{campaign['id']}/",
        f"/api/v1/campaigns/{campaign['id']}/report.csv",
        f"/api/v1/campaigns/{campaign['id']}/?format=csv",
    ):
        assert colleague.get(url).status_code == 404, url
    assert colleague.post(f"/api/v1/campaigns/{campaign['id']}/start/").status_code == 404
    assert colleague.delete(f"/api/v1/messages/{mine['id']}/").status_code == 404
    borrowed = colleague.post(
        "/api/v1/campaigns/", {"name": "x", "message": alert.pk, "numbers": ["101"]}, format="json"
    )
    assert borrowed.status_code == 400 and "message" in borrowed.json()["fields"], "only their own messages"
    assert queued == []


def test_the_provider_and_brand_hosts_have_no_library(world, api, alert):
    for account in (world.god, world.brand_a_op):
        http = api(account)
        assert http.get("/api/v1/messages/").json()["results"] == []
        assert http.get("/api/v1/campaigns/").json()["results"] == []
        assert http.post("/api/v1/messages/", {"name": "x"}, format="json").status_code == 404
        made = http.post("/api/v1/campaigns/", {"name": "x", "message": alert.pk, "numbers": ["101"]}, format="json")
        assert made.status_code == 404


def test_the_openapi_schema_describes_messages_campaigns_and_reports(world, api):
    schema = api(world.god).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/messages/"])
    assert {"get", "delete"} <= set(paths["/api/v1/messages/{id}/"])
    assert "multipart/form-data" in paths["/api/v1/messages/"]["post"]["requestBody"]["content"]
    assert {"get", "post"} <= set(paths["/api/v1/campaigns/"])
    assert "post" in paths["/api/v1/campaigns/{id}/start/"]
    assert "text/csv" in paths["/api/v1/campaigns/{id}/"]["get"]["responses"]["200"]["content"]
    assert any(p.startswith("/api/v1/campaigns/{id}/report") for p in paths)
    usage = paths["/api/v1/reports/conference-usage/"]["get"]
    assert {"since", "until"} <= {p["name"] for p in usage["parameters"]}
    detail = paths["/api/v1/reports/conference-detail/"]["get"]
    assert {"conference", "since", "until", "client", "moderator"} <= {p["name"] for p in detail["parameters"]}


def test_an_audio_file_over_the_size_limit_is_refused_before_decoding(world, api, settings, monkeypatch):
    settings.OCX_AUDIO_UPLOAD_MAX_BYTES = 10_000  # a 0.5 s WAV at 16 kHz is 16 KB

    def not_decoded(*args, **kwargs):
        raise AssertionError("an oversized upload reached the decoder")

    monkeypatch.setattr("conferencing.notifications.file_samples", not_decoded)
    response = api(world.client_a1_op).post(
        "/api/v1/messages/", {"name": "Big", "audio": wav_upload("big.wav", 0.5)}, format="multipart"
    )
    assert response.status_code == 400, response.content
    assert "larger than" in " ".join(response.json()["fields"]["audio"])
    assert not in_a1(world, lambda: Message.objects.filter(name="Big").exists())
