"""Call queues with real phones (pjsua2) through the edge and a real engine: 101 dials the queue's number
(600); agents 102 and 103 are offered the caller as the queue's strategy says. Checked over the call's
record (its "queue" leg: offers, outcome, the agent who answered) and over what the phones see: in-order
and ring-all distribution, a missed offer moving on and pausing the agent at the limit, paused and
logged-out agents not offered, the maximum wait and the maximum length sending callers to their
destinations, a caller who hangs up leaving the queue at once, the position announced, and agents
logging in and out with feature codes."""

from __future__ import annotations

import pytest
from django.conf import settings
from django_tenants.utils import tenant_context

from config.redis_store import get_redis
from queues import state
from tests.telephony.conftest import cdr_of
from tests.waiting import committed, wait_for

NUMBER = "600"


@pytest.fixture
def queue(world):
    """queue(members=[(ext, penalty, order)], logged_in=(exts), **fields) -> Queue, saved and logged in
    as the client's operator and agents would (committed; Redis written); removed afterwards."""
    from queues.models import Agent, Queue
    from queues.services import agent_login, queue_save
    from telephony.models import Extension

    client = world.client_a1

    def make(members=(("102", 0, 1), ("103", 0, 2)), logged_in=("102", "103"), **fields):
        fields = {"name": "Support", "number": NUMBER, "ring_seconds": 2, **fields}
        rows = [{"extension": e, "penalty": p, "order": o} for e, p, o in members]
        made = committed(queue_save, actor=world.client_a1_op, client=client, members=rows, **fields)
        for ext in logged_in:
            line = committed(lambda ext=ext: _line(client, ext))
            committed(agent_login, actor=None, client=client, extension=line, queue=made)
        return made

    def _line(client, ext):
        with tenant_context(client):
            return Extension.objects.get(number=ext)

    yield make

    def remove():
        from telephony.directory import sip_directory_rooms_changed

        with tenant_context(client):
            Queue.objects.all().delete()
            Agent.objects.all().delete()
        sip_directory_rooms_changed(client)
        redis = get_redis()
        for key in redis.scan_iter(f"{state.base(settings.OCX_REDIS_PREFIX, client.pk)}:*"):
            redis.delete(key)

    committed(remove)


def queue_leg(world, **match) -> dict:
    cdr = cdr_of(world, timeout=15, caller_number="101", legs__contains=[{"leg": "queue", **match}])
    return next(leg for leg in cdr.legs if leg.get("leg") == "queue")


def agents_answered(world, count: int) -> list[str]:
    """The agents who answered the last `count` queue calls of this test, oldest first."""
    from records.models import Cdr
    from tests.telephony.conftest import _test_started

    def found():
        rows = Cdr.objects.filter(client_id=world.client_a1.pk, caller_number="101", ended_at__isnull=False,
                                  started_at__gte=_test_started[0],
                                  legs__contains=[{"leg": "queue", "outcome": "answered"}]).order_by("id")  # fmt: skip
        legs = [next(leg for leg in cdr.legs if leg.get("leg") == "queue") for cdr in rows]
        return [leg["agent"] for leg in legs] if len(legs) >= count else None

    return wait_for(found, f"{count} answered queue calls", 15)


def call_queue(caller, domain: str, label: str = "c1") -> None:
    caller.call(label, f"sip:{NUMBER}@{domain}")
    caller.wait_call_state(label, "confirmed", timeout=15)


def waiting_count(world, queue_id: int) -> int:
    redis, prefix = get_redis(), settings.OCX_REDIS_PREFIX
    return redis.zcard(state.queue_key(prefix, world.client_a1.pk, queue_id, "waiting")) + redis.zcard(
        state.queue_key(prefix, world.client_a1.pk, queue_id, "offering")
    )


def answer_and_hang_up(caller, agent, label: str = "c1") -> None:
    incoming = agent.wait_incoming(timeout=15)["call"]
    agent.wait_call_state(incoming, "confirmed")
    caller.hangup(label)
    agent.wait_call_state(incoming, "disconnected")
    caller.wait_call_state(label, "disconnected")


def test_in_order_offers_the_first_member_and_the_record_says_who_answered(world, lines, third, queue):
    caller, first, domain = lines
    made = queue(strategy="in_order")
    call_queue(caller, domain)
    answer_and_hang_up(caller, first)
    leg = queue_leg(world, outcome="answered")
    assert (leg["queue"], leg["agent"], leg["offers"]) == (made.pk, "102", [{"agent": "102", "result": "answered"}])
    assert leg["wait"] < 5


