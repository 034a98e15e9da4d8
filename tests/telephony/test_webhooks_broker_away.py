"""The broker away (Celery's Redis unreachable for the engine) breaks no call: a client's webhooks want
every call event, the engine cannot hand them on, and calls still connect at once, end and are
recorded; the engine says in its log that the events are lost."""

from __future__ import annotations

import socket
import time

from django.utils import timezone

from records.models import Cdr
from tests.telephony.conftest import cdr_of, connected
from tests.waiting import wait_for
from tests.webhooks.receiver import endpoint_of_fixture, receiver_fixture  # noqa: F401 (fixtures)


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


ENGINE_SETTINGS = {"CELERY_BROKER_URL": f"redis://127.0.0.1:{_unused_port()}/0"}


def test_calls_connect_and_end_while_the_engine_cannot_reach_the_broker(world, lines, receiver, endpoint_of, engine):
    caller, callee, domain = lines
    endpoint_of(receiver.url, events=["call.ringing", "call.answered", "call.ended", "call.missed"])
    began = timezone.now()
    for attempt in range(2):  # (the second while the engine drops events at once after the first failures)
        started = time.monotonic()
        label = connected(caller, callee, domain)
        took = time.monotonic() - started
        assert took < 3.0, f"call {attempt} took {took:.1f} s to connect"
        caller.hangup("c1")
        callee.wait_call_state(label, "disconnected")
        caller.wait_call_state("c1", "disconnected")
        assert cdr_of(world, timeout=10, disposition="answered", callee_number="102") is not None
    records = Cdr.objects.filter(client_id=world.client_a1.pk, started_at__gte=began, ended_at__isnull=False)
    assert wait_for(lambda: records.count() == 2, "both calls' records", 10)
    wait_for(lambda: "the broker is away" in engine.log.read_text(), "the engine's word on lost events", 20)
    assert receiver.received == []
