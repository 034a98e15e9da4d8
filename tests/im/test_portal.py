"""Instant messages' and presence's portal pages (im/views.py) without scripts: the chats with their
unread counts, starting a conversation, a conversation's page (its history paged backwards, the reply
form, what it marks read), every bad message shown on its field, messages' HTML shown as text, the
colleagues' directory with presence and the message button, one's own presence (do-not-disturb is the
line's), the menu's unread count; in German too."""

from __future__ import annotations

import re

from django_tenants.utils import tenant_context

from im import services
from im.models import Conversation, Message
from telephony.services import forwarding_of
from tests.pages import field_error, page_text, speak


def _unread_in_menu(response) -> int:
    return int(re.search(r'id="im-unread"[^>]*>(\d+)<', response.content.decode()).group(1))


def test_starting_a_conversation_and_replying_without_scripts(world, portal):
    alice, bob = portal(world.user_a1), portal(world.user_a1b)
    inbox = alice.get("/im/")
    assert inbox.status_code == 200 and "No conversations yet." in inbox.content.decode()
    started = alice.post("/im/", {"to": [world.user_a1b.pk, world.user_a1c.pk], "title": "Lunch",
                                    "body": "<script>alert(1)</script> at noon?"})  # fmt: skip
    assert started.status_code == 302
    with tenant_context(world.client_a1):
        conversation = Conversation.objects.get(title="Lunch")
    assert started["Location"] == f"/im/{conversation.pk}/"
    listed = bob.get("/im/")
    assert _unread_in_menu(listed) == 1
    assert re.search(rf'data-unread="{conversation.pk}">1<', listed.content.decode())
    page = bob.get(f"/im/{conversation.pk}/")
    html = page.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; at noon?" in html and "<script>alert(1)" not in html
    assert _unread_in_menu(page) == 0  # (reading the page read it)
    assert bob.post(f"/im/{conversation.pk}/", {"body": "yes"}).status_code == 302
    assert _unread_in_menu(alice.get("/im/")) == 1


def test_bad_messages_are_shown_on_their_field(world, portal):
    http = portal(world.user_a1)
    message = services.message_send(client=world.client_a1, sender=world.user_a1, to_users=[world.user_a1b],
                                    body="first")  # fmt: skip
    for body, why in (("bell\x07", "binary or control"), ("x" * 2001, "at most 2000"), ("  ", "Write a message.")):
        answer = http.post(f"/im/{message.conversation_id}/", {"body": body})
        assert answer.status_code == 200
        assert why in field_error(answer, "body"), body
    answer = http.post("/im/", {"to": [world.user_b1.pk], "body": "hi"})
    assert answer.status_code == 200 and field_error(answer, "to")
    with tenant_context(world.client_a1):
        assert Message.objects.count() == 1


def test_history_pages_backwards(world, portal, settings):
    settings.OCX_IM = {**settings.OCX_IM, "per_window": 100}
    for n in range(55):
        message = services.message_send(client=world.client_a1, sender=world.user_a1b, to_users=[world.user_a1],
                                        body=f"note {n:02d}")  # fmt: skip
    http = portal(world.user_a1)
    latest = http.get(f"/im/{message.conversation_id}/").content.decode()
    assert "note 54" in latest and "note 05" in latest and "note 04" not in latest
    older = re.search(r'href="\?before=(\d+)" id="im-older"', latest).group(1)
    page = http.get(f"/im/{message.conversation_id}/", {"before": older}).content.decode()
    assert "note 00" in page and "note 04" in page and "note 05" not in page and "im-older" not in page


def test_the_directory_its_message_button_and_own_presence(world, portal):
    http = portal(world.user_a1)
    page = http.get("/colleagues/")
    text = page.content.decode()
    assert "User a1b" in text and "User b1" not in text and f'data-presence="{world.user_a1b.pk}"' in text
    started = http.post("/im/start/", {"to": world.user_a1b.pk})
    assert started.status_code == 302 and started["Location"].startswith("/im/")
    assert http.post("/im/start/", {"to": world.user_b1.pk}).status_code == 404
    assert http.post("/im/start/", {"to": "x"}).status_code == 404
    assert http.post("/colleagues/", {"state": "dnd"}).status_code == 302
    assert forwarding_of(world.client_a1, world.extension_of(world.user_a1)).dnd is True
    assert http.post("/colleagues/", {"state": "on_call"}).status_code == 200
    assert portal(world.client_a1_op).post("/colleagues/", {"state": "dnd"}).status_code == 200  # (no line)
    assert "no line" in field_error(portal(world.client_a1_op).post("/colleagues/", {"state": "dnd"}), "state")


def test_other_portals_have_no_chat(world, portal):
    assert portal(world.brand_a_op).get("/im/").status_code == 404
    assert portal(world.brand_a_op).get("/colleagues/").status_code == 404


def test_the_chat_pages_speak_german(world, portal):
    speak(world.user_a1, "de")
    http = portal(world.user_a1)
    text = page_text(http.get("/im/"))
    for german in ("Neue Unterhaltung", "Noch keine Unterhaltungen.", "Kollegen", "Ungelesen"):
        assert german in text, german
    text = page_text(http.get("/colleagues/"))
    for german in ("Meine Anwesenheit", "Durchwahl", "Anwesenheit", "Offline"):
        assert german in text, german
