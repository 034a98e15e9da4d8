"""A click-to-call widget on another web site, in a real browser: the client's operator makes the
widget in the portal and copies its snippet; a page served by a tiny web server on another origin
(allowed) shows the widget from the platform's one script tag, and its form reaches the platform
(CORS), which answers it; the same page on an origin the widget does not allow cannot."""

from __future__ import annotations

import html

import pytest
from playwright.sync_api import expect

from tests.e2e.test_browser import browser, page, sign_in  # noqa: F401 - the fixtures

pytestmark = pytest.mark.browser

CLIENT_HOST = "acme.brand.localhost"


def test_a_page_on_another_origin_gets_the_widget_and_submits(page, running_platform, other_site):  # noqa: F811
    sign_in(page, running_platform, CLIENT_HOST, "admin@acme.example")
    page.goto(running_platform.url(CLIENT_HOST, "/widgets/new/"))
    allowed_placeholder = "http://127.0.0.1:1"  # (the real origins are known once the servers run)
    page.fill("input[name=name]", "Shop")
    page.fill("input[name=destination_target]", "102")
    page.fill("textarea[name=origins]", allowed_placeholder)
    page.click("main button[type=submit]")
    snippet = html.unescape(page.locator("#snippet").inner_text())
    assert "clicktocall.js" in snippet and "data-ocx-widget" in snippet
    allowed, other = other_site(snippet)
    page.fill("textarea[name=origins]", allowed)
    page.click("main button[type=submit]")
    expect(page.locator("#snippet")).to_be_visible()

    page.goto(f"{allowed}/index.html")
    form = page.locator("form.ocx-clicktocall")
    expect(form).to_be_visible()
    form.locator("input[type=tel]").fill("112")  # an emergency number: the platform answers, and refuses it
    form.locator("button").click()
    expect(form).to_have_attribute("data-ocx-result", "number-refused")
    expect(form.locator(".ocx-clicktocall-status")).to_contain_text("Emergency numbers")

    page.goto(f"{other}/index.html")  # the same page on an origin the widget does not allow
    form = page.locator("form.ocx-clicktocall")
    form.locator("input[type=tel]").fill("112")
    form.locator("button").click()
    expect(form).to_have_attribute("data-ocx-result", "error")
