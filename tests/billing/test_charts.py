"""The charts' figures for the browser (JSON for static/charts.js) and for people without scripts
(the SVG and the table under it) are the usage figures themselves, on the real PostgreSQL; a period
without calls says so in one small line instead of blank charts."""

from __future__ import annotations

import json
import re

import pytest

from billing.charts import bar_chart, line_chart
from tests.billing.test_usage import write_usage
from tests.conferencing.test_notifications_portal import table_rows
from tests.conferencing.test_reports_portal import totals

NOVEMBER = {"since": "2026-11-01", "until": "2026-11-30"}


@pytest.fixture
def usage(world, cdr_factory):
    write_usage(world, cdr_factory)


def chart_json(page: str, chart_id: str) -> dict:
    found = re.search(rf'<script id="{chart_id}-data" type="application/json">(.*?)</script>', page, re.S)
    assert found, f"no figures for {chart_id}"
    return json.loads(found.group(1))


def test_the_chart_figures_and_tables_are_the_usage_figures(world, portal, usage):
    response = portal(world.client_a1_op).get("/usage/", NOVEMBER)
    page = response.content.decode()
    minutes = chart_json(page, "minutes-per-day")
    assert minutes["kind"] == "bar" and minutes["unit"] == "min" and minutes["axis"] == "Day"
    assert len(minutes["labels"]) == 30 and minutes["labels"][0] == "2026-11-01" and minutes["ticks"][2] == "3"
    per_day = dict(zip(minutes["labels"], minutes["values"], strict=True))
    assert {day: value for day, value in per_day.items() if value} == {
        "2026-11-02": 2.0,
        "2026-11-03": 6.0,  # a 1 min call and a 5 min conference
        "2026-11-04": 0.5,
    }
    assert sum(minutes["values"]) == float(totals(response)[2]) == 8.5  # the table's total minutes
    calls = chart_json(page, "calls-per-hour")
    assert calls["unit"] == "calls" and calls["labels"][14] == "14:00" and calls["values"][14] == 2
    assert sum(calls["values"]) == 4 and len(calls["values"]) == 24
    # Without scripts: the table under each chart holds the same figures.
    assert table_rows(response, "minutes-per-day-table") == [[d, str(v)] for d, v in per_day.items()]
    hours = table_rows(response, "calls-per-hour-table")
    assert hours[14] == ["14:00", "2"] and len(hours) == 24
    # The SVG's value axis is labelled with its unit; the page loads uPlot and the charts' script.
    svg = re.search(r'<svg id="minutes-per-day".*?</svg>', page, re.S).group(0)
    assert '<text class="unit"' in svg and ">min</text>" in svg and ">6</text>" in svg and ">Day</text>" in svg
    assert '<figure class="chart bars" data-chart="minutes-per-day">' in page
    assert "/static/vendor/uplot/uPlot.iife.min.js" in page and "/static/charts.js" in page


def test_a_user_s_charts_hold_only_their_own_figures(world, portal, usage):
    page = portal(world.user_a1b).get("/usage/", NOVEMBER).content.decode()
    minutes = chart_json(page, "minutes-per-day")
    assert {d: v for d, v in zip(minutes["labels"], minutes["values"], strict=True) if v} == {"2026-11-04": 0.5}


def test_a_period_without_calls_says_so_in_one_small_line(world, portal, usage):
    response = portal(world.client_a1_op).get("/usage/", {"since": "2026-09-01", "until": "2026-09-30"})
    page = response.content.decode()
    assert response.status_code == 200
    assert '<p class="chart-empty" id="charts-empty">No calls in this period.</p>' in page
    assert "<svg" not in page and 'type="application/json"' not in page and "uPlot" not in page


def test_a_chart_without_any_value_is_one_line():
    empty = bar_chart(chart_id="x", title="Minutes per day", points=[("2026-11-01", "1", 0.0)], unit="min")
    assert empty == '<p class="chart-empty" id="x"><strong>Minutes per day</strong>: No calls in this period.</p>'
    gaps = line_chart(chart_id="y", title="Post-dial delay", points=[("a", "a", None)], unit="s", empty="None yet.")
    assert gaps == '<p class="chart-empty" id="y"><strong>Post-dial delay (s)</strong>: None yet.</p>'


def test_a_line_chart_keeps_its_gaps_for_the_browser():
    chart = line_chart(chart_id="asr", title="ASR", points=[("10:00", "10:00", 50.0), ("10:01", "10:01", None),
                       ("10:02", "10:02", 75.5)], unit="%", top=100, axis="Time (UTC)")  # fmt: skip
    data = chart_json(chart, "asr")
    assert data == {"kind": "line", "title": "ASR", "unit": "%", "axis": "Time (UTC)", "top": 100,
                    "labels": ["10:00", "10:01", "10:02"], "ticks": ["10:00", "10:01", "10:02"],
                    "values": [50.0, None, 75.5]}  # fmt: skip
    assert chart.count("<polyline") == 2  # the gap in the server's SVG too


def test_the_platform_serves_the_charting_library(world, portal):
    """uPlot as npm fetched it (platform/vendor.py), from the platform's own static files."""
    http = portal(world.client_a1_op)
    script = http.get("/static/vendor/uplot/uPlot.iife.min.js")
    assert script.status_code == 200 and "javascript" in script["Content-Type"]
    assert b"var uPlot" in b"".join(script.streaming_content)[:200]
    assert http.get("/static/vendor/uplot/uPlot.min.css").status_code == 200
    assert http.get("/static/charts.js").status_code == 200
