"""Reading the dates and times people type into filters, forms and commands.

A date or a time without a zone is read in the current time zone: a client portal's pages run in
their client's (tenants.routing.PortalMiddleware), everything else (the API, the provider portals,
commands, tasks) in UTC.

A moment must also be one that every part of the platform can hold: PostgreSQL takes UTC offsets up to
15:59 only, and Python's datetimes end with the year 9999 in every zone they are shown in. So a
moment is refused unless its offset is within 15:59 and it falls between EARLIEST and LATEST, a day
inside those limits at each end (any zone shows it, and a period may end a moment later).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

EARLIEST = dt.datetime(1, 1, 2, tzinfo=dt.UTC)
LATEST = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
MAX_OFFSET = dt.timedelta(hours=15, minutes=59)
# The days a portal filter may name: their midnights stay within EARLIEST and LATEST in any zone,
# and so does the midnight after the last one, where a period of days ends.
FIRST_DAY = dt.date(1, 1, 3)
LAST_DAY = dt.date(9999, 12, 29)
OUT_OF_RANGE = (
    f"Use a moment between {EARLIEST.date().isoformat()} and {LATEST.date().isoformat()} (UTC) "
    "with a UTC offset of at most 15:59."
)
DAY_OUT_OF_RANGE = format_lazy(
    gettext_lazy("Choose a day between {first} and {last}."), first=FIRST_DAY.isoformat(), last=LAST_DAY.isoformat()
)


class BadMoment(ValueError):
    """A date or time that cannot be read, or not held (read_moment); `message` says which."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class MomentOutOfRange(BadMoment):
    """A well-formed moment that the platform cannot hold (moment_problem)."""


def zone_named(name: str | None) -> dt.tzinfo:
    """The time zone of that name (a client's `timezone`); UTC for none or one this system no longer
    knows."""
    try:
        return zoneinfo.ZoneInfo(name) if name else dt.UTC
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def day_start(day: dt.date) -> dt.datetime:
    """The midnight that begins `day` in the current time zone."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=timezone.get_current_timezone())


def moment_problem(moment: dt.datetime) -> str | None:
    """Why the platform cannot hold this aware moment (OUT_OF_RANGE), or None when it can."""
    offset = moment.utcoffset()
    try:
        if offset is None or abs(offset) > MAX_OFFSET or not EARLIEST <= moment <= LATEST:
            return OUT_OF_RANGE
    except OverflowError:  # the comparison converts it to UTC, past the year 9999 or before 1
        return OUT_OF_RANGE
    return None


def read_moment(text: str) -> dt.datetime:
    """An aware datetime from an ISO date or date-time (a date is its midnight, a time without a
    zone is in the current time zone); BadMoment when it is not one (also for well-formed but
    impossible ones, like 2026-02-30) or one the platform cannot hold (moment_problem)."""
    text = (text or "").strip()
    try:
        moment = parse_datetime(text)
        day = parse_date(text) if moment is None else None
        if day is not None:
            moment = day_start(day)
        elif moment is not None and timezone.is_naive(moment):
            moment = timezone.make_aware(moment, timezone.get_current_timezone())
    except (ValueError, OverflowError):
        moment = None
    if moment is None:
        raise BadMoment("Use an ISO date or date-time, e.g. 2026-11-30 or 2026-11-30T08:00:00Z.")
    problem = moment_problem(moment)
    if problem:
        raise MomentOutOfRange(problem)
    return moment


def parse_moment(text: str) -> dt.datetime | None:
    """read_moment, or None for what it refuses."""
    try:
        return read_moment(text)
    except BadMoment:
        return None
