"""Queue callbacks with real phones (pjsua2) through the edge and a real engine: 101 calls the queue (600)
while no agent is free, presses the callback key, hears the confirmation and is hung up on; their entry
keeps its place in the queue (Redis). When an agent (102) is free, the engine rings the agent first,
then 101, and joins them. Checked over the records (the asking call's queue leg: callback-requested;
each try's own record with a queue leg: callback-answered / callback-failed), over Redis (a callback
keeps its place ahead of a later caller; one left by a dead engine is taken over) and over what the
phones see."""
# ruff: noqa: F811 (the queue fixture comes from test_queues)

from __future__ import annotations

import time

from django.conf import settings
from django_tenants.utils import tenant_context

from config.redis_store import get_redis
from queues import callbacks, state
from tests.telephony.conftest import cdr_of
from tests.telephony.test_queues import NUMBER, call_queue, queue, queue_leg  # noqa: F401 (queue: a fixture)
from tests.waiting import committed, wait_for


def login(world, made, ext: str) -> None:
    from queues.services import agent_login
    from telephony.models import Extension

    def run():
        with tenant_context(world.client_a1):
            agent_login(actor=None, client=world.client_a1, extension=Extension.objects.get(number=ext), queue=made)

    committed(run)


def pending(world, made) -> dict:
    return callbacks.pending(get_redis(), settings.OCX_REDIS_PREFIX, world.client_a1.pk, made.pk)


def waiting(world, made) -> list[str]:
    key = state.queue_key(settings.OCX_REDIS_PREFIX, world.client_a1.pk, made.pk, "waiting")
    return [m.decode() for m in get_redis().zrange(key, 0, -1)]


def try_leg(world, outcome: str, timeout: float = 20) -> dict:
    cdr = cdr_of(world, timeout=timeout, legs__contains=[{"leg": "queue", "outcome": outcome}])
    return next(leg for leg in cdr.legs if leg.get("leg") == "queue")


def ask_callback(caller, domain: str, label: str = "c1") -> None:
    call_queue(caller, domain, label)
    caller.dtmf(label, "1")
    caller.wait_call_state(label, "disconnected", timeout=15)  # the confirmation, then the engine hangs up


def test_a_caller_asks_for_a_callback_keeps_their_place_and_is_called_back_agent_first(world, lines, third, queue):
    caller, agent, domain = lines
    made = queue(members=(("102", 0, 0),), logged_in=(), callback_key="1")
    ask_callback(caller, domain)
    asked = queue_leg(world, outcome="callback-requested")
    assert asked["queue"] == made.pk and asked["offers"] == []
    ((entry, info),) = pending(world, made).items()
    assert info["number"] == "101" and entry.startswith("cb:")
    third.call("c2", f"sip:{NUMBER}@{domain}")  # a later caller waits behind the callback
    third.wait_call_state("c2", "confirmed", timeout=15)
    wait_for(lambda: len(waiting(world, made)) == 2, "the later caller waits", 5)
    assert waiting(world, made)[0] == entry

    caller.set_incoming(caller._first_account(), answer=200)
    login(world, made, "102")
    rung = agent.wait_incoming(timeout=15)  # the agent first, shown the caller's number
    assert "101" in rung["from"]
    agent.wait_call_state(rung["call"], "confirmed")
    back = caller.wait_incoming(timeout=15)["call"]  # then the caller, once the agent heard it is a callback
    caller.wait_call_state(back, "confirmed")
    wait_for(lambda: pending(world, made) == {}, "the callback is over once connected", 5)
    assert not any(e.startswith("cb:") for e in waiting(world, made))
    caller.hangup(back)
    agent.wait_call_state(rung["call"], "disconnected")
    leg = try_leg(world, "callback-answered")
    assert (leg["queue"], leg["agent"], leg["try"]) == (made.pk, "102", 1)
    assert leg["callback_of"] == entry.removeprefix("cb:")
    third.hangup("c2")


def test_a_callback_the_caller_does_not_answer_is_tried_again_then_dropped(world, lines, queue):
    caller, agent, domain = lines
    made = queue(members=(("102", 0, 0),), logged_in=(), callback_key="1", callback_retries=1,
                 callback_retry_seconds=1)  # fmt: skip
    ask_callback(caller, domain)
    caller.set_incoming(caller._first_account(), answer=486)
    login(world, made, "102")
    for _ in range(2):
        rung = agent.wait_incoming(timeout=15)["call"]
        agent.wait_call_state(rung, "disconnected", timeout=15)  # the caller was busy: the agent is let go
    wait_for(lambda: pending(world, made) == {}, "the callback dropped after its tries", 10)
    cdr = cdr_of(world, timeout=10, legs__contains=[{"leg": "queue", "outcome": "callback-failed", "try": 2}])
    last = next(leg for leg in cdr.legs if leg.get("leg") == "queue")
    assert last["dropped"] is True
    first = cdr_of(world, timeout=10, legs__contains=[{"leg": "queue", "outcome": "callback-failed", "try": 1}])
    assert next(leg for leg in first.legs if leg.get("leg") == "queue")["dropped"] is False


