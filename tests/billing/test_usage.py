"""Usage across services (billing/usage.py) and its API, in each scope, from call records the test
writes: calls, conference joins and notifications in two clients of brand A and one of brand B."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.rating import rate_period
from billing.usage import usage_records, usage_rows, usage_series, usage_totals

URL = "/api/v1/reports/usage/"
NOVEMBER = {"since": dt.datetime(2026, 11, 1, tzinfo=dt.UTC), "until": dt.datetime(2026, 12, 1, tzinfo=dt.UTC)}
NOVEMBER_QUERY = {"since": "2026-11-01", "until": "2026-12-01"}


def usage_recorder(cdr_factory):
    """record(client, at=..., seconds=..., callee=None, **fields) -> a call answered at once at `at`
    (UTC), talking `seconds`: the root cdr_factory with this module's way of saying it."""

    def record(client, *, at: str, seconds: int, callee=None, **fields):
        start = dt.datetime.fromisoformat(at).replace(tzinfo=dt.UTC)
        return cdr_factory(client, started_at=start, answer_after=0, seconds=seconds, callee_account=callee,
                           caller_name="Caller", **fields)  # fmt: skip

    return record


def write_usage(world, cdr_factory) -> None:
    """Client a1: user a1 calls twice (2 + 1 min) and moderates a 5 min join (of user a1b); user a1b is
    notified (30 s); outside the period or still running: not counted. Client a2: one 3 min call by
    its operator. Client b1 (brand B): user b1 calls for 10 min."""
    a1, a2, b1 = world.client_a1, world.client_a2, world.client_b1
    record = usage_recorder(cdr_factory)
    record(a1, at="2026-11-02T09:00", seconds=120, account=world.user_a1)
    record(a1, at="2026-11-03T14:00", seconds=60, account=world.user_a1, callee=world.user_a1c)
    record(a1, at="2026-11-03T14:30", seconds=300, service="conference", account=world.user_a1b,
           moderator=world.user_a1)  # fmt: skip
    record(a1, at="2026-11-04T10:00", seconds=30, service="notification", callee=world.user_a1b)
    record(a1, at="2026-10-31T23:59", seconds=600, account=world.user_a1)
    record(a1, at="2026-11-05T11:00", seconds=0, account=world.user_a1, ended=False)
    record(a2, at="2026-11-05T08:00", seconds=180, account=world.client_a2_op)
    record(b1, at="2026-11-02T09:10", seconds=600, account=world.user_b1)


@pytest.fixture
def usage(world, cdr_factory):
    write_usage(world, cdr_factory)


def keyed(rows: list[dict]) -> dict:
    return {(r["person_id"], r["service"]): (r["events"], r["minutes"]) for r in rows}


def test_an_operator_sees_the_company_per_person_and_service_with_totals(world, usage):
    rows = usage_rows(world.client_a1_op, **NOVEMBER)
    assert keyed(rows) == {
        (world.user_a1.pk, "call"): (2, 3.0),
        (world.user_a1.pk, "conference"): (1, 5.0),
        (world.user_a1b.pk, "notification"): (1, 0.5),
    }
    assert {r["company"] for r in rows} == {world.client_a1.name}
    assert {r["person"] for r in rows} == {world.user_a1.name, world.user_a1b.name}
    assert usage_totals(rows) == {"events": 4, "minutes": 8.5, "price": None}


def test_a_user_sees_only_their_own_usage(world, usage):
    assert keyed(usage_rows(world.user_a1, **NOVEMBER)) == {
        (world.user_a1.pk, "call"): (2, 3.0),
        (world.user_a1.pk, "conference"): (1, 5.0),
    }
    # user a1b took part in the conference and was called, but the join is the moderator's usage.
    assert keyed(usage_rows(world.user_a1b, **NOVEMBER)) == {(world.user_a1b.pk, "notification"): (1, 0.5)}
    assert usage_rows(world.user_a1c, **NOVEMBER) == []
    assert usage_rows(world.user_a1, person_id=world.user_a1b.pk, **NOVEMBER) == []


def test_a_brand_sees_its_companies_and_the_provider_its_brands(world, usage):
    companies = usage_rows(world.brand_a_op, **NOVEMBER)
    assert [(r["company"], r["events"], r["minutes"]) for r in companies] == sorted(
        [(world.client_a1.name, 4, 8.5), (world.client_a2.name, 1, 3.0)]
    )
    assert usage_totals(companies)["events"] == 5
    people = usage_rows(world.brand_a_op, group="person", client_id=world.client_a2.pk, **NOVEMBER)
    assert keyed(people) == {(world.client_a2_op.pk, "call"): (1, 3.0)}
    brands = usage_rows(world.god, **NOVEMBER)
    assert [(r["brand"], r["events"], r["minutes"]) for r in brands] == sorted(
        [(world.brand_a.name, 5, 11.5), (world.brand_b.name, 1, 10.0)]
    )
    assert len(usage_rows(world.god, group="company", **NOVEMBER)) == 3


