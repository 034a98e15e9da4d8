"""Deliveries through a real Celery worker to a real HTTP receiver: an event becomes one signed POST
per endpoint that wants it; a receiver that fails gets it again with backoff (each attempt logged,
same event id); a delivery is replayed from the API; nothing is sent to an address the rules refuse."""

from __future__ import annotations

import os
import uuid

from django_tenants.utils import tenant_context

from tests.waiting import committed, wait_for
from tests.webhooks.receiver import verified
from webhooks.models import Delivery
from webhooks.services import delivery_attempt, event_now
from webhooks.tasks import webhook_event


def _delivery(world, event_id: str, **match) -> Delivery | None:
    with tenant_context(world.client_a1):
        found = Delivery.objects.filter(event_id=uuid.UUID(event_id), **match).prefetch_related("tries").first()
        if found is not None:
            found.log = list(found.tries.all())
        return found


def test_a_failing_receiver_gets_the_event_again_and_both_attempts_are_logged(world, receiver, webhook_worker,
                                                                             endpoint_of, api):  # fmt: skip
    endpoint = endpoint_of(receiver.url, events=["call.ended"])
    other = endpoint_of(receiver.url + "/other", events=["call.answered"])  # does not want it
    receiver.answer(500, b"oops")
    receiver.answer(200)
    event = event_now("call.ended", {"id": "c-1", "caller": "101", "callee": "102"})
    webhook_event.delay(world.client_a1.pk, event)

    delivery = wait_for(lambda: _delivery(world, event["id"], status="delivered"), "the delivery", 30)
    assert delivery.endpoint_id == endpoint.pk and delivery.attempts == 2
    assert [a.status_code for a in delivery.log] == [500, 200]
    assert delivery.log[0].error == "HTTP 500" and delivery.log[1].error == ""
    first, second = receiver.wait(2)
    assert first.body == second.body and first.path == "/hook"  # the same body, retried
    assert first.headers["OCX-Webhook-Id"] == second.headers["OCX-Webhook-Id"] == event["id"]
    assert verified(endpoint.secret, first) and verified(endpoint.secret, second)
    assert first.json == {"id": event["id"], "type": "call.ended", "created": event["created"],
                          "client": world.client_a1.pk, "data": event["data"]}  # fmt: skip
    with tenant_context(world.client_a1):
        assert not Delivery.objects.filter(endpoint_id=other.pk).exists()

    # Replay through the API: the same event once more, logged as a replay.
    operator = api(world.client_a1_op)
    listed = operator.get(f"/api/v1/webhooks/deliveries/?endpoint={endpoint.pk}").json()
    assert [row["event_id"] for row in listed["results"]] == [event["id"]]
    assert [a["status_code"] for a in listed["results"][0]["attempts_log"]] == [500, 200]
    assert operator.post(f"/api/v1/webhooks/deliveries/{delivery.pk}/replay/").status_code == 202
    third = receiver.wait(3)[2]
    assert third.headers["OCX-Webhook-Id"] == event["id"] and third.body == first.body and verified(endpoint.secret,
                                                                                                     third)  # fmt: skip
    replayed = wait_for(lambda: (d := _delivery(world, event["id"])) and len(d.log) == 3 and d, "the replay's log")
    assert [a.replay for a in replayed.log] == [False, False, True] and replayed.status == "delivered"


def test_a_receiver_slower_than_the_timeout_is_given_up_on_and_tried_again(world, receiver, webhook_worker,
                                                                           endpoint_of):  # fmt: skip
    endpoint_of(receiver.url, events=["call.ended"])
    receiver.answer(200, delay=3.0)  # OCX_WEBHOOK_TIMEOUT is 2 s for the test's worker
    event = event_now("call.ended", {"id": "c-5"})
    webhook_event.delay(world.client_a1.pk, event)
    delivery = wait_for(lambda: _delivery(world, event["id"], status="delivered"), "the delivery", 30)
    slow, fine = delivery.log
    assert slow.status_code is None and slow.error == "timed out" and 1900 <= slow.duration_ms < 2900
    assert fine.status_code == 200 and fine.duration_ms < 1000


