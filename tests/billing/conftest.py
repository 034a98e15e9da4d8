"""Builders for the rating tests: decks from CSV, carriers, plans and call records."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billing.models import PricingPlan, RateDeck
from billing.services import carrier_create, deck_create, deck_import, plan_set
from tenants.models import Client

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)

HEADER = (
    "prefix,description,price_per_minute,connection_fee,initial_seconds,increment_seconds,effective_from,effective_to\n"
)
SELL = (
    HEADER
    + """33,France,0.0300,0.0000,60,60,2026-01-01T00:00:00+00:00,
44,United Kingdom,0.0200,0.0000,60,60,2026-01-01T00:00:00+00:00,
4420,United Kingdom London,0.0100,0.0000,30,6,2026-01-01T00:00:00+00:00,
447,United Kingdom Mobile,0.1000,0.0500,1,1,2026-01-01T00:00:00+00:00,2026-11-15T00:00:00+00:00
447,United Kingdom Mobile,0.0800,0.0500,1,1,2026-11-15T00:00:00+00:00,
49,Germany,0.0400,0.0000,60,60,2026-01-01T00:00:00+00:00,
"""
)
COST = """prefix,description,price_per_minute
33,France,0.0100
44,United Kingdom,0.0050
447,United Kingdom Mobile,0.0300
"""


@pytest.fixture
def deck_factory(world):
    def make(*, brand=None, name: str = "Standard", csv: str = SELL) -> RateDeck:
        deck = deck_create(actor=world.god, brand=brand or world.brand_a, name=name)
        deck_import(actor=world.god, deck=deck, data=csv.encode())
        return deck

    return make


@pytest.fixture
def carrier_factory(world):
    def make(*, name: str = "Carrier One", priority: int = 10, csv: str = COST):
        carrier = carrier_create(actor=world.god, name=name, priority=priority)
        deck_import(actor=world.god, deck=carrier.decks.get(), data=csv.encode())
        return carrier

    return make


@pytest.fixture
def priced(world, deck_factory, carrier_factory):
    """Brand A's deck prices client a1 per call and a2 with a flat fee (10 minutes included);
    brand B's deck prices b1; one carrier gives the costs."""
    carrier = carrier_factory()
    deck_a = deck_factory()
    deck_b = deck_factory(brand=world.brand_b, name="B standard")
    plan_set(actor=world.god, client=world.client_a1, deck=deck_a, conference_rate=Decimal("0.0150"))
    plan_set(
        actor=world.god,
        client=world.client_a2,
        deck=deck_a,
        kind=PricingPlan.Kind.FLAT,
        monthly_fee=Decimal("25.0000"),
        included_minutes=10,
    )
    plan_set(actor=world.god, client=world.client_b1, deck=deck_b)
    # The clients existed before the months these tests bill (statements start with the client).
    Client.objects.filter(pk__in=[world.client_a1.pk, world.client_a2.pk, world.client_b1.pk]).update(
        created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    )
    return {"carrier": carrier, "deck_a": deck_a, "deck_b": deck_b}
