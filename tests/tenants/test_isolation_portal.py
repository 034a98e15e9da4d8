"""Isolation matrix through the portals: another scope's rows answer 404 and nothing changes.

Same cases as the API matrix (test_isolation_api.py): for every acting role below god, each object
type the portal shows, the list page, the detail page, every update and delete form.
"""

from __future__ import annotations

import pytest

from tests.tenants.test_isolation_api import CASES, _foreign

# Per object type: the list page, then every (method, URL) that reads or writes one row.
PAGES = {
    "brands": ("/brands/", [("get", "/brands/{pk}/"), ("post", "/brands/{pk}/"), ("post", "/brands/{pk}/delete/")]),
    "clients": (
        "/clients/",
        [
            ("get", "/clients/{pk}/"),
            ("post", "/clients/{pk}/"),
            ("post", "/clients/{pk}/suspend/"),
            ("post", "/clients/{pk}/activate/"),
            ("post", "/clients/{pk}/delete/"),
            ("post", "/clients/{pk}/hard-delete/"),
        ],
    ),
    "operators": (
        "/operators/",
        [
            ("get", "/operators/{pk}/"),
            ("post", "/operators/{pk}/"),
            ("post", "/operators/{pk}/delete/"),
        ],
    ),
    "users": (
        "/users/",
        [
            ("get", "/users/{pk}/"),
            ("get", "/users/{pk}/edit/"),
            ("post", "/users/{pk}/edit/"),
            ("post", "/users/{pk}/reset-secret/"),
            ("post", "/users/{pk}/delete/"),
            ("get", "/users/{pk}/forwarding/"),
            ("post", "/users/{pk}/forwarding/"),
            ("get", "/users/{pk}/recording/"),
            ("post", "/users/{pk}/recording/"),
        ],
    ),
    "tokens": ("/account/tokens/", [("post", "/account/tokens/{pk}/revoke/")]),
    "rooms": (
        "/conferences/",
        [
            ("get", "/conferences/{pk}/"),
            ("get", "/conferences/{pk}/edit/"),
            ("post", "/conferences/{pk}/edit/"),
            ("get", "/conferences/{pk}/live/"),
            ("post", "/conferences/{pk}/live/"),
            ("post", "/conferences/{pk}/delete/"),
        ],
    ),
    "messages": ("/messages/", [("get", "/messages/{pk}/delete/"), ("post", "/messages/{pk}/delete/")]),
    "campaigns": (
        "/notifications/",
        [
            ("get", "/notifications/{pk}/"),
            ("post", "/notifications/{pk}/start/"),
            ("get", "/notifications/{pk}/report.csv"),
        ],
    ),
    "recordings": ("/recordings/", [("get", "/recordings/{pk}/audio/")]),
    "voicemail/boxes": (
        "/voicemail/",
        [
            ("get", "/voicemail/{pk}/"),
            ("get", "/voicemail/{pk}/settings/"),
            ("post", "/voicemail/{pk}/settings/"),
            ("post", "/voicemail/{pk}/delete/"),
            ("get", "/voicemail/{pk}/greetings/unavailable.wav"),
            ("post", "/voicemail/{pk}/greetings/unavailable/"),
            ("post", "/voicemail/{pk}/greetings/unavailable/remove/"),
        ],
    ),
    "voicemail/messages": (
        "/voicemail/",
        [
            ("get", "/voicemail/messages/{pk}/"),
            ("post", "/voicemail/messages/{pk}/"),
            ("get", "/voicemail/messages/{pk}/audio.wav"),
        ],
    ),
    "menus": ("/menus/", [("get", "/menus/{pk}/"), ("post", "/menus/{pk}/"), ("post", "/menus/{pk}/delete/")]),
    "queues": (
        "/queues/",
        [
            ("get", "/queues/{pk}/"),
            ("post", "/queues/{pk}/"),
            ("post", "/queues/{pk}/delete/"),
            ("post", "/queues/{pk}/agents/"),
            ("get", "/queues/{pk}/wallboard/"),
            ("get", "/queues/{pk}/wallboard/snapshot/"),
            ("get", "/queues/{pk}/stats/"),
            ("get", "/queues/{pk}/stats.csv"),
        ],
    ),
    "queues/agents": ("/phone/queues/", []),  # (an agent's own page: a foreign line is never named in a URL)
    "chat/conversations": ("/chat/conversations/", [("get", "/chat/conversations/{pk}/")]),
    "chat/canned": (
        "/chat/canned/",
        [("get", "/chat/canned/{pk}/"), ("post", "/chat/canned/{pk}/"), ("post", "/chat/canned/{pk}/delete/")],
    ),
    "ring-groups": (
        "/ring-groups/",
        [("get", "/ring-groups/{pk}/"), ("post", "/ring-groups/{pk}/"), ("post", "/ring-groups/{pk}/delete/")],
    ),
    "routes": ("/routing/", [("get", "/routing/{pk}/"), ("post", "/routing/{pk}/"), ("post", "/routing/{pk}/delete/")]),
    "widgets": (
        "/widgets/",
        [("get", "/widgets/{pk}/"), ("post", "/widgets/{pk}/"), ("post", "/widgets/{pk}/delete/")],
    ),
    "chat/widgets": (
        "/chat/widgets/",
        [
            ("get", "/chat/widgets/{pk}/"),
            ("post", "/chat/widgets/{pk}/"),
            ("post", "/chat/widgets/{pk}/rotate/"),
            ("post", "/chat/widgets/{pk}/delete/"),
        ],
    ),
    "webhooks": (
        "/webhooks/",
        [
            ("get", "/webhooks/{pk}/"),
            ("post", "/webhooks/{pk}/"),
            ("post", "/webhooks/{pk}/delete/"),
            ("post", "/webhooks/{pk}/secret/"),
            ("get", "/webhooks/{pk}/deliveries/"),
        ],
    ),
    "webhooks/deliveries": ("/webhooks/", [("post", "/webhooks/deliveries/{pk}/replay/")]),
    "im/conversations": ("/chat/", [("get", "/chat/{pk}/"), ("post", "/chat/{pk}/")]),
    "webhooks/routing": (
        "/webhooks/",
        [
            ("get", "/webhooks/routing/{pk}/"),
            ("post", "/webhooks/routing/{pk}/"),
            ("post", "/webhooks/routing/{pk}/delete/"),
        ],
    ),
}

