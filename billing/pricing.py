"""Pricing arithmetic, free of the database: the longest-prefix match at a moment, billing increments
and money. The rater (billing/rating.py) loads each deck once into a `DeckIndex` and prices calls in
memory, so a call costs a few dictionary look-ups and not a query.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENTS = Decimal("0.0001")  # money is kept to 4 places
SIXTY = Decimal(60)
NOT_DIGITS = re.compile(r"[^0-9]")


def money(value: Decimal) -> Decimal:
    return value.quantize(CENTS, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Tariff:
    """One rate row as the rater holds it."""

    deck_id: int
    prefix: str
    description: str
    price_per_minute: Decimal
    connection_fee: Decimal
    initial_seconds: int
    increment_seconds: int
    effective_from: dt.datetime
    effective_to: dt.datetime | None

    def in_effect(self, at: dt.datetime) -> bool:
        return self.effective_from <= at and (self.effective_to is None or at < self.effective_to)


class DeckIndex:
    """A deck's rows by prefix: `match()` tries the number's longest prefix first, at most as many
    look-ups as the deck's longest prefix has digits."""

    def __init__(self, deck_id: int, name: str, tariffs: Iterable[Tariff]):
        self.deck_id, self.name = deck_id, name
        self.by_prefix: dict[str, list[Tariff]] = {}
        for tariff in tariffs:
            self.by_prefix.setdefault(tariff.prefix, []).append(tariff)
        for rows in self.by_prefix.values():
            rows.sort(key=lambda t: t.effective_from, reverse=True)  # the newest row in effect wins
        self.longest = max(map(len, self.by_prefix), default=0)

    def match(self, number: str, at: dt.datetime) -> Tariff | None:
        """The row of the longest prefix of `number` among the rows in effect at `at`."""
        by_prefix = self.by_prefix
        for length in range(min(len(number), self.longest), 0, -1):
            rows = by_prefix.get(number[:length])
            if rows:
                for tariff in rows:
                    if tariff.in_effect(at):
                        return tariff
        return None


def billed_seconds(seconds: int, initial: int, increment: int) -> int:
    """Seconds charged for a call of `seconds`: at least `initial`, then whole `increment` steps
    (60/60: per started minute; 30/6: 30 s first, then 6 s steps; 1/1: per second)."""
    if seconds <= 0:
        return 0
    if seconds <= initial:
        return initial
    steps = -(-(seconds - initial) // increment)  # ceiling division
    return initial + steps * increment


def charge(tariff: Tariff, charged_seconds: int) -> Decimal:
    """The connection fee plus the per-minute price of the seconds charged, to 4 places."""
    return money(tariff.connection_fee + tariff.price_per_minute * charged_seconds / SIXTY)


def normalise_number(number: str) -> str:
    """The dialled number as decks name destinations: digits only, international prefix `00` or `+`
    dropped (E.164 without the plus)."""
    digits = NOT_DIGITS.sub("", number)
    if digits.startswith("00"):
        digits = digits[2:]
    return digits


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The calendar month (UTC) of `month`'s year and month: its first moment and the next month's.
    Included minutes and statements count in these months."""
    start = dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC)
    return start, dt.datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=dt.UTC)
