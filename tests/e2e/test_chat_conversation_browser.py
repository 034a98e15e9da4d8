"""A web chat from start to end in real browsers against `platform/run.py` with the demo data: Acme's
operator makes the queue "Help desk" (Bob, 102) and a chat widget, and puts its one script tag on
the company's own web site (another origin). Bob, logged in to the queue, and Alice (101) have the
chat console open in browsers of their own. A visitor, Ann, opens the widget on the site and starts
a chat: she is told her place in line while it is offered to Bob, who accepts it; she is told who
answers; each sees the other typing and their lines; Bob passes the chat to Alice, who answers it;
Ann has the transcript mailed to her (a real SMTP server of the tests receives it) and ends the
chat. Once the agents close their consoles (Bob still logged in to the queue), nobody can answer:
the next visitor gets the offline form, and the message is kept in the portal and mailed to the
widget's offline address."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.chat_pages import (
    HOST,
    agent_console,
    chat_widget_made,
    consoles_open,
    queue_made,
    visitor,
    widget_allows,
)
from tests.e2e.test_browser import browser, page, shot, sign_in  # noqa: F401 - the fixtures
from tests.waiting import wait_for

pytestmark = pytest.mark.browser

TITLE = "Acme support"  # the widget's title: its launcher's and panel's names
OFFLINE_TO = "support@acme.example"
MAIL_WAIT = 60  # seconds: the platform's Celery worker sends the mail, on a busy machine


# The visitor's steps (in the widget's panel, on the client's web site).


def visitor_opens_the_widget(tab):
    tab.get_by_role("button", name=TITLE).click()
    panel = tab.get_by_role("dialog", name=TITLE)
    expect(panel).to_be_visible()
    return panel


def visitor_starts_a_chat(panel, *, name: str, email: str, text: str) -> None:
    start = panel.locator("form.start")
    start.get_by_label("Your name").fill(name)
    start.get_by_label("Your e-mail (optional)").fill(email)
    start.get_by_label("Message").fill(text)
    panel.get_by_role("button", name="Start chat").click()
    expect(panel.get_by_role("log").locator("p")).to_have_text([text])


def visitor_is_told(panel, text: str) -> None:
    expect(panel.get_by_role("status")).to_have_text(text, timeout=20_000)


def visitor_types(panel, text: str) -> None:
    """Key by key (each key says "typing"), not sent yet."""
    panel.get_by_label("Your message").press_sequentially(text, delay=40)


def visitor_sends(panel) -> None:
    panel.get_by_label("Your message").press("Enter")


def visitor_reads(panel, author: str, text: str) -> None:
    """An agent's line in the log, under their name."""
    line = panel.get_by_role("log").locator("p.agent", has_text=text)
    expect(line).to_be_visible(timeout=20_000)
    expect(line.locator("b")).to_have_text(author)


def visitor_asks_for_the_transcript(panel, email: str) -> None:
    panel.get_by_label("E-mail me this chat").fill(email)
    panel.get_by_role("button", name="Send transcript").click()
    visitor_is_told(panel, f"The transcript is on its way to {email}.")


def visitor_ends_the_chat(panel) -> None:
    panel.get_by_role("button", name="End chat").click()
    visitor_is_told(panel, "The chat has ended.")


def visitor_leaves_a_message(panel, *, name: str, email: str, text: str) -> None:
    expect(panel.get_by_text("Nobody is available now")).to_be_visible()
    offline = panel.locator("form.offline")
    offline.get_by_label("Your name").fill(name)
    offline.get_by_label("Your e-mail").fill(email)
    offline.get_by_label("Message").fill(text)
    panel.get_by_role("button", name="Send message").click()
    visitor_is_told(panel, "Thank you: your message was sent.")


# The agents' steps (in the chat console, /chat/).


def agent_accepts(console, visitor_name: str, first_line: str):
    """The offer shows who and what; accepted, the chat opens with the visitor's lines: the chat."""
    offer = console.locator("#chat-offers .offer", has_text=visitor_name)
    expect(offer).to_contain_text(first_line, timeout=20_000)
    offer.get_by_role("button", name="Accept").click()
    chat = console.locator("section.chat", has_text=visitor_name)
    expect(chat.locator("ol.transcript")).to_contain_text(first_line, timeout=20_000)
    expect(offer).to_have_count(0)
    return chat


def agent_sees_typing(chat, visitor_name: str) -> None:
    expect(chat.locator("p.typing")).to_have_text(f"{visitor_name} typing…", timeout=10_000)


def agent_sees_no_typing(chat) -> None:
    expect(chat.locator("p.typing")).to_have_text("", timeout=10_000)


def agent_reads(chat, text: str) -> None:
    expect(chat.locator("ol.transcript li.from-visitor", has_text=text)).to_be_visible(timeout=20_000)


def agent_types(chat, text: str) -> None:
    chat.locator("textarea").press_sequentially(text, delay=40)


def agent_sends(chat, text: str) -> None:
    """Sends what was typed (`text`), which comes back in the transcript."""
    chat.locator("textarea").press("Enter")
    expect(chat.locator("ol.transcript li.from-agent", has_text=text)).to_be_visible(timeout=20_000)


def agent_says(chat, text: str) -> None:
    chat.locator("textarea").fill(text)
    agent_sends(chat, text)


