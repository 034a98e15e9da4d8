"""Queue statistics from the call records' "queue" legs (queues/stats.py), through the API, the portal's
page and its CSV: the arithmetic over records written here (offered, answered, abandoned and abandoned
within 5 s apart, timeouts, full, waits, service level, talk and wrap-up; per agent offers, answered,
missed), days in the client's time zone, bad days as field errors, and other queues' and clients'
calls left out. Records of real queue calls are checked in tests/telephony/test_queue_stats_calls.py."""

from __future__ import annotations

import datetime as dt

import pytest
from django_tenants.utils import tenant_context

from queues.models import Queue
from queues.services import queue_save

# 2026-03-01 in New York: from 05:00 UTC that day to 05:00 UTC the next.
DAY = dt.date(2026, 3, 1)
IN_DAY = dt.datetime(2026, 3, 1, 15, 0, tzinfo=dt.UTC)


def text(response) -> str:
    return b"".join(response.streaming_content).decode("utf-8-sig")


@pytest.fixture
def new_york(world):
    client = world.client_a1
    before = client.timezone
    client.timezone = "America/New_York"
    client.save(update_fields=["timezone"])
    yield client
    client.timezone = before
    client.save(update_fields=["timezone"])


@pytest.fixture
def two_queues(world):
    client = world.client_a1
    support = queue_save(actor=world.client_a1_op, client=client, name="Support", service_level_seconds=20,
                         wrapup_seconds=5)  # fmt: skip
    sales = queue_save(actor=world.client_a1_op, client=client, name="Sales")
    return support, sales


def queue_call(cdr_factory, queue: Queue, outcome: str, wait: float, *, talk: float = 0, agent: str = "",
               offers=(), at: dt.datetime = IN_DAY, client=None, wrapup: int = 0):  # fmt: skip
    """A call record as the engine writes it for a caller of `queue` (answered by the queue at once)."""
    leg = {"leg": "queue", "call_id": "", "queue": queue.pk, "queue_name": queue.name, "joined": at.isoformat(),
           "wait": wait, "offers": [{"agent": a, "result": r} for a, r in offers], "outcome": outcome,
           "agent": agent, "announcements": 0, "wrapup": wrapup, "at": at.isoformat()}  # fmt: skip
    return cdr_factory(client, started_at=at, answer_after=0, seconds=int(wait + talk), number="600",
                       direction="inbound", legs=[{"leg": "caller", "call_id": "x"}, leg])  # fmt: skip


@pytest.fixture
def records(world, cdr_factory, new_york, two_queues):
    support, sales = two_queues
    queue_call(cdr_factory, support, "answered", 10, talk=60, agent="102", offers=[("102", "answered")], wrapup=5)
    queue_call(cdr_factory, support, "answered", 30, talk=120, agent="103", wrapup=5,
               offers=[("102", "missed"), ("103", "answered")])  # fmt: skip
    queue_call(cdr_factory, support, "abandoned", 3)
    queue_call(cdr_factory, support, "abandoned", 40, offers=[("102", "missed")])
    queue_call(cdr_factory, support, "timeout", 90)
    queue_call(cdr_factory, support, "full", 0)
    # Late on 1 March in New York (03:00 UTC on the 2nd): counted; early on the 1st in UTC (the 28th there): not.
    queue_call(cdr_factory, support, "abandoned", 3, at=dt.datetime(2026, 3, 2, 3, 0, tzinfo=dt.UTC))
    queue_call(cdr_factory, support, "answered", 1, talk=10, agent="102", offers=[("102", "answered")],
               at=dt.datetime(2026, 3, 1, 4, 0, tzinfo=dt.UTC))  # fmt: skip
    queue_call(cdr_factory, sales, "answered", 50, talk=10, agent="102", offers=[("102", "answered")])
    queue_call(cdr_factory, support, "answered", 1, talk=10, agent="777", offers=[("777", "answered")],
               client=world.client_a2)  # another client's queue of the same id  # fmt: skip
    return support, sales


