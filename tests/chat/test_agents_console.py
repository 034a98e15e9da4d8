"""The agents' chat console (chat/console.py) over the real Redis channel layer, with the dispatcher
(chat/dispatch.py) of the test's event loop: a chat waiting in a ring-all queue is offered to both
agents, the first to accept has it and the other sees it withdrawn; lines both ways and typing; a
transfer to another agent; the close, which frees the agent and writes the conversation's one record
with its "queue" leg; the refusals of a socket out of scope."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django_tenants.utils import tenant_context

from chat import dispatch
from chat.models import Conversation, Message
from chat.services import message_post
from config.asgi import application
from queues import state
from records.models import Cdr
from tests.chat.agents_fixtures import console, kind, until, wait_in_line
from tests.tenants.test_events import _session_cookie


def test_offer_accept_messages_transfer_and_close_with_its_record(world, chat_queue, visitor, acd_keys):
    redis, prefix, client = acd_keys
    queue = chat_queue(strategy="ring_all", wrapup_seconds=30, consoles=())  # (their own consoles say so)
    ann = visitor(queue)
    ws1, ws2 = console(world, world.user_a1), console(world, world.user_a1b)

    async def scenario():
        for ws in (ws1, ws2):
            connected, _ = await ws.connect()
            assert connected
            snapshot = await until(ws, lambda m: m["type"] == "chat.snapshot")
            assert snapshot["chats"] == [] and snapshot["status"]["chat_limit"] == 2
        wait_in_line(world, ann)
        offers = [await until(ws, kind("offer", ann), what="the offer") for ws in (ws1, ws2)]
        assert offers[0]["event"]["visitor"] == "Ann" and offers[0]["event"]["first"] == "Hello, my order is late"
        await ws2.send_json_to({"action": "accept", "conversation": str(ann.uuid)})
        opened = await until(ws2, lambda m: m["type"] == "chat.open")
        assert opened["chat"]["messages"][0]["body"] == "Hello, my order is late"
        await until(ws1, kind("withdrawn", ann), what="the withdrawn offer")
        await ws1.send_json_to({"action": "accept", "conversation": str(ann.uuid)})  # too late
        refused = await until(ws1, lambda m: m["type"] == "error")
        assert refused["code"] == "not-possible"

        await database_sync_to_async(say)(world, ann, "<b>still</b> waiting")
        said = await until(ws2, kind("message", ann))
        assert said["event"]["body"] == "<b>still</b> waiting"
        await ws2.send_json_to({"action": "typing", "conversation": str(ann.uuid)})
        typing = await until(ws2, kind("typing", ann))
        assert (typing["event"]["sender"], typing["event"]["on"]) == ("agent", True)  # (the widget shows it)
        await ws2.send_json_to({"action": "send", "conversation": str(ann.uuid), "body": "Let me look."})
        mine = await until(ws2, kind("message", ann))
        assert (mine["event"]["sender"], mine["event"]["author"]) == ("agent", "User a1b")
        await ws2.send_json_to({"action": "send", "conversation": str(ann.uuid), "body": "\x00\x01"})
        assert (await until(ws2, lambda m: m["type"] == "error"))["fields"]["body"]

        assert redis.hget(state.agent_key(prefix, client, "102"), "chats") == b"1"
        await ws2.send_json_to({"action": "transfer", "conversation": str(ann.uuid), "agent": "101"})
        given = await until(ws1, lambda m: m["type"] == "chat.open")
        assert given["chat"]["conversation"] == str(ann.uuid)
        await until(ws2, kind("gone", ann))
        assert redis.hget(state.agent_key(prefix, client, "102"), "chats") == b"0"
        assert redis.hget(state.agent_key(prefix, client, "101"), "chats") == b"1"

        await ws1.send_json_to({"action": "close", "conversation": str(ann.uuid)})
        await until(ws1, kind("closed", ann))
        for ws in (ws1, ws2):
            await ws.disconnect()
        await dispatch.stop_running()

    async_to_sync(scenario)()
    assert redis.zcard(state.agent_key(prefix, client, "101") + ":consoles") == 0  # no console: no chats
    with tenant_context(world.client_a1):
        ann = Conversation.objects.get(pk=ann.pk)
        lines = list(Message.objects.filter(conversation=ann).values_list("sender", "body"))
    assert (ann.state, ann.outcome, ann.closed_by, ann.agent_id) == ("closed", "answered", "agent", world.user_a1.pk)
    assert ann.first_response_at is not None and ("agent", "Let me look.") in lines
    assert redis.hget(state.agent_key(prefix, client, "101"), "chats") == b"0"
    assert float(redis.hget(state.agent_key(prefix, client, "101"), "wrap_until")) > 0
    record = Cdr.objects.get(call_uuid=ann.uuid)
    assert (record.service, record.direction, record.disposition) == ("chat", "inbound", "answered")
    assert record.callee_account_id == world.user_a1.pk and record.caller_name == "Ann"
    [leg] = record.legs
    assert (leg["leg"], leg["channel"], leg["queue"], leg["outcome"], leg["agent"], leg["wrapup"]) == (
        "queue",
        "chat",
        queue.pk,
        "answered",
        "102",
        30,
    )
    assert [(o["agent"], o["result"]) for o in leg["offers"]] == [
        ("102", "answered"),
        ("101", "answered-elsewhere"),
        ("101", "transferred"),
    ]
    assert leg["first_response"] >= 0 and leg["wait"] >= 0


def test_a_transfer_to_another_queue_waits_there_and_the_record_has_both_legs(world, chat_queue, visitor, acd_keys):
    from queues.models import Member
    from queues.services import queue_save

    redis, prefix, _client = acd_keys
    chats = chat_queue(members=("101",), consoles=())
    sales = queue_save(actor=world.client_a1_op, client=world.client_a1, name="Sales", members=[{"extension": "102"}])
    with tenant_context(world.client_a1):
        Member.objects.filter(queue=sales).update(logged_in=True)
        state.rebuild(redis, prefix, world.client_a1)
    bob = visitor(chats, name="Bob")
    ws1, ws2 = console(world, world.user_a1), console(world, world.user_a1b)

    async def scenario():
        for ws in (ws1, ws2):
            assert (await ws.connect())[0]
            await until(ws, lambda m: m["type"] == "chat.snapshot")
        wait_in_line(world, bob)
        await until(ws1, kind("offer", bob))
        await ws1.send_json_to({"action": "accept", "conversation": str(bob.uuid)})
        await until(ws1, lambda m: m["type"] == "chat.open")
        await ws1.send_json_to({"action": "transfer", "conversation": str(bob.uuid), "queue": str(sales.pk)})
        await until(ws1, kind("gone", bob))
        await until(ws2, kind("offer", bob), what="the offer in the other queue")
        await ws2.send_json_to({"action": "accept", "conversation": str(bob.uuid)})
        await until(ws2, lambda m: m["type"] == "chat.open")
        await ws2.send_json_to({"action": "send", "conversation": str(bob.uuid), "body": "Sales here."})
        await until(ws2, kind("message", bob))
        await ws2.send_json_to({"action": "close", "conversation": str(bob.uuid)})
        await until(ws2, kind("closed", bob))
        for ws in (ws1, ws2):
            await ws.disconnect()
        await dispatch.stop_running()

    async_to_sync(scenario)()
    record = Cdr.objects.get(call_uuid=bob.uuid)
    assert [(leg["queue"], leg["outcome"], leg["agent"]) for leg in record.legs] == [
        (chats.pk, "answered", "101"), (sales.pk, "answered", "102")]  # fmt: skip
    assert record.callee_account_id == world.user_a1b.pk
    assert "first_response" not in record.legs[0] and "first_response" not in record.legs[1]


def test_the_visitor_ending_a_chat_an_agent_has_frees_the_agent_and_writes_its_record(world, chat_queue, visitor,
                                                                                      acd_keys):  # fmt: skip
    from chat.visitors import visitor_close

    redis, prefix, client = acd_keys
    queue = chat_queue(members=("101",), consoles=(), wrapup_seconds=5)
    cid = visitor(queue, name="Cid")
    ws = console(world, world.user_a1)

    async def scenario():
        assert (await ws.connect())[0]
        await until(ws, lambda m: m["type"] == "chat.snapshot")
        wait_in_line(world, cid)
        await until(ws, kind("offer", cid))
        await ws.send_json_to({"action": "accept", "conversation": str(cid.uuid)})
        await until(ws, lambda m: m["type"] == "chat.open")
        assert redis.hget(state.agent_key(prefix, client, "101"), "chats") == b"1"
        await database_sync_to_async(visitor_close)(client=world.client_a1, conversation=cid)
        gone = await until(ws, kind("gone", cid), what="the chat gone from the console")
        assert gone["event"]["reason"] == "visitor"
        await ws.disconnect()
        await dispatch.stop_running()

    async_to_sync(scenario)()
    assert redis.hget(state.agent_key(prefix, client, "101"), "chats") == b"0"
    with tenant_context(world.client_a1):
        cid.refresh_from_db()
    assert (cid.state, cid.outcome, cid.closed_by) == ("closed", "answered", "visitor")
    record = Cdr.objects.get(call_uuid=cid.uuid)
    assert (record.disposition, record.hangup_cause, record.callee_account_id) == (
        "answered", "closed-by-visitor", world.user_a1.pk)  # fmt: skip


@pytest.mark.parametrize("change", ["deactivate", "suspend"])
def test_an_open_console_closes_when_its_right_ends(world, chat_queue, acd_keys, change):
    """The consoles listen on chat's own channel layer; the sign-out closes reach them there too."""
    from tenants.services import account_update, client_suspend

    chat_queue(members=("101",), consoles=())
    ws = console(world, world.user_a1)

    def act():
        if change == "deactivate":
            account_update(actor=world.client_a1_op, account=world.user_a1, is_active=False)
        else:
            client_suspend(actor=world.brand_a_op, client=world.client_a1)

    async def scenario():
        assert (await ws.connect())[0]
        await until(ws, lambda m: m["type"] == "chat.snapshot")
        await database_sync_to_async(act)()
        closed = await ws.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": 4401 if change == "deactivate" else 4403}
        await ws.disconnect()
        await dispatch.stop_running()

    async_to_sync(scenario)()


