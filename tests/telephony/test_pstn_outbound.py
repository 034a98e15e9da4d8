"""Calls to the phone network through carriers stood in by SIPp: a user dials a number as people in
the client's country do, the brand's route sends it to its first carrier, which fails (503), and the
call goes on at the next one; a busy answer is the far end's, so no other carrier is tried; the
client's policy refuses what it does not allow, but never an emergency number."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import uuid

import pytest
import redis.asyncio as aioredis
from asgiref.sync import async_to_sync
from django.conf import settings

from billing.models import Carrier
from config.redis_store import get_redis
from pstn import health
from pstn.models import Gateway, OutboundPolicy, OutboundRoute, RouteCarrier
from records.models import Cdr
from tests.telephony.conftest import cdr_of, free_port
from tests.waiting import committed, wait_for

SCENARIOS = settings.BASE_DIR / "tests" / "sip" / "sipp"
NUMBER, E164 = "6502530000", "+16502530000"  # as a user in the US dials it, and in E.164


def sipp_gateway(tmp_path, name: str, *scenario: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        ["sipp", "-sf", str(SCENARIOS / scenario[0]), *scenario[1:], "-i", "127.0.0.1", "-bind_local", "-p", str(port),
         "-mp", str(free_port()), "-cp", str(free_port()), "-nostdin", "-t", "u1"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def listening() -> bool:  # the port is SIPp's once we can no longer bind it
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
        finally:
            probe.close()
        return process.poll() is not None

    wait_for(listening, f"SIPp {name} listening", 5)
    return process, port


@pytest.fixture
def carriers(world, tmp_path):
    """Two carriers of brand A in one priority route: the first answers 503, the second answers."""
    failing, failing_port = sipp_gateway(tmp_path, "failing", "carrier_503.xml")
    answering, answering_port = sipp_gateway(tmp_path, "answering", "engine_uas.xml")

    def create():
        made = []
        for name, port in (("first", failing_port), ("second", answering_port)):
            carrier = Carrier.objects.create(
                name=f"out-{name}-{uuid.uuid4().hex[:6]}", brand=world.brand_a, country="US"
            )
            # (its calls would come from a network of its own: the test's phones are on 127.0.0.1 too)
            Gateway.objects.create(carrier=carrier, name="gw", host="127.0.0.1", port=port,
                                   inbound_networks="192.0.2.1/32")  # fmt: skip
            made.append(carrier)
        route = OutboundRoute.objects.create(brand=world.brand_a, name="all", pattern="", position=1)
        for priority, carrier in enumerate(made, start=1):
            RouteCarrier.objects.create(route=route, carrier=carrier, priority=priority)
        OutboundPolicy.objects.update_or_create(client=world.client_a1, defaults={"allow_national": True})
        return made, route

    made, route = committed(create)
    yield made
    for process in (failing, answering):
        process.terminate()
        process.wait(5)

    def remove():
        route.delete()
        OutboundPolicy.objects.filter(client=world.client_a1).delete()
        for carrier in made:
            carrier.delete()

    committed(remove)


def test_an_outbound_call_fails_over_from_a_failing_carrier_to_the_next(world, lines, carriers):
    caller, _, domain = lines
    first, second = carriers
    caller.call("c1", f"sip:{NUMBER}@{domain}")
    caller.wait_call_state("c1", "confirmed", timeout=15)
    caller.hangup("c1")
    caller.wait_call_state("c1", "disconnected")
    cdr = cdr_of(world, callee_number=E164)
    assert (cdr.direction, cdr.carrier_id, cdr.disposition) == (Cdr.Direction.OUTBOUND, second.pk, "answered")

    def first_failed():
        figures = async_to_sync(snapshot_of)([first.pk])[first.pk]
        return figures if figures.calls else None

    failed = wait_for(first_failed, "the first carrier's failure counted")
    assert (failed.calls, failed.server_errors) == (1, 100.0)


def test_the_policy_refuses_what_the_client_does_not_allow_and_never_an_emergency_call(world, lines, carriers):
    caller, _, domain = lines
    committed(lambda: OutboundPolicy.objects.filter(client=world.client_a1).update(allow_national=False))
    caller.call("c1", f"sip:{NUMBER}@{domain}")
    ended = caller.wait_call_state("c1", "disconnected", timeout=10)
    assert ended["code"] == 403, ended
    wait_for(
        lambda: Cdr.objects.filter(callee_number=E164, ended_at__isnull=False).exists(), "the refused call's record"
    )

    caller.call("c2", f"sip:911@{domain}")  # allowed whatever the policy says; it reaches a carrier
    caller.wait_call_state("c2", "confirmed", timeout=15)
    caller.hangup("c2")
    cdr = cdr_of(world, callee_number="911")
    assert (cdr.direction, cdr.disposition) == (Cdr.Direction.OUTBOUND, "answered")


def test_a_carrier_whose_gateways_are_out_of_service_is_not_tried(world, lines, carriers):
    caller, _, domain = lines
    first, second = carriers
    prefix, redis = settings.OCX_REDIS_PREFIX, get_redis()
    for gateway in Gateway.objects.filter(carrier=first):
        redis.set(f"{prefix}:pstn:gw:{gateway.pk}", json.dumps({"alive": False, "missed": 2}), ex=60)
    caller.call("c1", f"sip:{NUMBER}@{domain}")
    caller.wait_call_state("c1", "confirmed", timeout=15)
    caller.hangup("c1")
    assert cdr_of(world, callee_number=E164).carrier_id == second.pk
    seen = async_to_sync(snapshot_of)([first.pk, second.pk])
    assert seen[first.pk].calls == 0, "the silent carrier was not tried, so nothing counts against it"


async def snapshot_of(carrier_ids):
    client = aioredis.from_url(settings.REDIS_URL)
    try:
        return await health.snapshot(client, settings.OCX_REDIS_PREFIX, carrier_ids)
    finally:
        await client.aclose()


def test_a_carrier_that_refuses_our_credentials_is_passed_over_like_a_failing_one(world, lines, carriers, tmp_path):
    caller, _, domain = lines
    first, second = carriers
    asking, port = sipp_gateway(tmp_path, "asking", "carrier_407.xml")

    def create():
        carrier = Carrier.objects.create(name=f"out-asking-{uuid.uuid4().hex[:6]}", brand=world.brand_a)
        Gateway.objects.create(carrier=carrier, name="gw", host="127.0.0.1", port=port, username="trunk",
                               password="wrong-one", realm="carrier.example",
                               inbound_networks="192.0.2.2/32")  # fmt: skip
        RouteCarrier.objects.create(route=OutboundRoute.objects.get(brand=world.brand_a, name="all"),
                                    carrier=carrier, priority=0)  # fmt: skip
        return carrier

    carrier = committed(create)
    try:
        caller.call("c1", f"sip:{NUMBER}@{domain}")
        caller.wait_call_state("c1", "confirmed", timeout=15)  # 407 twice, then 503, then answered
        caller.hangup("c1")
        assert cdr_of(world, callee_number=E164).carrier_id == second.pk
        figures = async_to_sync(snapshot_of)([carrier.pk, first.pk])
        assert (figures[carrier.pk].calls, figures[first.pk].calls) == (1, 1)
    finally:
        asking.terminate()
        asking.wait(5)
        committed(carrier.delete)


def test_a_carrier_is_offered_its_own_codecs_and_the_engine_converts(world, lines, phone_carrier):
    caller, _, domain = lines
    far, _ = phone_carrier(codecs="PCMA")
    far.set_incoming("mobile", answer=200)
    caller.set_codecs("PCMU")  # (the engine converts between the two)
    caller.call("c1", f"sip:{NUMBER}@{domain}")
    incoming = far.wait_incoming()
    offered = next(line for line in incoming["sdp"].splitlines() if line.startswith("m=audio")).split()[3:]
    assert offered[0] == "8" and "0" not in offered, incoming["sdp"]
    assert far.wait_media(incoming["call"])["codec"] == "PCMA/8000"
    assert caller.wait_media("c1")["codec"] == "PCMU/8000"
    caller.hangup("c1")
    far.wait_call_state(incoming["call"], "disconnected")


def first_in_route(world, port: int, name: str) -> Carrier:
    """A carrier whose gateway is 127.0.0.1:port, put first in the carriers fixture's route."""

    def create():
        carrier = Carrier.objects.create(name=f"out-{name}-{uuid.uuid4().hex[:6]}", brand=world.brand_a)
        Gateway.objects.create(carrier=carrier, name="gw", host="127.0.0.1", port=port, inbound_networks="192.0.2.3/32")
        RouteCarrier.objects.create(route=OutboundRoute.objects.get(brand=world.brand_a, name="all"),
                                    carrier=carrier, priority=0)  # fmt: skip
        return carrier

    return committed(create)


