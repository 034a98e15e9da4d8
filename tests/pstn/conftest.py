"""Builders for the phone-network tests: each brand's carrier with a gateway, a number of each brand
assigned to one of its clients, an outbound route of each brand, and the platform's own carrier."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from billing.models import Carrier
from billing.services import carrier_create
from pstn.models import Gateway, Number, OutboundRoute
from pstn.services import gateway_create, number_create, outbound_policy_of, outbound_route_create
from tests.conftest import World


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
