"""Webhooks through the API and the portal (the client's operators): bad input is field errors, all at
once; loopback, private and plain-http URLs are refused unless the settings allow them; the secret is
the platform's and rotates; another client's rows answer 404 (tests/tenants' isolation matrices)."""

from __future__ import annotations

import pytest

from webhooks.models import Endpoint


def test_an_endpoint_is_created_with_a_platform_secret_changed_and_its_secret_rotated(world, api):
    operator = api(world.client_a1_op)
    made = operator.post("/api/v1/webhooks/", {"url": "http://127.0.0.1:9/in", "events": ["call.ended"],
                                               "description": "CRM"}, format="json")  # fmt: skip
    assert made.status_code == 201, made.json()
    body = made.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40 and body["enabled"] is True
    pk = body["id"]
    changed = operator.patch(f"/api/v1/webhooks/{pk}/", {"events": ["call.missed", "call.ringing"], "enabled": False},
                             format="json")  # fmt: skip
    assert changed.status_code == 200 and changed.json()["events"] == ["call.ringing", "call.missed"]
    refused = operator.patch(f"/api/v1/webhooks/{pk}/", {"secret": "mine"}, format="json")
    assert refused.status_code == 400 and "secret" in refused.json()["fields"]
    rotated = operator.post(f"/api/v1/webhooks/{pk}/rotate-secret/")
    assert rotated.status_code == 200 and rotated.json()["secret"] not in ("mine", body["secret"])
    assert operator.delete(f"/api/v1/webhooks/{pk}/").status_code == 204
    assert world.client_a1_op and api(world.user_a1).get(f"/api/v1/webhooks/{pk}/").status_code == 404


def test_bad_input_is_field_errors_all_at_once(world, api):
    operator = api(world.client_a1_op)
    answer = operator.post("/api/v1/webhooks/", {"url": "ftp://x/", "events": ["call.exploded"], "enabled": "maybe"},
                           format="json")  # fmt: skip
    assert answer.status_code == 400
    fields = answer.json()["fields"]
    assert "enabled" in fields  # the serializer's own type check first
    answer = operator.post("/api/v1/webhooks/", {"url": "ftp://x/", "events": ["call.exploded"]}, format="json")
    assert answer.status_code == 400
    fields = answer.json()["fields"]
    assert set(fields) == {"url", "events"} and "call.exploded" in fields["events"][0]
    for url in ("", "https://", "https://user:pw@example.com/", "https://exa mple.com/", "https://[::1/"):
        answer = operator.post("/api/v1/webhooks/", {"url": url, "events": ["call.ended"]}, format="json")
        assert answer.status_code == 400 and "url" in answer.json()["fields"], url
    answer = operator.post("/api/v1/webhooks/", {"url": "https://a.example.com/", "events": []}, format="json")
    assert answer.status_code == 400 and "events" in answer.json()["fields"]


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost:6379/",
        "https://10.1.2.3/",
        "https://192.168.0.10/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://0.0.0.0/",
        "https://224.0.0.1/",
    ],
)
def test_loopback_private_and_link_local_urls_are_refused_without_the_setting(world, api, settings, url):
    settings.OCX_WEBHOOK_ALLOW_PRIVATE = False
    answer = api(world.client_a1_op).post("/api/v1/webhooks/", {"url": url, "events": ["call.ended"]}, format="json")
    assert answer.status_code == 400, answer.content
    assert "public addresses" in answer.json()["fields"]["url"][0]


def test_plain_http_is_refused_without_the_setting(world, api, settings):
    settings.OCX_WEBHOOK_ALLOW_HTTP = False
    answer = api(world.client_a1_op).post("/api/v1/webhooks/", {"url": "http://127.0.0.1/", "events": ["call.ended"]},
                                          format="json")  # fmt: skip
    assert answer.status_code == 400 and "https://" in answer.json()["fields"]["url"][0]


