"""Reads on webhooks: what the engine keeps of a client's webhooks with its dial plan (which events
its endpoints want; its routing webhooks), so a call never costs a query to know them."""

from __future__ import annotations

from dataclasses import dataclass, field

from webhooks.models import Endpoint, RoutingWebhook


@dataclass(frozen=True)
class RoutingView:
    id: int
    name: str
    url: str
    secret: str
    timeout_ms: int
    fallback: tuple[str, str]  # (kind, target); ("", ""): the call is refused


@dataclass(frozen=True)
class WebhookPlan:
    events: frozenset[str] = frozenset()  # what at least one enabled endpoint wants
    routing: dict[int, RoutingView] = field(default_factory=dict)


def webhooks_for_plan(client) -> WebhookPlan:
    """Runs in the client's schema (a dial plan section)."""
    events = set()
    for wanted in Endpoint.objects.filter(enabled=True).values_list("events", flat=True):
        events.update(wanted or [])
    routing = {w.pk: RoutingView(w.pk, w.name, w.url, w.secret, w.timeout_ms, (w.fallback_kind, w.fallback_target))
               for w in RoutingWebhook.objects.all()}  # fmt: skip
    return WebhookPlan(frozenset(events), routing)