def test_the_service_filter(world, usage):
    calls = usage_rows(world.god, group="company", service="call", **NOVEMBER)
    assert {r["company"]: (r["events"], r["minutes"]) for r in calls} == {
        world.client_a1.name: (2, 3.0),
        world.client_a2.name: (1, 3.0),
        world.client_b1.name: (1, 10.0),
    }
    conferences = usage_rows(world.client_a1_op, service="conference", **NOVEMBER)
    assert keyed(conferences) == {(world.user_a1.pk, "conference"): (1, 5.0)}


def test_another_scope_sees_nothing_of_others(world, usage):
    assert {r["company"] for r in usage_rows(world.brand_b_op, group="person", **NOVEMBER)} == {world.client_b1.name}
    assert usage_rows(world.brand_b_op, client_id=world.client_a1.pk, **NOVEMBER) == []
    assert usage_rows(world.client_a2_op, person_id=world.user_a1.pk, **NOVEMBER) == []
    assert keyed(usage_rows(world.client_b1_op, **NOVEMBER)) == {(world.user_b1.pk, "call"): (1, 10.0)}
    assert usage_series(world.client_b1_op, **NOVEMBER)["calls_per_hour"][14]["calls"] == 0


def test_the_series_count_every_day_and_hour_in_the_database(world, usage):
    with CaptureQueriesContext(connection) as queries:
        series = usage_series(world.client_a1_op, **NOVEMBER)
    grouped = [q["sql"] for q in queries.captured_queries if "GROUP BY" in q["sql"]]
    assert len(grouped) == 2 and "EXTRACT" in grouped[1] and "::date" in grouped[0]
    days = series["minutes_per_day"]
    assert len(days) == 30 and days[0]["day"] == dt.date(2026, 11, 1) and days[-1]["day"] == dt.date(2026, 11, 30)
    assert {d["day"].day: d["minutes"] for d in days if d["minutes"]} == {2: 2.0, 3: 6.0, 4: 0.5}
    hours = series["calls_per_hour"]
    assert [h["hour"] for h in hours] == list(range(24))
    assert {h["hour"]: h["calls"] for h in hours if h["calls"]} == {9: 1, 14: 2, 10: 1}
    god = usage_series(world.god, service="call", **NOVEMBER)
    assert {h["hour"]: h["calls"] for h in god["calls_per_hour"] if h["calls"]} == {9: 2, 14: 1, 8: 1}


def test_the_api_answers_rows_totals_and_series(world, api, usage):
    answer = api(world.brand_a_op).get(URL, NOVEMBER_QUERY)
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["group"] == "company" and body["service"] == "all"
    assert [(r["company"], r["events"], r["minutes"]) for r in body["results"]] == sorted(
        [(world.client_a1.name, 4, 8.5), (world.client_a2.name, 1, 3.0)]
    )
    assert body["totals"]["events"] == 5 and body["totals"]["minutes"] == 11.5
    assert len(body["minutes_per_day"]) == 30 and len(body["calls_per_hour"]) == 24
    assert body["minutes_per_day"][2] == {"day": "2026-11-03", "minutes": 6.0}

    mine = api(world.user_a1).get(URL, {**NOVEMBER_QUERY, "service": "call"}).json()
    assert [(r["person_id"], r["events"]) for r in mine["results"]] == [(world.user_a1.pk, 2)]
    assert sum(h["calls"] for h in mine["calls_per_hour"]) == 2

    other = api(world.client_b1_op).get(URL, NOVEMBER_QUERY).json()
    assert {r["company"] for r in other["results"]} == {world.client_b1.name}


