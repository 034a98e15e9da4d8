"""Steps of web chat's browser tests, as the people involved take them: the client's operator makes a
queue and a chat widget and copies its snippet; an agent logs in to the queue and opens the chat
console; a visitor opens a page of the client's own web site in a browser of their own."""

from __future__ import annotations

import html
import time

import redis
from playwright.sync_api import expect

from tests.e2e.test_browser import sign_in
from tests.waiting import wait_for

HOST = "acme.brand.localhost"  # the demo client Acme's portal: Alice (101) and Bob (102) are its agents
NO_WEBSOCKET = "window.WebSocket = function () { throw new Error('blocked by the network'); };"


def queue_made(page, running_platform, name: str, extension: str) -> None:
    """The operator (signed in on `page`) makes a queue with one member."""
    page.goto(running_platform.url(HOST, "/queues/new/"))
    page.fill("input[name=name]", name)
    page.select_option("select[name=members-0-extension]", extension)
    page.get_by_role("button", name="Save queue").click()
    expect(page.locator("#queues tr", has_text=name)).to_be_visible()


def chat_widget_made(page, running_platform, *, name: str, queue: str, title: str, offline_email: str,
                     greeting: str = "Ask us anything.") -> str:  # fmt: skip
    """The operator makes a chat widget answered by `queue` and copies its snippet (the one script tag);
    its web sites are set once they serve it (`widget_allows`)."""
    page.goto(running_platform.url(HOST, "/chat/widgets/new/"))
    page.fill("input[name=name]", name)
    page.select_option("select[name=queue]", label=queue)
    page.fill("textarea[name=origins]", "http://127.0.0.1:1")  # (the real origins are known once served)
    page.fill("input[name=title]", title)
    page.fill("input[name=greeting]", greeting)
    page.fill("input[name=colour]", "#aa3300")
    page.fill("input[name=offline_email]", offline_email)
    page.get_by_role("button", name="Save widget").click()
    expect(page.locator("#secret")).to_be_visible()  # the identity secret, this once
    snippet = html.unescape(page.locator("#snippet").inner_text())
    assert "chat_widget.js" in snippet and "data-key=" in snippet
    return snippet


def widget_allows(page, origin: str) -> None:
    """On the widget's page the operator is on: only this web site may open chats."""
    page.fill("textarea[name=origins]", origin)
    page.get_by_role("button", name="Save widget").click()
    expect(page.locator("#snippet")).to_be_visible()


def agent_console(browser, running_platform, email: str, queue: str | None = None):
    """An agent signs in in a browser of their own, logs in to the queue (if one is named) and opens
    the chat console, live: (the browser context, the console's tab)."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    sign_in(tab, running_platform, HOST, email)
    if queue is not None:
        tab.goto(running_platform.url(HOST, "/phone/queues/"))
        row = tab.locator("#my-queues tr", has_text=queue)
        row.get_by_role("button", name="Log in").click()
        expect(row.get_by_role("button", name="Log out")).to_be_visible()
    tab.goto(running_platform.url(HOST, "/chat/"))
    expect(tab.locator("#chat-live")).to_have_attribute("data-state", "live", timeout=15_000)
    expect(tab.locator("#chat-status")).to_contain_text("/")  # the snapshot came
    extension = tab.locator("#chat-live").get_attribute("data-extension")
    wait_for(lambda: consoles_open(running_platform, extension), f"{email}'s console counted open", timeout=15)
    return context, tab


def consoles_open(running_platform, extension: str) -> int:
    """How many chat consoles the platform counts open for the extension (chat/console.py says so in
    Redis while one is: only then are chats offered to its agent, and visitors may start one)."""
    store = redis.Redis.from_url(running_platform.env["REDIS_URL"])
    pattern = f"{running_platform.env['OCX_REDIS_PREFIX']}:acd:*:agent:{extension}:consoles"
    return sum(store.zcount(key, time.time(), "+inf") for key in store.scan_iter(match=pattern))


def visitor(browser, url: str, *, websockets: bool = True, width: int = 1200, locale: str = "en-US"):
    """A visitor's own browser on the client's web site, in that language: (the browser context, the tab)."""
    context = browser.new_context(viewport={"width": width, "height": 800}, locale=locale)
    if not websockets:
        context.add_init_script(NO_WEBSOCKET)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.goto(url)
    return context, tab