def test_a_busy_far_end_is_the_answer_and_no_other_carrier_is_tried(world, lines, carriers, tmp_path):
    caller, _, domain = lines
    first, second = carriers
    busy, port = sipp_gateway(tmp_path, "busy", "carrier_486.xml")
    carrier = first_in_route(world, port, "busy")
    try:
        caller.call("c1", f"sip:{NUMBER}@{domain}")
        assert caller.wait_call_state("c1", "disconnected", timeout=10)["code"] == 486
        cdr = cdr_of(world, callee_number=E164)
        assert (cdr.carrier_id, cdr.disposition) == (carrier.pk, Cdr.Disposition.BUSY)
        figures = async_to_sync(snapshot_of)([carrier.pk, first.pk, second.pk])
        assert (figures[first.pk].calls, figures[second.pk].calls) == (0, 0)  # never tried
        assert not figures[carrier.pk].server_errors  # the far end's answer is not the carrier's fault
    finally:
        busy.terminate()
        busy.wait(5)
        committed(carrier.delete)


def test_a_gateway_that_never_answers_is_passed_over_within_seconds(world, lines, carriers):
    caller, _, domain = lines
    _first, second = carriers
    carrier = first_in_route(world, free_port(), "silent")  # nothing listens there
    try:
        started = time.monotonic()
        caller.call("c1", f"sip:{NUMBER}@{domain}")
        caller.wait_call_state("c1", "confirmed", timeout=15)  # silent (2 s), then 503, then answered
        assert time.monotonic() - started < 10
        caller.hangup("c1")
        assert cdr_of(world, callee_number=E164).carrier_id == second.pk
    finally:
        committed(carrier.delete)
