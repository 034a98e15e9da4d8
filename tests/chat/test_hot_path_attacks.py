"""Web chat's hot path (a line from the event loop, chat/loopdb.py) attacked and faulted, with the real
parts: a visitor's socket and an agent's console over the real channel layers, the loop's own
PostgreSQL connections, rows committed as in production.

- A line is one statement: an agent's first line and the chat's first response time are kept together
  or not at all, whichever of the loop's connections PostgreSQL drops (the loop's statements go round
  its connections: two statements were two connections, and a line the agent was told to send again
  was kept, unseen, and sent twice).
- A chat that is closed takes no more lines, from a side that has not heard of the close (its event
  lost, or racing it): refused (the visitor's "closed"), nothing kept after the chat's record.
- Whatever an agent sends into a chat not theirs (another client's, another agent's, closed, not a
  uuid) or whatever the body (not text, too long, control characters), the console answers an error
  event, keeps nothing and stays open.
"""

from __future__ import annotations

import asyncio
import itertools

import psycopg
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection
from django_tenants.utils import tenant_context

from chat import dispatch, loopdb
from chat.models import CannedAnswer, Conversation, Message
from tests.chat.agents_fixtures import console, until
from tests.chat.test_redis_restart import heard, host, line_of, start_and_answer  # noqa: F401  (host: a fixture)
from tests.chat.test_visitor_socket import hello, said, socket
from tests.waiting import committed

pytestmark = pytest.mark.django_db


