"""Carrier gateways kept in service by the edge (telephony/edge/trunks.py): Kamailio stands in for a
carrier's registrar with digest authentication; the edge registers there with the gateway's
credentials, pings it, takes it out of service when it stops answering and back when it answers."""

from __future__ import annotations

import importlib.util
import json
import uuid
from pathlib import Path

import pytest

from billing.models import Carrier
from config.redis_store import get_redis, rkey
from pstn.directory import gateway_states
from pstn.models import Gateway
from tests.telephony.conftest import free_port, start_edge
from tests.waiting import committed, wait_for

_REGISTRAR_PY = Path(__file__).resolve().parents[2] / "bench" / "kamailio" / "registrar.py"
_spec = importlib.util.spec_from_file_location("ocx_bench_kamailio_registrar", _REGISTRAR_PY)
registrar = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(registrar)
if registrar.kamailio_binary() is None:  # `make test` installs it (platform/test.py); say so plainly
    raise RuntimeError("kamailio (Debian) is missing: run the tests with `make test`, which installs it")

REALM, USER, SECRET = "carrier.example", "platform-trunk", "trunk-secret-1"


@pytest.fixture
def carrier_registrar(tmp_path):
    port = free_port()
    proc = registrar.start(tmp_path / "kamailio", port, [(USER, REALM, SECRET)], children=1, shm_mb=64)
    box = {"proc": proc, "port": port, "workdir": tmp_path / "kamailio"}
    yield box
    registrar.stop(box["proc"])


def state(gateway: Gateway) -> dict:
    return gateway_states([gateway.pk]).get(gateway.pk, {})


def test_the_edge_registers_at_a_carrier_and_follows_whether_its_gateway_answers(world, carrier_registrar):
    port = carrier_registrar["port"]

    def create():
        carrier = Carrier.objects.create(name=f"trunk-{uuid.uuid4().hex[:6]}", country="DE")
        good = Gateway.objects.create(carrier=carrier, name="registrar", host="127.0.0.1", port=port, register=True,
                                      username=USER, password=SECRET, realm=REALM)  # fmt: skip
        wrong = Gateway.objects.create(carrier=carrier, name="wrong secret", host="127.0.0.1", port=port,
                                       register=True, username=USER, password="not-it", realm=REALM)  # fmt: skip
        silent = Gateway.objects.create(carrier=carrier, name="never answers", host="127.0.0.1", port=free_port())
        return carrier, good, wrong, silent

    carrier, good, wrong, silent = committed(create)
    get_redis().delete(rkey("pstn:keeper"))  # (a lease left by an edge of an earlier test)
    edge = start_edge(OCX_SIP_GATEWAY_PING="0.5")
    try:
        wait_for(lambda: state(good).get("registered"), "registered at the carrier", 10)
        assert state(good)["alive"] and state(good)["expires_at"] > state(good)["checked_at"]
        wait_for(lambda: state(wrong).get("registration") == "403 Forbidden", "the wrong secret refused", 10)
        assert state(wrong)["registered"] is False
        seen: list[dict] = []  # a gateway never heard from is out after two misses, like any other
        wait_for(lambda: seen.append(state(silent)) or seen[-1].get("alive") is False, "the silent one out", 15)
        assert seen[-1]["missed"] >= 2 and all(s["alive"] for s in seen if s.get("missed") == 1), seen

        registrar.stop(carrier_registrar["proc"])  # the carrier's gateway goes silent
        wait_for(lambda: state(good).get("alive") is False, "out of service", 15)
        assert state(good)["missed"] >= 2

        carrier_registrar["proc"] = registrar.start(carrier_registrar["workdir"], port, [(USER, REALM, SECRET)],
                                                    children=1, shm_mb=64)  # fmt: skip
        wait_for(lambda: state(good).get("alive") and state(good).get("missed") == 0, "back in service", 15)
        wait_for(lambda: state(good).get("registered"), "registered again", 15)
        held = json.loads(get_redis().get(rkey("pstn:gateways")) or "[]")
        assert {g["gateway"] for g in held} >= {good.pk, wrong.pk}
    finally:
        edge.stop()

        def remove():
            carrier.delete()

        committed(remove)
