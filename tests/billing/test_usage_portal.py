"""The Usage page in every portal, each in its scope: the table with totals, the links to the
details, the two charts drawn as SVG by the server, the filter and the CSV download."""

from __future__ import annotations

import csv
import io
import re

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client

from tests.billing.test_usage import write_usage
from tests.conferencing.test_notifications_portal import table_rows
from tests.conferencing.test_reports_portal import links, totals
from tests.pages import field_error, title_of

NOVEMBER = {"since": "2026-11-01", "until": "2026-11-30"}


@pytest.fixture
def usage(world, cdr_factory):
    write_usage(world, cdr_factory)


def bars(response, chart_id: str) -> list[str]:
    """The tooltips of a chart's bars."""
    page = response.content.decode()
    svg = re.search(rf'<svg id="{chart_id}".*?</svg>', page, re.S).group(0)
    return re.findall(r'<g class="bar"><rect [^>]*><title>(.*?)</title>', svg)


def hrefs(response, prefix: str) -> list[str]:
    return [
        h.replace("&amp;", "&") for h in re.findall(rf'<a href="({re.escape(prefix)}[^"]*)"', response.content.decode())
    ]


def test_an_operator_reads_the_company_usage_with_charts(world, portal, usage):
    response = portal(world.client_a1_op).get("/usage/", NOVEMBER)
    assert response.status_code == 200
    assert title_of(response) == "Usage"
    assert '<a href="/usage/" class="active" aria-current="page">Usage</a>' in response.content.decode()
    rows = table_rows(response, "usage")
    assert sorted(rows) == sorted(
        [
            [world.user_a1.name, "call", "2", "3.0", "—"],
            [world.user_a1.name, "conference", "1", "5.0", "—"],
            [world.user_a1b.name, "notification", "1", "0.5", "—"],
        ]
    )
    assert totals(response) == ["Total", "4", "8.5", "—"]
    days = bars(response, "minutes-per-day")
    assert len(days) == 30 and "2026-11-03: 6.0 min" in days and "2026-11-01: 0.0 min" in days
    hours = bars(response, "calls-per-hour")
    assert len(hours) == 24 and "14:00: 2 calls" in hours
    assert '<title id="minutes-per-day-title">Minutes per day</title>' in response.content.decode()

    [to_conference] = links(response, "usage")
    assert f"moderator={world.user_a1.pk}" in to_conference
    conference = portal(world.client_a1_op).get(to_conference)
    assert conference.status_code == 200 and len(table_rows(conference, "joins")) == 1
    to_calls = [h for h in hrefs(response, "/usage/calls/") if f"person={world.user_a1.pk}" in h]
    assert len(to_calls) == 1 and "service=call" in to_calls[0]
    calls = portal(world.client_a1_op).get(to_calls[0])
    assert title_of(calls) == "Usage detail"
    assert [row[0] for row in table_rows(calls, "calls")] == ["call", "call"]


def test_the_service_filter_and_the_csv(world, portal, usage):
    http = portal(world.client_a1_op)
    response = http.get("/usage/", {**NOVEMBER, "service": "call"})
    assert table_rows(response, "usage") == [[world.user_a1.name, "call", "2", "3.0", "—"]]
    assert sum(int(t.split(": ")[1].split()[0]) for t in bars(response, "calls-per-hour")) == 2
    download = http.get("/usage.csv", {**NOVEMBER, "service": "call"})
    assert download.status_code == 200 and download["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(download.streaming_content).decode("utf-8").lstrip("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["person"], r["service"], r["events"], r["minutes"]) for r in rows] == [
        (world.user_a1.name, "call", "2", "3.0")
    ]


def test_a_user_sees_their_own_usage(world, portal, usage):
    response = portal(world.user_a1b).get("/usage/", NOVEMBER)
    assert table_rows(response, "usage") == [[world.user_a1b.name, "notification", "1", "0.5"]]
    assert "Price" not in response.content.decode()
    assert len(bars(response, "minutes-per-day")) == 30


def test_a_brand_sees_per_company_totals_and_breaks_one_down(world, portal, usage):
    http = portal(world.brand_a_op)
    response = http.get("/usage/", NOVEMBER)
    assert sorted(table_rows(response, "usage")) == sorted(
        [
            [world.brand_a.name, world.client_a1.name, "4", "8.5", "—"],
            [world.brand_a.name, world.client_a2.name, "1", "3.0", "—"],
        ]
    )
    assert totals(response) == ["Total", "5", "11.5", "—"]
    assert world.client_b1.name not in response.content.decode()
    [people] = [h for h in hrefs(response, "/usage/?") if f"client={world.client_a2.pk}" in h]
    breakdown = http.get(people)
    assert table_rows(breakdown, "usage") == [[world.client_a2.name, world.client_a2_op.name, "call", "1", "3.0", "—"]]


def test_the_provider_sees_brands_and_companies(world, portal, usage):
    http = portal(world.god)
    brands = http.get("/usage/", NOVEMBER)
    assert sorted(table_rows(brands, "usage")) == sorted(
        [[world.brand_a.name, "5", "11.5", "—"], [world.brand_b.name, "1", "10.0", "—"]]
    )
    assert totals(brands) == ["Total", "6", "21.5", "—"]
    companies = http.get("/usage/", {**NOVEMBER, "group": "company"})
    assert len(table_rows(companies, "usage")) == 3


def test_isolation_and_bad_filters(world, portal, usage):
    other = portal(world.client_b1_op).get("/usage/", NOVEMBER)
    assert table_rows(other, "usage") == [[world.user_b1.name, "call", "1", "10.0", "—"]]
    assert world.client_a1.name not in other.content.decode()
    foreign = portal(world.brand_b_op).get("/usage/", {**NOVEMBER, "group": "person", "client": world.client_a1.pk})
    assert table_rows(foreign, "usage") == [["No usage in these days."]]
    bad = portal(world.client_a1_op).get("/usage/", {**NOVEMBER, "service": "fax"})
    assert bad.status_code == 200 and field_error(bad, "service")
    assert '<svg id="minutes-per-day"' not in bad.content.decode()
    assert portal(world.client_a1_op).get("/usage.csv", {**NOVEMBER, "group": "brand"}).status_code == 400
    long = portal(world.god).get("/usage/", {"since": "2020-01-01", "until": "2026-01-01"})
    assert field_error(long, "until")


def test_the_csv_streams_under_asgi_as_it_does_under_wsgi(world, usage, settings):
    """Report CSVs go through config/downloads.py: under daphne the chunks are pulled one by one,
    not read into a list first, and the file is the same."""
    settings.OCX_PLATFORM_HOSTS = [*settings.OCX_PLATFORM_HOSTS, "testserver"]  # the test clients' host
    query = {**NOVEMBER, "group": "company"}
    wsgi, asgi = Client(), AsyncClient()
    for client in (wsgi, asgi):
        client.force_login(world.god)
    expected = b"".join(wsgi.get("/usage.csv", query).streaming_content)
    response = async_to_sync(asgi.get)("/usage.csv", query)
    assert response.status_code == 200 and response.is_async

    async def body():
        return b"".join([chunk async for chunk in response.streaming_content])

    assert async_to_sync(body)() == expected
    rows = list(csv.DictReader(io.StringIO(expected.decode("utf-8-sig"))))
    assert {r["company"] for r in rows} == {world.client_a1.name, world.client_a2.name, world.client_b1.name}
