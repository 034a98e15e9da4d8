"""Rating the call records: every finished billable call gets exactly one `Rating` row, with its
price (the client's plan) and its cost (the carrier the call took when the record names one, else
the platform's carriers by priority), or, when it cannot be priced, the
status "unrated" and the reason, so that it is listed and never silently free.

What is billable (decided here, documented in README.md):

- calls and notification calls to a number outside the platform (direction outbound, nobody's
  extension answered): the plan's deck prices the callee number, the first carrier (by priority)
  whose deck has a rate for it gives the cost; a call with no price or no cost is unrated;
- conference joins, dial-in and dial-out: each join per started minute at the plan's conference
  rate (on-net: cost 0); a plan without a conference rate leaves them unrated;
- internal calls (extension to extension) and inbound calls are not billed and get no row.

Only answered calls with billable seconds count. A call whose parties changed (its segments: a
transfer, park, retrieve) is billed for the seconds the rated number was in it, not after it left.
The rater reads the records in windows of ids
(the primary key), prices them in memory (billing/pricing.py) and writes each window with COPY in
one transaction; a PostgreSQL advisory lock lets one rater run at a time, and the `Rating` primary
key (the record's id) makes a second rating of a call impossible, so rerunning never double-rates.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from billing.models import PricingPlan, Rate, RateDeck, Rating, RatingCursor
from billing.pricing import DeckIndex, Tariff, billed_seconds, charge, money, month_bounds, normalise_number
from records.models import Cdr

BATCH = 5000  # records per window
SETTLE = dt.timedelta(minutes=2)  # longer than any transaction of the CDR writer stays open
LOCK_KEY = 0x6F63785261746531  # "ocxRate1": one rater at a time, platform-wide
CURSOR = "calls"
CONFERENCE_INCREMENTS = (60, 60)  # conference joins: per started minute
ZERO = Decimal("0.0000")

CDR, RATING = Cdr._meta.db_table, Rating._meta.db_table
# A finished billable record (see above), and one with no rating yet.
FINISHED_BILLABLE = """c.ended_at IS NOT NULL AND c.disposition = 'answered' AND c.billsec > 0
    AND (c.service = 'conference' OR (c.direction = 'outbound' AND c.callee_account_id IS NULL))"""
BILLABLE = f"{FINISHED_BILLABLE} AND NOT EXISTS (SELECT 1 FROM {RATING} r WHERE r.cdr_id = c.id)"  # noqa: S608
# The Rating row as COPY writes it: what the record says, then the outcome, then when.
HEAD = ("cdr_id", "brand_id", "client_id", "started_at", "service", "seconds", "status")
OUTCOME = ("reason", "number", "billed_seconds", "included_seconds", "price", "cost", "deck_id", "prefix",
           "description", "carrier_id", "carrier_deck_id", "carrier_prefix")  # fmt: skip
UNSET = {"reason": "", "number": "", "billed_seconds": 0, "included_seconds": 0, "prefix": "", "description": "",
         "carrier_prefix": ""}  # fmt: skip
COLUMNS = [*HEAD, *OUTCOME, "rated_at"]
STATUS = HEAD.index("status")
COPY = f"COPY {RATING} ({', '.join(COLUMNS)}) FROM STDIN"


@dataclass
class RatingRun:
    """What one run did."""

    rated: int = 0
    unrated: int = 0
    busy: bool = False  # another rater held the lock; nothing was done
    seconds: float = 0.0

    @property
    def calls(self) -> int:
        return self.rated + self.unrated


@dataclass(frozen=True, slots=True)
class Terms:
    """A client's plan as the rater needs it."""

    deck_id: int
    included_seconds: int  # per month; 0 for a per-call plan
    conference_rate: Decimal | None


