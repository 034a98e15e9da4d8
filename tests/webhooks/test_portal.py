"""The webhook pages of the client portal: several bad fields show each error in one submission."""

from __future__ import annotations

from django_tenants.utils import tenant_context

from tests.pages import field_error
from webhooks.models import Endpoint, RoutingWebhook


def test_an_endpoint_with_several_bad_fields_shows_each_error_in_one_submission(world, portal, settings):
    settings.OCX_WEBHOOK_ALLOW_PRIVATE = False
    http = portal(world.client_a1_op)
    bad = {"url": "https://127.0.0.1/x", "description": "d" * 101, "events": ["call.bogus"]}
    answer = http.post("/webhooks/new/", bad)
    assert answer.status_code == 200
    assert "100 characters" in field_error(answer, "description")
    assert "public addresses" in field_error(answer, "url")
    assert "call.bogus" in field_error(answer, "events")
    with tenant_context(world.client_a1):
        assert not Endpoint.objects.exists()


def test_a_routing_webhook_with_several_bad_fields_shows_each_error_in_one_submission(world, portal, settings):
    settings.OCX_WEBHOOK_ALLOW_PRIVATE = False
    http = portal(world.client_a1_op)
    bad = {"name": "", "url": "https://127.0.0.1/x", "timeout_ms": "x", "fallback_kind": "user",
           "fallback_target": "999"}  # fmt: skip
    answer = http.post("/webhooks/routing/new/", bad)
    assert answer.status_code == 200
    for field, text in [("name", "Enter a name"), ("url", "public addresses"), ("timeout_ms", "whole number"),
                        ("fallback_target", "No user has extension 999")]:  # fmt: skip
        assert text in field_error(answer, field), (field, field_error(answer, field))
    answer = http.post("/webhooks/routing/new/", {**bad, "name": "n" * 61, "timeout_ms": "1"})
    for field, text in [("name", "60 characters"), ("url", "public addresses"), ("timeout_ms", "from"),
                        ("fallback_target", "No user has extension 999")]:  # fmt: skip
        assert text in field_error(answer, field), (field, field_error(answer, field))
    with tenant_context(world.client_a1):
        assert not RoutingWebhook.objects.exists()
