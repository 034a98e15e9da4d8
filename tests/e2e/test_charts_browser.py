"""The usage charts in a real browser: uPlot (served from static/vendor/, fetched from npm) draws them
on a canvas in the brand's primary colour, with the value under the pointer in a tooltip, with no
console error and within the Content-Security-Policy; a period without calls is one small line; and
without JavaScript the server's SVG is the chart."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from pstn.carrier_health import EMPTY
from tests.e2e.conftest import ROOT
from tests.e2e.test_browser import CSP_PROBE, browser, csp_violations_seen, page, shot, sign_in  # noqa: F401

pytestmark = pytest.mark.browser

HOST = "acme.brand.localhost"  # the demo brand's primary colour is #0f5c4d
PRIMARY = [15, 92, 77]
MARCH = "/usage/?since=2025-03-01&until=2025-03-31"  # a month of its own: no other test's calls in it
# Alice (Acme, Europe/London: UTC in March) calls three times: 2 and 5 min on the 3rd, 1 min on the 5th.
SEED = """
import datetime as dt, uuid
from records.models import Cdr
from tenants.models import Client, User
acme, alice = Client.objects.get(slug="acme"), User.objects.get(email="alice@acme.example")
for n, (day, hour, seconds) in enumerate([(3, 9, 120), (3, 14, 300), (5, 14, 60)]):
    start = dt.datetime(2025, 3, day, hour, tzinfo=dt.UTC)
    answered = start + dt.timedelta(seconds=3)
    end = answered + dt.timedelta(seconds=seconds)
    Cdr.objects.get_or_create(call_uuid=uuid.uuid5(uuid.NAMESPACE_URL, f"e2e-charts-{n}"), defaults=dict(
        brand_id=acme.brand_id, client_id=acme.pk, engine="e2e", direction="outbound", disposition="answered",
        caller_number="101", callee_number="442071234567", service="call", conference="", account_id=alice.pk,
        started_at=start, answered_at=answered, ended_at=end, duration=int((end - start).total_seconds()),
        billsec=seconds))
"""

# The colour of the canvas pixel under a point of the chart's plot (x, y as fractions of the plot).
PIXEL = """([chart, fx, fy]) => {
  const figure = document.querySelector(`figure[data-chart="${chart}"]`);
  const canvas = figure.querySelector("canvas"), over = figure.querySelector(".u-over");
  const c = canvas.getBoundingClientRect(), o = over.getBoundingClientRect(), scale = canvas.width / c.width;
  const x = (o.left - c.left + o.width * fx) * scale, y = (o.top - c.top + o.height * fy) * scale;
  return Array.from(canvas.getContext("2d").getImageData(Math.round(x), Math.round(y), 1, 1).data.slice(0, 3));
}"""


SHRUNK = """() => {
  const figure = document.querySelector('figure[data-chart="minutes-per-day"]');
  return figure.querySelector(".u-over").getBoundingClientRect().right <= figure.getBoundingClientRect().right + 1;
}"""

# How far the charts (and their tooltips) reach past the window's right edge (the page's other parts
# on a phone are the small-screen work's).
OVERFLOW = """() => Math.max(...Array.from(document.querySelectorAll("section.charts *"))
  .filter((e) => !e.closest("details:not([open]) > :not(summary)"))  // a closed table is not shown
  .map((e) => e.getBoundingClientRect().right)) - document.documentElement.clientWidth"""

# A brand's carrier with four samples of its health a minute apart (as the beat task writes them),
# answered calls' delay unknown; prints the carrier's id.
CARRIER_SEED = """
import json, time
from billing.models import Carrier
from config.redis_store import get_redis
from pstn.carrier_health import history_key
from tenants.models import Brand
carrier, _ = Carrier.objects.get_or_create(name="Chart Trunk", brand=Brand.objects.get(domain="brand.localhost"))
now = time.time()
samples = [{"at": now - 60 * (4 - n), "state": "in", "calls": 10, "asr": asr, "server_errors": 10.0 * n,
            "pdd": None, "acd": 60.0 + n} for n, asr in enumerate([50.0, 60.0, 70.0, 80.0])]