FORM = {
    "name": "hijacked",
    "email": "hijacked@example.com",
    "domain": "hijacked.localhost",
    "number": "999",
    "display_name": "hijacked",
    "confirm": "x",
    "max_calls": "1",
    "timezone": "UTC",
    "kind": "pbx",
    "action": "end",
    "dnd": "on",
    "body": "hijacked",
}


@pytest.mark.parametrize(("actor_name", "kind", "owner_name"), CASES)
def test_foreign_objects_answer_404_in_the_portal_and_stay_unchanged(world, portal, actor_name, kind, owner_name):
    http = portal(getattr(world, actor_name))
    pk, snapshot, secrets = _foreign(world, kind, owner_name)
    before = snapshot()
    list_url, row_urls = PAGES[kind]

    listing = http.get(list_url)
    assert listing.status_code in (200, 404)
    for text in secrets:
        assert text not in listing.content.decode()

    for method, url in row_urls:
        response = getattr(http, method)(url.format(pk=pk), FORM if method == "post" else None)
        assert response.status_code == 404, (method, url, response.status_code)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("actor_name", "foreign_owner"),
    [
        ("brand_a_op", "brand_b_op"),
        ("client_a1_op", "client_b1_op"),
        ("user_a1", "client_a2_op"),
        ("client_a1_op", "brand_a_op"),
        ("brand_a_op", "god"),
    ],
)
def test_a_session_does_not_carry_to_another_portal_host(world, portal, actor_name, foreign_owner):
    """Even a session cookie replayed on another portal's host is anonymous there."""
    own = portal(getattr(world, actor_name))
    assert own.get("/").status_code == 200
    foreign = portal(host=world.host_of(getattr(world, foreign_owner)))
    foreign.cookies = own.cookies
    response = foreign.get("/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]
