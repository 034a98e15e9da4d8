"""Builders for the phone-network tests: carriers with gateways and decks, routes, numbers, a Redis
prefix of their own (every key removed afterwards) and an asyncio Redis client; and `pstn`, the
management tests' world: each brand's carrier with a gateway, a number of each brand assigned to one
of its clients, an outbound route of each brand, and the platform's own carrier."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest
import redis.asyncio as aioredis
from django.conf import settings

from billing.models import Carrier, Rate, RateDeck
from billing.services import carrier_create
from pstn.models import Gateway, Number, OutboundRoute, RouteCarrier
from pstn.services import gateway_create, number_create, outbound_policy_of, outbound_route_create
from tests.conftest import World

ALWAYS = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def prefix():
    """A Redis key prefix of the test's own; its keys are deleted afterwards."""
    name = f"ocx-test-pstn-{uuid.uuid4().hex[:8]}"
    yield name

    async def clean():
        redis = aioredis.Redis.from_url(settings.REDIS_URL)
        try:
            async for key in redis.scan_iter(match=f"{name}:*"):
                await redis.delete(key)
        finally:
            await redis.aclose()

    asyncio.run(clean())


def run(coroutine_function):
    """Run `coroutine_function(redis)` with a fresh asyncio Redis client (closed afterwards)."""

    async def main():
        redis = aioredis.Redis.from_url(settings.REDIS_URL)
        try:
            return await coroutine_function(redis)
        finally:
            await redis.aclose()

    return asyncio.run(main())


@pytest.fixture
def pstn_carrier(world):
    """pstn_carrier(name, brand=None, rates={prefix: price}, gateways=1, **fields) -> Carrier."""

    def make(name: str, *, brand=None, rates: dict | None = None, gateways: int = 1, **fields) -> Carrier:
        carrier = Carrier.objects.create(name=name, brand=brand, **fields)
        deck = RateDeck.objects.create(carrier=carrier, name=name)
        Rate.objects.bulk_create(
            Rate(deck=deck, prefix=p, description=p, price_per_minute=Decimal(str(price)), effective_from=ALWAYS)
            for p, price in (rates or {}).items()
        )
        for index in range(gateways):
            Gateway.objects.create(carrier=carrier, name=f"gw{index}", host=f"192.0.2.{index + 1}", port=5060,
                                   username="trunk", password="secret")  # fmt: skip
        return carrier

    return make


@pytest.fixture
def route_factory(world):
    """route_factory(carriers=[(carrier, priority, weight)...], pattern="", mode="priority", ...)."""

    def make(carriers, *, brand=None, name: str = "Everything", pattern: str = "", kind: str = "prefix",
             mode: str = "priority", position: int = 10, enabled: bool = True) -> OutboundRoute:  # fmt: skip
        fields = {"pattern": pattern, "pattern_kind": kind, "mode": mode, "position": position, "enabled": enabled}
        route = OutboundRoute.objects.create(brand=brand or world.brand_a, name=name, **fields)
        for item in carriers:
            carrier, priority, weight = (*item, 1, 1)[:3] if isinstance(item, tuple) else (item, 1, 1)
            RouteCarrier.objects.create(route=route, carrier=carrier, priority=priority, weight=weight)
        return route

    return make


@pytest.fixture
def number_factory(world, pstn_carrier):
    def make(e164: str, *, client=None, brand=None) -> Number:
        carrier = Carrier.objects.filter(name="DID carrier").first() or pstn_carrier("DID carrier")
        client = client or world.client_a1
        return Number.objects.create(brand=brand or client.brand, e164=e164, carrier=carrier, client=client)

    return make


@dataclass
class Pstn:
    platform: Carrier
    carrier_a: Carrier
    carrier_b: Carrier
    gateway_a: Gateway
    gateway_b: Gateway
    number_a1: Number  # brand A's, assigned to client a1
    number_a2: Number  # brand A's, assigned to client a2
    number_b1: Number  # brand B's, assigned to client b1
    route_a: OutboundRoute
    route_b: OutboundRoute


@pytest.fixture
def pstn(world: World) -> Pstn:
    platform = carrier_create(actor=world.god, name="Platform Trunk", country="DE")
    carrier_a = carrier_create(actor=world.brand_a_op, name="A Trunk", country="GB")
    carrier_b = carrier_create(actor=world.brand_b_op, name="B Trunk")
    gateway_a = gateway_create(actor=world.brand_a_op, carrier=carrier_a, name="a-gw", host="192.0.2.10",
                               username="a", password="a-secret", inbound_networks="192.0.2.0/24")  # fmt: skip
    gateway_b = gateway_create(actor=world.brand_b_op, carrier=carrier_b, name="b-gw", host="sip.b.example",
                               username="b", password="b-secret")  # fmt: skip
    number_a1 = number_create(actor=world.brand_a_op, brand=world.brand_a, e164="+442079460001", carrier=carrier_a,
                              client=world.client_a1)  # fmt: skip
    number_a2 = number_create(actor=world.brand_a_op, brand=world.brand_a, e164="+442079460002", carrier=platform,
                              client=world.client_a2)  # fmt: skip
    number_b1 = number_create(actor=world.brand_b_op, brand=world.brand_b, e164="+12125550100", carrier=carrier_b,
                              client=world.client_b1)  # fmt: skip
    members = [{"carrier": carrier_a}, {"carrier": platform, "priority": 2}]
    route_a = outbound_route_create(actor=world.brand_a_op, brand=world.brand_a, name="UK", pattern="44",
                                    carriers=members)  # fmt: skip
    route_b = outbound_route_create(actor=world.brand_b_op, brand=world.brand_b, name="US", pattern="1",
                                    carriers=[{"carrier": carrier_b}])  # fmt: skip
    for client in (world.client_a1, world.client_a2, world.client_b1):
        outbound_policy_of(client)
    return Pstn(platform, carrier_a, carrier_b, gateway_a, gateway_b, number_a1, number_a2, number_b1, route_a, route_b)