get_redis().rpush(history_key(carrier.pk), *[json.dumps(s) for s in samples])
print(carrier.pk)
"""


@pytest.fixture(scope="module")
def march_calls(running_platform):
    subprocess.run([sys.executable, "manage.py", "shell", "-c", SEED], cwd=ROOT, env=running_platform.env, check=True)


def test_the_usage_charts_draw_with_values_on_hover(page, running_platform, march_calls):  # noqa: F811
    errors = []
    page.on("console", lambda message: message.type in ("error", "warning") and errors.append(message.text))
    mine = "Canvas2D: Multiple readback"  # Chromium's advice on this test's own pixel reads
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.add_init_script(CSP_PROBE)
    sign_in(page, running_platform, HOST, "admin@acme.example")

    with page.expect_response(lambda response: response.url.endswith("/vendor/uplot/uPlot.iife.min.js")) as vendor:
        page.goto(running_platform.url(HOST, MARCH))
    assert vendor.value.status == 200 and "javascript" in vendor.value.headers["content-type"]
    assert "uPlot" in vendor.value.text()
    minutes = page.locator('figure.chart.drawn[data-chart="minutes-per-day"]')
    expect(minutes.locator("canvas")).to_be_visible()
    expect(minutes.locator("svg")).to_be_hidden()  # the server's drawing gives way, its summary stays
    summary = "Minutes per day (min): 31 bars; total 8.0 min, highest 7.0 min."
    expect(minutes.locator(".chart-canvas[role=img]")).to_have_attribute("aria-label", summary)
    expect(minutes.locator(".u-axis").first).to_be_visible()
    day3 = minutes.locator("#minutes-per-day-table tr", has_text="2025-03-03").locator("td").nth(1)
    assert day3.text_content() == "7.0"  # 2 + 5 minutes
    over = minutes.locator(".u-over")
    box = over.bounding_box()
    # Day 3 is the third of 31 bars; the pointer near the bottom of its bar.
    over.hover(position={"x": box["width"] * 2.5 / 31, "y": box["height"] * 0.95})
    tip = minutes.locator(".chart-tip")
    expect(tip).to_be_visible()
    expect(tip).to_have_text("2025-03-03: 7 min")
    assert page.evaluate(PIXEL, ["minutes-per-day", 2.5 / 31, 0.9]) == PRIMARY  # the bar, in the brand's colour
    assert page.evaluate(PIXEL, ["minutes-per-day", 1.5 / 31, 0.9]) != PRIMARY  # day 2: no bar

    calls = page.locator('figure.chart.drawn[data-chart="calls-per-hour"]')
    expect(calls.locator("canvas")).to_be_visible()
    over = calls.locator(".u-over")
    box = over.bounding_box()
    over.hover(position={"x": box["width"] * 14.5 / 24, "y": box["height"] * 0.95})
    expect(calls.locator(".chart-tip")).to_have_text("14:00: 2 calls")
    shot(page, "client-usage-charts")

    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the charts shrink to fit
    page.wait_for_function(SHRUNK)
    assert page.evaluate(OVERFLOW) <= 0
    over = minutes.locator(".u-over")
    box = over.bounding_box()
    over.hover(position={"x": box["width"] - 2, "y": box["height"] * 0.95})
    expect(minutes.locator(".chart-tip")).to_be_visible()
    assert page.evaluate(OVERFLOW) <= 0
    shot(page, "client-usage-charts-phone")

    assert csp_violations_seen(page) == []
    assert [error for error in errors if not error.startswith(mine)] == []


def test_a_period_without_calls_is_one_small_line(page, running_platform, march_calls):  # noqa: F811
    page.add_init_script(CSP_PROBE)
    sign_in(page, running_platform, HOST, "bob@acme.example")  # Alice's calls are not Bob's usage
    page.goto(running_platform.url(HOST, MARCH))
    empty = page.locator("#charts-empty")
    expect(empty).to_have_text("No calls in this period.")
    assert empty.bounding_box()["height"] < 40
    expect(page.locator("canvas")).to_have_count(0)
    expect(page.locator("main svg")).to_have_count(0)
    assert csp_violations_seen(page) == []


def test_without_javascript_the_server_s_chart_and_table_remain(browser, running_platform, march_calls):  # noqa: F811
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1200, "height": 900})
    try:
        page = context.new_page()
        sign_in(page, running_platform, HOST, "admin@acme.example")
        page.goto(running_platform.url(HOST, MARCH))
        svg = page.locator("svg#minutes-per-day")
        expect(svg).to_be_visible()
        expect(svg.locator("g.bar title", has_text="2025-03-03: 7.0 min")).to_have_count(1)
        assert svg.locator("g.bar rect").first.evaluate("e => getComputedStyle(e).fill") == "rgb(15, 92, 77)"
        expect(page.locator("canvas")).to_have_count(0)
        page.locator("figure[data-chart=minutes-per-day] details summary").click()
        expect(page.locator("#minutes-per-day-table")).to_contain_text("2025-03-03")
        shot(page, "client-usage-charts-no-javascript")
    finally:
        context.close()


def test_the_carrier_health_line_charts_draw(page, running_platform):  # noqa: F811
    seeded = subprocess.run([sys.executable, "manage.py", "shell", "-c", CARRIER_SEED], cwd=ROOT,
                            env=running_platform.env, check=True, capture_output=True, text=True)  # fmt: skip
    carrier = int(seeded.stdout.split()[-1])
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.add_init_script(CSP_PROBE)
    sign_in(page, running_platform, "brand.localhost", "ops@brand.example")
    page.goto(running_platform.url("brand.localhost", f"/rating/carriers/{carrier}/"))
    asr = page.locator('figure.chart.drawn[data-chart="health-asr"]')
    expect(asr.locator("canvas")).to_be_visible()
    expect(page.locator("section.charts canvas")).to_have_count(3)  # ASR, server errors, ACD
    expect(page.locator("#health-pdd")).to_have_text("Post-dial delay (s): " + EMPTY)  # no figure: one line
    over = asr.locator(".u-over")
    box = over.bounding_box()
    over.hover(position={"x": 1, "y": box["height"] / 2})  # the first sample
    expect(asr.locator(".chart-tip")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC: 50 %$"))
    shot(page, "brand-carrier-health-charts")
    assert csp_violations_seen(page) == []
    assert errors == []
