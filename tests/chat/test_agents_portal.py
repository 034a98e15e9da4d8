"""The agents' side of chats in the portal and the API: conversations searched by text said, visitor,
agent and days (operators every one, a user those they answered), each with its transcript (HTML shown
as text), the CSV download (formula-like cells neutralised); canned answers managed by operators and
used by their /shortcut; agents' chat settings on My queues, per agent for operators and through the
API, bad values refused as field errors; the console page."""

from __future__ import annotations

import csv
import datetime as dt
import io

from asgiref.sync import async_to_sync
from django.utils import timezone
from django_tenants.utils import tenant_context

from chat.agents import canned_save, chat_send
from chat.models import CannedAnswer, Conversation, Message
from queues.models import Agent


def _chats(world):
    """Three closed chats of client a1: Ann's answered by User a1, Bob's by User a1b (a line that looks
    like a formula), Eve's unanswered, four days ago."""
    made = {}
    with tenant_context(world.client_a1):
        for name, agent, text, age in (("Ann Quill", world.user_a1, "my parcel is late", 0),
                                       ("Bob Marsh", world.user_a1b, '=HYPERLINK("http://x")', 0),
                                       ("Eve Nightly", None, "<script>alert(1)</script>", 4)):  # fmt: skip
            c = Conversation.objects.create(visitor_key="k" * 64, visitor_name=name, state="closed",
                                            outcome="answered" if agent else "abandoned", agent=agent,
                                            agent_name=agent.get_full_name() if agent else "")  # fmt: skip
            Conversation.objects.filter(pk=c.pk).update(created_at=timezone.now() - dt.timedelta(days=age))
            Message.objects.create(conversation=c, sender="visitor", body=text)
            made[name.split()[0]] = c
    return made


def test_operators_search_every_chat_and_users_see_those_they_answered(world, portal):
    made = _chats(world)
    op = portal(world.client_a1_op)
    page = op.get("/chat/conversations/", {"q": "parcel"}).content.decode()
    assert "Ann Quill" in page and "Bob Marsh" not in page
    page = op.get("/chat/conversations/", {"agent": "a1b"}).content.decode()
    assert "Bob Marsh" in page and "Ann Quill" not in page
    since = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    page = op.get("/chat/conversations/", {"since": since}).content.decode()
    assert "Ann Quill" in page and "Eve Nightly" not in page
    assert op.get("/chat/conversations/", {"since": "not-a-day"}).status_code == 200  # a field error, shown

    user = portal(world.user_a1)
    page = user.get("/chat/conversations/").content.decode()
    assert "Ann Quill" in page and "Bob Marsh" not in page and "Eve Nightly" not in page
    assert user.get(f"/chat/conversations/{made['Bob'].pk}/").status_code == 404
    transcript = op.get(f"/chat/conversations/{made['Eve'].pk}/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in transcript and "<script>alert(1)" not in transcript
    assert user.get("/chat/conversations.csv").status_code == 404


def test_the_csv_holds_the_searched_chats_with_formulas_neutralised(world, portal):
    _chats(world)
    answer = portal(world.client_a1_op).get("/chat/conversations.csv", {"visitor": "Bob Marsh"})
    assert answer.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(answer.streaming_content).decode("utf-8-sig"))))
    assert [r["visitor_name"] for r in rows] == ["Bob Marsh"]
    assert rows[0]["messages"] == "1" and 'HYPERLINK("http://x")' in rows[0]["transcript"]
    answer = portal(world.client_a1_op).get("/chat/conversations.csv", {"q": "=HYPERLINK"})
    text = b"".join(answer.streaming_content).decode("utf-8-sig")
    assert "\n=" not in text and ",=" not in text


