"""Carrier health through real calls (pstn/health.py, pstn/routing.py, the engine's network
application): a carrier stood in by SIPp that answers every other call with 503 is measured from
those calls, taken out of the route once there are enough of them (the next carrier takes the
calls, and the route tester says why), and after it answers well again it gets one trial call when
its quiet period is over, which brings it back in its place.

The quiet period (60 s) is not waited for: the carrier's last call is moved a minute back in its
health marks in Redis, as if the minute had passed. tests/pstn/test_health.py has the arithmetic.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid

import pytest
from django.conf import settings

from billing.models import Carrier
from config.redis_store import get_redis
from pstn import health
from pstn.models import Gateway, OutboundPolicy, OutboundRoute, RouteCarrier, RoutingPolicy
from records.models import Cdr
from telephony.engine.applications.network import STATE_FOR
from tests.telephony.conftest import free_port
from tests.telephony.kamailio_carrier import udp_bound
from tests.telephony.test_pstn_outbound import SCENARIOS, sipp_gateway
from tests.waiting import committed, wait_for

NUMBER, E164 = "6502530000", "+16502530000"  # as a user of client A1 (US) dials it, and in E.164
MAX_SERVER_ERRORS = 25  # the brand's threshold: out at twice that, 50% server errors


@pytest.fixture
def carriers(world, tmp_path):
    """Brand A's one route: "flaky" first (SIPp answering every other call 503), "steady" second
    (SIPp answering every call); the brand takes a carrier out at 50% server errors."""
    flaky, flaky_port = sipp_gateway(tmp_path, "flaky", "carrier_flaky.xml", "-trace_msg")
    steady, steady_port = sipp_gateway(tmp_path, "steady", "engine_uas.xml")
    processes = {"flaky": flaky, "steady": steady}

    def create():
        made = {}
        for name, port in (("flaky", flaky_port), ("steady", steady_port)):
            carrier = Carrier.objects.create(name=f"{name}-{uuid.uuid4().hex[:6]}", brand=world.brand_a, country="US")
            Gateway.objects.create(carrier=carrier, name="gw", host="127.0.0.1", port=port,
                                   inbound_networks="192.0.2.1/32")  # fmt: skip
            made[name] = carrier
        route = OutboundRoute.objects.create(brand=world.brand_a, name="all", pattern="", position=1)
        RouteCarrier.objects.create(route=route, carrier=made["flaky"], priority=1)
        RouteCarrier.objects.create(route=route, carrier=made["steady"], priority=2)
        RoutingPolicy.objects.update_or_create(brand=world.brand_a, defaults={"max_server_errors": MAX_SERVER_ERRORS})
        OutboundPolicy.objects.update_or_create(client=world.client_a1, defaults={"allow_national": True})
        return made, route

    made, route = committed(create)
    for carrier in made.values():  # (a history under the same id left by an earlier run on this Redis)
        get_redis().delete(
            *(key(settings.OCX_REDIS_PREFIX, carrier.pk) for key in (health.history_key, health.marks_key))
        )
    yield made, processes, flaky_port, tmp_path
    for process in processes.values():
        process.terminate()
        process.wait(5)

    def remove():
        route.delete()
        RoutingPolicy.objects.filter(brand=world.brand_a).delete()
        OutboundPolicy.objects.filter(client=world.client_a1).delete()
        for carrier in made.values():
            carrier.delete()

    committed(remove)


def sipp_at(tmp_path, port: int, scenario: str) -> subprocess.Popen:
    """A SIPp carrier on a given port (the one a carrier's gateway names), once it listens."""
    process = subprocess.Popen(
        ["sipp", "-sf", str(SCENARIOS / scenario), "-i", "127.0.0.1", "-bind_local", "-p", str(port),
         "-mp", str(free_port()), "-cp", str(free_port()), "-nostdin", "-t", "u1"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip

    wait_for(lambda: udp_bound("127.0.0.1", port) or process.poll() is not None, f"SIPp listening on {port}", 5)
    return process


def calls_seen(tmp_path) -> set[str]:
    """The Call-IDs of the calls the flaky SIPp carrier received (its -trace_msg log)."""
    text = "".join(log.read_text(errors="replace") for log in tmp_path.glob("carrier_flaky_*_messages.log"))
    return set(re.findall(r"^Call-ID: *(\S+)", text, flags=re.MULTILINE | re.IGNORECASE))


def read_again(since: float) -> None:
    """Until the engine reads the carriers' health again rather than what it read before `since` (it
    reads it at most every STATE_FOR seconds for all of a brand's calls)."""
    wait_for(lambda: time.monotonic() > since + STATE_FOR, "the engine's reading of the carriers' health expired", 2)


def route_tester(api, world) -> dict[int, dict]:
    """The brand operator's route tester (the API) for the number: carrier id -> its row."""
    answer = api(world.brand_a_op).get("/api/v1/route-test/", {"number": NUMBER, "country": "US"})
    assert answer.status_code == 200, answer.content
    return {row["carrier_id"]: row for row in answer.json()["carriers"]}


def test_a_carrier_failing_half_its_calls_is_taken_out_and_comes_back_after_it_recovers(world, lines, carriers, api):
    caller, _, domain = lines
    made, processes, flaky_port, tmp_path = carriers
    flaky, steady = made["flaky"], made["steady"]
    placed = []

    def call() -> int:
        """One call from user 101 to the number, answered and hung up; the carrier its record names."""
        label = f"c{len(placed) + 1}"
        caller.call(label, f"sip:{NUMBER}@{domain}")
        caller.wait_call_state(label, "confirmed", timeout=15)
        caller.hangup(label)
        caller.wait_call_state(label, "disconnected")
        records = Cdr.objects.filter(client_id=world.client_a1.pk, callee_number=E164, ended_at__isnull=False,
                                     carrier__in=[flaky, steady])  # fmt: skip
        wait_for(lambda: records.count() == len(placed) + 1, f"the record of call {label}")
        placed.append(records.order_by("-id").first().carrier_id)
        return placed[-1]

    # Every other call fails at the first carrier and goes on at the next; until five calls are measured
    # the first carrier keeps its place.
    for _ in range(5):
        call()
    measured = time.monotonic()
    assert placed == [steady.pk, flaky.pk, steady.pk, flaky.pk, steady.pk]
    rows = wait_for(lambda: (rows := route_tester(api, world)) and rows[flaky.pk]["state"] == health.OUT and rows,
                    "the flaky carrier judged out", 5)  # fmt: skip
    assert rows[flaky.pk]["place"] is None and rows[steady.pk]["place"] == 1, rows
    assert "out of service: ASR 40%, server errors 60% over 5 calls" in rows[flaky.pk]["reason"], rows

    # Out: the next call goes to the next carrier at once, and nothing reaches the first one.
    read_again(measured)
    assert call() == steady.pk
    assert len(calls_seen(tmp_path)) == 5, "the out carrier got no sixth call"

    # It answers well again; once its quiet period is over it gets one trial call, in its place.
    processes["flaky"].terminate()
    processes["flaky"].wait(5)
    processes["flaky"] = sipp_at(tmp_path, flaky_port, "engine_uas.xml")
    marks = health.marks_key(settings.OCX_REDIS_PREFIX, flaky.pk)  # the quiet minute passes
    get_redis().hset(marks, "last", float(get_redis().hget(marks, "last")) - health.QUIET)
    read_again(time.monotonic())
    assert call() == flaky.pk, "the trial call"
    rows = wait_for(lambda: (rows := route_tester(api, world)) and rows[flaky.pk]["state"] == health.IN and rows,
                    "the flaky carrier back in", 5)  # fmt: skip
    assert (rows[flaky.pk]["place"], rows[steady.pk]["place"]) == (1, 2), rows
    assert call() == flaky.pk, "back in its place: calls go to it first again"