def test_a_callback_no_engine_holds_is_taken_over(world, lines, queue):
    """As after the engine that held it died: an entry without a live lease; the running engine takes it."""
    import json

    caller, agent, _domain = lines
    made = queue(members=(("102", 0, 0),), logged_in=("102",), callback_key="1")
    caller.set_incoming(caller._first_account(), answer=200)
    prefix, client, joined = settings.OCX_REDIS_PREFIX, world.client_a1.pk, time.time() - 30
    info = callbacks.requested_info(call="dead-engine-call", number="101", name="", joined=joined)
    keys = [state.queue_key(prefix, client, made.pk, what) for what in ("waiting", "offering", "seen", "callbacks")]
    entry, pair = callbacks.member("dead-engine-call"), f"{client} {made.pk}"
    get_redis().eval(callbacks.REQUEST, 5, *keys, callbacks.all_key(prefix), "dead-engine-call", entry, joined,
                     joined, json.dumps(info), pair)  # fmt: skip
    rung = agent.wait_incoming(timeout=15)["call"]
    agent.wait_call_state(rung, "confirmed")
    back = caller.wait_incoming(timeout=15)["call"]
    caller.wait_call_state(back, "confirmed")
    caller.hangup(back)
    leg = try_leg(world, "callback-answered")
    assert leg["callback_of"] == "dead-engine-call" and leg["wait"] >= 30


def test_other_keys_do_not_ask_for_a_callback(world, lines, queue):
    caller, _agent, domain = lines
    made = queue(members=(("102", 0, 0),), logged_in=(), callback_key="1")
    call_queue(caller, domain)
    caller.dtmf("c1", "5")
    time.sleep(0.5)  # (what is checked is that nothing happens)
    assert pending(world, made) == {} and len(waiting(world, made)) == 1
    caller.hangup("c1")
    assert queue_leg(world, outcome="abandoned")["queue"] == made.pk


def test_the_caller_rates_the_call_after_the_agent_hangs_up(world, lines, queue, tmp_path):
    from tests.sip.audio import loud_ms, read_wav

    caller, agent, domain = lines
    queue(members=(("102", 0, 0),), logged_in=("102",), rating=True)
    call_queue(caller, domain)
    taken = agent.wait_incoming(timeout=15)["call"]
    agent.wait_call_state(taken, "confirmed")
    agent.hangup(taken)
    heard = tmp_path / "rating-prompt.wav"
    caller.record("c1", heard)
    wait_for(lambda: get_redis().hget(agent_key(world, "102"), "busy") is None, "the agent is free at once", 5)
    caller.dtmf("c1", "4")  # the caller is still on the line, asked for a rating
    caller.wait_call_state("c1", "disconnected", timeout=15)  # thanked, then the engine hangs up
    caller.wait_recorded("c1")
    leg = queue_leg(world, outcome="answered")
    assert (leg["agent"], leg["rating"]) == ("102", 4)
    assert get_redis().hmget(agent_key(world, "102"), "rated", "rating_total") == [b"1", b"4"]
    assert loud_ms(*read_wav(heard)) >= 500, "the caller hears the rating prompt"


def test_without_rating_the_agent_hanging_up_ends_the_call(world, lines, queue):
    caller, agent, domain = lines
    queue(members=(("102", 0, 0),), logged_in=("102",))
    call_queue(caller, domain)
    taken = agent.wait_incoming(timeout=15)["call"]
    agent.wait_call_state(taken, "confirmed")
    agent.hangup(taken)
    caller.wait_call_state("c1", "disconnected", timeout=5)
    assert "rating" not in queue_leg(world, outcome="answered")


def agent_key(world, ext: str) -> str:
    return state.agent_key(settings.OCX_REDIS_PREFIX, world.client_a1.pk, ext)


def test_a_callback_held_by_an_engine_that_dies_is_taken_over_by_a_survivor(world, lines, edge, engine, queue):
    """kill -9 of the engine holding a callback: the survivor (this module's engine) takes it over once
    its lease lapses and calls the agent, then the caller, when the agent is free."""
    import json
    import os
    import signal

    from telephony.engine_registry import EngineInfo, registry_key
    from tests.telephony.conftest import start_engine

    caller, agent, _domain = lines
    made = queue(members=(("102", 0, 0),), logged_in=(), callback_key="1")
    caller.set_incoming(caller._first_account(), answer=200)
    redis, prefix, client = get_redis(), settings.OCX_REDIS_PREFIX, world.client_a1.pk
    victim = start_engine(edge)
    try:
        infos = [EngineInfo.from_json(v) for v in redis.hvals(registry_key(prefix))]
        victim_id = next(e.id for e in infos if e.port == victim.port)
        entry, joined = callbacks.member("lost-engine-call"), time.time() - 5
        lease = callbacks.lease_key(prefix, client, made.pk, entry)
        info = callbacks.requested_info(call="lost-engine-call", number="101", name="", joined=joined)
        keys = [state.queue_key(prefix, client, made.pk, what) for what in ("waiting", "offering", "seen", "callbacks")]
        os.kill(engine.pid, signal.SIGSTOP)  # for a moment only the victim may take the callback
        try:
            redis.eval(callbacks.REQUEST, 5, *keys, callbacks.all_key(prefix), "lost-engine-call", entry, joined,
                       time.time(), json.dumps(info), f"{client} {made.pk}")  # fmt: skip
            wait_for(lambda: redis.get(lease) == victim_id.encode(), "the victim engine holds the callback", 5)
        finally:
            os.kill(engine.pid, signal.SIGCONT)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(5)
        wait_for(lambda: (redis.get(lease) or victim_id.encode()) != victim_id.encode(), "a survivor took it", 15)
        assert waiting(world, made) == [entry], "it kept its place meanwhile"
        login(world, made, "102")
        rung = agent.wait_incoming(timeout=15)["call"]
        agent.wait_call_state(rung, "confirmed")
        back = caller.wait_incoming(timeout=15)["call"]
        caller.wait_call_state(back, "confirmed")
        caller.hangup(back)
        leg = try_leg(world, "callback-answered")
        assert leg["callback_of"] == "lost-engine-call"
        assert cdr_of(world, legs__contains=[{"leg": "queue", "outcome": "callback-answered"}]).engine != victim_id
    finally:
        if victim.poll() is None:
            victim.kill()
