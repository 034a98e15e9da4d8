"""Mass notification and the message library with real phones (pjsua2) and a real engine: a campaign
calls its numbers, plays the message, records who confirmed by DTMF, calls again who did not; a
message is recorded by phone (*89<id>).

The engine writes outcomes with its own database connection, so the rows it works on are made in
a thread (its own connection, committed) and removed at the end."""

from __future__ import annotations

import io
import math
import struct
import time
import wave

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import tenant_context

from conferencing import tasks
from conferencing.models import Campaign, Message, Target
from conferencing.notifications import campaign_create, message_create, message_path
from tests.sip.audio import heard_ms
from tests.waiting import committed


def tone_wav(freq: float, seconds: float) -> bytes:
    buffer = io.BytesIO()  # in memory: a shared file in /tmp was raced by another checkout's run
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"".join(struct.pack("<h", int(9000 * math.sin(2 * math.pi * freq * n / 16000)))
                                 for n in range(int(16000 * seconds))))  # fmt: skip
    return buffer.getvalue()


def in_client(world, function):
    def run():
        with tenant_context(world.client_a1):
            return function()

    return committed(run)


@pytest.fixture
def library(world):
    made: list[int] = []
    yield made
    in_client(world, lambda: [Campaign.objects.filter(message_id__in=made).delete(),
                              Message.objects.filter(pk__in=made).delete()])  # fmt: skip


def test_a_campaign_plays_its_message_records_confirmations_and_calls_again_who_did_not(
    world, lines, third, library, monkeypatch, tmp_path
):
    _, callee, _ = lines
    upload = SimpleUploadedFile("alert.wav", tone_wav(1300, 1.2), content_type="audio/wav")
    message = committed(message_create, actor=world.client_a1_op, client=world.client_a1, name="Alert",
                        upload=upload)  # fmt: skip
    library.append(message.pk)
    assert message.recorded and 1.1 < message.seconds < 1.3 and message_path(world.client_a1.pk, message.pk).exists()
    campaign = committed(campaign_create, actor=world.client_a1_op, client=world.client_a1, name="Drill",
                         message=message, numbers="102\n103", retries=1, retry_seconds=5)  # fmt: skip
    in_client(world, lambda: Campaign.objects.filter(pk=campaign.pk).update(status="running"))
    scheduled = []
    monkeypatch.setattr(tasks.campaign_dispatch, "apply_async", lambda args, countdown: scheduled.append(countdown))

    third.set_incoming("103", answer=486)  # 103 is busy the first time
    assert committed(tasks.campaign_dispatch, world.client_a1.pk, campaign.pk) == 2
    assert scheduled == [5]
    at_callee = callee.wait_incoming()["call"]
    callee.wait_call_state(at_callee, "confirmed")
    heard = tmp_path / "message.wav"
    callee.record(at_callee, heard)
    time.sleep(1.6)  # the message plays
    callee.dtmf(at_callee, "1")
    callee.wait_call_state(at_callee, "disconnected", timeout=15)  # thanked, then hung up by the engine
    callee.wait_recorded(at_callee)
    assert heard_ms(heard, 1300) >= 600, "the message was heard"

    def targets():
        return in_client(world, lambda: {t.number: t for t in Target.objects.filter(campaign_id=campaign.pk)})

    deadline = time.monotonic() + 10
    while targets()["103"].state == "calling" and time.monotonic() < deadline:
        time.sleep(0.2)
    now = targets()
    assert (now["102"].state, now["102"].attempts) == ("confirmed", 1) and now["102"].confirmed_at
    assert (now["103"].state, now["103"].attempts, now["103"].cause) == ("busy", 1, "486")

    busy = third.wait_incoming()["call"]
    third.wait_call_state(busy, "disconnected")
    third.set_incoming("103", answer=200)
    time.sleep(5.2)  # the retry falls due
    assert committed(tasks.campaign_dispatch, world.client_a1.pk, campaign.pk) == 1, "only 103 is called again"
    at_third = third.wait_incoming()["call"]
    third.wait_call_state(at_third, "confirmed")
    time.sleep(1.0)  # the callee listens a second, then hangs up without confirming
    third.hangup(at_third)  # heard it, did not confirm
    deadline = time.monotonic() + 10
    while targets()["103"].state == "calling" and time.monotonic() < deadline:
        time.sleep(0.2)
    now = targets()
    assert (now["103"].state, now["103"].attempts, now["103"].cause) == ("answered", 2, "bye")
    assert now["103"].answered_at and now["103"].confirmed_at is None
    done = in_client(world, lambda: Campaign.objects.get(pk=campaign.pk))
    assert done.status == "done" and done.finished_at, "every number confirmed or used its attempts"


def test_a_message_is_recorded_by_phone_by_its_maker_only(world, lines, library):
    caller, callee, domain = lines
    message = committed(message_create, actor=world.user_a1, client=world.client_a1, name="Recorded by phone")
    library.append(message.pk)
    assert not message.recorded
    callee.call("x", f"sip:*89{message.pk}@{domain}")
    assert callee.wait_call_state("x", "disconnected")["code"] == 403, "not 102's message"

    caller.call("r", f"sip:*89{message.pk}@{domain}")
    caller.wait_call_state("r", "confirmed")
    time.sleep(0.5)  # the prompt plays a moment before the key cuts it
    caller.dtmf("r", "*")  # any key cuts the prompt short: the recording starts
    time.sleep(0.8)  # the beep, and the recording has begun, before the caller speaks
    caller.play_tone("r", [600], 1500)
    caller.wait_tone_done("r")
    caller.dtmf("r", "#")
    caller.wait_call_state("r", "disconnected", timeout=15)
    saved = in_client(world, lambda: Message.objects.get(pk=message.pk))
    assert saved.recorded and saved.seconds >= 1.5
    assert heard_ms(message_path(world.client_a1.pk, message.pk), 600) >= 1000
