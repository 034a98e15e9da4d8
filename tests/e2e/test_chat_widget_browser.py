"""Web chat's widget on another web site, in a real browser against `platform/run.py` with the demo
data: the client's operator makes a queue with Bob (102) logged in and a chat widget, and copies its
snippet; a page served from another origin (allowed) shows the launcher from the one script tag, and
a visitor opens a chat (HTML typed is shown as text) and waits in line; a second visitor whose
browser cannot open WebSockets chats over the HTTP fallback and moves up the line when the first
leaves; a page from an origin not allowed gets nothing; with nobody logged in, the offline form.
(The visitor <-> agent conversation in the console comes with the agents' side.)"""

from __future__ import annotations

import html
import http.server
import threading
from functools import partial

import pytest
from playwright.sync_api import expect

from tests.e2e.test_browser import browser, page, shot, sign_in  # noqa: F401 - the fixtures

pytestmark = pytest.mark.browser

HOST = "acme.brand.localhost"
NO_WEBSOCKET = "window.WebSocket = function () { throw new Error('blocked by the network'); };"


@pytest.fixture
def site(tmp_path):
    """site(snippet) -> two origins (http://127.0.0.1:<port>) serving a page with the snippet."""
    servers = []

    def serve(snippet: str) -> list[str]:
        (tmp_path / "index.html").write_text(
            "<!doctype html><html><head><title>Shop</title><style>button{background:lime!important}</style></head>"
            f"<body><h1>Shop</h1>{snippet}</body></html>"
        )
        origins = []
        for _ in range(2):
            handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            servers.append(server)
            origins.append(f"http://127.0.0.1:{server.server_address[1]}")
        return origins

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def visitor(browser, url: str, *, websockets: bool = True, width: int = 1200):  # noqa: F811
    context = browser.new_context(viewport={"width": width, "height": 800})
    if not websockets:
        context.add_init_script(NO_WEBSOCKET)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.goto(url)
    return context, tab


def test_a_visitor_chats_from_another_site_and_a_foreign_site_gets_nothing(page, browser, running_platform, site):  # noqa: F811
    sign_in(page, running_platform, HOST, "admin@acme.example")
    page.goto(running_platform.url(HOST, "/queues/new/"))
    page.fill("input[name=name]", "Shop desk")
    page.select_option("select[name=members-0-extension]", "102")
    page.get_by_role("button", name="Save queue").click()
    page.locator("#queues tr", has_text="Shop desk").get_by_role("link", name="Shop desk").click()
    queue_page = page.url
    page.locator("#agents form").get_by_role("button", name="Log in").click()
    expect(page.locator("#agents form").get_by_role("button", name="Log out")).to_be_visible()

    page.goto(running_platform.url(HOST, "/chat/widgets/new/"))
    page.fill("input[name=name]", "Shop chat")
    page.select_option("select[name=queue]", label="Shop desk")
    page.fill("textarea[name=origins]", "http://127.0.0.1:1")
    page.fill("input[name=title]", "Acme help")
    page.fill("input[name=greeting]", "Ask us anything.")
    page.fill("input[name=colour]", "#aa3300")
    page.fill("input[name=offline_email]", "desk@acme.example")
    page.get_by_role("button", name="Save widget").click()
    expect(page.locator("#secret")).to_be_visible()  # the identity secret, this once
    snippet = html.unescape(page.locator("#snippet").inner_text())
    assert "chat_widget.js" in snippet and "data-key=" in snippet
    allowed, other = site(snippet)
    page.fill("textarea[name=origins]", allowed)
    page.get_by_role("button", name="Save widget").click()
    expect(page.locator("#snippet")).to_be_visible()

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

    second, bea = visitor(browser, f"{allowed}/index.html", websockets=False, width=390)
    bea.get_by_role("button", name="Acme help").click()
    panel_b = bea.get_by_role("dialog", name="Acme help")
    assert panel_b.bounding_box()["width"] <= 390
    panel_b.locator("form.start").get_by_label("Message").fill("Over HTTP")
    panel_b.get_by_role("button", name="Start chat").click()
    expect(panel_b.get_by_role("log").locator("p")).to_have_text(["Over HTTP"])
    expect(panel_b.get_by_role("status")).to_have_text("You are number 2 in line.")
    panel_b.get_by_label("Your message").fill("still here")
    panel_b.get_by_label("Your message").press("Enter")
    expect(panel_b.get_by_role("log").locator("p")).to_have_text(["Over HTTP", "still here"])
    shot(bea, "chat-widget-390")
    launcher.click()
    panel.get_by_role("button", name="End chat").click()
    expect(panel.get_by_role("status")).to_have_text("The chat has ended.")
    expect(panel_b.get_by_role("status")).to_have_text("You are number 1 in line.", timeout=15_000)  # long-poll
    first.close()
    second.close()

    third, eve = visitor(browser, f"{other}/index.html")  # an origin the widget does not allow
    eve.wait_for_timeout(2000)
    assert eve.locator("[data-ocx-chat]").count() == 0
    third.close()

    page.goto(queue_page)  # nobody left to answer: the offline form
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
