"""The visitor's socket (chat/visitor_consumers.py) through the real ASGI application and the real Redis
channel layer: only the widget's origins get in (not the portals' same-host rule, and not another
client's host); hello, start and messages reach the conversation's group and come back as text;
the line holds the chat; an agent's events reach the visitor; limits are error events and the socket
keeps serving; binary, oversized and flooded frames are refused without harm; a forged identity is
refused, a signed one marks the chat verified; a waiting chat closed by the visitor is abandoned."""

from __future__ import annotations

import json
import time

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django_tenants.utils import tenant_context

from chat import line
from chat.events import conversation_group, publish_async
from chat.models import Conversation
from chat.visitor_consumers import STRIKES
from chat.visitors import identity_sign
from config.asgi import application
from config.redis_store import get_redis
from queues import state
from tests.chat.conftest import SHOP

pytestmark = pytest.mark.django_db


def socket(host: str, key: str, origin: str | None = SHOP) -> WebsocketCommunicator:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return WebsocketCommunicator(application, f"/chat/ws/{key}/", headers=headers)


async def said(ws, kind: str, timeout: float = 3) -> dict:
    """The next event of this kind (others skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        event = await ws.receive_json_from(timeout=max(0.05, deadline - time.monotonic()))
        if event.get("kind") == kind:
            return event


async def hello(ws, **fields) -> dict:
    await ws.send_json_to({"type": "hello", **fields})
    return await said(ws, "welcome")


@pytest.fixture
def host(world):
    return world.host_of(world.client_a1_op)


@pytest.mark.parametrize("origin", ["https://evil.example", "https://shop.example.evil", None, "http://shop.example"])
def test_a_page_not_of_the_widgets_sites_is_refused_before_anything_is_said(world, chat_widget, host, origin):
    widget = chat_widget()

    async def scenario():
        ws = socket(host, widget.key, origin)
        connected, _ = await ws.connect()
        assert not connected

    async_to_sync(scenario)()


def test_another_clients_host_or_a_disabled_widget_answers_nothing(world, chat_widget):
    widget = chat_widget()
    other, own = world.host_of(world.client_b1_op), world.host_of(world.client_a1_op)

    async def scenario():
        ws = socket(other, widget.key)  # the key is client a1's
        assert not (await ws.connect())[0]
        ws = socket("nowhere.example", widget.key)
        assert not (await ws.connect())[0]
        ws = socket(own, "no-such-key")
        assert not (await ws.connect())[0]

    async_to_sync(scenario)()


def test_hello_start_and_messages_come_back_as_text_and_the_chat_waits_in_line(world, chat_widget, host):
    widget = chat_widget()

    async def scenario():
        ws = socket(host, widget.key)
        assert (await ws.connect())[0]
        welcome = await hello(ws, page="https://shop.example/cart")
        assert welcome["online"] is True and welcome["conversation"] is None
        assert (welcome["title"], welcome["greeting"], welcome["colour"]) == ("Shop help", "Hello!", "#aa3300")
        secret = welcome["visitor"]
        await ws.send_json_to({"type": "start", "name": "Ann", "email": "ann@example.com",
                               "text": "<script>alert(1)</script> hi"})  # fmt: skip
        started = await said(ws, "started")
        assert started["conversation"]["state"] == "waiting" and started["conversation"]["position"] == 1
        [first] = started["history"]
        assert first["body"] == "<script>alert(1)</script> hi" and first["sender"] == "visitor"
        await ws.send_json_to({"type": "message", "text": "<b>still</b> there?"})
        assert (await said(ws, "message"))["body"] == "<b>still</b> there?"
        # An agent's side speaks to the conversation's group: the visitor hears it.
        group = conversation_group(world.client_a1.pk, started["conversation"]["id"])
        await publish_async(group, {"kind": "joined", "agent": "User a1"})
        assert (await said(ws, "joined"))["agent"] == "User a1"
        await publish_async(group, {"kind": "typing", "sender": "agent", "on": True})
        assert (await said(ws, "typing"))["on"] is True
        await ws.disconnect()
        # Coming back with the secret: the same chat and its history.
        ws = socket(host, widget.key)
        assert (await ws.connect())[0]
        again = await hello(ws, visitor=secret)
        assert again["conversation"]["id"] == started["conversation"]["id"]
        assert [m["body"] for m in again["history"]] == ["<script>alert(1)</script> hi", "<b>still</b> there?"]
        await ws.disconnect()
        return started["conversation"]["id"]

    uuid = async_to_sync(scenario)()
    with tenant_context(world.client_a1):
        conversation = Conversation.objects.get(uuid=uuid)
    assert (conversation.visitor_name, conversation.visitor_email, conversation.verified) == ("Ann", "ann@example.com",
                                                                                              False)  # fmt: skip
    assert conversation.page == "https://shop.example/cart" and conversation.origin == SHOP
    waiting = state.queue_key(settings.OCX_REDIS_PREFIX, world.client_a1.pk, widget.queue_id, "waiting")
    assert get_redis().zscore(waiting, f"chat:{uuid}") == pytest.approx(conversation.created_at.timestamp())
    assert line.position(client=world.client_a1, conversation=conversation) == 1


def test_the_widget_speaks_the_visitors_language_or_else_the_clients(world, chat_widget, host):
    """The browser's language when the platform speaks it ("fr-CA": French), for the widget's own words
    and the errors; else the client's (client a1 has none: its brand's, English)."""
    widget = chat_widget()

    async def scenario():
        ws = socket(host, widget.key)
        assert (await ws.connect())[0]
        welcome = await hello(ws, language="fr-CA")
        assert welcome["language"] == "fr" and welcome["texts"]["start"] == "Démarrer la discussion"
        assert welcome["texts"]["position"] == "Vous êtes numéro {n} dans la file."
        await ws.send_json_to({"type": "message", "text": "hi"})
        assert (await said(ws, "error"))["message"] == "Commencez d'abord un chat."
        await ws.disconnect()
        ws = socket(host, widget.key)
        assert (await ws.connect())[0]
        welcome = await hello(ws, language="xx")
        assert welcome["language"] == "en" and welcome["texts"]["start"] == "Start chat"
        await ws.disconnect()

    async_to_sync(scenario)()


def test_limits_are_error_events_and_the_socket_keeps_serving(world, chat_widget, host):
    widget = chat_widget(messages_per_minute=3, max_message_length=20, max_sessions_per_visitor=1)

    async def scenario():
        ws = socket(host, widget.key)
        assert (await ws.connect())[0]
        await hello(ws)
        await ws.send_json_to({"type": "message", "text": "before"})
        assert (await said(ws, "error"))["code"] == "no-chat"
        await ws.send_json_to({"type": "start", "text": "x" * 21})
        error = await said(ws, "error")
        assert (error["code"], error["field"]) == ("invalid", "text") and "20" in error["message"]
        await ws.send_json_to({"type": "start", "text": "one", "email": "not an address"})
        assert (await said(ws, "error"))["field"] == "email"
        await ws.send_json_to({"type": "start", "text": "one"})
        await said(ws, "started")
        for text in ("two", "three"):
            await ws.send_json_to({"type": "message", "text": text})
        await ws.send_json_to({"type": "message", "text": "four"})
        assert (await said(ws, "error"))["code"] == "too-many-messages"
        await ws.send_json_to({"type": "message", "text": "\x00\x01binary"})
        assert (await said(ws, "error"))["code"] == "invalid"
        await ws.send_json_to({"type": "close"})
        assert (await said(ws, "closed"))["by"] == "visitor"
        await ws.send_json_to({"type": "start", "text": "again"})  # one chat an hour for this visitor
        assert (await said(ws, "error"))["code"] == "too-many-chats"
        await ws.send_json_to({"type": "nonsense"})
        assert (await said(ws, "error"))["code"] == "invalid"
        await ws.disconnect()

    async_to_sync(scenario)()
    with tenant_context(world.client_a1):
        [conversation] = Conversation.objects.all()
        assert list(conversation.messages.values_list("body", flat=True)) == ["one", "two", "three"]
    assert (conversation.state, conversation.outcome, conversation.closed_by) == ("closed", "abandoned", "visitor")
    assert line.position(client=world.client_a1, conversation=conversation) is None


def test_the_clients_cap_of_open_chats(world, chat_widget, host, settings):
    settings.OCX_CHAT = {**settings.OCX_CHAT, "max_per_client": 1}
    widget = chat_widget()

    async def scenario():
        first, second = socket(host, widget.key), socket(host, widget.key)
        for ws in (first, second):
            assert (await ws.connect())[0]
            await hello(ws)
        await first.send_json_to({"type": "start", "text": "one"})
        await said(first, "started")
        await second.send_json_to({"type": "start", "text": "two"})
        assert (await said(second, "error"))["code"] == "busy"
        for ws in (first, second):
            await ws.disconnect()

    async_to_sync(scenario)()


def test_binary_oversized_and_flooded_frames_are_refused_and_others_are_served(world, chat_widget, host):
    widget = chat_widget()

    async def scenario():
        ws, calm = socket(host, widget.key), socket(host, widget.key)
        for each in (ws, calm):
            assert (await each.connect())[0]
            await hello(each)
        await ws.send_to(bytes_data=b"\x00\xff" * 100)
        assert (await said(ws, "error"))["code"] == "binary"
        await ws.send_to(text_data=json.dumps({"type": "message", "text": "x" * 40000}))
        assert (await said(ws, "error"))["code"] == "too-large"
        await ws.send_to(text_data="{not json")
        assert (await said(ws, "error"))["code"] == "invalid"
        for _ in range(150):  # a flood: refused frame by frame, one word a second about it
            await ws.send_to(text_data='{"type": "typing", "on": true}')
        codes = []
        while not await ws.receive_nothing(timeout=0.5):  # (a timeout would end the socket's application)
            codes.append((await ws.receive_json_from())["code"])
        assert set(codes) <= {"too-fast"} and 1 <= len(codes) <= 3
        await calm.send_json_to({"type": "start", "text": "still served?"})
        assert (await said(calm, "started"))["conversation"]["state"] == "waiting"
        for _ in range(STRIKES):  # a socket that floods on and on is closed; the others are served
            await ws.send_to(text_data='{"type": "typing", "on": true}')
        while (output := await ws.receive_output(timeout=3))["type"] != "websocket.close":
            pass
        assert output["code"] == 4429
        await calm.send_json_to({"type": "message", "text": "yes"})
        assert (await said(calm, "message"))["body"] == "yes"
        await calm.disconnect()

    async_to_sync(scenario)()


def test_a_signed_identity_is_verified_and_a_forged_or_expired_one_refused(world, chat_widget, host):
    widget = chat_widget()
    expires = int(time.time()) + 300
    good = {"ref": "u-42", "name": "Ann Smith", "email": "ann@example.com", "expires": expires}
    good["signature"] = identity_sign(widget.identity_secret, **{k: good[k] for k in ("ref", "name", "email")},
                                      expires=expires)  # fmt: skip
    forged = {**good, "name": "Somebody Else"}
    expired = {**good, "expires": int(time.time()) - 1}
    expired["signature"] = identity_sign(widget.identity_secret, ref="u-42", name="Ann Smith", email="ann@example.com",
                                         expires=expired["expires"])  # fmt: skip

    async def scenario():
        for identity in (forged, expired, {"ref": 1}, "junk"):
            ws = socket(host, widget.key)
            assert (await ws.connect())[0]
            await ws.send_json_to({"type": "hello", "identity": identity})
            welcome = await said(ws, "welcome")
            assert welcome["verified"] is False
            assert (await said(ws, "error"))["code"] == "identity-refused"
            await ws.disconnect()
        ws = socket(host, widget.key)
        assert (await ws.connect())[0]
        assert (await hello(ws, identity=good))["verified"] is True
        await ws.send_json_to({"type": "start", "name": "typed over", "text": "hello"})
        started = await said(ws, "started")
        await ws.disconnect()
        return started["conversation"]["id"]

    uuid = async_to_sync(scenario)()
    with tenant_context(world.client_a1):
        conversation = Conversation.objects.get(uuid=uuid)
    assert (conversation.verified, conversation.visitor_ref, conversation.visitor_name, conversation.visitor_email) == (
        True, "u-42", "Ann Smith", "ann@example.com")  # fmt: skip


def test_nobody_available_the_visitor_is_told_and_start_is_refused(world, chat_widget, host, nobody_logged_in):
    widget = chat_widget()
    nobody_logged_in()

    async def scenario():
        ws = socket(host, widget.key)
        assert (await ws.connect())[0]
        assert (await hello(ws))["online"] is False
        await ws.send_json_to({"type": "start", "text": "anyone?"})
        assert (await said(ws, "error"))["code"] == "offline"
        await ws.disconnect()

    async_to_sync(scenario)()


def test_agents_logged_in_without_a_chat_console_are_nobody_for_a_visitor(world, chat_widget, host,
                                                                           consoles_closed):  # fmt: skip
    """Chats are offered only to agents with a console open: with none open, the visitor may not start
    one to wait for nobody, but gets the offline form."""
    widget = chat_widget()

    async def scenario():
        ws = socket(host, widget.key)
        assert (await ws.connect())[0]
        assert (await hello(ws))["online"] is True
        consoles_closed()
        assert (await hello(ws))["online"] is False
        await ws.send_json_to({"type": "start", "text": "anyone?"})
        assert (await said(ws, "error"))["code"] == "offline"
        await ws.disconnect()

    async_to_sync(scenario)()


def test_an_agent_who_took_the_chat_before_the_socket_followed_it_is_told(world, chat_widget, host, monkeypatch):
    """On a busy process the offer, the accept and its "joined" event can all come before the visitor's
    socket joined the conversation's group: the socket reads the state once it has, and says so."""
    from chat import visitors

    widget = chat_widget()
    started = visitors.conversation_start

    def taken_at_once(**kwargs):
        conversation, place = started(**kwargs)
        with tenant_context(world.client_a1):  # an agent accepted before the socket followed the chat
            Conversation.objects.filter(pk=conversation.pk).update(state="active", agent_name="Agent Smith")
        return conversation, place

    monkeypatch.setattr(visitors, "conversation_start", taken_at_once)

    async def scenario():
        ws = socket(host, widget.key)
        assert (await ws.connect())[0]
        await hello(ws)
        await ws.send_json_to({"type": "start", "text": "hello"})
        assert (await said(ws, "started"))["conversation"]["state"] == "waiting"
        assert (await said(ws, "joined"))["agent"] == "Agent Smith"
        await ws.disconnect()

    async_to_sync(scenario)()
