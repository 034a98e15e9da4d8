"""An edge process that dies under calls: `make run` (or systemd) starts it again on the same port,
and the calls it carried go on and end normally through the new process: the phones hang up, the
call has exactly one record with the right times, and its concurrent-call slot is given back.

The edge keeps nothing of a call in memory apart from transactions (registrations, slots and the
engines' registry are in Redis, the Record-Route flow token is signed with the platform's secret),
so a new process on the same port serves the same dialogs."""

from __future__ import annotations

import signal
import time

import pytest
from django.conf import settings
from django.utils import timezone

from billing.models import Cdr
from config.redis_store import get_redis
from tests.telephony.conftest import SECRET, start_edge, start_engine
from tests.waiting import committed, wait_for


@pytest.fixture
def own_edge():
    """An edge of this test's own (the session's edge serves the other tests), stopped at the end."""
    edges = [start_edge()]
    yield edges
    for edge in edges:
        edge.stop()


def slot_of(world, call_id: str) -> float | None:
    return get_redis().zscore(f"{settings.OCX_REDIS_PREFIX}:calls:{world.client_a1.pk}", call_id)


def test_a_call_outlives_its_edge_and_ends_through_the_new_one(world, sip_lines, phones, own_edge):
    edge = own_edge[0]
    began = timezone.now()
    engine = start_engine(edge)
    try:
        sip_lines(world.user_a1, SECRET)
        sip_lines(world.user_a1b, SECRET)
        domain, proxy = world.client_a1.sip_domain, f"127.0.0.1:{edge.port}"
        caller, callee = phones(name="caller"), phones(name="callee")
        assert caller.register(username="101", domain=domain, secret=SECRET, proxy=proxy)["code"] == 200
        assert callee.register(username="102", domain=domain, secret=SECRET, proxy=proxy,
                               incoming={"answer": 200})["code"] == 200  # fmt: skip

        before = timezone.now()
        caller.call("c1", f"sip:102@{domain}")
        label = callee.wait_incoming()["call"]
        caller.wait_call_state("c1", "confirmed")
        callee.wait_call_state(label, "confirmed")
        cdr = wait_for(lambda: Cdr.objects.filter(started_at__gte=before, caller_number="101").first(), "record", 5)
        call_id = wait_for(
            lambda: next((m.decode() for m, _ in get_redis().zrange(
                f"{settings.OCX_REDIS_PREFIX}:calls:{world.client_a1.pk}", 0, -1, withscores=True)), None),
            "the call's slot", 5,
        )  # fmt: skip

        edge.process.send_signal(signal.SIGKILL)  # the edge dies mid-call...
        edge.process.wait()
        reborn = start_edge(edge.port)  # ...and its supervisor starts it again on the same port
        own_edge.append(reborn)
        time.sleep(1.0)  # the call goes on meanwhile: media flows between the phones and the engine
        assert caller.call_states("c1")[-1] == "confirmed" and callee.call_states(label)[-1] == "confirmed"

        talked_until = timezone.now()
        caller.hangup("c1")  # the BYE goes through the new edge process to the engine, then to 102
        callee.wait_call_state(label, "disconnected")
        caller.wait_call_state("c1", "disconnected")

        wait_for(lambda: slot_of(world, call_id) is None, "the slot to be freed", 5)
        closed = wait_for(lambda: Cdr.objects.filter(pk=cdr.pk, ended_at__isnull=False).first(), "the record", 5)
        assert Cdr.objects.filter(started_at__gte=before, caller_number="101").count() == 1
        assert (closed.disposition, closed.hangup_cause, closed.hangup_side) == ("answered", "bye", "caller")
        assert abs((closed.ended_at - talked_until).total_seconds()) < 2
        assert closed.billsec >= 1
    finally:
        engine.terminate()
        engine.wait(10)
        # The engine committed its record: later tests (reports, time zones) must not find it.
        committed(lambda: Cdr.objects.filter(started_at__gte=began, engine__contains=f":{engine.pid}:").delete())
