"""The carrier page (god and brand portals) and the carrier's API answer: each gateway's state as the
edge that keeps it writes it (telephony/edge/trunks.py), the carrier's health from calls recorded
with pstn.health.record, and charts of the samples the beat task keeps (pstn/carrier_health.py)."""

from __future__ import annotations

import json
import re
import time

import pytest
from django.conf import settings

from config.redis_store import get_redis, rkey
from pstn import health
from pstn.carrier_health import SINCE_KEY, carrier_health_sample, history_key, history_points
from pstn.models import Gateway
from tests.pstn.conftest import run


@pytest.fixture
def measured(world, pstn):
    """Brand A's carrier with two gateways in the states the edge writes, 10 calls recorded (6
    answered, 4 server errors: ASR 60%, errors 40%, above the default 30%: moved down), and two
    samples of its health a minute apart."""
    carrier, up = pstn.carrier_a, pstn.gateway_a
    down = Gateway.objects.create(carrier=carrier, name="registrar", host="192.0.2.30", register=True,
                                  username="u", password="p")  # fmt: skip
    now = time.time()
    redis = get_redis()
    states = {
        up.pk: {"alive": True, "missed": 0, "rtt_ms": 12.5, "checked_at": now - 5, "answer": "200 OK"},
        down.pk: {"alive": False, "missed": 4, "checked_at": now - 5, "registered": False,
                  "registration": "403 Forbidden"},
    }  # fmt: skip
    for gateway, state in states.items():  # as GatewayKeeper.write does
        redis.set(rkey("pstn:gw", gateway), json.dumps(state), ex=3600)

    async def calls(aredis):
        for index in range(10):
            outcome = health.ANSWERED if index < 6 else health.SERVER_ERROR
            await health.record(aredis, settings.OCX_REDIS_PREFIX, carrier.pk, outcome, 2.0, 90 if index < 6 else 0)

    run(calls)
    carrier_health_sample(now=now - 60)
    carrier_health_sample(now=now)
    yield carrier, up, down
    redis.delete(history_key(carrier.pk), rkey("pstn:gw", up.pk), rkey("pstn:gw", down.pk),
                 health.history_key(settings.OCX_REDIS_PREFIX, carrier.pk),
                 health.marks_key(settings.OCX_REDIS_PREFIX, carrier.pk))  # fmt: skip
    redis.hdel(rkey(SINCE_KEY), up.pk, down.pk)


def row_of(page: str, gateway: Gateway) -> str:
    return re.search(rf'<tr id="gateway-{gateway.pk}">(.*?)</tr>', page, re.S).group(1)


def test_the_carrier_page_shows_its_gateways_states_and_its_health(world, portal, measured):
    carrier, up, down = measured
    for account in (world.brand_a_op, world.god):
        page = portal(account).get(f"/rating/carriers/{carrier.pk}/").content.decode()
        alive, silent = row_of(page, up), row_of(page, down)
        assert "In service since" in alive and "200 OK in 12.5 ms" in alive and "Not registering" in alive
        assert "Out of service since" in silent and "4 pings unanswered" in silent
        assert "Registration failing: 403 Forbidden" in silent
        now = re.search(r'<div class="stats" id="health-now">(.*?)</div>\s*<section', page, re.S).group(1)
        assert "Moved down" in now and "below the thresholds" in now
        assert "60%" in now and "40%" in now and "90 s" in now and "2.0 s" in now and "<strong>10</strong>" in now

        asr = re.search(r'<svg id="health-asr".*?</svg>', page, re.S).group(0)
        assert asr.count("<circle") == 2 and ": 60.0 %</title>" in asr  # both samples, each with its value
        assert "<polyline" in asr and ">100<" in asr and ">0<" in asr  # the value axis
        figures = re.search(r'<script id="health-asr-data" type="application/json">(.*?)</script>', page, re.S)
        assert json.loads(figures.group(1))["values"] == [60.0, 60.0]  # what static/charts.js draws
        table = re.search(r'<details id="health-table">.*?</details>', page, re.S).group(0)
        assert table.count("<td>60.0</td>") == 2 and table.count("<td>40.0</td>") == 2


