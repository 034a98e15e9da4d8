"""`manage.py rate_calls --month 2026-11` (or --since/--until): rate every billable call of a period
that has no rating yet; `--again` first rates the period's unrated calls again (after a missing plan
or rate was added). Without a period: what is new since the last run, as the Celery task does."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from billing.models import Rating
from billing.pricing import month_bounds
from billing.rating import rate_again, rate_new, rate_period
from billing.statements import parse_month
from tenants.dates import parse_moment


def _moment(text: str) -> dt.datetime:
    moment = parse_moment(text)
    if moment is None:
        raise CommandError(f"{text!r} is not a date or time (2026-11-01, 2026-11-01T08:00:00+00:00).")
    return moment


class Command(BaseCommand):
    help = "Rate the billable calls of a period (a month, or since/until), or what is new."

    def add_arguments(self, parser):
        parser.add_argument("--month", help="A calendar month in UTC, such as 2026-11.")
        parser.add_argument("--since", help="Start (included), a date or an ISO time; UTC when no zone.")
        parser.add_argument("--until", help="End (excluded).")
        parser.add_argument("--again", action="store_true", help="Rate the period's unrated calls again first.")

    def handle(self, *args, month=None, since=None, until=None, again=False, **options):
        if month and (since or until):
            raise CommandError("Give --month or --since/--until, not both.")
        if month:
            try:
                start, end = month_bounds(parse_month(month))
            except ValidationError as exc:
                raise CommandError(exc.message_dict["month"][0]) from None
        elif since or until:
            start = _moment(since) if since else dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
            end = _moment(until) if until else dt.datetime.now(dt.UTC)
        else:
            run = rate_new(wait=True)
            self.stdout.write(f"Rated {run.rated} new calls, {run.unrated} unrated, in {run.seconds:.2f} s.")
            return
        if again:
            retried = rate_again(Rating.objects.filter(started_at__gte=start, started_at__lt=end))
            self.stdout.write(f"Rated again: {retried.rated} now rated, {retried.unrated} still unrated.")
        run = rate_period(since=start, until=end)
        self.stdout.write(
            f"Rated {run.rated} calls, {run.unrated} unrated, from {start:%Y-%m-%d %H:%M} to "
            f"{end:%Y-%m-%d %H:%M} UTC in {run.seconds:.2f} s."
        )
