"""Web chat's widget on another web site, in a real browser against `platform/run.py` with the demo
data: the client's operator makes a queue with Bob (102) logged in and a chat widget, and copies its
snippet; a page served from another origin (allowed) shows the launcher from the one script tag, and
a visitor opens a chat (HTML typed is shown as text) and waits in line while Bob's console has it
on offer; a second visitor whose browser cannot open WebSockets chats over the HTTP fallback and
moves up the line when the first leaves; a page from an origin not allowed gets nothing; once the
operator logs Bob out of the queue, the offline form. (The conversation with the agents:
test_chat_conversation_browser.py.)"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.chat_pages import HOST, agent_console, chat_widget_made, queue_made, visitor, widget_allows
from tests.e2e.test_browser import browser, page, shot, sign_in  # noqa: F401 - the fixtures

pytestmark = pytest.mark.browser


def test_a_visitor_chats_from_another_site_and_a_foreign_site_gets_nothing(page, browser, running_platform,  # noqa: F811
                                                                            other_site):  # fmt: skip
    sign_in(page, running_platform, HOST, "admin@acme.example")
    queue_made(page, running_platform, "Shop desk", "102")
    snippet = chat_widget_made(page, running_platform, name="Shop chat", queue="Shop desk", title="Acme help",
                               offline_email="desk@acme.example")  # fmt: skip
    allowed, other = other_site(snippet)
    widget_allows(page, allowed)
    bob, _console = agent_console(browser, running_platform, "bob@acme.example", "Shop desk")

    first, ann = visitor(browser, f"{allowed}/index.html")
    launcher = ann.get_by_role("button", name="Acme help")
    expect(launcher).to_be_visible()
    launcher.click()
    panel = ann.get_by_role("dialog", name="Acme help")
    expect(panel).to_be_visible()
    expect(panel.get_by_role("status")).to_have_text("Ask us anything.")
    panel.locator("form.start").get_by_label("Your name").fill("Ann")
    panel.locator("form.start").get_by_label("Message").fill("<img src=x onerror=alert(1)> where is my order?")
    panel.get_by_role("button", name="Start chat").click()
    log = panel.get_by_role("log")
    expect(log.locator("p")).to_have_text(["<img src=x onerror=alert(1)> where is my order?"])
    assert ann.locator("[data-ocx-chat] img").count() == 0  # text, never markup
    expect(panel.get_by_role("status")).to_have_text("You are number 1 in line.")
    # The page's own styles stay out of the widget, and the widget's out of the page.
    assert ann.locator("[data-ocx-chat] button.launch").evaluate("b => getComputedStyle(b).backgroundColor") != \
        "rgb(0, 255, 0)"  # fmt: skip
    ann.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(launcher).to_be_focused()

    # Bea's phone speaks French: the widget's words and its answers over HTTP are French.
    second, bea = visitor(browser, f"{allowed}/index.html", websockets=False, width=390, locale="fr-FR")
    bea.get_by_role("button", name="Acme help").click()
    panel_b = bea.get_by_role("dialog", name="Acme help")
    assert panel_b.bounding_box()["width"] <= 390
    panel_b.locator("form.start").get_by_label("Message").fill("Over HTTP")
    panel_b.get_by_role("button", name="Démarrer la discussion").click()
    expect(panel_b.get_by_role("log").locator("p")).to_have_text(["Over HTTP"])
    expect(panel_b.get_by_role("status")).to_have_text("Vous êtes numéro 2 dans la file.")
    panel_b.get_by_label("Votre message").fill("still here")
    panel_b.get_by_label("Votre message").press("Enter")
    expect(panel_b.get_by_role("log").locator("p")).to_have_text(["Over HTTP", "still here"])
    shot(bea, "chat-widget-390")
    launcher.click()
    panel.get_by_role("button", name="End chat").click()
    expect(panel.get_by_role("status")).to_have_text("The chat has ended.")
    expect(panel_b.get_by_role("status")).to_have_text("Vous êtes numéro 1 dans la file.", timeout=15_000)  # long-poll
    first.close()
    second.close()

    third, eve = visitor(browser, f"{other}/index.html")  # an origin the widget does not allow
    eve.wait_for_timeout(2000)
    assert eve.locator("[data-ocx-chat]").count() == 0
    third.close()

    # Nobody left to answer (Bob's console stays open, but he is out of the queue): the offline form.
    page.goto(running_platform.url(HOST, "/queues/"))
    page.locator("#queues tr", has_text="Shop desk").get_by_role("link", name="Shop desk").click()
    page.locator("#agents form").get_by_role("button", name="Log out").click()
    expect(page.locator("#agents form").get_by_role("button", name="Log in")).to_be_visible()
    fourth, cy = visitor(browser, f"{allowed}/index.html")
    cy.get_by_role("button", name="Acme help").click()
    panel_c = cy.get_by_role("dialog", name="Acme help")
    expect(panel_c.get_by_text("Nobody is available now")).to_be_visible()
    offline = panel_c.locator("form.offline")
    offline.get_by_label("Your name").fill("Cy")
    offline.get_by_label("Your e-mail").fill("cy@example.com")
    offline.get_by_label("Message").fill("Call me back, please.")
    panel_c.get_by_role("button", name="Send message").click()
    expect(panel_c.get_by_role("status")).to_have_text("Thank you: your message was sent.")
    fourth.close()
    bob.close()
