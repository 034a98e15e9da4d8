"""Office hours and holidays: when a client is open, in its own time zone.

A schedule's hours are lines a person writes and reads, one or more ranges after the days they
apply to:

    mon-fri 09:00-12:30, 13:30-17:00
    sat 10:00-14:00

(days: mon tue wed thu fri sat sun, a range like mon-fri, or several separated by commas before
the times; times 00:00-24:00, a range may not run past midnight). Days without a line are closed.
Holidays are dates, one a line (`2026-12-25`, optionally followed by a name), closed all day.
`parse_hours` and `parse_holidays` give field errors; `is_open` answers for a moment, with the
wall clock of the client's zone (summer time included).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = r"([01]\d|2[0-4]):([0-5]\d)"
_RANGE = re.compile(rf"^{_TIME}-{_TIME}$")


@dataclass(frozen=True)
class Hours:
    """Per weekday (0 = Monday), the open ranges in minutes since midnight, and the closed dates."""

    week: tuple[tuple[tuple[int, int], ...], ...]
    holidays: frozenset[dt.date]

    def is_open(self, now: dt.datetime, zone: dt.tzinfo) -> bool:
        wall = now.astimezone(zone)
        if wall.date() in self.holidays:
            return False
        minute = wall.hour * 60 + wall.minute
        return any(start <= minute < end for start, end in self.week[wall.weekday()])


def _days(text: str) -> list[int]:
    found = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(part.strip())
        a, b = DAYS.index(first), DAYS.index(last or first)
        found += list(range(a, b + 1)) if a <= b else [*range(a, 7), *range(0, b + 1)]
    return found


def parse_hours(text: str) -> tuple[tuple[tuple[int, int], ...], ...]:
    """The week's open ranges from the lines people write; ValidationError naming each bad line."""
    week: list[list[tuple[int, int]]] = [[] for _ in DAYS]
    errors = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip().lower()
        if not line:
            continue
        days_text, _, times_text = line.partition(" ")
        try:
            days = _days(days_text)
            ranges = []
            for part in times_text.split(","):
                match = _RANGE.match(part.strip())
                if match is None:
                    raise ValueError(part.strip())
                h1, m1, h2, m2 = (int(g) for g in match.groups())
                start, end = h1 * 60 + m1, h2 * 60 + m2
                if start >= end or end > 24 * 60:
                    raise ValueError(part.strip())
                ranges.append((start, end))
        except ValueError:
            errors.append(
                gettext("Line %(number)s (%(line)s): write days then times, such as mon-fri 09:00-17:00.")
                % {"number": number, "line": line[:40]}
            )
            continue
        for day in days:
            week[day] += ranges
    if errors:
        raise ValidationError({"hours": errors[:20]})
    return tuple(tuple(sorted(day)) for day in week)


def parse_holidays(text: str) -> frozenset[dt.date]:
    dates, errors = set(), []
    for number, line in enumerate((text or "").splitlines(), start=1):
        word = line.strip().split(" ", 1)[0]
        if not word:
            continue
        try:
            dates.add(dt.date.fromisoformat(word))
        except ValueError:
            errors.append(
                gettext("Line %(number)s (%(word)s): write a date such as 2026-12-25.")
                % {"number": number, "word": word[:20]}
            )
    if errors:
        raise ValidationError({"holidays": errors[:20]})
    return frozenset(dates)


def hours_of(hours_text: str, holidays_text: str) -> Hours:
    return Hours(parse_hours(hours_text), parse_holidays(holidays_text))