def busy_agent(world) -> str | None:
    """The agent on a queue call now (its state in Redis), if one is."""
    redis, prefix = get_redis(), settings.OCX_REDIS_PREFIX
    for ext in ("102", "103"):
        if redis.hget(state.agent_key(prefix, world.client_a1.pk, ext), "busy"):
            return ext
    return None


def test_fewest_calls_shares_the_calls_between_the_agents(world, lines, third, queue):
    caller, _first, domain = lines
    queue(strategy="fewest_calls")
    for n in range(3):
        call_queue(caller, domain, f"c{n}")
        wait_for(lambda: busy_agent(world), "an agent took the caller", 15)
        caller.hangup(f"c{n}")
        caller.wait_call_state(f"c{n}", "disconnected")
        wait_for(lambda: busy_agent(world) is None, "the agent is free again", 5)
    agents = agents_answered(world, 3)
    assert sorted(agents[:2]) == ["102", "103"], agents  # the second call goes to the agent who had none


def test_ring_all_rings_every_agent_and_the_first_to_answer_takes_the_caller(world, lines, third, queue):
    caller, slow, domain = lines
    slow.set_incoming(slow._first_account(), answer=180)  # rings, never answers
    queue(strategy="ring_all", ring_seconds=4)
    call_queue(caller, domain)
    rung = slow.wait_incoming(timeout=15)["call"]
    answer_and_hang_up(caller, third)
    slow.wait_call_state(rung, "disconnected", timeout=10)  # it stops ringing once 103 answered
    leg = queue_leg(world, outcome="answered")
    assert leg["agent"] == "103"
    assert {"agent": "102", "result": "answered-elsewhere"} in leg["offers"]


def test_a_missed_offer_moves_on_and_the_limit_pauses_the_agent(world, lines, third, queue):
    from queues.models import Agent

    caller, missing, domain = lines
    missing.set_incoming(missing._first_account(), answer=180)
    queue(strategy="in_order", ring_seconds=1, pause_after_missed=1)
    call_queue(caller, domain)
    answer_and_hang_up(caller, third)
    leg = queue_leg(world, outcome="answered")
    assert leg["offers"] == [{"agent": "102", "result": "missed"}, {"agent": "103", "result": "answered"}]
    assert leg["agent"] == "103"

    def paused():
        with tenant_context(world.client_a1):
            return Agent.objects.filter(extension__number="102", paused=True).first()

    assert "missed" in committed(lambda: wait_for(paused, "102 paused", 5)).pause_reason


def test_paused_and_logged_out_agents_are_not_offered_and_the_maximum_wait_sends_callers_on(world, lines, third, queue):
    from queues.services import agent_pause
    from telephony.models import Extension

    caller, first, domain = lines
    made = queue(logged_in=("102",), max_wait_seconds=2, max_wait_kind="hangup", max_wait_target="goodbye")

    def pause():
        with tenant_context(world.client_a1):
            agent_pause(actor=None, client=world.client_a1, extension=Extension.objects.get(number="102"))

    committed(pause)
    call_queue(caller, domain)
    caller.wait_call_state("c1", "disconnected", timeout=15)
    leg = queue_leg(world, outcome="timeout")
    assert leg["offers"] == [] and leg["wait"] >= 2 and leg["queue"] == made.pk
    assert not any(e.get("event") == "incoming" for e in first.events() + third.events())


def test_the_maximum_length_sends_a_caller_to_the_full_destination_and_a_hang_up_leaves_at_once(world, lines, queue):
    caller, _agent, domain = lines
    made = queue(logged_in=(), max_callers=1, full_kind="hangup", full_target="goodbye")
    call_queue(caller, domain, "c1")
    wait_for(lambda: waiting_count(world, made.pk) == 1, "the first caller waits", 5)
    call_queue(caller, domain, "c2")
    caller.wait_call_state("c2", "disconnected", timeout=15)
    assert queue_leg(world, outcome="full")["offers"] == []
    assert waiting_count(world, made.pk) == 1
    caller.hangup("c1")
    wait_for(lambda: waiting_count(world, made.pk) == 0, "the caller who hung up left the queue", 3)
    assert queue_leg(world, outcome="abandoned")["queue"] == made.pk