def test_the_portal_saves_an_endpoint_shows_its_secret_and_says_what_is_wrong(world, portal, settings):
    from django_tenants.utils import tenant_context

    http = portal(world.client_a1_op)
    settings.OCX_WEBHOOK_ALLOW_PRIVATE = False
    page = http.post("/webhooks/new/", {"url": "https://127.0.0.1/x", "events": ["call.bogus"]})
    assert page.status_code == 200
    text = page.content.decode()
    assert "public addresses" in text and "call.bogus" in text  # (the form's choices refuse it first)
    settings.OCX_WEBHOOK_ALLOW_PRIVATE = True
    saved = http.post("/webhooks/new/", {"url": "http://127.0.0.1:9/x", "events": ["call.ended"], "enabled": "on"})
    assert saved.status_code == 302
    with tenant_context(world.client_a1):
        endpoint = Endpoint.objects.get(url="http://127.0.0.1:9/x")
    assert endpoint.events == ["call.ended"] and endpoint.enabled
    assert endpoint.secret in http.get(f"/webhooks/{endpoint.pk}/").content.decode()
    assert http.get(f"/webhooks/{endpoint.pk}/deliveries/").status_code == 200
    assert http.post(f"/webhooks/{endpoint.pk}/secret/").status_code == 302
    with tenant_context(world.client_a1):
        assert Endpoint.objects.get(pk=endpoint.pk).secret != endpoint.secret
    assert "http://127.0.0.1:9/x" in http.get("/webhooks/").content.decode()
    assert portal(world.user_a1).get("/webhooks/").status_code in (403, 404)


def test_a_routing_webhook_is_a_destination_with_its_fields_checked_all_at_once(world, api, portal, settings):
    from telephony.destinations import clean

    operator = api(world.client_a1_op)
    settings.OCX_WEBHOOK_ALLOW_PRIVATE = False
    bad = operator.post("/api/v1/webhooks/routing/", {"name": "", "url": "https://10.0.0.1/route", "timeout_ms": 50,
                                                      "fallback_kind": "user", "fallback_target": "999"},
                        format="json")  # fmt: skip
    assert bad.status_code == 400
    assert set(bad.json()["fields"]) == {"name", "url", "timeout_ms", "fallback_target"}  # every one at once
    settings.OCX_WEBHOOK_ALLOW_PRIVATE = True
    bad = operator.post("/api/v1/webhooks/routing/", {"name": "Router", "url": "http://127.0.0.1:9/route",
                                                      "fallback_kind": "user", "fallback_target": "999"},
                        format="json")  # fmt: skip
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"fallback_target"}
    made = operator.post("/api/v1/webhooks/routing/", {"name": "Router", "url": "http://127.0.0.1:9/route",
                                                       "fallback_kind": "user", "fallback_target": "102"},
                         format="json")  # fmt: skip
    assert made.status_code == 201, made.json()
    webhook = made.json()
    assert webhook["timeout_ms"] == 1500 and webhook["secret"].startswith("whsec_")
    url = f"/api/v1/webhooks/routing/{webhook['id']}/"
    loop = operator.patch(url, {"fallback_kind": "webhook", "fallback_target": str(webhook["id"])}, format="json")
    assert loop.status_code == 400 and "fallback_kind" in loop.json()["fields"]
    # The kind is one of the destinations (numbers, menus, forwarding point at it by id).
    assert clean(world.client_a1, "webhook", str(webhook["id"])) == ("webhook", str(webhook["id"]))
    with pytest.raises(Exception, match="No routing webhook"):
        clean(world.client_a1, "webhook", "424242")
    page = portal(world.client_a1_op).get(f"/webhooks/routing/{webhook['id']}/")
    assert page.status_code == 200 and webhook["secret"] in page.content.decode()
    # A menu key leads to it: not deleted, and the refusal says what points at it.
    key = {"key": "1", "destination_kind": "webhook", "destination_target": str(webhook["id"])}
    menu = operator.post("/api/v1/menus/", {"name": "Front", "greeting_prompt": "closed", "options": [key]},
                         format="json")  # fmt: skip
    assert menu.status_code == 201, menu.json()
    refused = operator.delete(f"/api/v1/webhooks/routing/{webhook['id']}/")
    assert refused.status_code == 400 and "menu Front" in refused.json()["fields"]["webhook"][0]
    assert operator.delete(f"/api/v1/menus/{menu.json()['id']}/").status_code == 204
    assert operator.delete(f"/api/v1/webhooks/routing/{webhook['id']}/").status_code == 204
