"""Reads of the call records that several apps share: the finished calls of an actor's scope in a
period, as the call history (telephony's pages) and the CSV exports (exports) list them. Billing's
usage and the conference reports start from another scope (a user's usage counts the joins of the
rooms they moderate, a moderator sees their rooms' joins), so they keep their own (billing/usage.py,
conferencing/reports.py)."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from records.models import Cdr
from tenants.models import User


def records_finished(
    *, actor: User, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> QuerySet[Cdr]:
    """The calls that ended, in the actor's scope (Cdr.restrict), started at `since` or later and before
    `until` (an open end does not narrow)."""
    return Cdr.objects.restrict(actor).filter(ended_at__isnull=False).started_within(since, until)
