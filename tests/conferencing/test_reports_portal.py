"""The conference usage pages in every portal, each in its scope: usage per moderator (and company,
for the provider and brands) with a totals row and a date filter, the per-conference report reached
from it, and both as CSV, from call records the test writes."""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from conferencing.reports import DETAIL_COLUMNS, USAGE_COLUMNS
from tests.conferencing.test_notifications_portal import table_rows
from tests.pages import field_error, title_of

NOVEMBER = {"since": "2026-11-01", "until": "2026-11-30"}


def totals(response) -> list[str]:
    foot = re.search(r"<tfoot>(.*?)</tfoot>", response.content.decode(), re.S).group(1)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<th[^>]*>(.*?)</th>", foot, re.S)]


def links(response, table_id: str) -> list[str]:
    page = response.content.decode()
    page = page[page.index(f'id="{table_id}"') :]
    return [href.replace("&amp;", "&") for href in re.findall(r'<a href="(/reports/conferences/\?[^"]*)"', page)]


def download(response) -> tuple[str, list[dict]]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return response["Content-Disposition"], list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


def test_an_operator_reads_usage_per_moderator_and_follows_it_to_the_conferences(world, portal, conferences):
    http = portal(world.client_a1_op)
    response = http.get("/reports/", NOVEMBER)
    assert title_of(response) == "Conference usage"
    assert '<a href="/reports/" class="active" aria-current="page">Reports</a>' in response.content.decode()
    assert table_rows(response, "usage") == [["User a1", "3", "2", "12.5"]]
    assert totals(response) == ["Total", "3", "2", "12.5"]
    [to_moderator] = links(response, "usage")
    assert parse_qs(urlsplit(to_moderator).query) == {
        "since": ["2026-11-01"],
        "until": ["2026-11-30"],
        "moderator": [str(world.user_a1.pk)],
    }

    detail = http.get(to_moderator)
    assert title_of(detail) == "Conference report"
    assert "moderator User a1" in detail.content.decode()
    assert [row[:4] for row in table_rows(detail, "joins")] == [
        ["7777", "555", "Guest", "dial-out"],
        ["4242", "102", '=HYPERLINK("x")', "dial-in"],
        ["4242", "101", "User a1", "dial-in"],
    ]
    assert table_rows(detail, "joins")[1][4:] == [
        "2026-11-02 09:01:00",
        "2026-11-02 09:01:05",
        "2026-11-02 09:03:05",
        "2.0",
    ]
    one = http.get(links(detail, "joins")[1])
    assert [row[1] for row in table_rows(one, "joins")] == ["102", "101"], "the conference's link narrows to it"
    assert [row[1] for row in table_rows(http.get(to_moderator + "&q=guest"), "joins")] == ["555"]


def test_a_moderator_id_from_another_scope_names_nobody(world, portal, conferences):
    page = portal(world.client_a1_op).get("/reports/conferences/", {**NOVEMBER, "moderator": world.user_b1.pk})
    text = page.content.decode()
    assert page.status_code == 200 and f"moderator {world.user_b1.pk}" in text
    assert world.user_b1.name not in text and table_rows(page, "joins") == [["No conference joins."]]


def test_the_dates_narrow_the_report(world, portal, conferences):
    http = portal(world.client_a1_op)
    assert table_rows(http.get("/reports/", {"since": "2026-11-03", "until": "2026-11-30"}), "usage") == [
        ["No conference in these days."]
    ]
    assert table_rows(http.get("/reports/", {"since": "2026-11-02", "until": "2026-11-02"}), "usage") == [
        ["User a1", "3", "2", "12.5"]
    ], "both days included"
    assert table_rows(http.get("/reports/", {"since": "", "until": ""}), "usage")[0][1] == "3", "no days: all time"
    default = http.get("/reports/")
    today = timezone.now().date()
    assert default.context["form"].cleaned_data["since"] == today.replace(day=1), "the current month by default"
    assert default.context["form"].cleaned_data["until"] == today


