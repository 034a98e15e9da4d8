"""Client webhooks with real phones (pjsua2) through the edge, a real engine and a real Celery
worker: the receiver (an HTTP server in the test) gets a real call's events, signed with the
endpoint's secret; a call nobody answers is also a missed call."""

from __future__ import annotations

from tests.telephony.conftest import connected
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
