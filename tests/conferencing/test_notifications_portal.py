"""The message library and notification pages as people use them: upload a real WAV or a file that
is not audio, record by phone, delete (refused while a notification plays it), create a notification
with field errors, start it (its Celery task queued; the calls themselves are tested in
tests/telephony/test_notifications.py), read its per-number report and download it as CSV."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import tenant_context

from conferencing.models import Campaign, Message, Target
from conferencing.notifications import campaign_create, campaign_maybe_done, message_create, message_path, targets_due
from tests.conferencing.test_notifications_api import T1, wav_upload
from tests.pages import errors_above_form, field_error, messages_of, title_of

NEW_CAMPAIGN = {"name": "Drill", "numbers": "102\n103", "confirm_digit": "1", "retries": "2", "retry_seconds": "300"}


@pytest.fixture(autouse=True)
def library_dir(settings, tmp_path):
    settings.OCX_MESSAGES_DIR = str(tmp_path / "messages")


@pytest.fixture
def alert(world) -> Message:
    return message_create(actor=world.client_a1_op, client=world.client_a1, name="Alert", upload=wav_upload())


@pytest.fixture
def queued(monkeypatch) -> list[tuple]:
    from conferencing import tasks

    calls: list[tuple] = []
    monkeypatch.setattr(tasks.campaign_dispatch, "delay", lambda *args: calls.append(args))
    return calls


def in_a1(world, function):
    with tenant_context(world.client_a1):
        return function()


def table_rows(response, table_id: str | None = None) -> list[list[str]]:
    """The cells of a page's table body, tags stripped."""
    page = response.content.decode()
    if table_id:
        page = page[page.index(f'id="{table_id}"') :]
    body = page[page.index("<tbody>") : page.index("</tbody>")]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [[cell_text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in rows]


def cell_text(cell: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()


def test_the_pages_render_with_their_titles_and_menu(world, portal, alert):
    campaign = campaign_create(
        actor=world.client_a1_op, client=world.client_a1, name="Drill", message=alert, numbers="102"
    )
    http = portal(world.client_a1_op)
    for url, title in [
        ("/messages/", "Messages"),
        ("/messages/?q=ale", "Messages"),
        ("/messages/new/", "Upload a message"),
        (f"/messages/{alert.pk}/delete/", "Delete message Alert"),
        ("/notifications/", "Notifications"),
        ("/notifications/new/", "New notification"),
        (f"/notifications/{campaign.pk}/", "Notification Drill"),
    ]:
        response = http.get(url)
        assert response.status_code == 200, url
        assert title_of(response) == title, url
    page = http.get("/notifications/").content.decode()
    assert '<a href="/notifications/" class="active" aria-current="page">Notifications</a>' in page
    assert '<a href="/messages/">Messages</a>' in page and '<a href="/reports/">Reports</a>' in page
    assert table_rows(http.get("/notifications/"))[0][:7] == ["Drill", "Alert", "draft", "1", "0", "0", "1"]
    user = portal(world.user_a1)
    assert title_of(user.get("/messages/")) == "My messages"
    assert title_of(user.get("/messages/record/")) == "Record a message by phone"
    assert title_of(user.get("/notifications/")) == "My notifications"


def test_upload_a_wav_then_delete_it(world, portal, django_capture_on_commit_callbacks):
    http = portal(world.client_a1_op)
    sent = http.post("/messages/new/", {"name": "Fire drill", "audio": wav_upload("drill.wav", 2.0)})
    assert sent.status_code == 302 and sent["Location"] == "/messages/", sent.content
    listing = http.get("/messages/")
    assert messages_of(listing) == ["Message Fire drill uploaded (2.0 s)."]
    assert table_rows(listing)[0][:5] == ["Fire drill", "2.0 s", "recorded", "Admin a1", "0"]
    message = in_a1(world, lambda: Message.objects.get(name="Fire drill"))
    assert message_path(world.client_a1.pk, message.pk).exists()

    with django_capture_on_commit_callbacks(execute=True):
        deleted = http.post(f"/messages/{message.pk}/delete/", follow=True)
    assert messages_of(deleted) == ["Message Fire drill deleted."]
    assert not in_a1(world, lambda: Message.objects.filter(pk=message.pk).exists())
    assert not message_path(world.client_a1.pk, message.pk).exists()


@pytest.mark.parametrize(
    ("upload", "problem"),
    [
        (SimpleUploadedFile("minutes.txt", b"Minutes of the meeting.\n" * 30), "Not a usable audio file"),
        (SimpleUploadedFile("song.mp3", b"ID3 but not really an mp3" * 10), "Not a usable audio file"),
        (SimpleUploadedFile("empty.wav", b""), "The submitted file is empty."),
        (None, "This field is required."),
    ],
)
def test_a_file_that_is_not_audio_shows_a_field_error(world, portal, upload, problem):
    http = portal(world.client_a1_op)
    response = http.post("/messages/new/", {"name": "Bad", **({"audio": upload} if upload else {})})
    assert response.status_code == 200
    assert problem in field_error(response, "audio"), field_error(response, "audio")
    assert "/tmp" not in response.content.decode()
    assert not in_a1(world, lambda: Message.objects.filter(name="Bad").exists())


def test_a_user_records_a_message_by_phone(world, portal):
    http = portal(world.user_a1)
    assert "Record by phone" in http.get("/messages/").content.decode()
    created = http.post("/messages/record/", {"name": "Closing early"}, follow=True)
    message = in_a1(world, lambda: Message.objects.get(name="Closing early"))
    assert not message.recorded and message.created_by_id == world.user_a1.pk
    assert messages_of(created) == [
        f"Message Closing early created: dial *89{message.pk} from your phone (101), "
        "speak after the tone and press # to finish."
    ]
    assert table_rows(created)[0][:3] == ["Closing early", "—", f"not yet dial *89{message.pk} from your phone"]
    listing = portal(world.client_a1_op).get("/messages/")
    assert table_rows(listing)[0][2] == f"not yet User a1 dials *89{message.pk}"
    nameless = http.post("/messages/record/", {"name": ""})
    assert field_error(nameless, "name") == "This field is required."


def test_an_operator_without_a_line_is_sent_to_upload(world, portal):
    http = portal(world.client_a1_op)
    assert "Record by phone" not in http.get("/messages/").content.decode()
    response = http.get("/messages/record/", follow=True)
    assert response.redirect_chain[-1][0] == "/messages/new/"
    assert messages_of(response) == [
        "Your account has no phone line to record from: upload the message as a "
        "file, or ask a user with a line to record it."
    ]


def test_a_message_a_notification_plays_is_not_deleted(world, portal, alert):
    campaign_create(actor=world.client_a1_op, client=world.client_a1, name="Drill", message=alert, numbers="102")
    http = portal(world.client_a1_op)
    response = http.post(f"/messages/{alert.pk}/delete/", follow=True)
    assert messages_of(response) == [
        "The message Alert is used by the notification Drill: it stays while a campaign needs it."
    ]
    assert in_a1(world, lambda: Message.objects.filter(pk=alert.pk).exists())
    assert table_rows(http.get("/messages/"))[0][4] == "1", "the list says a notification uses it"


@pytest.mark.parametrize(
    ("typed", "field", "problem"),
    [
        ({"numbers": "102\n555"}, "numbers", "555 is neither an extension of this company nor a phone number in US."),
        ({"numbers": ""}, "numbers", "This field is required."),
        ({"message": "silent"}, "message", "The message has no audio yet: upload it or record it by phone."),
        ({"message": ""}, "message", "This field is required."),
        ({"confirm_digit": "#"}, "confirm_digit", "One digit."),
        ({"retries": "11"}, "retries", "less than or equal to 10"),
        ({"retry_seconds": "x"}, "retry_seconds", "Enter a whole number."),
    ],
)
def test_bad_notification_fields_show_field_errors(world, portal, alert, typed, field, problem):
    if typed.get("message") == "silent":
        typed = {"message": message_create(actor=world.client_a1_op, client=world.client_a1, name="Silent").pk}
    http = portal(world.client_a1_op)
    response = http.post("/notifications/new/", {**NEW_CAMPAIGN, "message": alert.pk, **typed})
    assert response.status_code == 200
    assert problem in field_error(response, field), (field_error(response, field), errors_above_form(response))
    assert not in_a1(world, lambda: Campaign.objects.exists())


def test_a_notification_form_shows_every_bad_field_at_once(world, portal, alert):
    typed = {"name": "", "numbers": "102\n555", "retry_seconds": "x", "message": alert.pk}
    response = portal(world.client_a1_op).post("/notifications/new/", {**NEW_CAMPAIGN, **typed})
    assert response.status_code == 200
    assert "required" in field_error(response, "name")
    assert "whole number" in field_error(response, "retry_seconds")
    assert "555 is neither an extension of this company nor a phone number" in field_error(response, "numbers")
    assert not in_a1(world, lambda: Campaign.objects.exists())


def test_a_nameless_upload_that_is_not_audio_shows_both_errors(world, portal):
    upload = SimpleUploadedFile("minutes.txt", b"Minutes of the meeting.\n" * 30)
    response = portal(world.client_a1_op).post("/messages/new/", {"name": "", "audio": upload})
    assert response.status_code == 200
    assert "required" in field_error(response, "name")
    assert "Not a usable audio file" in field_error(response, "audio")
    assert not in_a1(world, lambda: Message.objects.exists())


def test_create_start_and_download_the_report(world, portal, alert, queued, django_capture_on_commit_callbacks):
    http = portal(world.client_a1_op)
    form = http.get("/notifications/new/").content.decode()
    assert "Alert (0:00)" in form
    created = http.post("/notifications/new/", {**NEW_CAMPAIGN, "message": alert.pk})
    campaign = in_a1(world, lambda: Campaign.objects.get(name="Drill"))
    assert created.status_code == 302 and created["Location"] == f"/notifications/{campaign.pk}/", created.content
    page = http.get(created["Location"])
    assert messages_of(page) == ["Notification Drill created: check it, then start it."]
    assert [row[:3] for row in table_rows(page, "targets")] == [["102", "Pending", "0"], ["103", "Pending", "0"]]
    assert "Start calling" in page.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        started = http.post(f"/notifications/{campaign.pk}/start/", follow=True)
    assert messages_of(started) == ["Notification Drill started: the report fills in as the numbers answer."]
    assert queued == [(world.client_a1.pk, campaign.pk)]
    assert in_a1(world, lambda: Campaign.objects.get(pk=campaign.pk).status) == "running"
    assert "Start calling" not in started.content.decode()
    again = http.post(f"/notifications/{campaign.pk}/start/", follow=True)
    assert messages_of(again) == ["The campaign is running already."]
    assert http.get(f"/notifications/{campaign.pk}/start/").status_code == 405

    in_a1(
        world,
        lambda: [
            Target.objects.filter(number="102").update(
                state="confirmed",
                attempts=1,
                last_called_at=T1,
                answered_at=T1 + dt.timedelta(seconds=2),
                confirmed_at=T1 + dt.timedelta(seconds=8),
            ),
            Target.objects.filter(number="103").update(
                state="no-answer", attempts=2, last_called_at=T1, cause="timeout"
            ),
        ],
    )
    report = http.get(f"/notifications/{campaign.pk}/")
    assert table_rows(report, "targets") == [
        ["102", "Confirmed", "1", "2026-11-03 10:00:00", "2026-11-03 10:00:02", "2026-11-03 10:00:08", "—"],
        ["103", "No answer", "2", "2026-11-03 10:00:00", "—", "—", "timeout"],
    ]
    # 103 was called twice of its three tries (retries 2): one retry is still to come.
    assert table_rows(http.get("/notifications/"))[0][2:7] == ["running", "2", "1", "1", "1"]
    assert "2: 1 confirmed, 1 answered, 1 to call" in report.content.decode()
    in_a1(world, lambda: Target.objects.filter(number="103").update(attempts=3))
    assert table_rows(http.get("/notifications/"))[0][2:7] == ["running", "2", "1", "1", "0"], "tries used up"

    download = http.get(f"/notifications/{campaign.pk}/report.csv")
    assert download["Content-Disposition"] == f'attachment; filename="notification-{campaign.pk}-report.csv"'
    text = b"".join(download.streaming_content).decode("utf-8")
    assert text.startswith("\ufeffnumber,state,attempts,last_called_at,answered_at,confirmed_at,cause\r\n")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [(r["number"], r["state"], r["attempts"], r["confirmed_at"], r["cause"]) for r in rows] == [
        ("102", "confirmed", "1", "2026-11-03T10:00:08+00:00", ""),
        ("103", "no-answer", "3", "", "timeout"),
    ]


def test_a_user_sees_and_uses_only_their_own(world, portal, alert, queued):
    own = portal(world.user_a1)
    assert "Alert" not in own.get("/messages/").content.decode(), "the operator's message is not the user's"
    assert f'value="{alert.pk}"' not in own.get("/notifications/new/").content.decode()
    refused = own.post("/notifications/new/", {**NEW_CAMPAIGN, "message": alert.pk})
    assert "Select a valid choice" in field_error(refused, "message")

    mine = message_create(actor=world.user_a1, client=world.client_a1, name="Mine", upload=wav_upload())
    created = own.post("/notifications/new/", {**NEW_CAMPAIGN, "name": "My drill", "message": mine.pk})
    assert created.status_code == 302, created.content
    campaign = in_a1(world, lambda: Campaign.objects.get(name="My drill"))
    assert campaign.created_by_id == world.user_a1.pk

    colleague = portal(world.user_a1b)
    assert "My drill" not in colleague.get("/notifications/").content.decode()
    assert "Mine" not in colleague.get("/messages/").content.decode()
    for url in (
        f"/notifications/{campaign.pk}/",
        f"/notifications/{campaign.pk}/report.csv",
        f"/messages/{mine.pk}/delete/",
    ):
        assert colleague.get(url).status_code == 404, url
    assert colleague.post(f"/notifications/{campaign.pk}/start/").status_code == 404
    assert colleague.post(f"/messages/{mine.pk}/delete/").status_code == 404
    everything = portal(world.client_a1_op)
    assert {"Alert", "Mine"} <= {row[0] for row in table_rows(everything.get("/messages/"))}
    assert table_rows(everything.get("/notifications/"))[0][7] == "User a1", "operators see who made it"
    assert queued == []


@pytest.mark.parametrize("account", ["god", "brand_a_op"])
def test_the_provider_and_brands_have_no_library_pages(world, portal, account):
    http = portal(getattr(world, account))
    for url in ("/messages/", "/notifications/", "/messages/new/", "/notifications/new/"):
        assert http.get(url).status_code == 404, url
    page = http.get("/reports/").content.decode()
    assert ">Messages<" not in page and ">Notifications<" not in page


def test_an_audio_file_over_the_size_limit_shows_a_field_error(world, portal, settings):
    settings.OCX_AUDIO_UPLOAD_MAX_BYTES = 1_000
    upload = SimpleUploadedFile("long.wav", b"RIFF" + b"\x00" * 2_000)
    response = portal(world.client_a1_op).post("/messages/new/", {"name": "Big", "audio": upload})
    assert response.status_code == 200
    assert "The file is larger than" in field_error(response, "audio"), field_error(response, "audio")
    assert not in_a1(world, lambda: Message.objects.filter(name="Big").exists())


def test_a_message_is_heard_in_the_library_with_byte_ranges(world, portal, alert):
    own = message_create(actor=world.user_a1, client=world.client_a1, name="Mine", upload=wav_upload())
    http = portal(world.client_a1_op)
    url = f"/messages/{alert.pk}/audio.wav"
    assert f'<audio controls preload="none" src="{url}"' in http.get("/messages/").content.decode()
    whole = http.get(url)
    body = b"".join(whole.streaming_content)
    size = message_path(world.client_a1.pk, alert.pk).stat().st_size
    assert (whole.status_code, whole["Content-Type"], whole["Accept-Ranges"]) == (200, "audio/wav", "bytes")
    assert body[:4] == b"RIFF" and len(body) == size == int(whole["Content-Length"])

    first = http.get(url, HTTP_RANGE="bytes=0-3")
    assert (first.status_code, first.content, first["Content-Range"]) == (206, b"RIFF", f"bytes 0-3/{size}")
    rest = http.get(url, HTTP_RANGE="bytes=40-")
    assert rest.status_code == 206 and rest.content == body[40:] and rest["Content-Length"] == str(size - 40)
    tail = http.get(url, HTTP_RANGE="bytes=-10")
    assert (tail.status_code, tail.content, tail["Content-Range"]) == (
        206,
        body[-10:],
        f"bytes {size - 10}-{size - 1}/{size}",
    )
    past = http.get(url, HTTP_RANGE=f"bytes={size}-")
    assert (past.status_code, past["Content-Range"]) == (416, f"bytes */{size}")
    several = http.get(url, HTTP_RANGE="bytes=0-1,4-5")
    assert several.status_code == 200, "a Range this view does not serve is answered with the whole file"

    # In scope only: a user hears their own messages, not the operator's nor a colleague's.
    assert portal(world.user_a1).get(f"/messages/{own.pk}/audio.wav").status_code == 200
    assert portal(world.user_a1).get(url).status_code == 404
    assert portal(world.user_a1b).get(f"/messages/{own.pk}/audio.wav").status_code == 404
    assert portal(world.client_b1_op).get(url).status_code == 404
    nothing = message_create(actor=world.client_a1_op, client=world.client_a1, name="Silent", upload=None)
    assert http.get(f"/messages/{nothing.pk}/audio.wav").status_code == 404, "no audio yet"


def test_outside_numbers_are_judged_by_the_brands_routes(world, portal, alert):
    """An outside number is called through the carriers when a route of the brand reaches it; one no
    route reaches, an emergency number, what is no number and one the company's outbound policy or
    blocked destinations refuse are field errors."""
    from billing.models import Carrier
    from pstn.models import Gateway, OutboundPolicy, OutboundRoute, RouteCarrier
    from telephony.models import Block
    from telephony.services import block_save

    http = portal(world.client_a1_op)

    def create(numbers: str):
        return http.post("/notifications/new/", {**NEW_CAMPAIGN, "numbers": numbers, "message": alert.pk})

    unrouted = field_error(create("102\n+442071234567\n555\n911"), "numbers")
    assert unrouted == (
        "No route of the brand reaches +442071234567; 911: a notification never calls an emergency number; "
        "555 is neither an extension of this company nor a phone number in US."
    ), unrouted
    assert not in_a1(world, lambda: Campaign.objects.exists())

    carrier = Carrier.objects.create(name="Trunk One")
    Gateway.objects.create(carrier=carrier, name="gw", host="192.0.2.1", port=5060)
    route = OutboundRoute.objects.create(brand=world.brand_a, name="UK", pattern="44", position=10)
    RouteCarrier.objects.create(route=route, carrier=carrier, priority=1, weight=1)
    refused = field_error(create("102\n+442071234567"), "numbers")  # routed, but the company may not call abroad
    assert refused == "+442071234567: calls to international numbers are not allowed by the company's outbound policy."
    policy = OutboundPolicy.objects.create(client=world.client_a1, allow_international=True)
    block_save(actor=world.client_a1_op, client=world.client_a1, direction="outbound", kind="prefix", value="+44 20")
    blocked = field_error(create("102\n+442071234567"), "numbers")
    assert blocked == "+442071234567: calls to it are blocked by the company's list (+4420).", blocked
    in_a1(world, lambda: Block.objects.all().delete())
    routed = create("102\n+442071234567")
    assert routed.status_code == 302, field_error(routed, "numbers")
    policy.delete()  # (the engine applies the policy again at each call: refused then, on the target)
    campaign = in_a1(world, lambda: Campaign.objects.get(name="Drill"))
    assert [row[:2] for row in table_rows(http.get(routed["Location"]), "targets")] == [
        ["102", "Pending"], ["+442071234567", "Pending"]
    ]  # fmt: skip
    other_brand = portal(world.client_b1_op)
    own = message_create(actor=world.client_b1_op, client=world.client_b1, name="B", upload=wav_upload())
    answer = other_brand.post("/notifications/new/", {**NEW_CAMPAIGN, "numbers": "+442071234567", "message": own.pk})
    assert "No route of the brand reaches +442071234567" in field_error(answer, "numbers"), "brand A's route only"

    # What the engine reports of it: refused by the company's list, it is not called again, shown with
    # its cause, and the campaign is done once the others are.
    in_a1(world, lambda: Campaign.objects.filter(pk=campaign.pk).update(status="running"))
    in_a1(world, lambda: [
        Target.objects.filter(number="102").update(state="confirmed", attempts=1, last_called_at=T1),
        Target.objects.filter(number="+442071234567").update(state="refused", attempts=1, last_called_at=T1,
                                                             cause="blocked-destination +44"),
    ])  # fmt: skip
    page = http.get(f"/notifications/{campaign.pk}/")
    assert table_rows(page, "targets")[1] == [
        "+442071234567", "Not called: refused", "1", "2026-11-03 10:00:00", "—", "—", "blocked-destination +44"
    ]  # fmt: skip
    assert "2: 1 confirmed, 0 answered, 0 to call" in page.content.decode()
    assert in_a1(world, lambda: targets_due(Campaign.objects.get(pk=campaign.pk), T1 + dt.timedelta(days=1))) == (
        [], None
    )  # fmt: skip
    assert in_a1(world, lambda: campaign_maybe_done(Campaign.objects.get(pk=campaign.pk)))


def test_a_campaign_takes_at_most_the_platforms_count_of_numbers_and_answers_at_once(world, portal, alert, settings):
    """A pasted list of 100,000 numbers kept a web process busy for over a minute (each number was
    looked for in the list so far) and made a campaign of 100,000 calls: now it is a field error, said
    at once, and a list at the limit is judged in seconds."""
    settings.OCX_CAMPAIGN_MAX_NUMBERS = 2000
    http = portal(world.client_a1_op)
    started = time.monotonic()
    many = "\n".join(f"+1650{2000000 + i}" for i in range(100_000))
    refused = http.post("/notifications/new/", {**NEW_CAMPAIGN, "numbers": many, "message": alert.pk})
    assert field_error(refused, "numbers") == "A campaign calls at most 2000 numbers; this list has 100000."
    assert time.monotonic() - started < 5
    assert not in_a1(world, lambda: Campaign.objects.exists())
    started = time.monotonic()
    at_limit = "\n".join(["102", "103", *(f"+1650{2000000 + i}" for i in range(1998))])
    judged = field_error(http.post("/notifications/new/", {**NEW_CAMPAIGN, "numbers": at_limit, "message": alert.pk}),
                         "numbers")  # fmt: skip
    assert judged.startswith("No route of the brand reaches +16502000000, ") and time.monotonic() - started < 5