def test_the_csv_neutralises_a_formula_in_a_visitors_name(world, portal):
    with tenant_context(world.client_a1):
        Conversation.objects.create(visitor_key="k" * 64, visitor_name="=cmd|' /C calc'!A0", state="closed")
    answer = portal(world.client_a1_op).get("/chat/conversations.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(answer.streaming_content).decode("utf-8-sig"))))
    assert rows[0]["visitor_name"] == "'=cmd|' /C calc'!A0"


def test_operators_manage_canned_answers_and_agents_use_their_shortcut(world, portal, api, at_once):
    op = portal(world.client_a1_op)
    answer = op.post("/chat/canned/new/", {"title": "Hello", "shortcut": "hi", "body": "Hello, how can I help?"})
    assert answer.status_code == 302
    again = op.post("/chat/canned/new/", {"title": "Other", "shortcut": "hi", "body": "x"})
    assert again.status_code == 200 and "Another canned answer has this shortcut." in again.content.decode()
    assert portal(world.user_a1).get("/chat/canned/").status_code == 404
    http = api(world.client_a1_op)
    made = http.post("/api/v1/chat/canned/", {"title": "Bye", "shortcut": "bye", "body": "Goodbye!"}, format="json")
    assert made.status_code == 201
    bad = http.post("/api/v1/chat/canned/", {"title": "Bad", "shortcut": "a b", "body": "ok"}, format="json")
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"shortcut"}
    bad = http.post("/api/v1/chat/canned/", {"title": "Bad", "body": "\x00\x01"}, format="json")
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"body"}
    assert http.patch(f"/api/v1/chat/canned/{made.json()['id']}/", {"body": "Bye now"}, format="json").json()[
        "body"] == "Bye now"  # fmt: skip
    assert api(world.user_a1).post("/api/v1/chat/canned/", {"title": "T", "body": "b"}, format="json").status_code in (
        403, 404)  # fmt: skip

    with tenant_context(world.client_a1):
        c = Conversation.objects.create(visitor_key="k" * 64, visitor_name="Ann", state="active", agent=world.user_a1)
        said = async_to_sync(chat_send)(actor=world.user_a1, client=world.client_a1, conversation_uuid=c.uuid,
                                        body="/hi")  # fmt: skip
        assert said.body == "Hello, how can I help?"
        assert CannedAnswer.objects.count() == 2


def test_conversations_through_the_api_searched_and_with_their_messages(world, api):
    made = _chats(world)
    http = api(world.client_a1_op)
    found = http.get("/api/v1/chat/conversations/", {"q": "parcel"}).json()["results"]
    assert [c["visitor_name"] for c in found] == ["Ann Quill"]
    detail = http.get(f"/api/v1/chat/conversations/{made['Eve'].pk}/").json()
    assert detail["messages"][0]["body"] == "<script>alert(1)</script>"
    assert http.get("/api/v1/chat/conversations/", {"from": "2026-13-01"}).status_code == 400
    mine = api(world.user_a1).get("/api/v1/chat/conversations/").json()["results"]
    assert [c["visitor_name"] for c in mine] == ["Ann Quill"]


def test_agents_set_their_chat_settings_and_operators_anyones(world, portal, api, at_once):
    user = portal(world.user_a1)
    assert "my-chat-settings" in user.get("/phone/queues/").content.decode()
    answer = user.post("/phone/queues/", {"action": "chat", "chat_limit": "4", "chats_during_calls": "on"})
    assert answer.status_code == 302
    refused = user.post("/phone/queues/", {"action": "chat", "chat_limit": "99"})
    assert refused.status_code == 200
    with tenant_context(world.client_a1):
        agent = Agent.objects.get(extension__number="101")
    assert (agent.chat_limit, agent.chats_during_calls) == (4, True)

    from queues.services import queue_save

    queue_save(actor=world.client_a1_op, client=world.client_a1, name="Chats", members=[{"extension": "102"}])
    line = world.extension_of(world.user_a1b)
    http = api(world.client_a1_op)
    answer = http.post(f"/api/v1/queues/agents/{line.pk}/chat/", {"chat_limit": 0}, format="json")
    assert answer.status_code == 200 and answer.json()["chat_limit"] == 0
    bad = http.post(f"/api/v1/queues/agents/{line.pk}/chat/", {"chat_limit": "lots"}, format="json")
    assert bad.status_code == 400 and "chat_limit" in bad.json()["fields"]
    own = world.extension_of(world.user_a1)
    assert api(world.user_a1b).post(f"/api/v1/queues/agents/{own.pk}/chat/", {"chat_limit": 1},
                                    format="json").status_code == 404  # fmt: skip
    op = portal(world.client_a1_op)
    assert 'data-extension="102"' in op.get("/chat/agents/").content.decode()
    op.post("/chat/agents/", {"extension": line.pk, "chat_limit": "3"})
    with tenant_context(world.client_a1):
        assert Agent.objects.get(extension=line).chat_limit == 3


def test_the_console_page_for_an_agent_and_for_an_operator_without_a_line(world, portal):
    page = portal(world.user_a1).get("/chat/").content.decode()
    assert "chat_console.js" in page and 'id="chat-labels"' in page
    page = portal(world.client_a1_op).get("/chat/").content.decode()
    assert "not-an-agent" in page and "chat_console.js" not in page


def test_canned_answers_service_refuses_bad_fields_at_once(world):
    import pytest
    from django.core.exceptions import ValidationError

    with tenant_context(world.client_a1), pytest.raises(ValidationError) as caught:
        canned_save(actor=world.client_a1_op, client=world.client_a1, title="", shortcut="x y", body="")
    assert {"title", "shortcut", "body"} <= set(caught.value.message_dict)
