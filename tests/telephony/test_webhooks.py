"""Client webhooks with real phones (pjsua2) through the edge, a real engine and a real Celery
worker: the receiver (an HTTP server in the test) gets a real call's events, signed with the
endpoint's secret; a call nobody answers is also a missed call; a queue's caller joins and leaves."""

from __future__ import annotations

import time

from tests.telephony.conftest import connected
from tests.telephony.test_queues import answer_and_hang_up, call_queue, queue  # noqa: F401  (queue: a fixture)
from tests.waiting import committed
from tests.webhooks.receiver import endpoint_of_fixture, receiver_fixture, verified, webhook_worker_fixture  # noqa: F401

ENGINE_SETTINGS = {"OCX_WEBHOOK_ALLOW_HTTP": "1", "OCX_WEBHOOK_ALLOW_PRIVATE": "1"}


def test_a_call_rings_is_answered_and_ends_at_the_clients_receiver(world, lines, receiver, webhook_worker,
                                                                  endpoint_of):  # fmt: skip
    caller, callee, domain = lines
    endpoint = endpoint_of(receiver.url, events=["call.ringing", "call.answered", "call.ended"])
    label = connected(caller, callee, domain)
    caller.hangup("c1")
    callee.wait_call_state(label, "disconnected")

    posts = receiver.wait(3, timeout=30)
    assert all(verified(endpoint.secret, post) for post in posts)
    events = {post.json["type"]: post.json for post in posts}
    assert set(events) == {"call.ringing", "call.answered", "call.ended"}
    assert len({post.headers["OCX-Webhook-Id"] for post in posts}) == 3  # one id per event
    assert len({event["data"]["id"] for event in events.values()}) == 1  # one call
    for event in events.values():
        assert event["client"] == world.client_a1.pk and event["id"] and event["created"]
        assert event["data"]["caller"] == "101" and event["data"]["callee"] == "102"
        assert "engine" not in event["data"]  # which engine carried it is the platform's business
    assert events["call.answered"]["data"]["answered_at"]
    assert events["call.ended"]["data"]["disposition"] == "answered"


def test_a_call_nobody_answers_is_a_missed_call(world, lines, receiver, webhook_worker, endpoint_of):
    caller, callee, domain = lines
    endpoint_of(receiver.url, events=["call.missed"])  # that one only
    callee.set_incoming("102", answer=486)
    try:
        caller.call("c1", f"sip:102@{domain}")
        caller.wait_call_state("c1", "disconnected", timeout=20)
        [post] = receiver.wait(1, timeout=30)
    finally:
        callee.set_incoming("102", answer=200, ring_ms=300)
    assert post.json["type"] == "call.missed"
    assert post.json["data"]["disposition"] == "busy" and post.json["data"]["callee"] == "102"


def test_a_queues_caller_joins_and_leaves_answered_or_not(world, lines, receiver, webhook_worker, endpoint_of,
                                                          queue):  # noqa: F811  # fmt: skip
    """The first caller is answered by agent 102; the second, with nobody logged in, hangs up waiting."""
    from django_tenants.utils import tenant_context

    from queues.models import Member
    from queues.services import agent_logout

    caller, agent, domain = lines
    endpoint = endpoint_of(receiver.url, events=["queue.joined", "queue.left"])
    made = queue(members=(("102", 0, 1),), logged_in=("102",))
    call_queue(caller, domain)
    answer_and_hang_up(caller, agent)
    joined, left = receiver.wait(2, timeout=30)
    assert all(verified(endpoint.secret, post) for post in (joined, left))
    assert (joined.json["type"], joined.json["data"]["queue"], joined.json["data"]["caller"]) == (
        "queue.joined",
        made.pk,
        "101",
    )
    assert left.json["type"] == "queue.left" and left.json["data"]["queue_name"] == "Support"
    assert (left.json["data"]["outcome"], left.json["data"]["agent"]) == ("answered", "102")
    assert left.json["data"]["id"] == joined.json["data"]["id"]  # one call

    def log_out():
        with tenant_context(world.client_a1):
            line = Member.objects.get(queue=made).extension
        agent_logout(actor=None, client=world.client_a1, extension=line)

    committed(log_out)
    call_queue(caller, domain, label="c2")
    receiver.wait(3, timeout=30)  # (the second caller has joined)
    caller.hangup("c2")
    caller.wait_call_state("c2", "disconnected")
    last = receiver.wait(4, timeout=30)[-1]
    assert (last.json["type"], last.json["data"]["outcome"], last.json["data"]["agent"]) == (
        "queue.left",
        "abandoned",
        "",
    )
    time.sleep(1.5)  # (a window for a second queue.left, which a caller leaving once never sends)
    assert [post.json["type"] for post in receiver.received] == ["queue.joined", "queue.left"] * 2
