"""Mass notification and the message library with real phones (pjsua2) and a real engine: a campaign
calls its numbers, plays the message, records who confirmed by DTMF, calls again who did not; a
message is recorded by phone (*89<id>).

The engine writes outcomes with its own database connection, so the rows it works on are made in
a thread (its own connection, committed) and removed at the end."""

from __future__ import annotations

import datetime as dt
import io
import math
import struct
import time
import wave

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_tenants.utils import tenant_context

from conferencing import tasks
from conferencing.models import Campaign, Message, Target
from conferencing.notifications import campaign_create, message_create, message_path
from records.models import Cdr
from tests.sip.audio import heard_ms
from tests.telephony.conftest import cdr_of, free_port
from tests.telephony.test_pstn_blocking import blocked  # noqa: F401 (a fixture)
from tests.waiting import committed, wait_for


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


# Outside numbers: called through the carriers (a pjsua2 phone behind a carrier's gateway) ----------

MOBILE, PREMIUM, MAIN = "+16502530001", "+19005551234", "+16502530999"


def targets_of(world, campaign) -> dict[str, Target]:
    return in_client(world, lambda: {t.number: t for t in Target.objects.filter(campaign_id=campaign.pk)})


def settled(world, campaign, *numbers: str) -> dict[str, Target]:
    """The campaign's targets once the engine wrote the outcome of each of `numbers`."""
    return wait_for(
        lambda: (now := targets_of(world, campaign)) and all(now[n].state != "calling" for n in numbers) and now,
        f"the outcome of {numbers}",
        timeout=20,
    )


@pytest.fixture
def campaign_of(world, library, monkeypatch):
    """campaign_of(numbers, retries=0) -> a running campaign of client A1 calling `numbers` (a 1.2 s
    1300 Hz message, confirm key 1); the task's next round is not scheduled but noted in .rounds."""
    upload = SimpleUploadedFile("alert.wav", tone_wav(1300, 1.2), content_type="audio/wav")
    message = committed(message_create, actor=world.client_a1_op, client=world.client_a1, name="Alert",
                        upload=upload)  # fmt: skip
    library.append(message.pk)
    rounds: list[float] = []
    monkeypatch.setattr(tasks.campaign_dispatch, "apply_async", lambda args, countdown: rounds.append(countdown))

    def make(numbers: str, retries: int = 0):
        campaign = committed(campaign_create, actor=world.client_a1_op, client=world.client_a1, name="Outside",
                             message=message, numbers=numbers, retries=retries, retry_seconds=5)  # fmt: skip
        in_client(world, lambda: Campaign.objects.filter(pk=campaign.pk).update(status="running"))
        campaign.rounds = rounds
        return campaign

    return make


def dispatch(world, campaign) -> int:
    return committed(tasks.campaign_dispatch, world.client_a1.pk, campaign.pk)


def test_a_campaign_calls_a_line_and_an_outside_number_through_the_carrier(world, lines, phone_carrier, campaign_of,
                                                                           carrier_factory_pstn, tmp_path):  # fmt: skip
    from pstn.models import Number, OutboundPolicy

    _, callee, _ = lines
    mobile, carrier = phone_carrier()
    carrier_factory_pstn([(world.brand_a, MAIN, world.client_a1, "user", "101")])

    def main_number():  # the client's caller ID rule: calls out show its main number
        policy = OutboundPolicy.objects.get(client=world.client_a1)
        policy.main_number = Number.objects.get(e164=MAIN)
        policy.save()

    committed(main_number)
    campaign = campaign_of(f"102\n{MOBILE}")
    assert dispatch(world, campaign) == 2

    desk = callee.wait_incoming()["call"]  # both ring: the line and, through the carrier, the mobile
    incoming = mobile.wait_incoming()
    away = incoming["call"]
    assert f"sip:{MAIN}@" in incoming["from"], incoming
    callee.wait_call_state(desk, "confirmed")
    callee.dtmf(desk, "1")  # (a key during the message counts: it stops the message)
    mobile.answer(away)
    mobile.wait_call_state(away, "confirmed")
    heard = tmp_path / "mobile.wav"
    mobile.record(away, heard)
    wait_for(lambda: mobile.stats(away)["rx_packets"] >= 60, "the 1.2 s message reaching the mobile", timeout=10)
    mobile.dtmf(away, "1")
    mobile.wait_call_state(away, "disconnected", timeout=15)  # thanked, then hung up by the engine
    mobile.wait_recorded(away)
    assert heard_ms(heard, 1300) >= 600, "the mobile heard the message"
    callee.wait_call_state(desk, "disconnected", timeout=15)

    now = settled(world, campaign, "102", MOBILE)
    assert {n: (t.state, t.attempts) for n, t in now.items()} == {"102": ("confirmed", 1), MOBILE: ("confirmed", 1)}
    assert now[MOBILE].answered_at and now[MOBILE].confirmed_at
    done = in_client(world, lambda: Campaign.objects.get(pk=campaign.pk))
    assert done.status == "done"
    out = cdr_of(world, callee_number=MOBILE)  # one record, outbound with its carrier: billable as any call out
    assert (out.direction, out.service, out.carrier_id, out.disposition, out.hangup_cause) == (
        Cdr.Direction.OUTBOUND, Cdr.Service.NOTIFICATION, carrier.pk, Cdr.Disposition.ANSWERED, "confirmed"
    )  # fmt: skip
    assert out.callee_account_id is None and out.answered_by == MOBILE and out.billsec >= 1
    assert Cdr.objects.filter(call_uuid=out.call_uuid).count() == 1
    line = cdr_of(world, callee_number="102", service=Cdr.Service.NOTIFICATION)
    assert (line.carrier_id, line.disposition) == (None, Cdr.Disposition.ANSWERED)