def agent_transfers(chat, to: str) -> None:
    """To a colleague (the transfer list's "To agent: <extension> <name>"); the chat leaves this console."""
    chat.get_by_label("Transfer").select_option(label=f"To agent: {to}")
    expect(chat).to_contain_text("Closed", timeout=20_000)


def agent_is_given(console, visitor_name: str, *lines: str):
    """A chat passed by a colleague opens with what was said so far: the chat."""
    chat = console.locator("section.chat", has_text=visitor_name)
    for text in lines:
        expect(chat.locator("ol.transcript")).to_contain_text(text, timeout=20_000)
    return chat


def agent_sees_it_closed(chat) -> None:
    expect(chat).to_contain_text("Closed", timeout=20_000)


def agent_has_chats_open(console, count: int) -> None:
    """The console's status: the agent's chats open now (of their limit, 2 by default)."""
    expect(console.locator("#chat-status")).to_contain_text(f"Chats open: {count} / 2", timeout=20_000)


# The mail the platform sent (its SMTP server is the tests': running_platform.mailbox).


def mail_to(running_platform, address: str):
    mails = wait_for(lambda: [m for m in running_platform.mailbox.messages if m["To"] == address],
                     f"the mail to {address}", timeout=MAIL_WAIT)  # fmt: skip
    assert len(mails) == 1, [m["Subject"] for m in mails]
    return mails[0]


def test_a_visitor_chats_with_agents_who_pass_the_chat_on_and_later_leaves_a_message(
    page,  # noqa: F811
    browser,  # noqa: F811
    running_platform,
    other_site,
):
    sign_in(page, running_platform, HOST, "admin@acme.example")
    queue_made(page, running_platform, "Help desk", "102")
    snippet = chat_widget_made(page, running_platform, name="Support chat", queue="Help desk", title=TITLE,
                               greeting="Hello! How can we help?", offline_email=OFFLINE_TO)  # fmt: skip
    site, _other = other_site(snippet)
    widget_allows(page, site)

    contexts = []
    try:
        bob_context, bob = agent_console(browser, running_platform, "bob@acme.example", queue="Help desk")
        alice_context, alice = agent_console(browser, running_platform, "alice@acme.example")
        ann_context, ann = visitor(browser, f"{site}/index.html")
        contexts += [bob_context, alice_context, ann_context]

        panel = visitor_opens_the_widget(ann)
        visitor_is_told(panel, "Hello! How can we help?")
        visitor_starts_a_chat(panel, name="Ann", email="ann@example.com", text="Hello, where is my parcel?")
        visitor_is_told(panel, "You are number 1 in line.")  # (while Bob's console has it on offer)

        bobs = agent_accepts(bob, "Ann", "Hello, where is my parcel?")
        visitor_is_told(panel, "Bob Baker is answering you.")

        visitor_types(panel, "It was due on Monday.")
        agent_sees_typing(bobs, "Ann")
        visitor_sends(panel)
        agent_reads(bobs, "It was due on Monday.")
        agent_sees_no_typing(bobs)

        agent_types(bobs, "It left our warehouse today.")
        visitor_is_told(panel, "Typing…")
        agent_sends(bobs, "It left our warehouse today.")
        visitor_reads(panel, "Bob Baker", "It left our warehouse today.")
        visitor_is_told(panel, "Bob Baker is answering you.")
        shot(ann, "chat-visitor-with-bob")

        agent_transfers(bobs, "101 Alice Archer")
        alices = agent_is_given(alice, "Ann", "Hello, where is my parcel?", "It left our warehouse today.")
        agent_has_chats_open(alice, 1)
        agent_has_chats_open(bob, 0)
        visitor_is_told(panel, "Alice Archer is answering you.")
        agent_says(alices, "I have asked the carrier to call you.")
        visitor_reads(panel, "Alice Archer", "I have asked the carrier to call you.")
        shot(alice, "chat-console-alice")

        visitor_asks_for_the_transcript(panel, "ann@example.com")
        transcript = mail_to(running_platform, "ann@example.com")
        assert transcript["Subject"] == f"Your chat with {TITLE}"
        said = transcript.get_content()
        for text in ("Hello, where is my parcel?", "It was due on Monday.", "It left our warehouse today.",
                     "I have asked the carrier to call you."):  # fmt: skip
            assert text in said, said
        assert "Bob Baker" in said and "Alice Archer" in said, said

        visitor_ends_the_chat(panel)
        agent_sees_it_closed(alices)
        agent_has_chats_open(alice, 0)  # (her slot free again)

        for context in (bob_context, alice_context):  # (Bob stays logged in to the queue, no console open)
            contexts.remove(context)
            context.close()
        wait_for(lambda: not consoles_open(running_platform, "102"), "Bob's console counted closed", timeout=15)
        cy_context, cy = visitor(browser, f"{site}/index.html")
        contexts.append(cy_context)
        visitor_leaves_a_message(visitor_opens_the_widget(cy), name="Cy", email="cy@example.com",
                                 text="Please call me back about my invoice.")  # fmt: skip
    finally:
        for context in contexts:
            context.close()

    left = mail_to(running_platform, OFFLINE_TO)
    assert left["Reply-To"] == "cy@example.com"
    assert "Please call me back about my invoice." in left.get_content()
    page.goto(running_platform.url(HOST, "/chat/conversations/"))
    row = page.locator("#conversations tr", has_text="cy@example.com")
    expect(row).to_contain_text("Offline message")
    row.get_by_role("link").click()
    expect(page.locator("#transcript")).to_contain_text("Please call me back about my invoice.")
