"""Routing webhooks with real phones (pjsua2) through the edge and a real engine: 101 calls one of
client A1's numbers, which points at a routing webhook (destination kind "webhook"); the test's HTTP
server answers where the call goes (user 102, whose phone rings), or is too slow, or answers
nonsense, and then the webhook's fallback runs. The call's record says which, and why."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from tests.telephony.conftest import cdr_of
from tests.waiting import committed
from tests.webhooks.receiver import receiver_fixture, verified  # noqa: F401 (fixtures)

ENGINE_SETTINGS = {"OCX_WEBHOOK_ALLOW_HTTP": "1", "OCX_WEBHOOK_ALLOW_PRIVATE": "1"}
DID = "+4930901831"


@pytest.fixture
def routed(world, settings, carrier_factory_pstn):
    """routed(url, **fields) -> a routing webhook of client A1 (committed) that the number DID points at."""
    from webhooks.models import RoutingWebhook
    from webhooks.services import routing_webhook_save

    settings.OCX_WEBHOOK_ALLOW_HTTP = settings.OCX_WEBHOOK_ALLOW_PRIVATE = True

    def make(url: str, **fields):
        webhook = committed(routing_webhook_save, actor=world.client_a1_op, client=world.client_a1, name="Router",
                            url=url, **fields)  # fmt: skip
        carrier_factory_pstn([(world.brand_a, DID, world.client_a1, "webhook", str(webhook.pk))],
                             networks="192.0.2.1/32")  # fmt: skip
        return webhook

    yield make

    def remove():
        from telephony.directory import sip_directory_rooms_changed

        with tenant_context(world.client_a1):
            RoutingWebhook.objects.all().delete()
        sip_directory_rooms_changed(world.client_a1)

    committed(remove)


def webhook_leg(world) -> dict:
    cdr = cdr_of(world, timeout=10, legs__contains=[{"leg": "webhook"}])
    [leg] = [leg for leg in cdr.legs if leg.get("leg") == "webhook"]
    return leg


def test_the_clients_server_sends_the_call_to_a_user(world, lines, receiver, routed):
    caller, callee, domain = lines
    webhook = routed(receiver.url, timeout_ms=2000, fallback_kind="hangup", fallback_target="goodbye")
    receiver.answer(200, {"kind": "user", "target": "102"})
    caller.call("c1", f"sip:{DID}@{domain}")
    label = callee.wait_incoming(timeout=15)["call"]
    callee.wait_call_state(label, "confirmed")
    caller.wait_call_state("c1", "confirmed")
    caller.hangup("c1")
    callee.wait_call_state(label, "disconnected")

    [asked] = receiver.received
    assert verified(webhook.secret, asked)
    question = asked.json
    assert question["type"] == "call.routing" and question["client"] == world.client_a1.pk
    assert question["data"]["caller"] == "101" and question["data"]["dialled"] == DID
    assert question["data"]["call_id"] and asked.headers["OCX-Webhook-Id"] == question["id"]
    leg = webhook_leg(world)
    assert leg["answered"] == "user:102" and leg["to"] == "user:102" and "why" not in leg


def test_a_server_slower_than_the_timeout_sends_the_call_to_the_fallback(world, lines, receiver, routed):
    caller, callee, domain = lines
    routed(receiver.url, timeout_ms=300, fallback_kind="user", fallback_target="102")
    receiver.answer(200, {"kind": "hangup", "target": ""}, delay=3.0)  # too late
    caller.call("c1", f"sip:{DID}@{domain}")
    label = callee.wait_incoming(timeout=15)["call"]  # the fallback: 102 rings
    callee.wait_call_state(label, "confirmed")
    caller.hangup("c1")
    callee.wait_call_state(label, "disconnected")
    leg = webhook_leg(world)
    assert leg["why"] == "no answer within 300 ms" and leg["to"] == "user:102" and "answered" not in leg
    assert 250 <= leg["ms"] < 1500


@pytest.mark.parametrize(
    ("status", "answer", "why"),
    [
        (200, {"kind": "user", "target": "999"}, "user:999: No user has extension 999."),
        (200, b"<html>not json</html>", "the answer is not JSON"),
        (200, {"where": "102"}, "the answer names no destination"),
        (500, b"", "HTTP 500"),
        (200, {"kind": "webhook", "target": "1"}, "may not send a call to a routing webhook"),
    ],
)
def test_a_bad_answer_sends_the_call_to_the_fallback(world, lines, receiver, routed, status, answer, why):
    caller, _callee, domain = lines
    routed(receiver.url, fallback_kind="hangup", fallback_target="")  # the fallback: refused (480)
    receiver.answer(status, answer)
    caller.call("c1", f"sip:{DID}@{domain}")
    ended = caller.wait_call_state("c1", "disconnected", timeout=15)
    assert ended["code"] == 480
    leg = webhook_leg(world)
    assert why in leg["why"] and leg["to"] == "hangup:"
