"""The queues' wallboard in a real browser against `platform/run.py` with the demo data: an operator
makes a queue with Bob (102) as its member, opens its wallboard, and without a reload sees a real
caller (Alice's phone, pjsua2, dialling the queue's number) join with their wait ticking, Bob's state
change when he is paused from another tab, and the caller leave when they hang up."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.test_browser import browser, page, shot, sign_in  # noqa: F401  (fixtures and helpers)
from tests.sip.phone import phones  # noqa: F401  (the pjsua2 phones fixture)

pytestmark = pytest.mark.browser
HOST = "acme.brand.localhost"


def test_the_wallboard_shows_a_caller_join_and_an_agent_change_live(page, running_platform, phones):  # noqa: F811
    sign_in(page, running_platform, HOST, "admin@acme.example")
    page.goto(running_platform.url(HOST, "/queues/new/"))
    page.fill("input[name=name]", "Front desk")
    page.fill("input[name=number]", "650")
    page.select_option("select[name=members-0-extension]", "102")
    page.get_by_role("button", name="Save queue").click()
    page.locator("#queues tr", has_text="Front desk").get_by_role("link", name="Wallboard", exact=True).click()
    expect(page.locator("#wallboard-state")).to_contain_text("Live", timeout=10_000)  # the socket's first board
    bob = page.locator('#wb-agents tr[data-agent="102"]')
    expect(bob).to_have_attribute("data-state", "logged_out")
    expect(page.locator("#wb-callers")).to_contain_text("Nobody is waiting.")
    page.evaluate("window.__sameDocument = true")
    queue_page = page.url.replace("/wallboard/", "/")

    caller = phones(name="wallboard-caller")
    proxy = f"127.0.0.1:{running_platform.env['OCX_SIP_PORT']}"
    assert caller.register(username="101", domain=HOST, secret="demo-sip-101", proxy=proxy)["code"] == 200
    caller.call("c1", f"sip:650@{HOST}")
    caller.wait_call_state("c1", "confirmed", timeout=15)
    try:
        waiting = page.locator("#wb-callers tr[data-call]")
        expect(waiting).to_have_count(1, timeout=10_000)
        expect(waiting).to_contain_text("101 (Alice Archer)")
        expect(page.locator('#wb-queues td[data-cell="waiting"]')).to_have_text("1")
        first = waiting.locator("[data-since]").inner_text()
        expect(waiting.locator("[data-since]")).not_to_have_text(first, timeout=5_000)  # the wait ticks

        other = page.context.new_page()
        other.goto(queue_page)
        other.locator("#agents form").get_by_role("button", name="Pause").click()
        expect(bob).to_have_attribute("data-state", "paused", timeout=10_000)
        expect(bob).to_contain_text("paused")
        other.close()
        assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
        shot(page, "wallboard-live")
    finally:
        caller.hangup("c1")
    expect(page.locator("#wb-callers tr[data-call]")).to_have_count(0, timeout=10_000)
    expect(page.locator("#wb-callers")).to_contain_text("Nobody is waiting.")
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"


def test_the_wallboard_renders_without_scripts(browser, running_platform):  # noqa: F811
    context = browser.new_context(java_script_enabled=False)
    tab = context.new_page()
    try:
        sign_in(tab, running_platform, HOST, "admin@acme.example")
        tab.goto(running_platform.url(HOST, "/queues/wallboard/"))
        expect(tab.locator("#wallboard-state")).to_contain_text("reloads every")
        expect(tab.locator("#wb-queues")).to_be_visible()
        expect(tab.locator("#wb-agents")).to_be_visible()
    finally:
        context.close()
