"""Chat widgets kept by the client's operators (chat/widgets.py) in the API and the portal: made with
their key and identity secret (shown once: in the answer that made it or rotated it, never in a
read), every bad field a field error (never a 500), the embed snippet shown, deleted. Another
client's widget answers 404 (tests/tenants/test_isolation_*.py)."""

from __future__ import annotations

import html
import re

import pytest
from django_tenants.utils import tenant_context

from chat.models import ChatWidget
from queues.services import queue_save

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue(world):
    return queue_save(actor=world.client_a1_op, client=world.client_a1, name="Web")


def test_the_api_makes_a_widget_shows_its_secret_once_and_rotates_it(world, api, queue):
    client = api(world.client_a1_op)
    origins = "https://Shop.example.com/\nhttps://shop.example.com"
    sent = {"name": "Shop", "queue": queue.pk, "origins": origins, "colour": "#112233"}
    made = client.post("/api/v1/chat/widgets/", sent, format="json")
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["origins"] == "https://shop.example.com" and len(body["identity_secret"]) == 64 and body["key"]
    read = client.get(f"/api/v1/chat/widgets/{body['id']}/").json()
    assert "identity_secret" not in read and body["identity_secret"] not in str(read)
    changed = client.patch(f"/api/v1/chat/widgets/{body['id']}/", {"messages_per_minute": 5}, format="json")
    assert changed.status_code == 200 and changed.json()["messages_per_minute"] == 5
    rotated = client.post(f"/api/v1/chat/widgets/{body['id']}/rotate-secret/").json()["identity_secret"]
    assert rotated != body["identity_secret"]
    with tenant_context(world.client_a1):
        assert ChatWidget.objects.get(pk=body["id"]).identity_secret == rotated
    assert client.delete(f"/api/v1/chat/widgets/{body['id']}/").status_code == 204


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"name": "", "queue": None}, {"name", "queue"}),
        ({"queue": 999999}, {"queue"}),
        ({"queue": "x"}, {"queue"}),
        ({"origins": "javascript:alert(1)"}, {"origins"}),
        ({"origins": ["https://a.example"]}, {"origins"}),
        ({"colour": "red"}, {"colour"}),
        ({"offline_email": "nobody"}, {"offline_email"}),
        (
            {"max_message_length": 0, "messages_per_minute": 100000, "max_sessions_per_visitor": -1},
            {"max_message_length", "messages_per_minute", "max_sessions_per_visitor"},
        ),
        ({"name": "x\x00y"}, {"name"}),
        ({"identity_secret": "mine", "key": "mine"}, {"identity_secret", "key"}),
    ],
)
def test_bad_fields_are_field_errors(world, api, queue, fields, bad):
    client = api(world.client_a1_op)
    sent = {"name": "Shop", "queue": queue.pk, **fields}
    answer = client.post("/api/v1/chat/widgets/", sent, format="json")
    if {"identity_secret", "key"} & bad:  # read-only on a create: ignored, never taken
        assert answer.status_code == 201 and answer.json()["key"] != "mine"
        assert answer.json()["identity_secret"] != "mine"
        return
    assert answer.status_code == 400, answer.content
    assert bad <= set(answer.json().get("fields", answer.json())), answer.json()


def test_the_portal_makes_a_widget_shows_the_snippet_and_the_secret_once(world, portal, queue):
    page = portal(world.client_a1_op)
    answer = page.post("/chat/widgets/new/", {"name": "Shop", "queue": queue.pk, "origins": "https://shop.example.com",
                                              "max_sessions_per_visitor": "", "enabled": "on"})  # fmt: skip
    assert answer.status_code == 302
    shown = page.get(answer["Location"]).content.decode()
    with tenant_context(world.client_a1):
        widget = ChatWidget.objects.get(name="Shop")
    assert widget.identity_secret in shown and widget.max_sessions_per_visitor == 2
    snippet = html.unescape(re.search(r'<pre id="snippet"><code>(.*?)</code>', shown, re.S).group(1))
    assert snippet.endswith(f'/static/chat_widget.js" data-key="{widget.key}" async></script>')
    assert widget.identity_secret not in page.get(answer["Location"]).content.decode()  # once only
    assert "Shop" in page.get("/chat/widgets/").content.decode()
    page.post(f"/chat/widgets/{widget.pk}/rotate/")
    with tenant_context(world.client_a1):
        rotated = ChatWidget.objects.get(pk=widget.pk).identity_secret
    assert rotated != widget.identity_secret and rotated in page.get(f"/chat/widgets/{widget.pk}/").content.decode()
    bad = page.post(f"/chat/widgets/{widget.pk}/", {"name": "Shop", "queue": "", "origins": "ftp://x"})
    assert bad.status_code == 200 and b"Not an origin" in bad.content
    assert page.post(f"/chat/widgets/{widget.pk}/delete/").status_code == 302
    with tenant_context(world.client_a1):
        assert not ChatWidget.objects.filter(pk=widget.pk).exists()


def test_users_have_no_widget_pages(world, portal):
    assert portal(world.user_a1).get("/chat/widgets/").status_code in (403, 404)
