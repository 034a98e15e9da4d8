"""Benchmark: the outbound routing decision (issue 14), the time the engine spends choosing carriers.
`.venv/bin/python bench/outbound_routing.py [--rows 100000] [--decisions 10000]`

In a scratch database (dropped at the end) it makes one brand with three carriers (two gateways
each), each with a `--rows` cost deck (country codes, then random longer prefixes up to 7 digits
after the country code, written with COPY), and one least-cost route over all three. It times
`Router.load()` (routes, carriers, gateways and the three decks' current prices), then
`--decisions` routing decisions over random numbers (a random known prefix padded to 11-13 digits)
with health on: one carrier "down", one in, one at its call limit half of the time, as the engine
passes them in. It also times the same decisions with the health snapshot and the carriers' call
counts read from Redis first (pstn/health.py), as one call would do them.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import platform as stdlib_platform
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "platform"))
import services  # noqa: E402  (platform/services.py, a script folder)

BENCH_DB = "ocx_bench_routing"
COUNTRIES = ["1", "7", "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47",
             "48", "49", "51", "52", "54", "55", "56", "57", "60", "61", "62", "63", "64", "65", "66", "81", "82",
             "84", "86", "90", "91", "92", "212", "213", "216", "234", "254", "351", "352", "353", "354", "355",
             "356", "357", "358", "359", "370", "371", "372", "380", "381", "385", "386", "420", "421", "852",
             "886", "961", "962", "966", "971", "972", "974"]  # fmt: skip


def _prefixes(rng: random.Random, count: int) -> list[str]:
    found = dict.fromkeys(COUNTRIES)
    while len(found) < count:
        country = rng.choice(COUNTRIES)
        found.setdefault(country + str(rng.randrange(10 ** rng.randint(2, 7))), None)
    return sorted(found)


def build(args, *, brand=None, gateways: list[tuple[str, int]] | None = None) -> dict:
    """Three carriers of `brand` (a new one by default) with `args.rows`-row decks and one least-cost
    route; each carrier's gateways at 192.0.2.x:5060, or (bench/outbound.py) one at gateways[i], with
    a network of its own for inbound calls."""
    from django.db import connection

    from billing.models import Carrier, Rate, RateDeck
    from pstn.models import Gateway, OutboundRoute, RouteCarrier
    from tenants.models import Brand

    rng = random.Random(14)
    brand = brand or Brand.objects.create(name="Bench routing", domain="bench-routing.example")
    route = OutboundRoute.objects.create(brand=brand, name="Least cost", mode=OutboundRoute.Mode.LEAST_COST)
    carriers, all_prefixes = [], set()
    for index in range(3):
        carrier = Carrier.objects.create(name=f"Bench carrier {index + 1}", brand=brand, max_calls=1000)
        if gateways is not None:
            host, port = gateways[index]
            Gateway.objects.create(carrier=carrier, name="gw", host=host, port=port,
                                   inbound_networks=f"192.0.2.{index + 1}/32")  # fmt: skip
        for g in range(2 if gateways is None else 0):
            Gateway.objects.create(carrier=carrier, name=f"gw{g}", host=f"192.0.2.{index * 2 + g + 1}", port=5060)
        deck = RateDeck.objects.create(carrier=carrier, name=carrier.name)
        prefixes = _prefixes(rng, args.rows)
        all_prefixes.update(prefixes)
        data = io.StringIO()
        for prefix in prefixes:
            price = rng.randint(5, 3000) / 20_000
            data.write(
                f"{deck.pk}\t{prefix}\tDestination {prefix}\t{price:.4f}\t0\t60\t60\t2020-01-01 00:00:00+00\t\\N\n"
            )
        columns = "deck_id, prefix, description, price_per_minute, connection_fee, initial_seconds, " \
                  "increment_seconds, effective_from, effective_to"  # fmt: skip
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {Rate._meta.db_table} ({columns}) FROM STDIN") as copy,
        ):
            copy.write(data.getvalue())
        RouteCarrier.objects.create(route=route, carrier=carrier, priority=index + 1)
        carriers.append(carrier.pk)
    return {"brand": brand.pk, "carriers": carriers, "prefixes": sorted(all_prefixes)}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(args, made: dict) -> None:
    import redis.asyncio as aioredis
    from django.conf import settings

    from pstn import health as h
    from pstn.routing import Router

    began = time.perf_counter()
    router = Router.load(made["brand"])
    load_seconds = time.perf_counter() - began
    rng = random.Random(15)
    prefixes = made["prefixes"]
    numbers = []
    for _ in range(args.decisions):
        prefix = rng.choice(prefixes)
        numbers.append(
            "+" + prefix + "".join(str(rng.randrange(10)) for _ in range(max(0, rng.randint(11, 13) - len(prefix))))
        )
    one, two, three = made["carriers"]
    health = {one: h.Health(one, h.DOWN, reason="bench"), two: h.Health(two), three: h.Health(three)}
    busy_sets = [set(), {three}]
    for number in numbers[:500]:  # warm-up
        router.candidates(number, health, busy_sets[0])
    timings, lengths = [], 0
    for index, number in enumerate(numbers):
        start = time.perf_counter()
        chosen = router.candidates(number, health, busy_sets[index % 2])
        timings.append((time.perf_counter() - start) * 1000)
        lengths += len(chosen)

    prefix = f"ocx-bench-routing-{uuid.uuid4().hex[:6]}"

    async def with_redis() -> list[float]:
        redis = aioredis.Redis.from_url(settings.REDIS_URL)
        try:
            for carrier in made["carriers"]:
                for i in range(20):
                    await h.record(redis, prefix, carrier, h.ANSWERED if i % 3 else h.SERVER_ERROR, 1.0, 60)
            limits, took = router.limits(), []
            for number in numbers[: min(2000, len(numbers))]:
                start = time.perf_counter()
                found = await h.snapshot(redis, prefix, made["carriers"])
                full = await h.busy(redis, prefix, limits)
                router.candidates(number, found, full)
                took.append((time.perf_counter() - start) * 1000)
            return took
        finally:
            async for key in redis.scan_iter(match=f"{prefix}:*"):
                await redis.delete(key)
            await redis.aclose()

    redis_timings = asyncio.run(with_redis())
    each = lengths / len(numbers)
    print(f"conditions: python {stdlib_platform.python_version()}, {os.cpu_count()} cores (shared), 3 carriers x "
          f"{args.rows} deck rows, least-cost route, health: one carrier down, one at its limit every other "
          f"decision; {len(numbers)} decisions over random numbers, {each:.2f} carriers each")  # fmt: skip
    print(f"RESULT routing_decision_p50={statistics.median(timings):.4f} ms")
    print(f"RESULT routing_decision_p99={percentile(timings, 0.99):.4f} ms")
    print(f"RESULT routing_decision_max={max(timings):.4f} ms")
    print(f"RESULT routing_decision_with_redis_p50={statistics.median(redis_timings):.4f} ms")
    print(f"RESULT routing_decision_with_redis_p99={percentile(redis_timings, 0.99):.4f} ms")
    print(f"RESULT router_load_seconds={load_seconds:.3f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--decisions", type=int, default=10_000)
    args = parser.parse_args()
    with services.scratch_django(BENCH_DB):
        from django.core.management import call_command

        call_command("migrate_schemas", "--shared", verbosity=0)
        measure(args, build(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
