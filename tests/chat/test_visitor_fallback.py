"""The visitor's HTTP fallback (chat/visitor_consumers.py) through the real ASGI application: the same
commands by POST, the conversation's news by long-poll (at once when messages are past the cursor,
else when the next event comes), CORS for the widget's origins only; and the mails (a real SMTP
server): the offline message to the widget's address, the transcript to the visitor, limited."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator
from django_tenants.utils import tenant_context

from chat.events import conversation_group, publish_async
from chat.models import Conversation
from config.asgi import application
from tests.chat.conftest import SHOP
from tests.mailbox import mailbox_fixture, smtp_server_fixture  # noqa: F401 (the SMTP server fixtures)

pytestmark = pytest.mark.django_db


def http(host, method, path, body=None, origin=SHOP, timeout=5):
    headers = [(b"host", host.encode()), (b"content-type", b"application/json")]
    if origin:
        headers.append((b"origin", origin.encode()))
    data = json.dumps(body).encode() if isinstance(body, dict) else (body or b"")
    communicator = HttpCommunicator(application, method, path, body=data, headers=headers)
    return communicator.get_response(timeout=timeout)


def answer(response) -> dict:
    return json.loads(response["body"]) if response["body"] else {}


def header(response, name: bytes) -> bytes | None:
    return dict(response["headers"]).get(name)


@pytest.fixture
def host(world):
    return world.host_of(world.client_a1_op)


def test_commands_by_post_and_news_by_long_poll(world, chat_widget, host):
    widget = chat_widget()
    base = f"/chat/api/{widget.key}"

    async def scenario():
        preflight = await http(host, "OPTIONS", f"{base}/send")
        assert preflight["status"] == 204 and header(preflight, b"Access-Control-Allow-Origin") == SHOP.encode()
        refused = await http(host, "OPTIONS", f"{base}/send", origin="https://evil.example")
        assert refused["status"] == 403 and header(refused, b"Access-Control-Allow-Origin") is None
        refused = await http(host, "POST", f"{base}/send", {"type": "hello"}, origin="https://evil.example")
        assert refused["status"] == 403 and header(refused, b"Access-Control-Allow-Origin") is None

        response = await http(host, "POST", f"{base}/send", {"type": "hello"})
        assert header(response, b"Access-Control-Allow-Origin") == SHOP.encode()
        [welcome] = answer(response)["events"]
        secret = welcome["visitor"]
        assert welcome["online"] is True
        no_hello = answer(await http(host, "POST", f"{base}/send", {"type": "message", "text": "hi"}))
        assert no_hello["events"][0]["code"] == "hello-first"
        started = answer(await http(host, "POST", f"{base}/send", {"type": "start", "text": "<i>hi</i>",
                                                                   "visitor": secret}))  # fmt: skip
        conversation = started["events"][0]["conversation"]
        assert conversation["state"] == "waiting"
        # Messages past the cursor come at once, with the conversation's state.
        polled = answer(await http(host, "GET", f"{base}/events?visitor={secret}&after=0"))
        assert [e["body"] for e in polled["events"]] == ["<i>hi</i>"] and polled["conversation"]["position"] == 1
        cursor = polled["cursor"]
        # Nothing new: the poll waits until the agent's side says something.
        poll = asyncio.ensure_future(http(host, "GET", f"{base}/events?visitor={secret}&after={cursor}", timeout=30))
        await asyncio.sleep(0.5)
        assert not poll.done()
        group = conversation_group(world.client_a1.pk, conversation["id"])
        await publish_async(group, {"kind": "joined", "agent": "User a1"})
        waited = answer(await poll)
        assert [e["kind"] for e in waited["events"]] == ["joined"] and waited["cursor"] == cursor
        said = answer(await http(host, "POST", f"{base}/send", {"type": "message", "text": "more", "visitor": secret}))
        assert said["events"] == []
        polled = answer(await http(host, "GET", f"{base}/events?visitor={secret}&after={cursor}"))
        assert [e["body"] for e in polled["events"]] == ["more"] and polled["cursor"] > cursor
        assert (await http(host, "GET", f"{base}/nothing-here"))["status"] == 404
        assert (await http(host, "GET", "/chat/api/"))["status"] == 404
        bad = await http(host, "POST", f"{base}/send", b"\xff\xfe not json")
        assert bad["status"] == 400 and answer(bad)["events"][0]["code"] == "invalid"

    async_to_sync(scenario)()


def test_the_offline_message_is_kept_and_mailed_to_the_widgets_address(world, chat_widget, host, mailbox,
                                                                      nobody_logged_in):  # fmt: skip
    widget = chat_widget()
    nobody_logged_in()
    base = f"/chat/api/{widget.key}"

    async def scenario():
        [welcome] = answer(await http(host, "POST", f"{base}/send", {"type": "hello"}))["events"]
        assert welcome["online"] is False
        secret = welcome["visitor"]
        missing = answer(await http(host, "POST", f"{base}/send", {"type": "offline", "text": "call me",
                                                                   "visitor": secret}))  # fmt: skip
        assert missing["events"][0]["field"] == "email"
        kept = answer(await http(host, "POST", f"{base}/send", {"type": "offline", "name": "Bob <b>",
                                                                "email": "bob@example.com",
                                                                "text": "Call me <script>x</script>",
                                                                "visitor": secret}))  # fmt: skip
        assert kept["events"] == [{"kind": "offline", "kept": True}]

    async_to_sync(scenario)()
    with tenant_context(world.client_a1):
        [conversation] = Conversation.objects.all()
        assert (conversation.state, conversation.outcome) == ("closed", "offline")
        assert list(conversation.messages.values_list("body", flat=True)) == ["Call me <script>x</script>"]
    [mail] = mailbox.messages
    assert mail["To"] == "desk@client-a1.example" and mail["Reply-To"] == "bob@example.com"
    assert "Bob <b>" in mail["Subject"] and "Call me <script>x</script>" in mail.get_content()


def test_the_transcript_is_mailed_to_the_visitor_at_most_three_times_an_hour(world, chat_widget, host, mailbox):
    widget = chat_widget()
    base = f"/chat/api/{widget.key}"

    async def scenario():
        [welcome] = answer(await http(host, "POST", f"{base}/send", {"type": "hello"}))["events"]
        secret = welcome["visitor"]
        await http(host, "POST", f"{base}/send", {"type": "start", "text": "first line", "visitor": secret})
        await http(host, "POST", f"{base}/send", {"type": "message", "text": "second line", "visitor": secret})
        bad = answer(await http(host, "POST", f"{base}/send", {"type": "transcript", "email": "nope",
                                                               "visitor": secret}))  # fmt: skip
        assert bad["events"][0]["field"] == "email"
        codes = []
        for _ in range(4):
            said = answer(await http(host, "POST", f"{base}/send", {"type": "transcript", "email": "ann@example.com",
                                                                    "visitor": secret}))  # fmt: skip
            codes.append(said["events"][0].get("code") or said["events"][0]["kind"])
        assert codes == ["transcript", "transcript", "transcript", "too-many-transcripts"]

    async_to_sync(scenario)()
    assert len(mailbox.messages) == 3
    mail = mailbox.messages[0]
    assert mail["To"] == "ann@example.com" and "Shop help" in mail["Subject"]
    assert "Visitor: first line" in mail.get_content() and "Visitor: second line" in mail.get_content()