class Rater:
    """Prices call records in memory: plans, decks and carriers are loaded once per run."""

    def __init__(self):
        self.now = timezone.now()
        self.plans = {
            p.client_id: Terms(
                p.deck_id, p.included_minutes * 60 if p.kind == PricingPlan.Kind.FLAT else 0, p.conference_rate
            )
            for p in PricingPlan.objects.all()
        }
        self.decks: dict[int, DeckIndex] = {}
        self.carriers = [
            (deck.carrier_id, deck.carrier.brand_id, self.deck(deck.pk))
            for deck in RateDeck.objects.filter(carrier__isnull=False)
            .select_related("carrier")
            .order_by("carrier__priority", "carrier__name")
        ]
        self.used: dict[tuple[int, int, int], int] = {}  # (client, year, month) -> included seconds used

    def deck(self, deck_id: int) -> DeckIndex:
        index = self.decks.get(deck_id)
        if index is None:
            deck = RateDeck.objects.get(pk=deck_id)
            rows = Rate.objects.filter(deck_id=deck_id).values_list(
                "prefix",
                "description",
                "price_per_minute",
                "connection_fee",
                "initial_seconds",
                "increment_seconds",
                "effective_from",
                "effective_to",
            )
            index = self.decks[deck_id] = DeckIndex(deck_id, deck.name, (Tariff(deck_id, *row) for row in rows))
        return index

    def _included_used(self, key: tuple[int, int, int]) -> int:
        if key not in self.used:
            client_id, year, month = key
            start, end = month_bounds(dt.date(year, month, 1))
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT coalesce(sum(included_seconds), 0) FROM {RATING} "  # noqa: S608
                    "WHERE client_id = %s AND started_at >= %s AND started_at < %s",
                    [client_id, start, end],
                )
                self.used[key] = cursor.fetchone()[0]
        return self.used[key]

    def rate(self, cdr_id, brand_id, client_id, service, callee, started_at, billsec, carrier=None) -> tuple:
        """One record's Rating row, as a tuple in COLUMNS order."""
        rated = (cdr_id, brand_id, client_id, started_at, service, billsec, Rating.Status.RATED)
        unrated = (*rated[:-1], Rating.Status.UNRATED)
        plan = self.plans.get(client_id)
        if plan is None:
            return self._row(unrated, reason="The client has no pricing plan.")
        if service == Cdr.Service.CONFERENCE:
            if plan.conference_rate is None:
                return self._row(unrated, reason="The pricing plan has no conference rate.")
            billed = billed_seconds(billsec, *CONFERENCE_INCREMENTS)
            price = money(plan.conference_rate * billed / 60)
            return self._row(rated, billed_seconds=billed, price=price, cost=ZERO, description="Conference")
        number = normalise_number(callee)
        if not number:
            return self._row(unrated, reason="The call has no number to rate.")
        deck = self.deck(plan.deck_id)
        tariff = deck.match(number, started_at)
        if tariff is None:
            return self._row(unrated, reason=f"No rate for {number} in the deck {deck.name}.", number=number)
        carrier_id, cost_tariff = self._cost_tariff(number, started_at, brand_id, carrier)
        if cost_tariff is None:
            reason = f"No carrier has a rate for {number}." if carrier is None else \
                f"The carrier the call took ({carrier}) has no rate for {number}."  # fmt: skip
            return self._row(unrated, reason=reason, number=number)
        billed = billed_seconds(billsec, tariff.initial_seconds, tariff.increment_seconds)
        included = 0
        if plan.included_seconds:
            utc = started_at.astimezone(dt.UTC)
            key = (client_id, utc.year, utc.month)
            used = self._included_used(key)
            included = min(billed, max(0, plan.included_seconds - used))
            self.used[key] = used + included
        cost_seconds = billed_seconds(billsec, cost_tariff.initial_seconds, cost_tariff.increment_seconds)
        return self._row(rated, number=number, billed_seconds=billed, included_seconds=included,
                         price=charge(tariff, billed - included), cost=charge(cost_tariff, cost_seconds),
                         deck_id=deck.deck_id, prefix=tariff.prefix, description=tariff.description,
                         carrier_id=carrier_id, carrier_deck_id=cost_tariff.deck_id,
                         carrier_prefix=cost_tariff.prefix)  # fmt: skip

    def _cost_tariff(self, number: str, at: dt.datetime, brand_id: int,
                     carrier: int | None = None) -> tuple[int | None, Tariff | None]:  # fmt: skip
        """The call's cost row: from the decks of the carrier the call took when the record names one,
        else from the first carrier, by priority, with a rate for the number: (carrier id, its row).
        Only the platform's carriers and the call's brand's own: another brand's never carries it."""
        for carrier_id, carrier_brand_id, deck in self.carriers:
            if carrier_brand_id not in (None, brand_id) or (carrier is not None and carrier_id != carrier):
                continue
            tariff = deck.match(number, at)
            if tariff is not None:
                return carrier_id, tariff
        return carrier, None

    def _row(self, head: tuple, **outcome) -> tuple:
        return (*head, *[outcome.get(name, UNSET.get(name)) for name in OUTCOME], self.now)

    def rate_rows(self, records: list[tuple], run: RatingRun) -> None:
        """Price the records and write their rows in one transaction (COPY)."""
        if not records:
            return
        rows = [self.rate(*record) for record in records]
        with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(COPY) as copy:
            for row in rows:
                copy.write_row(row)
        unrated = sum(1 for row in rows if row[STATUS] == Rating.Status.UNRATED)
        run.rated += len(rows) - unrated
        run.unrated += unrated