def test_the_api_counts_a_queues_calls_of_the_days_in_the_clients_time_zone(world, api, records):
    support, _sales = records
    http = api(world.client_a1_op)
    got = http.get(f"/api/v1/queues/{support.pk}/stats/?from={DAY}&to={DAY}")
    assert got.status_code == 200, got.content
    body = got.json()
    names = ("offered", "answered", "abandoned", "abandoned_short", "timeouts", "full", "callbacks", "longest_wait",
             "service_level", "average_talk", "average_wrapup")  # fmt: skip
    figures = {k: body[k] for k in names}
    assert figures == {"offered": 7, "answered": 2, "abandoned": 1, "abandoned_short": 2, "timeouts": 1, "full": 1,
                       "callbacks": 0, "longest_wait": 90.0, "service_level": 50.0, "average_talk": 90.0,
                       "average_wrapup": 5.0}  # fmt: skip
    assert body["average_wait"] == pytest.approx((10 + 30 + 3 + 40 + 90 + 3) / 6, abs=0.1)
    assert (body["from"], body["to"], body["time_zone"]) == ("2026-03-01", "2026-03-01", "America/New_York")
    agents = {a["agent"]: a for a in body["agents"]}
    assert set(agents) == {"102", "103"}
    assert {k: agents["102"][k] for k in ("offers", "answered", "missed", "talk", "wrapup")} == {
        "offers": 3, "answered": 1, "missed": 2, "talk": 60.0, "wrapup": 5.0}  # fmt: skip
    assert {k: agents["103"][k] for k in ("offers", "answered", "missed", "talk")} == {
        "offers": 1, "answered": 1, "missed": 0, "talk": 120.0}  # fmt: skip
    assert [(d["day"], d["offered"]) for d in body["days"]] == [("2026-03-01", 7)]
    alone = http.get(f"/api/v1/queues/{support.pk}/stats/agents/?from={DAY}&to={DAY}").json()
    assert sorted(a["agent"] for a in alone) == ["102", "103"]
    # The day before (in New York) holds the early call only.
    before = http.get(f"/api/v1/queues/{support.pk}/stats/?from=2026-02-28&to=2026-02-28").json()
    assert (before["offered"], before["answered"], before["service_level"]) == (1, 1, 100.0)


def test_the_api_gives_every_queue_and_each_agent_over_all_of_them(world, api, records):
    http = api(world.client_a1_op)
    body = http.get(f"/api/v1/queues/stats/?from={DAY}&to={DAY}").json()
    assert [(q["name"], q["offered"], q["answered"]) for q in body["queues"]] == [("Sales", 1, 1), ("Support", 7, 2)]
    agents = {a["agent"]: a for a in body["agents"]}
    assert (agents["102"]["offers"], agents["102"]["answered"], agents["102"]["talk"]) == (4, 2, 70.0)
    assert [(d["day"], d["offered"]) for d in body["days"]] == [("2026-03-01", 8)]
    rows = text(http.get(f"/api/v1/queues/stats/?from={DAY}&to={DAY}&format=csv")).strip().splitlines()
    assert [row.split(",")[1] for row in rows[1:]] == ["Sales", "Support"]
    assert http.get("/api/v1/queues/stats/?from=2026-03-02&to=2026-03-01").status_code == 400
    assert api(world.user_a1).get(f"/api/v1/queues/stats/?from={DAY}&to={DAY}").json()["queues"] == []
    for provider in (world.brand_a_op, world.god):  # (no client's portal: no client's queues)
        assert api(provider).get(f"/api/v1/queues/stats/?from={DAY}&to={DAY}").status_code == 404


def test_the_api_gives_the_figures_as_csv(world, api, records):
    support, _sales = records
    http = api(world.client_a1_op)
    got = http.get(f"/api/v1/queues/{support.pk}/stats/?from={DAY}&to={DAY}&format=csv")
    assert got.status_code == 200 and got["Content-Type"].startswith("text/csv")
    header, row = text(got).strip().splitlines()
    assert header.startswith("queue,name,offered,answered,abandoned,abandoned_short")
    assert row.startswith(f"{support.pk},Support,7,2,1,2,1,1,0")
    agents = http.get(f"/api/v1/queues/{support.pk}/stats/agents/?from={DAY}&to={DAY}&format=csv")
    assert text(agents).splitlines()[1].startswith("102,3,1,2,60.0")


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("", {"from", "to"}),
        ("from=2026-13-01&to=2026-03-01", {"from"}),
        ("from=2026-03-02&to=2026-03-01", {"to"}),
        ("from=2020-01-01&to=2026-03-01", {"to"}),
        ("from=0001-01-01&to=2026-03-01", {"from"}),
        ("from=x%00&to=2026-03-01", {"from"}),
    ],
)
def test_bad_days_are_field_errors(world, api, two_queues, query, fields):
    support, _sales = two_queues
    got = api(world.client_a1_op).get(f"/api/v1/queues/{support.pk}/stats/?{query}")
    assert got.status_code == 400, got.content
    assert set(got.json()["fields"]) == fields, got.json()


