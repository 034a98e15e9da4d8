"""Each operator's dashboard in a real browser against `platform/run.py` with the demo data: the figures
are on the page without JavaScript, and with it they follow a phone registering without a reload;
no page wider than the screen at phone and desktop sizes; screenshots in test-artifacts/."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_browser import browser, page, shot, sign_in  # noqa: F401  (fixtures and helpers)

pytestmark = pytest.mark.browser

DASHBOARDS = [
    ("god", "localhost", "god@opencentrex.example"),
    ("brand", "brand.localhost", "ops@brand.example"),
    ("client", "acme.brand.localhost", "admin@acme.example"),
]


def figure(tab: Page, name: str) -> int:
    return int(tab.locator(f'[data-figure="{name}"]').first.inner_text())


@pytest.mark.parametrize(("role", "host", "email"), [d for d in DASHBOARDS if d[0] != "god"])
def test_the_dashboard_counts_a_phone_registering_without_a_reload(page, running_platform, role, host, email):  # noqa: F811
    from tests.telephony.sipclient import SipClient

    sign_in(page, running_platform, host, email)
    page.goto(running_platform.url(host, "/"))
    expect(page.locator("[data-live-state]")).to_contain_text("Live", timeout=10_000)  # the socket's first figures
    before = figure(page, "registered")
    page.evaluate("window.__sameDocument = true")
    phone = SipClient(("127.0.0.1", int(running_platform.env["OCX_SIP_PORT"])), "101", "acme.brand.localhost")
    try:
        assert phone.register("demo-sip-101").status == 200
        expect(page.locator('[data-figure="registered"]')).to_have_text(str(before + 1), timeout=10_000)
        assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
        shot(page, f"dashboard-{role}-live")
        assert phone.register("demo-sip-101", expires=0).status == 200
        expect(page.locator('[data-figure="registered"]')).to_have_text(str(before), timeout=10_000)
    finally:
        phone.close()


@pytest.mark.parametrize(("role", "host", "email"), DASHBOARDS)
@pytest.mark.parametrize("width", [390, 1366])
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_each_dashboard_fits_the_screen_and_shows_its_figures(browser, running_platform, role, host, email, width,  # noqa: F811
                                                              javascript):  # fmt: skip
    context = browser.new_context(viewport={"width": width, "height": 844}, java_script_enabled=javascript)
    errors: list[str] = []
    tab = context.new_page()
    tab.on("console", lambda message: message.type == "error" and errors.append(message.text))
    tab.on("pageerror", lambda error: errors.append(str(error)))
    try:
        sign_in(tab, running_platform, host, email)
        tab.goto(running_platform.url(host, "/"))
        for name in ("calls_now", "registered", "calls_today", "minutes_today", "failed_today", "conferences"):
            assert figure(tab, name) >= 0
        expect(tab.locator("main")).to_contain_text("Why calls failed today")
        if role == "god":
            expect(tab.locator("main")).to_contain_text("Call engines")
        if javascript:
            expect(tab.locator("[data-live-state]")).to_contain_text("Live", timeout=10_000)
        wide = tab.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, f"the {role} dashboard is {wide} px wide on a {width} px screen"
        shot(tab, f"dashboard-{role}-{width}{'' if javascript else '-nojs'}")
        assert errors == [], errors
    finally:
        context.close()