def test_the_carriers_api_answer_has_its_gateways_states_and_health(world, api, measured):
    carrier, up, down = measured
    body = api(world.brand_a_op).get(f"/api/v1/carriers/{carrier.pk}/").json()
    states = {g["id"]: g for g in body["gateway_states"]}
    assert states[up.pk]["service"] == "in service" and states[up.pk]["rtt_ms"] == 12.5
    assert states[up.pk]["last_answer"] == "200 OK" and states[up.pk]["since"]
    assert states[down.pk]["service"] == "out of service" and states[down.pk]["missed"] == 4
    assert (states[down.pk]["registration"], states[down.pk]["registration_answer"]) == ("failing", "403 Forbidden")
    assert body["health"]["state"] == "down" and body["health"]["asr"] == 60 and body["health"]["server_errors"] == 40
    assert body["health"]["calls"] == 10 and body["health"]["acd"] == 90 and body["health"]["pdd"] == 2
    assert [s["asr"] for s in body["health_history"]] == [60, 60]
    assert body["health_history"][1]["at"] - body["health_history"][0]["at"] == 60


def test_another_brands_carrier_is_not_found(world, portal, api, measured):
    carrier, _, _ = measured
    assert portal(world.brand_b_op).get(f"/rating/carriers/{carrier.pk}/").status_code == 404
    assert api(world.brand_b_op).get(f"/api/v1/carriers/{carrier.pk}/").status_code == 404
    assert portal(world.client_a1_op).get(f"/rating/carriers/{carrier.pk}/").status_code == 404


def test_a_carrier_without_samples_says_so_in_its_charts(world, portal, pstn):
    page = portal(world.brand_b_op).get(f"/rating/carriers/{pstn.carrier_b.pk}/").content.decode()
    charts = re.search(r'<section class="charts grid".*?</section>', page, re.S).group(0)
    assert '<p class="chart-empty" id="health-charts">No figures yet: ' in charts  # one small line
    assert "<svg" not in charts and "application/json" not in charts
    row = row_of(page, pstn.gateway_b)
    assert "Not checked yet" in row


def test_the_history_is_averaged_to_at_most_144_points_and_keeps_gaps():
    samples = [{"at": 1_700_000_000 + 60 * i, "state": "in", "calls": 5, "asr": float(i % 2 * 100),
                "server_errors": 0.0, "pdd": None, "acd": 30.0} for i in range(1440)]  # fmt: skip
    points = history_points(samples)
    assert len(points) == 144
    assert points[0]["asr"] == 50.0 and points[0]["pdd"] is None and points[-1]["at"].timestamp() == samples[-1]["at"]


def test_the_beat_task_samples_each_minute_and_keeps_24_hours(world, pstn):
    from config.celeryconf import app
    from pstn.carrier_health import HISTORY_KEEP
    from pstn.tasks import carrier_health_sample as task

    assert app.conf.beat_schedule["pstn-carrier-health-sample"] == {
        "task": "pstn.tasks.carrier_health_sample", "schedule": 60.0,
    }  # fmt: skip
    redis, key = get_redis(), history_key(pstn.carrier_a.pk)
    try:
        redis.rpush(key, *[json.dumps({"at": i, "state": "in", "calls": 0}) for i in range(HISTORY_KEEP)])
        assert task.apply().get() >= 3  # every enabled carrier: the platform's and both brands'
        assert redis.llen(key) == HISTORY_KEEP  # the oldest went
        assert json.loads(redis.lindex(key, 0))["at"] == 1
        assert json.loads(redis.lindex(key, -1))["state"] == "in" and json.loads(redis.lindex(key, -1))["at"] > 1000
    finally:
        for carrier in (pstn.platform, pstn.carrier_a, pstn.carrier_b):
            redis.delete(history_key(carrier.pk))