def test_an_empty_period_has_no_figures_and_no_service_level(world, api, two_queues):
    support, _sales = two_queues
    body = api(world.client_a1_op).get(f"/api/v1/queues/{support.pk}/stats/?from=2026-01-01&to=2026-01-31").json()
    assert (body["offered"], body["service_level"], body["average_wait"], body["agents"], body["days"]) == (
        0, None, None, [], [])  # fmt: skip


def test_the_portal_page_shows_the_figures_with_charts_and_the_csv(world, portal, records):
    support, _sales = records
    http = portal(world.client_a1_op)
    page = http.get(f"/queues/{support.pk}/stats/?since={DAY}&until={DAY}")
    assert page.status_code == 200
    assert page.context["row"]["offered"] == 7 and page.context["row"]["service_level"] == 50.0
    html = page.content.decode()
    assert 'data-chart="queue-calls-per-day"' in html and 'data-agent="103"' in html
    csv = http.get(f"/queues/{support.pk}/stats.csv?since={DAY}&until={DAY}&of=agents")
    assert csv.status_code == 200 and "102," in text(csv)
    empty = http.get(f"/queues/{support.pk}/stats/?since=2026-01-01&until=2026-01-02")
    assert 'id="charts-empty"' in empty.content.decode() and "No offers in this period." in empty.content.decode()
    bad = http.get(f"/queues/{support.pk}/stats/?since=2026-03-02&until=2026-03-01")
    assert bad.status_code == 200 and "until" in bad.context["form"].errors
    assert http.get(f"/queues/{support.pk}/stats.csv?since=2026-03-02&until=2026-03-01").status_code == 400


def test_users_do_not_see_queue_statistics(world, api, portal, two_queues):
    support, _sales = two_queues
    assert api(world.user_a1).get(f"/api/v1/queues/{support.pk}/stats/?from={DAY}&to={DAY}").status_code == 404
    assert portal(world.user_a1).get(f"/queues/{support.pk}/stats/").status_code in (403, 404)


def test_the_service_level_and_missed_call_addresses_are_queue_fields(world, api):
    http = api(world.client_a1_op)
    bad = http.post("/api/v1/queues/", {"name": "Q", "service_level_seconds": 0,
                                         "missed_call_emails": "ok@example.com, nope"}, format="json")  # fmt: skip
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"service_level_seconds", "missed_call_emails"}
    made = http.post("/api/v1/queues/", {"name": "Q", "missed_call_emails": " a@example.com ;b@example.com"},
                     format="json")  # fmt: skip
    assert made.status_code == 201, made.json()
    assert (made.json()["service_level_seconds"], made.json()["missed_call_emails"]) == (
        20, "a@example.com, b@example.com")  # fmt: skip
    with tenant_context(world.client_a1):
        assert Queue.objects.get(name="Q").service_level_seconds == 20


def test_the_stats_page_shows_both_bad_days_at_once(world, portal, two_queues):
    from tests.pages import field_error

    support, _sales = two_queues
    answer = portal(world.client_a1_op).get(f"/queues/{support.pk}/stats/", {"since": "x", "until": "2026-02-30"})
    assert answer.status_code == 200
    assert "valid date" in field_error(answer, "since") and "valid date" in field_error(answer, "until")
    answer = portal(world.client_a1_op).get(f"/queues/{support.pk}/stats/", {"since": "", "until": "y"})
    assert "Choose a day" in field_error(answer, "since") and "valid date" in field_error(answer, "until")
