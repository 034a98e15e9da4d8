"""The agents' chat console in a real browser against `platform/run.py` with the demo data: the operator
makes a queue with Bob (102), Bob logs in to it and opens the console; a visitor's chat put in the
queue's line (as the visitor's side does: its row, its place in the Redis line) is offered to him live,
he accepts it and sees the visitor's first line as text (HTML shown, never run), answers with a canned
answer's /shortcut, and closes it; the conversation is kept with its record."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest
import redis
from playwright.sync_api import expect

from tests.e2e.chat_pages import HOST, agent_console, queue_made
from tests.e2e.test_browser import browser, page, sign_in  # noqa: F401  (fixtures and helpers)

pytestmark = pytest.mark.browser


def _visitor_waits(running_platform, queue_name: str) -> str:
    """A visitor's waiting chat in the queue (the row, its first line, its place in line): its uuid."""
    env = running_platform.env
    conversation = str(uuid.uuid4())
    with psycopg.connect(env["DATABASE_URL"].replace("postgres://", "postgresql://"), autocommit=True) as db:
        client_id, schema = db.execute("SELECT id, schema_name FROM tenants_client WHERE slug = 'acme'").fetchone()
        db.execute(f'SET search_path TO "{schema}", public')
        queue_id = db.execute("SELECT id FROM queues_queue WHERE name = %s", [queue_name]).fetchone()[0]
        row = db.execute(
            "INSERT INTO chat_conversation (uuid, queue_id, state, outcome, visitor_key, visitor_name, visitor_email,"
            " visitor_ref, verified, origin, page, agent_name, created_at, closed_by, transcript_to, offers, legs)"
            " VALUES (%s, %s, 'waiting', '', %s, 'Vera Visitor', '', '', true, 'https://shop.example',"
            " 'https://shop.example/cart', '', now(), '', '', '[]', '[]') RETURNING id, created_at",
            [conversation, queue_id, "k" * 64],
        ).fetchone()
        db.execute(
            "INSERT INTO chat_message (conversation_id, sender, author_name, body, created_at)"
            " VALUES (%s, 'visitor', '', '<b>Where is my order?</b>', now())",
            [row[0]],
        )
    store = redis.Redis.from_url(env["REDIS_URL"])
    prefix = env["OCX_REDIS_PREFIX"]
    member = f"chat:{conversation}"
    store.zadd(f"{prefix}:acd:{client_id}:q:{queue_id}:waiting", {member: row[1].timestamp()})
    store.hset(f"{prefix}:acd:{client_id}:q:{queue_id}:seen", member, time.time())
    store.publish(f"{prefix}:acd", f"{client_id} {queue_id}")
    return conversation


def _conversation(running_platform, conversation: str) -> tuple:
    with psycopg.connect(running_platform.env["DATABASE_URL"].replace("postgres://", "postgresql://")) as db:
        schema = db.execute("SELECT schema_name FROM tenants_client WHERE slug = 'acme'").fetchone()[0]
        db.execute(f'SET search_path TO "{schema}", public')
        state = db.execute("SELECT state, outcome, agent_name FROM chat_conversation WHERE uuid = %s",
                           [conversation]).fetchone()  # fmt: skip
        said = [r[0] for r in db.execute("SELECT body FROM chat_message WHERE sender = 'agent'")]
        record = db.execute("SELECT service, disposition FROM billing_cdr WHERE call_uuid = %s",
                            [conversation]).fetchone()  # fmt: skip
    return state, said, record


def test_an_agent_accepts_answers_and_closes_a_chat_live(browser, running_platform):  # noqa: F811
    admin = browser.new_context()
    bob = None
    try:
        op = admin.new_page()
        sign_in(op, running_platform, HOST, "admin@acme.example")
        queue_made(op, running_platform, "Web chat", "102")
        op.goto(running_platform.url(HOST, "/chat/canned/new/"))
        op.fill("input[name=title]", "Thanks")
        op.fill("input[name=shortcut]", "thanks")
        op.fill("textarea[name=body]", "Thank you for waiting, it ships today.")
        op.get_by_role("button", name="Save").click()

        bob, agent = agent_console(browser, running_platform, "bob@acme.example", queue="Web chat")
        expect(agent.locator("#chat-status")).to_contain_text("0 / 2")

        conversation = _visitor_waits(running_platform, "Web chat")
        offer = agent.locator(f"#offer-{conversation}")
        expect(offer).to_contain_text("Vera Visitor", timeout=15_000)
        offer.get_by_role("button", name="Accept").click()
        chat = agent.locator(f'section.chat[data-conversation="{conversation}"]')
        expect(chat).to_contain_text("<b>Where is my order?</b>", timeout=10_000)  # as text
        assert chat.locator("b").count() == 0
        expect(chat).to_contain_text("https://shop.example/cart")
        chat.locator("textarea").fill("/thanks")
        chat.locator("textarea").press("Enter")
        expect(chat.locator("ol.transcript")).to_contain_text("Thank you for waiting, it ships today.")
        chat.get_by_role("button", name="Close").click()
        expect(chat).to_contain_text("Closed", timeout=10_000)

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            state, said, record = _conversation(running_platform, conversation)
            if record is not None:
                break
            time.sleep(0.2)
        assert state == ("closed", "answered", "Bob Baker")
        assert "Thank you for waiting, it ships today." in said
        assert record == ("chat", "answered")
    finally:
        admin.close()
        if bob is not None:
            bob.close()