@contextmanager
def rater_lock(*, wait: bool) -> Iterator[bool]:
    """The platform-wide rater lock (a session advisory lock): yields whether this process holds it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_lock(%s), true" if wait else "SELECT true, pg_try_advisory_lock(%s)", [LOCK_KEY]
        )
        held = cursor.fetchone()[1]
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])


# The seconds a record is billed for: with segments, those the rated (callee) number was in the call.
SECONDS = (
    "CASE WHEN jsonb_array_length(c.segments) > 0 AND c.service <> 'conference' THEN (SELECT "
    "coalesce(sum((s->>'seconds')::int), 0) FROM jsonb_array_elements(c.segments) s "
    "WHERE c.callee_number IN (s->>'caller', s->>'callee')) ELSE c.billsec END"
)


def _records(where: str, params: list) -> list[tuple]:
    sql = (
        f"SELECT c.id, c.brand_id, c.client_id, c.service, c.callee_number, c.started_at, {SECONDS}, "  # noqa: S608
        "c.carrier_id "
        f"FROM {CDR} c WHERE {where} AND {BILLABLE} ORDER BY c.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _windows(after: int, last: int | None, batch: int) -> Iterator[tuple[int, int, int | None]]:
    """Windows of `batch` records by id after `after` (up to `last`): (after, end, lowest open id)."""
    bound = "" if last is None else "AND id <= %s"
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT max(id), min(id) FILTER (WHERE ended_at IS NULL) FROM "  # noqa: S608
                f"(SELECT id, ended_at FROM {CDR} WHERE id > %s {bound} ORDER BY id LIMIT %s) w",
                [after, *([] if last is None else [last]), batch],
            )
            end, first_open = cursor.fetchone()
        if end is None:
            return
        yield after, end, first_open
        after = end


def rate_new(*, batch: int = BATCH, wait: bool = False) -> RatingRun:
    """Rate what the records gained since the last run (Celery beat, every minute).

    The cursor remembers how far every record is finished and rated. A record still in progress
    holds it back (the records after it are rated, and skipped by the next runs as already rated);
    a new position is trusted only after SETTLE, so a record whose id was taken before but committed
    after a run is still read by the next one."""
    began, run = time.monotonic(), RatingRun()
    with rater_lock(wait=wait) as held:
        if not held:
            return RatingRun(busy=True)
        state, _ = RatingCursor.objects.get_or_create(name=CURSOR)
        last = Cdr.objects.order_by("-id").values_list("id", flat=True).first() or 0
        rater, first_open = Rater(), None
        for lo, hi, open_id in _windows(state.last_id, last, batch):
            rater.rate_rows(_records("c.id > %s AND c.id <= %s", [lo, hi]), run)
            first_open = first_open or open_id
        safe = max(state.last_id, first_open - 1 if first_open else last)
        now = timezone.now()
        if state.candidate_at is not None and now - state.candidate_at >= SETTLE:
            # Everything up to the candidate was finished and rated when it was chosen, and has been
            # rescanned since: only a record still in progress (seen now) can hold it back.
            state.last_id = max(state.last_id, min(state.candidate_id, safe))
            state.candidate_at = None
        if state.candidate_at is None:
            state.candidate_id, state.candidate_at = safe, now
        state.save()
    run.seconds = time.monotonic() - began
    return run


def rate_period(*, since: dt.datetime, until: dt.datetime, batch: int = BATCH) -> RatingRun:
    """Rate every billable record that started in [since, until) and has no rating yet."""
    began, run = time.monotonic(), RatingRun()
    with rater_lock(wait=True):
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT min(id), max(id) FROM {CDR} WHERE started_at >= %s AND started_at < %s",  # noqa: S608
                [since, until],
            )
            first, last = cursor.fetchone()
        if first is not None:
            rater = Rater()
            for lo, hi, _ in _windows(first - 1, last, batch):
                where = "c.id > %s AND c.id <= %s AND c.started_at >= %s AND c.started_at < %s"
                rater.rate_rows(_records(where, [lo, hi, since, until]), run)
    run.seconds = time.monotonic() - began
    return run


def rate_again(ratings, *, batch: int = BATCH) -> RatingRun:
    """Drop the given unrated ratings (a queryset) and rate their records again, now that a plan or
    rate may exist for them. Rated calls are never touched."""
    began, run = time.monotonic(), RatingRun()
    with rater_lock(wait=True):
        ids = list(ratings.filter(status=Rating.Status.UNRATED).values_list("cdr_id", flat=True))
        rater = Rater()
        for start in range(0, len(ids), batch):
            chunk = ids[start : start + batch]
            with transaction.atomic():
                Rating.objects.filter(cdr_id__in=chunk, status=Rating.Status.UNRATED).delete()
                rater.rate_rows(_records("c.id = ANY(%s)", [chunk]), run)
    run.seconds = time.monotonic() - began
    return run
