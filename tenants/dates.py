"""Reading the dates and times people type into filters, forms and commands.

A date or a time without a zone is read in the current time zone: a client portal's pages run in
their client's (tenants.routing.PortalMiddleware), everything else (the API, the provider portals,
commands, tasks) in UTC.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime


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


def parse_moment(text: str) -> dt.datetime | None:
    """An aware datetime from an ISO date or date-time (a date is its midnight, a time without a
    zone is in the current time zone), else None (also for well-formed but impossible ones, like
    2026-02-30)."""
    text = (text or "").strip()
    try:
        moment = parse_datetime(text)
        day = parse_date(text) if moment is None else None
    except ValueError:
        return None
    if day is not None:
        return day_start(day)
    if moment is not None and timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    return moment