@pytest.mark.parametrize(
    ("query", "field", "problem"),
    [
        ({"since": "2026-13-01"}, "since", "Enter a valid date."),
        ({"since": "2026-11-10", "until": "2026-11-01"}, "until", "The last day must not come before the first."),
    ],
)
@pytest.mark.parametrize("url", ["/reports/", "/reports/conferences/"])
def test_bad_dates_show_field_errors(world, portal, conferences, url, query, field, problem):
    http = portal(world.client_a1_op)
    response = http.get(url, query)
    assert response.status_code == 200
    assert field_error(response, field) == problem
    assert "Download CSV" not in response.content.decode()
    csv_url = url.rstrip("/") + ".csv" if url != "/reports/" else "/reports/usage.csv"
    refused = http.get(csv_url, query)
    assert refused.status_code == 400 and problem in refused.content.decode()


def test_usage_and_the_conference_report_as_csv(world, portal, conferences):
    http = portal(world.client_a1_op)
    page = http.get("/reports/", NOVEMBER).content.decode()
    assert 'href="/reports/usage.csv?since=2026-11-01&amp;until=2026-11-30"' in page
    disposition, rows = download(http.get("/reports/usage.csv", NOVEMBER))
    assert disposition == 'attachment; filename="conference-usage.csv"'
    assert list(rows[0]) == USAGE_COLUMNS
    assert [(r["company"], r["moderator"], r["events"], r["conferences"], r["minutes"]) for r in rows] == [
        ("Client a1", "User a1", "3", "2", "12.5")
    ]

    detail = http.get("/reports/conferences/", {**NOVEMBER, "conference": "4242"}).content.decode()
    assert 'href="/reports/conferences.csv?since=2026-11-01&amp;until=2026-11-30&amp;conference=4242"' in detail
    _, joins = download(http.get("/reports/conferences.csv", {**NOVEMBER, "conference": "4242"}))
    assert list(joins[0]) == DETAIL_COLUMNS
    assert [(r["caller_number"], r["caller_name"], r["minutes"]) for r in joins] == [
        ("102", '\'=HYPERLINK("x")', "2.0"),
        ("101", "User a1", "10.0"),
    ]


def test_a_moderator_reads_the_usage_of_their_rooms(world, portal, conferences):
    assert table_rows(portal(world.user_a1).get("/reports/", NOVEMBER), "usage") == [["User a1", "3", "2", "12.5"]]
    participant = portal(world.user_a1b)
    assert table_rows(participant.get("/reports/", NOVEMBER), "usage") == [["User a1", "1", "1", "2.0"]]
    _, rows = download(participant.get("/reports/conferences.csv", NOVEMBER))
    assert [r["caller_number"] for r in rows] == ["102"], "only their own join"
    assert table_rows(portal(world.client_b1_op).get("/reports/", NOVEMBER), "usage") == [["User b1", "1", "1", "5.0"]]


@pytest.mark.parametrize(
    ("account", "expected"),
    [
        ("god", [["Client a1", "User a1", "3", "2", "12.5"], ["Client b1", "User b1", "1", "1", "5.0"]]),
        ("brand_a_op", [["Client a1", "User a1", "3", "2", "12.5"]]),
        ("brand_b_op", [["Client b1", "User b1", "1", "1", "5.0"]]),
    ],
)
def test_the_provider_and_brands_read_usage_per_company(world, portal, conferences, account, expected):
    http = portal(getattr(world, account))
    response = http.get("/reports/", NOVEMBER)
    assert response.status_code == 200
    assert table_rows(response, "usage") == expected
    assert totals(response)[0] == "Total" and totals(response)[1] == str(sum(int(row[2]) for row in expected))
    _, rows = download(http.get("/reports/usage.csv", NOVEMBER))
    assert [[r["company"], r["moderator"], r["events"], r["conferences"], r["minutes"]] for r in rows] == expected

    first = links(response, "usage")[0]
    detail = http.get(first)
    companies = {row[0] for row in table_rows(detail, "joins")}
    assert companies == {expected[0][0]}, "a company's moderator: that company's joins only"
    _, joins = download(http.get("/reports/conferences.csv", {"conference": "4242", **NOVEMBER}))
    assert list(joins[0]) == ["company", *DETAIL_COLUMNS]
    assert {r["company"] for r in joins} == {row[0] for row in expected}