def test_an_agent_never_reaches_another_clients_chat(world, chat_queue, acd_keys):
    chat_queue(consoles=())
    with tenant_context(world.client_b1):
        theirs = Conversation.objects.create(visitor_key="k" * 64, visitor_name="Other's visitor")
    ws = console(world, world.user_a1)

    async def scenario():
        assert (await ws.connect())[0]
        await until(ws, lambda m: m["type"] == "chat.snapshot")
        for action in ("accept", "send", "close", "typing"):
            await ws.send_json_to({"action": action, "conversation": str(theirs.uuid), "body": "hi"})
            refused = await until(ws, lambda m: m["type"] == "error", what=f"{action} refused")
            assert refused["code"] in ("not-possible", "not-allowed")
        await ws.send_json_to({"action": "transfer", "conversation": str(theirs.uuid), "queue": "1"})
        assert (await until(ws, lambda m: m["type"] == "error"))["code"] in ("not-possible", "not-allowed", "invalid")
        await ws.disconnect()
        await dispatch.stop_running()

    async_to_sync(scenario)()
    with tenant_context(world.client_b1):
        theirs.refresh_from_db()
        assert (theirs.state, theirs.agent_id, theirs.messages.count()) == ("waiting", None, 0)


def test_an_agent_never_writes_in_a_colleagues_chat(world, chat_queue, acd_keys):
    """The same client's chat another agent answers: a line or typing into it is refused, nothing kept."""
    chat_queue(consoles=())
    with tenant_context(world.client_a1):
        theirs = Conversation.objects.create(visitor_key="k" * 64, visitor_name="Colleague's visitor",
                                             state=Conversation.State.ACTIVE, agent=world.user_a1b)  # fmt: skip
    ws = console(world, world.user_a1)

    async def scenario():
        assert (await ws.connect())[0]
        await until(ws, lambda m: m["type"] == "chat.snapshot")
        for action in ("send", "typing"):
            await ws.send_json_to({"action": action, "conversation": str(theirs.uuid), "body": "hi"})
            refused = await until(ws, lambda m: m["type"] == "error", what=f"{action} refused")
            assert (refused["action"], refused["code"]) == (action, "not-allowed")
        await ws.disconnect()
        await dispatch.stop_running()

    async_to_sync(scenario)()
    with tenant_context(world.client_a1):
        assert not Message.objects.filter(conversation=theirs).exists()
        theirs.delete()


def say(world, conversation, text: str) -> None:
    """The visitor's line (the visitor side's message_post)."""
    with tenant_context(world.client_a1):
        found = Conversation.objects.get(pk=conversation.pk)
        message_post(client=world.client_a1, conversation=found, sender="visitor", body=text)


@pytest.mark.parametrize("case", ["other-client", "operator-without-line", "no-session"])
def test_the_console_is_refused_out_of_scope(world, case, at_once):
    if case == "other-client":
        host = world.host_of(world.user_a1)  # b1's signed-in user on a1's portal
        headers = [(b"host", host.encode()), (b"origin", f"http://{host}".encode()),
                   (b"cookie", _session_cookie(world.user_b1, world.host_of(world.user_b1)))]  # fmt: skip
        ws = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
    elif case == "operator-without-line":
        ws = console(world, world.client_a1_op)
    else:
        ws = console(world, world.user_a1)
        ws.scope["headers"] = [h for h in ws.scope["headers"] if h[0] != b"cookie"]

    async def scenario():
        connected, code = await ws.connect()
        assert not connected
        assert code in (4401, 4403)

    async_to_sync(scenario)()