def test_the_api_csv_has_the_rows(world, api, usage):
    answer = api(world.god).get(URL, {**NOVEMBER_QUERY, "group": "company", "format": "csv"})
    assert answer.status_code == 200
    text = b"".join(answer.streaming_content).decode("utf-8").lstrip("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["brand", "company", "events", "minutes", "price"]
    assert {r["company"]: r["events"] for r in rows} == {
        world.client_a1.name: "4",
        world.client_a2.name: "1",
        world.client_b1.name: "1",
    }


@pytest.mark.parametrize(
    ("account", "query", "field"),
    [
        ("god", {"service": "fax"}, "service"),
        ("god", {"since": "yesterday"}, "since"),
        ("god", {"since": "2026-11-05", "until": "2026-11-01"}, "until"),
        ("god", {"since": "2020-01-01", "until": "2026-01-01"}, "until"),
        ("god", {"group": "planet"}, "group"),
        ("client_a1_op", {"group": "brand"}, "group"),
        ("brand_a_op", {"group": "brand"}, "group"),
        ("user_a1", {"group": "company"}, "group"),
        ("god", {"client": "abc"}, "client"),
    ],
)
def test_bad_filters_are_field_errors(world, api, usage, account, query, field):
    answer = api(getattr(world, account)).get(URL, query)
    assert answer.status_code == 400, answer.content
    assert list(answer.json()["fields"]) == [field], answer.json()


def test_prices_show_where_rated_and_never_to_users(world, priced, usage):
    rate_period(since=NOVEMBER["since"], until=NOVEMBER["until"])
    rows = {(r["person_id"], r["service"]): r["price"] for r in usage_rows(world.client_a1_op, **NOVEMBER)}
    # 2 minutes at 0.01 (London); the call to user a1c stays inside the company and is not billed.
    assert rows[(world.user_a1.pk, "call")] == Decimal("0.0200")
    assert rows[(world.user_a1.pk, "conference")] == Decimal("0.0750")  # 5 minutes at 0.015
    assert usage_totals(usage_rows(world.god, **NOVEMBER))["price"] >= Decimal("0.0950")
    assert {r["price"] for r in usage_rows(world.user_a1, **NOVEMBER)} == {None}


def test_a_call_whose_caller_transferred_away_is_billed_per_segment(world, cdr_factory):
    """101 (user a1) calls 102 and after 30 s transfers 102 to 103 (user a1c), who talks 90 s more:
    101 is billed its 30 s, 103 the 90 s after 101 left (the record's segments)."""
    call = usage_recorder(cdr_factory)(
        world.client_a1, at="2026-11-02T09:00", seconds=120, account=world.user_a1, callee=world.user_a1b
    )
    call.segments = [
        {"reason": "answer", "caller": "101", "caller_account": world.user_a1.pk, "callee": "102",
         "callee_account": world.user_a1b.pk, "began_at": "2026-11-02T09:00:00+00:00",
         "ended_at": "2026-11-02T09:00:30+00:00", "seconds": 30},
        {"reason": "transfer", "caller": "103", "caller_account": world.user_a1c.pk, "callee": "102",
         "callee_account": world.user_a1b.pk, "began_at": "2026-11-02T09:00:30+00:00",
         "ended_at": "2026-11-02T09:02:00+00:00", "seconds": 90},
    ]  # fmt: skip
    call.save()
    assert keyed(usage_rows(world.client_a1_op, **NOVEMBER)) == {
        (world.user_a1.pk, "call"): (1, 0.5),
        (world.user_a1c.pk, "call"): (1, 1.5),
    }
    assert keyed(usage_rows(world.user_a1c, **NOVEMBER)) == {(world.user_a1c.pk, "call"): (1, 1.5)}
    assert keyed(usage_rows(world.user_a1, **NOVEMBER)) == {(world.user_a1.pk, "call"): (1, 0.5)}
    company = usage_rows(world.brand_a_op, group="company", **NOVEMBER)
    assert [(r["company"], r["events"], r["minutes"]) for r in company] == [(world.client_a1.name, 1, 2.0)]
    detail = usage_records(world.client_a1_op, person_id=world.user_a1.pk, **NOVEMBER)
    assert [r.seconds for r in detail] == [30], "the usage detail lists what the caller is billed for"
    for person, talked in ((world.user_a1, 0.5), (world.user_a1c, 1.5)):
        series = usage_series(person, **NOVEMBER)
        day = next(d for d in series["minutes_per_day"] if d["day"] == dt.date(2026, 11, 2))
        assert (day["minutes"], series["calls_per_hour"][9]["calls"]) == (talked, 1), person
        assert sum(d["minutes"] for d in series["minutes_per_day"]) == talked


def test_a_conference_dial_out_that_never_joined_is_no_usage(world, usage, cdr_factory):
    """A room's call out that was refused or not answered (480, busy) joined nothing: like the
    conference report, the usage across services counts joins only."""
    start = dt.datetime(2026, 11, 6, 9, tzinfo=dt.UTC)
    cdr_factory(world.client_a1, started_at=start, answer_after=None, disposition="failed", service="conference",
                moderator=world.user_a1)  # fmt: skip
    conferences = usage_rows(world.client_a1_op, service="conference", **NOVEMBER)
    assert keyed(conferences) == {(world.user_a1.pk, "conference"): (1, 5.0)}