def _terminate(pid: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


def _kept(world, uuid) -> list[tuple[str, str]]:
    with tenant_context(world.client_a1):
        return list(Message.objects.filter(conversation__uuid=uuid).order_by("id").values_list("sender", "body"))


def _first_response_at(world, uuid):
    with tenant_context(world.client_a1):
        return Conversation.objects.get(uuid=uuid).first_response_at


async def _pids_in_turn() -> list[int]:
    """The loop's connections, all made, their server pids in the order of the next turn."""
    here = loopdb._of_this_loop()
    here.turns = itertools.cycle(range(loopdb.SIZE))
    pids = [(await loopdb.run("SELECT pg_backend_pid()", []))[0] for _ in range(loopdb.SIZE)]
    here.turns = itertools.cycle(range(loopdb.SIZE))  # (the next statement: the first connection again)
    return pids


def test_an_agents_first_line_is_kept_with_its_first_response_time_or_not_at_all(world, chat_widget, host):  # noqa: F811
    """The third connection in turn dropped by PostgreSQL: the agent's lookup and line go through the first
    two. Kept, then the line is heard and the first response time set; refused, nothing kept. Never the
    line kept unheard and the agent told to try again (that made it twice)."""
    widget = chat_widget()
    agent = console(world, world.user_a1)

    async def scenario():
        assert (await agent.connect())[0]
        await until(agent, lambda m: m["type"] == "chat.snapshot")
        visitor, uuid = await start_and_answer(agent, host, widget.key, "Hello")
        pids = await _pids_in_turn()
        await sync_to_async(_terminate)(pids[2])
        await agent.send_json_to({"action": "send", "conversation": uuid, "body": "How can I help?"})
        answer = await until(agent, lambda m: m["type"] == "error" or line_of("agent", "How can I help?")(m))
        for ws in (visitor, agent):
            await ws.disconnect()
        await dispatch.stop_running()
        return uuid, answer

    uuid, answer = async_to_sync(scenario)()
    kept = [body for sender, body in _kept(world, uuid) if sender == "agent"]
    if answer["type"] == "error":
        assert kept == [] and _first_response_at(world, uuid) is None
    else:
        assert kept == ["How can I help?"] and _first_response_at(world, uuid) is not None


def test_a_closed_chat_takes_no_line_from_a_side_that_did_not_hear_of_the_close(world, chat_widget, host):  # noqa: F811
    """The chat closed by another process whose "closed" event never reached this visitor's socket (a Redis
    blip): the visitor's next line is refused ("closed") and not kept; the agent's too."""
    widget = chat_widget()
    agent = console(world, world.user_a1)

    def closed_elsewhere(uuid):
        with tenant_context(world.client_a1):
            Conversation.objects.filter(uuid=uuid).update(state=Conversation.State.CLOSED)

    async def scenario():
        assert (await agent.connect())[0]
        await until(agent, lambda m: m["type"] == "chat.snapshot")
        visitor, uuid = await start_and_answer(agent, host, widget.key, "Hello")
        await sync_to_async(committed)(closed_elsewhere, uuid)
        await visitor.send_json_to({"type": "message", "text": "Are you there?"})
        refused = await said(visitor, "error")
        await agent.send_json_to({"action": "send", "conversation": uuid, "body": "Bye"})
        agent_refused = await until(agent, lambda m: m["type"] == "error")
        await visitor.send_json_to({"type": "message", "text": "Hello again?"})
        again = await said(visitor, "error")  # (known closed now: refused before any statement)
        for ws in (visitor, agent):
            await ws.disconnect()
        await dispatch.stop_running()
        return uuid, refused, agent_refused, again

    uuid, refused, agent_refused, again = async_to_sync(scenario)()
    assert refused["code"] == again["code"] == "closed"
    assert agent_refused["code"] == "not-possible"
    assert _kept(world, uuid) == [("visitor", "Hello")]


BAD_BODIES = [None, 7, 1.5, True, ["a"], {"body": "x"}, "", "   ", "x" * 2001, "bell\x07", "nul\x00", "\ud800"]


def test_whatever_an_agent_sends_where_they_may_not_is_an_error_and_nothing_is_kept(world, chat_widget, host):  # noqa: F811
    """Bad bodies in their own chat; good lines into chats not theirs: another client's (its uuid, and a
    uuid of this client's that another client's schema might hold), a malformed uuid, a closed chat; a
    "/shortcut" of another client's canned answer is sent as typed, never as that client's text. Each
    answered with an error event; the console stays and still serves."""
    widget = chat_widget()
    agent = console(world, world.user_a1)

    def other_clients_chat():
        with tenant_context(world.client_b1):
            CannedAnswer.objects.create(title="Secret", shortcut="secret", body="client b1's secret text")
            found = Conversation.objects.create(visitor_key="b" * 64, visitor_name="Bob", state="active",
                                                agent_id=world.user_a1.pk)  # fmt: skip
            return str(found.uuid)

    def cleanup(uuid):
        with tenant_context(world.client_b1):
            Message.objects.filter(conversation__uuid=uuid).delete()
            Conversation.objects.filter(uuid=uuid).delete()
            CannedAnswer.objects.filter(shortcut="secret").delete()

    theirs = committed(other_clients_chat)
    try:

        async def scenario():
            assert (await agent.connect())[0]
            await until(agent, lambda m: m["type"] == "chat.snapshot")
            visitor, uuid = await start_and_answer(agent, host, widget.key, "Hello")
            errors = []
            for body in BAD_BODIES:
                await agent.send_json_to({"action": "send", "conversation": uuid, "body": body})
                errors.append(await until(agent, lambda m: m["type"] == "error", what=f"refusal of {body!r}"))
            for where in (theirs, "not-a-uuid", "", None, 12, ["x"], {"a": 1}, "0" * 32):
                for action in ("send", "typing"):
                    await agent.send_json_to({"action": action, "conversation": where, "body": "Hi"})
                    errors.append(await until(agent, lambda m: m["type"] == "error", what=f"{action} {where!r}"))
            await agent.send_json_to({"action": "send", "conversation": uuid, "body": "/secret"})
            typed = await until(agent, line_of("agent", "/secret"), what="the shortcut sent as typed")
            await agent.send_json_to({"action": "status"})
            status = await until(agent, lambda m: m["type"] == "chat.status", what="the console still serving")
            for ws in (visitor, agent):
                await ws.disconnect()
            await dispatch.stop_running()
            return uuid, errors, typed, status

        uuid, errors, typed, status = async_to_sync(scenario)()
        assert typed["event"]["body"] == "/secret" and status["status"]["extension"] == "101"
        assert all(e["code"] in ("invalid", "not-allowed", "not-possible") for e in errors), errors
        assert _kept(world, uuid) == [("visitor", "Hello"), ("agent", "/secret")]
        with tenant_context(world.client_b1):
            assert not Message.objects.filter(conversation__uuid=theirs).exists()
    finally:
        committed(cleanup, theirs)


def _terminate_the_others() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_the_http_fallback_answers_through_dropped_connections_and_keeps_what_it_acknowledged(
    world,
    chat_widget,
    host,  # noqa: F811
):
    """Every connection of the process dropped by PostgreSQL (a restart) while a visitor talks through the
    HTTP fallback: each POST is answered (an error event, never a 500 or an unanswered request), lines
    acknowledged are kept once each, and the lines go through again soon."""
    from tests.chat.test_visitor_fallback import answer, http

    widget = chat_widget()
    agent = console(world, world.user_a1)
    send = f"/chat/api/{widget.key}/send"

    async def scenario():
        assert (await agent.connect())[0]
        await until(agent, lambda m: m["type"] == "chat.snapshot")
        secret = answer(await http(host, "POST", send, {"type": "hello"}))["events"][0]["visitor"]
        started = answer(await http(host, "POST", send, {"type": "start", "text": "Hello", "visitor": secret}))
        uuid = started["events"][0]["conversation"]["id"]
        await until(agent, lambda m: (m.get("event") or {}).get("kind") == "offer", timeout=10, what="the offer")
        await agent.send_json_to({"action": "accept", "conversation": uuid})
        await until(agent, lambda m: m["type"] == "chat.open", what="the chat")
        await sync_to_async(_terminate_the_others)()
        statuses, acknowledged = [], []
        for n in range(1, 9):
            try:
                response = await http(host, "POST", send, {"type": "message", "text": f"line {n}", "visitor": secret})
            except Exception as error:  # (the application raised: daphne answers 500)
                statuses.append(repr(error)[:200])
                continue
            statuses.append(response["status"])
            if response["status"] == 200 and not answer(response)["events"]:
                acknowledged.append(f"line {n}")
        await agent.disconnect()
        await dispatch.stop_running()
        return uuid, statuses, acknowledged

    uuid, statuses, acknowledged = async_to_sync(scenario)()
    assert all(status in (200, 503) for status in statuses), statuses
    assert acknowledged and acknowledged[-1] == "line 8", statuses
    kept = [body for sender, body in _kept(world, uuid) if sender == "visitor"]
    assert kept[0] == "Hello" and sorted(kept[1:]) == sorted(acknowledged)


def test_lines_sent_at_once_from_one_console_are_all_kept_in_order_first_response_once(world, chat_widget, host):  # noqa: F811
    """Twenty lines sent without waiting from one console, and the visitor's lines meanwhile, on one event
    loop: each kept once, the agent's in their order, the first response time that of the first line."""
    widget = chat_widget()
    agent = console(world, world.user_a1)

    async def scenario():
        assert (await agent.connect())[0]
        await until(agent, lambda m: m["type"] == "chat.snapshot")
        visitor, uuid = await start_and_answer(agent, host, widget.key, "Hello")
        for n in range(20):
            await agent.send_json_to({"action": "send", "conversation": uuid, "body": f"agent {n}"})
            if n % 5 == 0:
                await visitor.send_json_to({"type": "message", "text": f"visitor {n}"})
        await until(agent, line_of("agent", "agent 19"), what="the last line")
        for ws in (visitor, agent):
            await ws.disconnect()
        await dispatch.stop_running()
        return uuid

    uuid = async_to_sync(scenario)()
    kept = _kept(world, uuid)
    assert [body for sender, body in kept if sender == "agent"] == [f"agent {n}" for n in range(20)]
    said_by_visitor = sorted(body for sender, body in kept if sender == "visitor")
    assert said_by_visitor == sorted(["Hello", *(f"visitor {n}" for n in (0, 5, 10, 15))])
    with tenant_context(world.client_a1):
        first = Message.objects.filter(conversation__uuid=uuid, sender="agent").order_by("id").first()
        assert Conversation.objects.get(uuid=uuid).first_response_at == first.created_at


def test_redis_gone_refuses_a_visitors_line_on_both_ways_and_keeps_nothing(own_redis, world, chat_widget, host):  # noqa: F811
    """Redis killed mid-chat (the visitor's count of lines a minute and the channel layer gone): the
    socket's line and the fallback's are refused with an error event, the socket stays, nothing is kept;
    with Redis back the socket's line goes through."""
    from tests.chat.test_visitor_fallback import answer, http

    widget = chat_widget()
    agent = console(world, world.user_a1)
    send = f"/chat/api/{widget.key}/send"

    async def scenario():
        assert (await agent.connect())[0]
        await until(agent, lambda m: m["type"] == "chat.snapshot")
        visitor, uuid, secret = await _started_and_answered(agent, host, widget.key)
        await asyncio.to_thread(own_redis.kill)
        try:
            await visitor.send_json_to({"type": "message", "text": "while Redis is gone"})
            refused = await said(visitor, "error", timeout=15)
            posted = await http(
                host, "POST", send, {"type": "message", "text": "by post", "visitor": secret}, timeout=15
            )
        finally:
            await asyncio.to_thread(own_redis.restart, keep_data=True)
        await heard(visitor, agent, _visitor_says, lambda n: line_of("visitor", f"back {n}"), within=20)
        for ws in (visitor, agent):
            await ws.disconnect()
        await dispatch.stop_running()
        return uuid, refused, posted

    uuid, refused, posted = async_to_sync(scenario)()
    assert refused["code"] in ("error", "too-many-messages")
    assert posted["status"] in (200, 503) and answer(posted)["events"][0]["kind"] == "error"
    kept = [body for sender, body in _kept(world, uuid) if sender == "visitor"]
    assert "while Redis is gone" not in kept and "by post" not in kept and kept[0] == "Hello"


async def _visitor_says(visitor, n):
    await visitor.send_json_to({"type": "message", "text": f"back {n}"})


async def _started_and_answered(agent, portal: str, key: str):
    """start_and_answer (tests/chat/test_redis_restart.py), with the visitor's secret."""
    visitor = socket(portal, key)
    assert (await visitor.connect())[0]
    secret = (await hello(visitor))["visitor"]
    await visitor.send_json_to({"type": "start", "name": "Ann", "text": "Hello"})
    uuid = (await said(visitor, "started"))["conversation"]["id"]
    await until(agent, lambda m: (m.get("event") or {}).get("kind") == "offer", timeout=10, what="the offer")
    await agent.send_json_to({"action": "accept", "conversation": uuid})
    await until(agent, lambda m: m["type"] == "chat.open" and m["chat"]["conversation"] == uuid, what="the chat")
    await said(visitor, "joined", timeout=5)
    return visitor, uuid, secret


def test_a_line_racing_the_close_waits_for_it_and_is_refused(world, chat_widget):
    """The close holds the chat's row (chat.agents.conversation_close: locked, closed, its record written)
    while a line arrives on the loop: the line waits for the close's commit, reads the chat again and is
    refused; nothing is kept after the chat's record."""
    import threading

    from chat.services import ChatEnded, message_post_on_loop

    widget = chat_widget()

    def open_chat():
        with tenant_context(world.client_a1):
            return Conversation.objects.create(widget_id=widget.pk, visitor_key="r" * 64, state="active",
                                               agent_id=world.user_a1.pk)  # fmt: skip

    chat = committed(open_chat)
    locked, go = threading.Event(), threading.Event()

    def close_slowly():
        from django.db import transaction

        with tenant_context(world.client_a1), transaction.atomic():
            Conversation.objects.select_for_update().get(pk=chat.pk)
            locked.set()
            go.wait(5)
            Conversation.objects.filter(pk=chat.pk).update(state="closed")

    closer = threading.Thread(target=lambda: committed(close_slowly))
    closer.start()
    assert locked.wait(5)

    async def say():
        said = message_post_on_loop(client=world.client_a1, conversation=chat, sender="agent", body="Still there?",
                                    author=world.user_a1, max_length=2000)  # fmt: skip
        line = asyncio.ensure_future(said)
        await asyncio.sleep(0.3)
        waited = not line.done()
        go.set()
        try:
            await line
        except ChatEnded:
            return waited, "refused"
        return waited, "kept"

    try:
        assert async_to_sync(say)() == (True, "refused")
    finally:
        go.set()
        closer.join()
    assert _kept(world, chat.uuid) == []
    assert _first_response_at(world, chat.uuid) is None


def test_a_console_frame_that_is_not_json_is_an_error_and_the_console_stays(world, chat_widget, host):  # noqa: F811
    """Not JSON, empty, binary, nested past the parser's depth: each answered with an error event; the
    console still serves (it closed on the first)."""
    chat_widget()
    agent = console(world, world.user_a1)

    async def scenario():
        assert (await agent.connect())[0]
        await until(agent, lambda m: m["type"] == "chat.snapshot")
        errors = []
        for frame in ({"text": "not json"}, {"text": ""}, {"bytes": b"\x00\x01"},
                      {"text": "[" * 100_000 + "]" * 100_000}):  # fmt: skip
            await agent.send_input({"type": "websocket.receive", **frame})
            errors.append(await until(agent, lambda m: m["type"] == "error", what=f"refusal of {str(frame)[:40]}"))
        await agent.send_json_to({"action": "status"})
        status = await until(agent, lambda m: m["type"] == "chat.status", what="the console still serving")
        await agent.disconnect()
        await dispatch.stop_running()
        return errors, status

    errors, status = async_to_sync(scenario)()
    assert [e["code"] for e in errors] == ["invalid"] * 4 and status["status"]["extension"] == "101"


def test_a_statement_to_a_postgresql_gone_silent_fails_in_bounded_time(monkeypatch):
    """The loop's connections through a TCP relay that goes silent (PostgreSQL gone without a reset, as in
    a failover or a network cut): a line's statement fails within loopdb.WITHIN and psycopg's cancel (a few
    seconds), never waits for TCP's own timeouts (minutes); once the relay talks again the lines go on."""
    monkeypatch.setattr(loopdb, "WITHIN", 1.0)
    params = loopdb._params()

    async def scenario():
        silent = asyncio.Event()
        pumps = []

        async def pump(reader, writer):
            try:
                while data := await reader.read(65536):
                    while silent.is_set():  # (held, never forwarded, the socket kept open)
                        await asyncio.sleep(0.05)
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                writer.close()

        async def relay(reader, writer):
            upstream_reader, upstream_writer = await asyncio.open_connection(params["host"], int(params["port"]))
            pumps.extend([asyncio.ensure_future(pump(reader, upstream_writer)),
                          asyncio.ensure_future(pump(upstream_reader, writer))])  # fmt: skip

        server = await asyncio.start_server(relay, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        monkeypatch.setattr(loopdb, "_params", lambda: {**params, "host": "127.0.0.1", "port": port})
        loop = asyncio.get_running_loop()
        try:
            for _ in range(loopdb.SIZE):
                assert (await loopdb.run("SELECT 1", []))[0] == 1
            silent.set()
            started = loop.time()
            with pytest.raises((TimeoutError, psycopg.OperationalError)):  # (the wait, or the connection given up)
                await asyncio.wait_for(loopdb.run("SELECT 2", []), 60)
            took = loop.time() - started
            silent.clear()
            back = [(await loopdb.run("SELECT 3", []))[0] for _ in range(loopdb.SIZE)]
        finally:
            server.close()
            for task in pumps:
                task.cancel()
        return took, back

    took, back = async_to_sync(scenario)()
    assert took < 15, took  # (WITHIN, then psycopg cancels for at most 5 + 5 s)
    assert back == [3] * loopdb.SIZE
