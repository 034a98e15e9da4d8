"""Instant messages in a real browser against `platform/run.py` with the demo data: Alice and Bob, each
signed in in a browser context of their own, chat live. Alice starts from the colleagues' directory
(Bob's message button), her message reaches Bob's open chat page without a reload, shown as text (its
HTML and script are not run), Bob's menu counts the unread message while he is on another page, he
sees Alice typing, and his reply reaches Alice's page live; presence shows both available."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.test_browser import CHROMIUM_ARGS, browser, shot, sign_in  # noqa: F401  (fixtures and helpers)

pytestmark = pytest.mark.browser
HOST = "acme.brand.localhost"
assert CHROMIUM_ARGS


def _tab(browser):  # noqa: F811
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and errors.append(m.text))
    page.on("dialog", lambda d: errors.append(f"dialog: {d.message}") or d.dismiss())
    return context, page, errors


def test_two_colleagues_chat_live(browser, running_platform):  # noqa: F811
    alice_context, alice, alice_errors = _tab(browser)
    bob_context, bob, bob_errors = _tab(browser)
    try:
        sign_in(alice, running_platform, HOST, "alice@acme.example")
        sign_in(bob, running_platform, HOST, "bob@acme.example")
        bob.goto(running_platform.url(HOST, "/colleagues/"))  # Bob waits on another page
        expect(bob.locator("#im-unread")).to_have_text("0")
        alice.goto(running_platform.url(HOST, "/colleagues/"))
        row = alice.locator("#colleagues tr", has_text="Bob Baker")
        expect(row.locator("[data-presence]")).to_have_text("Available", timeout=10_000)  # his open socket
        row.get_by_role("button", name="Message").click()
        expect(alice.locator("h1")).to_have_text("Bob Baker")
        expect(alice.locator("html")).to_have_attribute("data-im-live", "1", timeout=10_000)
        alice.evaluate("window.__sameDocument = true")

        hostile = "<img src=x onerror=alert(1)><script>alert(2)</script> hello Bob"
        alice.fill("textarea[name=body]", hostile)
        alice.keyboard.press("Enter")
        expect(alice.locator("#im-history li").last).to_contain_text(hostile)
        expect(bob.locator("#im-unread")).to_have_text("1", timeout=10_000)  # live, in the menu
        shot(bob, "im-unread-in-menu")

        bob.get_by_role("link", name="Chat").first.click()
        bob.locator("#im-conversations a", has_text="Alice Archer").click()
        expect(bob.locator("#im-history li").last).to_contain_text(hostile)
        assert bob.locator("#im-history img").count() == 0  # the HTML is text
        expect(bob.locator("#im-unread")).to_have_text("0")
        expect(bob.locator("html")).to_have_attribute("data-im-live", "1", timeout=10_000)
        bob.evaluate("window.__sameDocument = true")

        alice.type("textarea[name=body]", "are you there?")
        expect(bob.locator("#im-typing")).to_contain_text("Alice Archer", timeout=10_000)
        alice.keyboard.press("Enter")
        expect(bob.locator("#im-history li").last).to_contain_text("are you there?", timeout=10_000)
        bob.fill("textarea[name=body]", "Yes, on my way")
        bob.get_by_role("button", name="Send").click()
        expect(alice.locator("#im-history li").last).to_contain_text("Yes, on my way", timeout=10_000)
        expect(bob.locator("#im-unread")).to_have_text("0")
        assert alice.evaluate("window.__sameDocument === true") and bob.evaluate("window.__sameDocument === true")
        shot(alice, "im-chat-alice")
        shot(bob, "im-chat-bob")
        assert not alice_errors and not bob_errors, alice_errors + bob_errors
    finally:
        alice_context.close()
        bob_context.close()
