"""Longest-prefix match at the call's time, billing increments and money (no database)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billing.pricing import DeckIndex, Tariff, billed_seconds, charge, normalise_number

JAN, NOV15 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 11, 15, tzinfo=dt.UTC)


def tariff(prefix, price="0.0100", fee="0", initial=60, increment=60, start=JAN, end=None, description=None):
    return Tariff(1, prefix, description or prefix, Decimal(price), Decimal(fee), initial, increment, start, end)


@pytest.fixture
def deck():
    return DeckIndex(
        1,
        "Test",
        [
            tariff("44", description="UK"),
            tariff("4420", description="London"),
            tariff("447", description="Mobile old", end=NOV15),
            tariff("447", description="Mobile new", start=NOV15),
            tariff("4479", description="Future", start=dt.datetime(2027, 1, 1, tzinfo=dt.UTC)),
        ],
    )


@pytest.mark.parametrize(
    ("number", "at", "expected"),
    [
        ("442071234567", JAN, "London"),  # 4420 beats 44
        ("441611234567", JAN, "UK"),
        ("447700900123", dt.datetime(2026, 11, 14, 23, 59, tzinfo=dt.UTC), "Mobile old"),
        ("447700900123", NOV15, "Mobile new"),  # effective_to is excluded, effective_from included
        ("447900900123", NOV15, "Mobile new"),  # 4479 is not in effect yet: the next longest prefix
        ("447900900123", dt.datetime(2027, 2, 1, tzinfo=dt.UTC), "Future"),
        ("44", JAN, "UK"),
        ("4", JAN, None),
        ("33123", JAN, None),
        ("442071234567", dt.datetime(2025, 12, 31, tzinfo=dt.UTC), None),  # before every row
    ],
)
def test_longest_prefix_in_effect_at_the_call_time(deck, number, at, expected):
    match = deck.match(number, at)
    assert (match.description if match else None) == expected


@pytest.mark.parametrize(
    ("seconds", "initial", "increment", "billed"),
    [
        (0, 60, 60, 0),
        (1, 60, 60, 60),
        (60, 60, 60, 60),
        (61, 60, 60, 120),
        (125, 60, 60, 180),
        (1, 30, 6, 30),
        (30, 30, 6, 30),
        (31, 30, 6, 36),
        (61, 30, 6, 66),
        (1, 1, 1, 1),
        (61, 1, 1, 61),
        (7, 0, 6, 12),  # no minimum: whole steps
    ],
)
def test_increments(seconds, initial, increment, billed):
    assert billed_seconds(seconds, initial, increment) == billed


def test_charge_is_the_connection_fee_plus_the_minutes_to_four_places():
    assert charge(tariff("1", price="0.0100"), 120) == Decimal("0.0200")
    assert charge(tariff("1", price="0.0100", fee="0.0500"), 120) == Decimal("0.0700")
    assert charge(tariff("1", price="0.0100", fee="0.0500"), 0) == Decimal("0.0500")
    # 66 s at 0.0123/min = 0.01353 -> 0.0135; 7 s at 0.0007/min = 0.0000816.. -> 0.0001 (half up)
    assert charge(tariff("1", price="0.0123"), 66) == Decimal("0.0135")
    assert charge(tariff("1", price="0.0007"), 7) == Decimal("0.0001")
    assert isinstance(charge(tariff("1"), 61), Decimal)


@pytest.mark.parametrize(
    ("dialled", "number"),
    [("+44 20 7123 4567", "442071234567"), ("0044207", "44207"), ("44-207", "44207"), ("abc", ""), ("1", "1")],
)
def test_numbers_are_normalised_to_digits(dialled, number):
    assert normalise_number(dialled) == number
