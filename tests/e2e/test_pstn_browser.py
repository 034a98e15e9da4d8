"""A brand operator connects a carrier and gives a client a number; the client's operator points it at
a user; every page on the way fits a phone's width (390 px) without scrolling sideways."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_browser import browser, page, shot, sign_in  # noqa: F401 - the fixtures

pytestmark = pytest.mark.browser

BRAND_HOST = "brand.localhost"
CLIENT_HOST = "acme.brand.localhost"
NUMBER = "+442079460123"


def fits_the_width(page: Page) -> None:  # noqa: F811
    page.wait_for_load_state()  # the page's stylesheet applied (a page just shown may not have it yet)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, (page.url, overflow)


def test_a_brand_connects_a_carrier_and_its_client_routes_the_number(page, running_platform):  # noqa: F811
    page.set_viewport_size({"width": 390, "height": 844})
    url = running_platform.url
    sign_in(page, running_platform, BRAND_HOST, "ops@brand.example")
    page.goto(url(BRAND_HOST, "/rating/carriers/new/"))
    fits_the_width(page)
    page.fill("input[name=name]", "Browser Trunk")
    page.fill("input[name=country]", "GB")
    page.select_option("select[name=number_format]", "national")
    page.click("main button[type=submit]")
    expect(page.locator("h1")).to_have_text("Carrier Browser Trunk")
    fits_the_width(page)
    page.click("text=New gateway")
    page.fill("input[name=name]", "london")
    page.fill("input[name=host]", "192.0.2.80")
    page.fill("input[name=username]", "trunk-user")
    page.fill("input[name=password]", "trunk-pass")
    page.fill("textarea[name=inbound_networks]", "192.0.2.0/24\nnot a network")
    page.click("main button[type=submit]")
    expect(page.locator("#inbound_networks-error")).to_contain_text("Line 2")
    fits_the_width(page)
    page.fill("input[name=password]", "trunk-pass")  # a password is never sent back to the page
    page.fill("textarea[name=inbound_networks]", "192.0.2.0/24")
    page.click("main button[type=submit]")
    gateways = page.locator("#gateways")
    expect(gateways).to_contain_text("london")
    expect(gateways).to_contain_text("set")
    expect(page.locator("main")).not_to_contain_text("trunk-pass")
    fits_the_width(page)
    shot(page, "brand-carrier-gateway-phone")

    page.goto(url(BRAND_HOST, "/numbers/new/"))
    page.fill("input[name=e164]", NUMBER)
    page.select_option("select[name=carrier]", label="Browser Trunk")
    page.select_option("select[name=client]", label="Acme Ltd")
    page.fill("input[name=monthly_price]", "4.50")
    page.click("main button[type=submit]")
    numbers = page.locator("#numbers")
    expect(numbers).to_contain_text(NUMBER)
    expect(numbers).to_contain_text("Acme Ltd")
    fits_the_width(page)
    shot(page, "brand-numbers-phone")

    page.context.clear_cookies()
    sign_in(page, running_platform, CLIENT_HOST, "admin@acme.example")
    page.goto(url(CLIENT_HOST, "/numbers/"))
    fits_the_width(page)
    page.click("#numbers tbody a")  # the number in Acme's national format (the client is in the US)
    expect(page.locator("h1")).to_have_text(f"Number {NUMBER}")
    page.select_option("select[name=destination_kind]", "user")
    page.fill("input[name=destination_target]", "999")
    page.click("main button[type=submit]")
    expect(page.locator("#destination_target-error")).to_contain_text("No user has extension 999")
    page.fill("input[name=destination_target]", "101")
    page.click("main button[type=submit]")
    row = page.locator("#numbers tr", has_text=NUMBER)
    expect(row).to_contain_text("user 101")
    fits_the_width(page)
    shot(page, "client-number-routed-phone")