def test_a_receiver_that_keeps_failing_ends_failed_after_the_retries(world, receiver, webhook_worker, endpoint_of):
    endpoint_of(receiver.url, events=["call.missed"])
    for _ in range(4):
        receiver.answer(503)
    event = event_now("call.missed", {"id": "c-2"})
    webhook_event.delay(world.client_a1.pk, event)
    delivery = wait_for(lambda: _delivery(world, event["id"], status="failed"), "the failed delivery", 30)
    assert delivery.attempts == 4 and [a.status_code for a in delivery.log] == [503] * 4  # 1 + 3 retries


def test_a_url_that_now_resolves_to_a_private_address_is_not_posted_to(world, receiver, endpoint_of, settings):
    """Checked again before each POST: an endpoint saved while allowed, then the rule applies."""
    from webhooks.services import event_fanout

    endpoint_of(receiver.url, events=["call.ended"])
    event = event_now("call.ended", {"id": "c-3"})
    [delivery_id] = committed(event_fanout, world.client_a1.pk, event)  # (as the worker: committed)
    settings.OCX_WEBHOOK_ALLOW_PRIVATE = False
    assert committed(delivery_attempt, world.client_a1.pk, delivery_id) is False
    delivery = _delivery(world, event["id"])
    assert delivery.status == "failed" and "127.0.0.1" in delivery.log[0].error and delivery.log[0].status_code is None
    assert receiver.received == []
    # Made once per endpoint, whatever runs the fan-out again (a worker killed after it).
    assert committed(event_fanout, world.client_a1.pk, event) == []


def test_a_new_voicemail_message_and_a_whole_recording_are_told_to_the_endpoints_that_want_them(
    world, receiver, webhook_worker, endpoint_of
):
    """Made where the engine makes them (its database thread's writes), delivered by the worker."""
    import datetime as dt

    from recordings.models import Recording
    from recordings.services import recording_close, recording_open
    from voicemail.models import Mailbox
    from voicemail.models import Message as VoicemailMessage
    from voicemail.services import message_deposit

    endpoint = endpoint_of(receiver.url, events=["voicemail.ready", "recording.ready"])
    with tenant_context(world.client_a1):
        box = Mailbox.objects.get(number="102")
    file = f"{box.pk}/webhook-{uuid.uuid4().hex[:8]}.wav"
    message_id = committed(message_deposit, world.client_a1.pk, box.pk, file, caller_number="101",
                           caller_name="User a1", call_uuid=None, received_at=dt.datetime.now(dt.UTC),
                           seconds=4.2)  # fmt: skip
    recording_id, _path = committed(recording_open, world.client_a1.pk, kind="call", call_uuid=None, caller="101",
                                    callee="102")  # fmt: skip
    committed(recording_close, world.client_a1.pk, recording_id, seconds=3.0)
    try:
        posts = receiver.wait(2, timeout=30)
        events = {post.json["type"]: post.json for post in posts}
        assert set(events) == {"voicemail.ready", "recording.ready"}
        assert all(verified(endpoint.secret, post) for post in posts)
        voicemail = events["voicemail.ready"]["data"]
        assert voicemail["id"] == message_id and voicemail["box"] == "102" and voicemail["caller"] == "101"
        assert voicemail["audio"] == f"/api/v1/voicemail/messages/{message_id}/audio.wav"
        recording = events["recording.ready"]["data"]
        assert recording["id"] == recording_id and recording["seconds"] == 3.0 and recording["callee"] == "102"
    finally:

        def remove():
            with tenant_context(world.client_a1):
                VoicemailMessage.objects.filter(pk=message_id).delete()
                Recording.objects.filter(pk=recording_id).delete()

        committed(remove)


KILLABLE = {"OCX_CELERY_VISIBILITY_TIMEOUT": "2", "OCX_CELERY_RESTORE_EVERY": "1"}