def test_a_failing_carrier_is_retried_then_the_number_fails_with_its_cause(world, lines, phone_carrier, campaign_of,
                                                                           portal):  # fmt: skip
    from pstn.models import Gateway

    mobile, carrier = phone_carrier()
    mobile.set_incoming("mobile", answer=503)
    campaign = campaign_of(MOBILE, retries=1)
    assert dispatch(world, campaign) == 1
    mobile.wait_incoming()
    first = settled(world, campaign, MOBILE)[MOBILE]
    assert (first.state, first.attempts, first.cause) == ("failed", 1, "carrier-failed 503")
    assert campaign.rounds == [5], "the retry is due in 5 s"
    assert cdr_of(world, callee_number=MOBILE).carrier_id == carrier.pk

    # Now the carrier cannot be reached at all (nothing listens at its gateway): the retry fails too.
    def unreachable():
        gateway = Gateway.objects.get(carrier=carrier)
        gateway.port = free_port()
        gateway.save()

    committed(unreachable)
    in_client(world, lambda: Target.objects.update(last_called_at=timezone.now() - dt.timedelta(seconds=6)))
    assert dispatch(world, campaign) == 1, "called again once its retry is due"
    second = settled(world, campaign, MOBILE)[MOBILE]
    assert (second.state, second.attempts) == ("failed", 2) and second.cause.startswith("carrier-failed"), second.cause
    assert len([e for e in mobile.events() if e.get("event") == "incoming"]) == 1, "the second try never reached it"
    assert in_client(world, lambda: Campaign.objects.get(pk=campaign.pk)).status == "done", "its attempts are used"
    page = portal(world.client_a1_op).get(f"/notifications/{campaign.pk}/").content.decode()
    assert f"<td>{second.cause}</td>" in page, "the cause is on the campaign's page"


def test_a_blocked_destination_and_a_number_the_policy_refuses_are_not_placed(
    world,
    lines,
    phone_carrier,
    campaign_of,
    blocked,  # noqa: F811 (the fixture imported above)
):
    from pstn.models import OutboundPolicy

    mobile, _ = phone_carrier()

    def allow_premium(allowed: bool):
        policy = OutboundPolicy.objects.get(client=world.client_a1)
        policy.allow_premium = allowed
        policy.save()

    committed(allow_premium, True)
    campaign = campaign_of(f"{MOBILE}\n{PREMIUM}", retries=3)
    # Since the campaign was made, the company blocked the mobile and may no longer call premium numbers.
    blocked("outbound", "number", MOBILE)
    committed(allow_premium, False)
    assert dispatch(world, campaign) == 2
    now = settled(world, campaign, MOBILE, PREMIUM)
    assert {n: (t.state, t.attempts, t.cause) for n, t in now.items()} == {
        MOBILE: ("refused", 1, f"blocked-destination {MOBILE}"), PREMIUM: ("refused", 1, "outbound-policy")
    }  # fmt: skip
    assert in_client(world, lambda: Campaign.objects.get(pk=campaign.pk)).status == "done", "not called again"
    assert dispatch(world, campaign) == 0
    assert not [e for e in mobile.events() if e.get("event") == "incoming"], "nothing reached the carrier"
    for number in (MOBILE, PREMIUM):
        cdr = cdr_of(world, callee_number=number)
        assert (cdr.direction, cdr.disposition, cdr.carrier_id) == (Cdr.Direction.OUTBOUND, "failed", None)
