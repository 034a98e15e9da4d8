"""Conference usage and the per-conference report through the API, JSON and CSV, in each scope, from
call records the test writes (see test_reports.py for the rows the engine writes)."""

from __future__ import annotations

import csv
import io

import pytest

from conferencing.reports import DETAIL_COLUMNS, USAGE_COLUMNS

USAGE = "/api/v1/reports/conference-usage/"
DETAIL = "/api/v1/reports/conference-detail/"
NOVEMBER = {"since": "2026-11-01", "until": "2026-12-01"}


def csv_rows(response) -> list[dict]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def usage(rows: list[dict]) -> list[tuple]:
    return [(r["company"], r["moderator"], r["events"], r["conferences"], r["minutes"]) for r in rows]


def test_usage_per_company_and_moderator_in_each_scope(world, api, conferences):
    everything = api(world.god).get(USAGE, NOVEMBER)
    assert everything.status_code == 200, everything.content
    body = everything.json()
    assert usage(body["results"]) == [("Client a1", "User a1", 3, 2, 12.5), ("Client b1", "User b1", 1, 1, 5.0)]
    assert body["totals"] == {"events": 4, "conferences": 3, "minutes": 17.5}
    assert (body["since"], body["until"]) == ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")
    assert body["results"][0]["client_id"] == world.client_a1.pk
    assert body["results"][0]["moderator_id"] == world.user_a1.pk

    assert usage(api(world.brand_a_op).get(USAGE, NOVEMBER).json()["results"]) == [("Client a1", "User a1", 3, 2, 12.5)]
    assert usage(api(world.brand_b_op).get(USAGE, NOVEMBER).json()["results"]) == [("Client b1", "User b1", 1, 1, 5.0)]
    assert api(world.client_a1_op).get(USAGE, NOVEMBER).json()["totals"]["events"] == 3
    assert api(world.client_a2_op).get(USAGE, NOVEMBER).json() == {
        "since": "2026-11-01T00:00:00Z",
        "until": "2026-12-01T00:00:00Z",
        "results": [],
        "totals": {"events": 0, "conferences": 0, "minutes": 0},
    }
    assert api(world.user_a1).get(USAGE).json()["totals"]["events"] == 3, "the moderator sees their rooms"
    assert api(world.user_a1b).get(USAGE).json()["totals"]["events"] == 1, "a participant only their join"
    later = api(world.god).get(USAGE, {"since": "2026-11-02T09:01:30Z"}).json()
    assert later["totals"] == {"events": 1, "conferences": 1, "minutes": 0.5}


def test_usage_as_csv(world, api, conferences):
    response = api(world.god).get(USAGE, {**NOVEMBER, "format": "csv"})
    rows = csv_rows(response)
    assert list(rows[0]) == USAGE_COLUMNS
    assert [(r["company"], r["moderator_id"], r["events"], r["minutes"]) for r in rows] == [
        ("Client a1", str(world.user_a1.pk), "3", "12.5"),
        ("Client b1", str(world.user_b1.pk), "1", "5.0"),
    ]
    assert csv_rows(api(world.client_b1_op).get(USAGE, {"format": "csv"}))[0]["company"] == "Client b1"


@pytest.mark.parametrize(
    ("query", "field", "problem"),
    [
        ({"since": "yesterday"}, "since", "ISO date"),
        ({"until": "2026-02-30"}, "until", "ISO date"),
        ({"since": "2026-11-30T25:00"}, "since", "ISO date"),
        ({"since": "2026-11-10", "until": "2026-11-01"}, "until", "after since"),
    ],
)
@pytest.mark.parametrize("url", [USAGE, DETAIL])
@pytest.mark.parametrize("as_csv", [False, True])
def test_bad_dates_are_field_errors_even_for_csv(world, api, url, query, field, problem, as_csv):
    response = api(world.client_a1_op).get(url, {**query, **({"format": "csv"} if as_csv else {})})
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "invalid" and problem in " ".join(body["fields"][field])


def test_the_conference_report_in_json_pages(world, api, conferences):
    http = api(world.client_a1_op)
    response = http.get(DETAIL, {"conference": "4242", **NOVEMBER})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 2
    first = body["results"][0]
    assert (first["caller_number"], first["direction"], first["minutes"]) == ("102", "dial-in", 2.0)
    assert (first["called_at"], first["joined_at"], first["disconnected_at"]) == (
        "2026-11-02T09:01:00Z",
        "2026-11-02T09:01:05Z",
        "2026-11-02T09:03:05Z",
    )
    assert (first["company"], first["client_id"]) == ("Client a1", world.client_a1.pk)
    by_moderator = http.get(DETAIL, {"moderator": world.user_a1.pk}).json()
    assert [r["caller_number"] for r in by_moderator["results"]] == ["555", "102", "101"]
    assert by_moderator["results"][0]["direction"] == "dial-out"
    assert http.get(DETAIL, {"moderator": world.user_b1.pk}).json()["count"] == 0, "b1's moderator: not in a1's scope"
    assert http.get(DETAIL).json()["count"] == 3, "without since and until: every join"
    assert http.get(DETAIL, {"moderator": "someone"}).json()["fields"]["moderator"]


def test_the_conference_report_as_csv_in_each_scope(world, api, conferences):
    rows = csv_rows(api(world.client_a1_op).get(DETAIL, {"conference": "4242", "format": "csv"}))
    assert list(rows[0]) == DETAIL_COLUMNS, "a company's own report has no company column"
    assert [r["caller_number"] for r in rows] == ["102", "101"]
    assert rows[0]["caller_name"] == '\'=HYPERLINK("x")', "formula cells are neutralised"
    assert rows[0]["called_at"] == "2026-11-02T09:01:00+00:00"

    everywhere = csv_rows(api(world.god).get(DETAIL, {"conference": "4242", "format": "csv"}))
    assert list(everywhere[0]) == ["company", *DETAIL_COLUMNS]
    assert sorted((r["company"], r["caller_number"]) for r in everywhere) == [
        ("Client a1", "101"),
        ("Client a1", "102"),
        ("Client b1", "101"),
    ]
    only_b1 = csv_rows(
        api(world.god).get(DETAIL, {"conference": "4242", "client": world.client_b1.pk, "format": "csv"})
    )
    assert [r["company"] for r in only_b1] == ["Client b1"]
    brand = csv_rows(api(world.brand_a_op).get(DETAIL, {"conference": "4242", "format": "csv"}))
    assert {r["company"] for r in brand} == {"Client a1"}
    assert csv_rows(api(world.client_b1_op).get(DETAIL, {"conference": "7777", "format": "csv"})) == []
    participant = csv_rows(api(world.user_a1b).get(DETAIL, {"format": "csv"}))
    assert [r["caller_number"] for r in participant] == ["102"]