def _killed_mid_post(world, receiver, worker, kill) -> dict:
    """Queue an event, kill (kill(worker)) while the receiver holds the POST; the event."""
    receiver.answer(200, delay=1.5)  # the first try is killed while it waits for this
    event = event_now("call.ended", {"id": f"c-{uuid.uuid4().hex[:6]}"})
    webhook_event.delay(world.client_a1.pk, event)
    receiver.wait(1, timeout=30)
    kill(worker)
    assert _delivery(world, event["id"]).attempts == 0  # nothing logged: it died in the middle
    return event


def _sent_again(world, receiver, event) -> None:
    delivery = wait_for(lambda: _delivery(world, event["id"], status="delivered"), "the delivery, again", 30)
    one, two = receiver.wait(2)
    assert one.headers["OCX-Webhook-Id"] == two.headers["OCX-Webhook-Id"] == event["id"] and one.body == two.body
    assert delivery.attempts == 1 and [a.status_code for a in delivery.log] == [200]


def test_a_delivery_whose_worker_process_died_mid_post_is_sent_again(world, receiver, endpoint_of):
    """acks_late with reject_on_worker_lost: the pool process running the POST dies (as production's
    prefork workers run it); its task goes back on the queue at once and another process sends it. The
    receiver gets the event twice, with the same id, and drops one."""
    import signal
    from pathlib import Path

    from config.celeryconf import app
    from tests.webhooks.receiver import start_worker, stop_worker

    app.control.purge()
    endpoint_of(receiver.url, events=["call.ended"])
    worker = start_worker(pool="prefork")

    def kill_the_pool_process(worker) -> None:
        children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
        assert len(children) == 1, children
        os.kill(int(children[0]), signal.SIGKILL)

    try:
        event = _killed_mid_post(world, receiver, worker, kill_the_pool_process)
        _sent_again(world, receiver, event)
    finally:
        stop_worker(worker)


def test_a_delivery_whose_worker_was_killed_mid_post_is_sent_by_the_next_worker(world, receiver, endpoint_of):
    """A whole worker killed: the broker gives its unacknowledged task to the next worker once the
    visibility timeout passed (2 s here, looked for every second)."""
    import signal

    from config.celeryconf import app
    from tests.webhooks.receiver import start_worker, stop_worker

    app.control.purge()
    endpoint_of(receiver.url, events=["call.ended"])
    first = start_worker(**KILLABLE)
    try:
        event = _killed_mid_post(world, receiver, first, lambda w: (w.send_signal(signal.SIGKILL), w.wait(10)))
    finally:
        stop_worker(first)
    second = start_worker(**KILLABLE)
    try:
        _sent_again(world, receiver, event)
    finally:
        stop_worker(second)


def test_the_delivery_log_keeps_the_days_it_is_told(world, endpoint_of, settings):
    import datetime as dt

    from webhooks.models import Attempt
    from webhooks.services import event_fanout
    from webhooks.tasks import webhook_log_expire

    settings.OCX_WEBHOOK_LOG_DAYS = 7
    endpoint_of("http://127.0.0.1:9/in", events=["call.ended"])
    old, recent, waiting = (committed(event_fanout, world.client_a1.pk, event_now("call.ended", {})) for _ in range(3))

    def age():
        with tenant_context(world.client_a1):
            now = dt.datetime.now(dt.UTC)
            Delivery.objects.filter(pk__in=old + waiting).update(created_at=now - dt.timedelta(days=8))
            Delivery.objects.filter(pk__in=old + recent).update(status="delivered")
            Attempt.objects.create(delivery_id=old[0], status_code=200)

    committed(age)
    assert committed(webhook_log_expire) == 1
    with tenant_context(world.client_a1):
        left = set(Delivery.objects.values_list("pk", flat=True))
        assert left == {*recent, *waiting} and not Attempt.objects.filter(delivery_id=old[0]).exists()
