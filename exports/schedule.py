"""When a push destination runs next: every N minutes (on the clock: every 15 runs at :00, :15, ...),
hourly (at :00) or daily at HH:MM in the client's time zone (a brand's destinations: UTC); after a
failure, sooner, with a doubling backoff."""

from __future__ import annotations

import datetime as dt

from django.conf import settings

from exports.models import PushDestination
from tenants.dates import zone_named


def _zone(destination: PushDestination) -> dt.tzinfo:
    return dt.UTC if destination.client_id is None else zone_named(destination.client.timezone)


def next_run_after(destination: PushDestination, moment: dt.datetime) -> dt.datetime:
    """The first scheduled moment strictly after `moment`."""
    if destination.schedule == PushDestination.Schedule.DAILY:
        zone = _zone(destination)
        at = destination.daily_at or dt.time(0, 0)
        local = moment.astimezone(zone)
        candidate = dt.datetime.combine(local.date(), at, tzinfo=zone)
        if candidate <= local:
            candidate = dt.datetime.combine(local.date() + dt.timedelta(days=1), at, tzinfo=zone)
        return candidate.astimezone(dt.UTC)
    minutes = 60 if destination.schedule == PushDestination.Schedule.HOURLY else max(1, destination.every_minutes)
    midnight = moment.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = (moment - midnight) // dt.timedelta(minutes=minutes) + 1
    return midnight + elapsed * dt.timedelta(minutes=minutes)


def retry_after(failures: int, moment: dt.datetime) -> dt.datetime:
    """The next try after the n-th failure in a row: base, 2 x base, 4 x base ... at most the maximum."""
    base, most = settings.OCX_EXPORTS["push_retry_base"], settings.OCX_EXPORTS["push_retry_max"]
    return moment + dt.timedelta(seconds=min(most, base * 2 ** max(0, failures - 1)))
