"""An edge process that dies under calls: `make run` (or systemd) starts it again on the same port,
and the calls it carried go on and end normally through the new process: the phones hang up, the
call has exactly one record with the right times, and its concurrent-call slot is given back.

The edge keeps nothing of a call in memory apart from transactions (registrations, slots and the
engines' registry are in Redis, the Record-Route flow token is signed with the platform's secret),
so a new process on the same port serves the same dialogs."""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.utils import timezone

from config.redis_store import get_redis
from records.models import Cdr
from tests.telephony.conftest import SECRET, start_edge, start_engine
from tests.waiting import committed, wait_for


@dataclass
class OwnPlatform:
    """An edge of the test's own (the session's edge serves the other tests) and an engine behind it."""

    edges: list
    engine: subprocess.Popen

    @property
    def edge(self):
        return self.edges[-1]

    def kill_and_restart_edge(self) -> None:
        """SIGKILL the edge, and start it again on its port, as `make run` or systemd would."""
        self.edge.process.send_signal(signal.SIGKILL)
        self.edge.process.wait()
        self.edges.append(start_edge(self.edge.port))


@pytest.fixture
def own():
    began = timezone.now()
    edge = start_edge()
    platform = OwnPlatform([edge], start_engine(edge))
    yield platform
    platform.engine.terminate()
    platform.engine.wait(10)
    for edge in platform.edges:
        edge.stop()
    # The engine committed its records: later tests (reports, time zones) must not find them.
    committed(lambda: Cdr.objects.filter(started_at__gte=began, engine__contains=f":{platform.engine.pid}:").delete())


def registered(world, sip_lines, phones, edge, callee_answers: int):
    sip_lines(world.user_a1, SECRET)
    sip_lines(world.user_a1b, SECRET)
    domain, proxy = world.client_a1.sip_domain, f"127.0.0.1:{edge.port}"
    caller, callee = phones(name="caller"), phones(name="callee")
    assert caller.register(username="101", domain=domain, secret=SECRET, proxy=proxy)["code"] == 200
    assert callee.register(username="102", domain=domain, secret=SECRET, proxy=proxy,
                           incoming={"answer": callee_answers})["code"] == 200  # fmt: skip
    return caller, callee, domain


def slot_of(world, call_id: str) -> float | None:
    return get_redis().zscore(f"{settings.OCX_REDIS_PREFIX}:calls:{world.client_a1.pk}", call_id)


def the_slot(world) -> str:
    return wait_for(
        lambda: next((m.decode() for m in get_redis().zrange(
            f"{settings.OCX_REDIS_PREFIX}:calls:{world.client_a1.pk}", 0, -1)), None),
        "the call's slot", 5,
    )  # fmt: skip


def test_a_call_outlives_its_edge_and_ends_through_the_new_one(world, sip_lines, phones, own):
    caller, callee, domain = registered(world, sip_lines, phones, own.edge, 200)
    before = timezone.now()
    caller.call("c1", f"sip:102@{domain}")
    label = callee.wait_incoming()["call"]
    caller.wait_call_state("c1", "confirmed")
    callee.wait_call_state(label, "confirmed")
    cdr = wait_for(lambda: Cdr.objects.filter(started_at__gte=before, caller_number="101").first(), "record", 5)
    call_id = the_slot(world)

    own.kill_and_restart_edge()
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


def test_a_call_ringing_when_its_edge_died_is_answered_through_the_new_one(world, sip_lines, phones, own):
    """The callee's 200 OK answers a transaction of the dead process (its branch names it): the new
    process passes it on along the Vias instead of dropping it, and the call connects."""
    caller, callee, domain = registered(world, sip_lines, phones, own.edge, 180)
    before = timezone.now()
    caller.call("c1", f"sip:102@{domain}")
    label = callee.wait_incoming()["call"]
    caller.wait_call_state("c1", "early")

    own.kill_and_restart_edge()
    callee.answer(label, 200)
    caller.wait_call_state("c1", "confirmed", timeout=10)
    callee.wait_call_state(label, "confirmed", timeout=10)
    call_id = the_slot(world)
    caller.hangup("c1")
    callee.wait_call_state(label, "disconnected")
    wait_for(lambda: slot_of(world, call_id) is None, "the slot to be freed", 5)
    closed = wait_for(
        lambda: Cdr.objects.filter(started_at__gte=before, caller_number="101", ended_at__isnull=False).first(),
        "the record", 5,
    )  # fmt: skip
    assert (closed.disposition, closed.hangup_cause, closed.answered_by) == ("answered", "bye", "102")
