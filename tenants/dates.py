"""Reading the dates and times people type into filters, forms and commands."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime


def parse_moment(text: str) -> dt.datetime | None:
    """An aware datetime from an ISO date or date-time (a date is its midnight in UTC; a time without
    a zone is UTC), else None (also for well-formed but impossible ones, like 2026-02-30)."""
    text = (text or "").strip()
    try:
        moment = parse_datetime(text)
        day = parse_date(text) if moment is None else None
    except ValueError:
        return None
    if day is not None:
        moment = dt.datetime(day.year, day.month, day.day)
    if moment is not None and timezone.is_naive(moment):
        moment = timezone.make_aware(moment, dt.UTC)
    return moment