def test_queues_full_of_each_other_end_the_call_rather_than_sending_it_round_forever(world, lines, queue):
    """A full queue whose full destination is another full queue whose own is the first: each save is
    right (neither points at itself), but a caller would go round between them at once, for ever; the
    engine's bound on destinations per call (telephony/engine/destinations.py) ends the call."""
    from queues.services import queue_save

    caller, _agent, domain = lines
    second = queue(logged_in=(), name="Second", number="601", max_callers=1, full_kind="hangup", full_target="goodbye")
    first = queue(logged_in=(), max_callers=1, full_kind="queue", full_target=str(second.pk))
    committed(queue_save, actor=world.client_a1_op, client=world.client_a1, queue=second, full_kind="queue",
              full_target=str(first.pk))  # fmt: skip
    call_queue(caller, domain, "c1")
    caller.call("c2", f"sip:601@{domain}")
    caller.wait_call_state("c2", "confirmed", timeout=15)
    wait_for(lambda: waiting_count(world, first.pk) == 1 and waiting_count(world, second.pk) == 1, "both full", 5)
    caller.call("c3", f"sip:{NUMBER}@{domain}")
    caller.wait_call_state("c3", "disconnected", timeout=15)
    record = cdr_of(world, timeout=15, caller_number="101", hangup_cause="destination-loop")
    assert 2 < sum(1 for leg in record.legs if leg.get("leg") == "queue") <= 60
    assert waiting_count(world, first.pk) == 1 and waiting_count(world, second.pk) == 1
    caller.hangup("c1")
    caller.hangup("c2")


def test_the_position_is_announced(world, lines, queue, tmp_path):
    import time

    from tests.sip.audio import loud_ms, read_wav

    caller, _agent, domain = lines
    queue(logged_in=(), announce_every=1)
    call_queue(caller, domain)
    heard = tmp_path / "caller-heard.wav"
    caller.record("c1", heard)
    time.sleep(7)  # what is under test is time itself: said on joining, then again a second after it ends
    caller.hangup("c1")
    caller.wait_recorded("c1")
    leg = queue_leg(world, outcome="abandoned")
    assert leg["announcements"] >= 2
    assert loud_ms(*read_wav(heard)) >= 2000, "the caller hears the announcements and the music"


def test_agents_log_in_and_out_with_feature_codes(world, lines, queue):
    from queues.models import Member

    caller, _agent, domain = lines
    made = queue(members=(("101", 0, 0),), logged_in=())

    def logged_in():
        with tenant_context(world.client_a1):
            return Member.objects.get(queue=made, extension__number="101").logged_in

    for code, expected in (("*45", True), ("*46", False)):
        caller.call(code, f"sip:{code}@{domain}")
        caller.wait_call_state(code, "disconnected", timeout=15)
        wait_for(lambda expected=expected: committed(logged_in) is expected, f"{code} done", 5)
    members = get_redis().hgetall(state.queue_key(settings.OCX_REDIS_PREFIX, world.client_a1.pk, made.pk, "members"))
    assert members == {}


def test_the_sticky_agent_is_offered_the_caller_they_talked_to(world, lines, third, queue):
    caller, _first, domain = lines
    queue(strategy="fewest_calls", sticky_minutes=5)
    for n in range(2):  # fewest calls alone would give the second call to 103
        call_queue(caller, domain, f"c{n}")
        wait_for(lambda: busy_agent(world), "an agent took the caller", 15)
        caller.hangup(f"c{n}")
        caller.wait_call_state(f"c{n}", "disconnected")
        wait_for(lambda: busy_agent(world) is None, "the agent is free again", 5)
    assert agents_answered(world, 2) == ["102", "102"]


def test_agents_lost_from_redis_are_rebuilt_from_postgresql(world, lines, queue):
    caller, agent, domain = lines
    queue(members=(("102", 0, 0),), logged_in=("102",))
    redis = get_redis()
    for key in redis.scan_iter(f"{state.base(settings.OCX_REDIS_PREFIX, world.client_a1.pk)}:*"):
        redis.delete(key)  # as after a Redis restart without its data
    call_queue(caller, domain)
    answer_and_hang_up(caller, agent)
    assert queue_leg(world, outcome="answered")["agent"] == "102"
