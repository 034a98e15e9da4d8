"""A client portal shows and reads times in its client's time zone (Client.timezone); the API and the
provider portals speak UTC."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tests.billing.test_usage import usage_recorder
from tests.billing.test_usage_portal import bars
from tests.conferencing.test_notifications_portal import table_rows

LATE = "2026-11-01T23:30"  # UTC; in Paris 00:30 on 2 November
NEXT_DAY = {"since": "2026-11-02", "until": "2026-11-02"}


@pytest.fixture
def paris(world, cdr_factory):
    world.client_a1.timezone = "Europe/Paris"
    world.client_a1.save(update_fields=["timezone"])
    return usage_recorder(cdr_factory)(world.client_a1, at=LATE, seconds=120, account=world.user_a1)


def calls_per_hour(page) -> dict[str, int]:
    return {t.split(": ")[0]: int(t.split(": ")[1].split()[0]) for t in bars(page, "calls-per-hour")}


def test_the_client_portal_reads_days_and_shows_hours_in_the_clients_zone(world, portal, paris):
    page = portal(world.client_a1_op).get("/usage/", NEXT_DAY)
    assert "times in Europe/Paris" in page.content.decode()
    assert table_rows(page, "usage") == [[world.user_a1.name, "call", "1", "2.0", "—"]]
    assert {hour: n for hour, n in calls_per_hour(page).items() if n} == {"00:00": 1}
    before = portal(world.client_a1_op).get("/usage/", {"since": "2026-11-01", "until": "2026-11-01"})
    assert table_rows(before, "usage") == [["No usage in these days."]]

    history = portal(world.user_a1).get("/calls/")
    assert "2026-11-02 00:30:00" in history.content.decode()


def test_the_api_and_the_provider_portals_stay_in_utc(world, portal, api, paris):
    usage = api(world.client_a1_op)  # the API's until is the moment the period ends
    assert usage.get("/api/v1/reports/usage/", {"since": "2026-11-02", "until": "2026-11-03"}).json()["totals"][
        "events"] == 0  # fmt: skip
    utc_day = usage.get("/api/v1/reports/usage/", {"since": "2026-11-01", "until": "2026-11-02"}).json()
    assert utc_day["totals"]["events"] == 1
    assert [h["hour"] for h in utc_day["calls_per_hour"] if h["calls"]] == [23]
    calls = api(world.user_a1).get("/api/v1/calls/").json()
    assert [c["started_at"] for c in calls["results"]] == ["2026-11-01T23:30:00Z"]

    brand = portal(world.brand_a_op).get("/usage/", {"since": "2026-11-01", "until": "2026-11-01"})
    assert "times in UTC" in brand.content.decode()
    assert [row[1:3] for row in table_rows(brand, "usage")] == [[world.client_a1.name, "1"]]


def test_a_zone_that_no_longer_exists_falls_back_to_utc(world, portal, paris):
    type(world.client_a1).objects.filter(pk=world.client_a1.pk).update(timezone="Mars/Olympus_Mons")
    page = portal(world.client_a1_op).get("/usage/", NEXT_DAY)
    assert page.status_code == 200 and "times in UTC" in page.content.decode()


def test_the_reports_default_to_the_clients_own_current_month(world, portal, monkeypatch):
    world.client_a1.timezone = "America/Los_Angeles"
    world.client_a1.save(update_fields=["timezone"])
    evening = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)  # 19:00 on 30 November in Los Angeles
    monkeypatch.setattr(timezone, "now", lambda: evening)
    for url in ("/usage/", "/reports/"):
        page = portal(world.client_a1_op).get(url).content.decode()
        assert 'value="2026-11-01"' in page and 'value="2026-11-30"' in page, url


def test_a_last_day_past_the_calendar_is_a_field_error(world, portal):
    http = portal(world.client_a1_op)
    for url in ("/calls/", "/usage/", "/reports/"):
        answer = http.get(url, {"since": "2026-11-01", "until": "9999-12-31"})
        assert answer.status_code == 200 and 'id="until-error"' in answer.content.decode(), url
