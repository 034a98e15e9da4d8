"""Benchmark: each operator's dashboard, its weight on first load and its server time (issue 15).

`.venv/bin/python bench/dashboard.py [--records 200000] [--days 90] [--runs 50] [--keep]` starts
project-local PostgreSQL and Redis if needed, builds a scratch database (schemas migrated, the demo
data of `manage.py demo`), and gives the demo clients history and traffic: `--records` call records
over the last `--days` days (one in 9 failed, one in 12 a conference participant), today's share of
them, 2 conferences running with 6 people, phones registered and calls in progress in Redis written
as the edge and the engines write them. Then, for the god, brand and client operator of the demo,
through the whole Django stack in this process (the test client: middleware, sessions, tenants,
templates, PostgreSQL, Redis; production settings, DJANGO_DEBUG=0):

- first load: the dashboard's HTML plus every stylesheet, script and image it loads, as served
  (whitenoise for static files), bodies and response headers counted, with `Accept-Encoding: gzip`
  as browsers send it; `RESULT dashboard_<role>_kb=... KB`;
- server time: the median of `--runs` requests of the page (after 5 not counted);
  `RESULT dashboard_<role>_ms=... ms`, with p95 and the queries per page printed next to it.

Targets (issue 15): under 300 KB and under 100 ms.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "platform"))
import services  # noqa: E402  (platform/services.py, a script folder, not a package)

BENCH_DB = "ocx_bench_dashboard"
ASSETS = re.compile(r'<(?:link[^>]+rel="stylesheet"[^>]+href|script[^>]+src|img[^>]+src)="([^"]+)"')


def populate(records: int, days: int) -> dict:
    """Demo data, then history and traffic for the demo clients; the facts printed as conditions."""
    import datetime as dt
    import uuid

    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from config.redis_store import get_redis, rkey
    from telephony.callindex import live_key
    from telephony.edge.location import UPDATE_SCRIPT, Binding, now_millis
    from tenants.models import Client

    call_command("migrate_schemas", "--shared", verbosity=0)
    call_command("migrate_schemas", "--tenant", verbosity=0)
    call_command("demo", verbosity=0)
    clients = list(Client.objects.order_by("pk"))
    ids = ",".join(str(c.pk) for c in clients)
    brands = ",".join(str(c.brand_id) for c in clients)
    now = dt.datetime.now(dt.UTC)
    latest = now - dt.timedelta(minutes=30)  # the newest record; the others every few seconds before
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute(f"""
            INSERT INTO billing_cdr (brand_id, client_id, call_uuid, service, conference, engine, direction,
                disposition, caller_number, caller_name, callee_number, callee_name, started_at, answered_at,
                ended_at, duration, billsec, hangup_cause, hangup_side, quality, legs, answered_by, segments,
                supervisions)
            SELECT (ARRAY[{brands}])[1 + c], (ARRAY[{ids}])[1 + c], md5('d' || g::text)::uuid,
                   CASE WHEN g % 12 = 0 THEN 'conference' ELSE 'call' END,
                   CASE WHEN g % 12 = 0 THEN '4242' ELSE '' END, 'engine-' || (g % 2),
                   (ARRAY['outbound','inbound','internal'])[1 + g % 3],
                   CASE WHEN g % 9 = 0 THEN 'failed' WHEN g % 7 = 0 THEN 'no-answer' ELSE 'answered' END,
                   (100 + g % 900)::text, '', '0044' || (200000000 + g % 799999999)::text, '',
                   s, CASE WHEN g % 9 = 0 OR g % 7 = 0 THEN NULL ELSE s + interval '5 s' END,
                   s + (d || ' s')::interval, d, CASE WHEN g % 9 = 0 OR g % 7 = 0 THEN 0 ELSE d - 5 END,
                   CASE WHEN g % 9 = 0 THEN (ARRAY['503','404','480','408','488'])[1 + g % 5]
                        ELSE '200' END, 'caller', '{{}}', '[]', '', '[]', '[]'
            FROM (SELECT g, g % {len(clients)} AS c, 30 + (g * 7919) % 900 AS d,
                         '{latest.isoformat()}'::timestamptz
                         - ((g::float8 / {records}) * {days * 86400}) * interval '1 s' AS s
                  FROM generate_series(1::bigint, {records}) g) x
        """)  # fmt: skip
        for room, people in (("5001", 4), ("5002", 2)):  # conferences running now
            for person in range(people):
                cursor.execute(
                    "INSERT INTO billing_cdr (brand_id, client_id, call_uuid, service, conference, engine,"
                    " direction, disposition, caller_number, caller_name, callee_number, callee_name, started_at,"
                    " answered_at, duration, billsec, hangup_cause, hangup_side, quality, legs, answered_by,"
                    " segments, supervisions) VALUES (%s, %s, %s, 'conference', %s, 'engine-0', 'inbound',"
                    " 'in-progress', %s, '', %s, '', %s, %s, 0, 0, '', '', '{}', '[]', '', '[]', '[]')",
                    [clients[-1].brand_id, clients[-1].pk, uuid.uuid4(), room, f"20{person}", room, now, now],
                )
        cursor.execute("ANALYZE billing_cdr")
    r = get_redis()
    r.delete(*(list(r.scan_iter(match=rkey("*"), count=1000)) or ["-"]))
    for client in clients:
        for n in range(20):  # 20 phones registered each, as the edge writes them
            user, contact, callid = f"1{n:02d}", f"sip:1{n:02d}@10.0.{client.pk}.{n}:5060", uuid.uuid4().hex
            binding = Binding(contact, now_millis() + 600_000, None, "udp:10.0.0.1:5060", "bench", callid, 1, "e")
            r.eval(UPDATE_SCRIPT, 3, rkey("loc", client.pk, user), "", rkey("locidx", client.pk),
                   now_millis(), 0, 300, callid, 1, "0", 10, user, "", "", contact, binding.to_json())  # fmt: skip
        for _ in range(5):  # 5 calls in progress each, as the engines write them
            call_id = uuid.uuid4().hex
            r.hset(live_key(settings.OCX_REDIS_PREFIX, client.pk), call_id,
                   f'{{"id": "{call_id}", "engine": "engine-0", "state": "answered"}}')  # fmt: skip
    r.hset(rkey("engines"), "engine-0", f'{{"id": "engine-0", "host": "127.0.0.1", "port": 5070, "calls": 10, '
           f'"capacity": 200, "at": {time.time() + 3600}}}')  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM billing_cdr WHERE started_at >= %s", [now.replace(hour=0, minute=0)])
        (today,) = cursor.fetchone()
    return {"clients": len(clients), "records": records, "today": today}


def fetch(http, url: str, host: str) -> tuple[int, int, bytes]:
    """Bytes on the wire for one response (headers and body, as served), its status and its body."""
    import gzip

    response = http.get(url, HTTP_HOST=host, HTTP_ACCEPT_ENCODING="gzip", secure=True)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    headers = sum(len(k) + len(v) + 4 for k, v in response.items()) + 17
    plain = gzip.decompress(body) if response.get("Content-Encoding") == "gzip" else body
    return len(body) + headers, response.status_code, plain


def measure(account, host: str, runs: int) -> dict:
    from django.db import connection
    from django.test import Client as HttpClient

    http = HttpClient()
    http.force_login(account)
    page_bytes, status, html = fetch(http, "/", host)
    if status != 200:
        raise SystemExit(f"{account.email}: the dashboard answered {status}")
    assets = []
    for url in dict.fromkeys(ASSETS.findall(html.decode())):
        size, status, _ = fetch(http, url, host)
        if status != 200:
            raise SystemExit(f"{url}: {status}")
        assets.append((url, size))
    for _ in range(5):
        http.get("/", HTTP_HOST=host, secure=True)
    times = []
    queries = []
    with connection.execute_wrapper(lambda execute, sql, *rest: queries.append(sql) or execute(sql, *rest)):
        http.get("/", HTTP_HOST=host, secure=True)
    for _ in range(runs):
        started = time.perf_counter()
        http.get("/", HTTP_HOST=host, secure=True)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "kb": (page_bytes + sum(size for _, size in assets)) / 1024,
        "page_kb": page_bytes / 1024,
        "assets": assets,
        "ms": statistics.median(times),
        "p95": times[int(len(times) * 0.95) - 1],
        "queries": sum(1 for sql in queries if not sql.startswith("SET search_path")),
        "statements": len(queries),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    secret = os.environ.get("DJANGO_SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789")
    with services.scratch_django(BENCH_DB, prefix="ocx-bench-dashboard", keep=args.keep, DJANGO_DEBUG="0",
                                 DJANGO_SECRET_KEY=secret):  # fmt: skip
        from django.conf import settings

        from tenants.models import Brand, Client, User
        from tenants.services import client_primary_domain

        facts = populate(args.records, args.days)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"conditions: {os.cpu_count()} cores (load average {load}), {facts['clients']} demo clients, "
              f"{facts['records']} call records "
              f"over {args.days} days ({facts['today']} today), 20 phones registered and 5 calls in progress per "
              f"client, DJANGO_DEBUG=0, in-process test client (no network), {args.runs} timed requests")  # fmt: skip
        acme = Client.objects.get(slug="acme")
        roles = [
            ("god", User.objects.get(email="god@opencentrex.example"), settings.OCX_PLATFORM_HOSTS[0]),
            ("brand", User.objects.get(email="ops@brand.example"), Brand.objects.get(domain="brand.localhost").domain),
            ("client", User.objects.get(email="admin@acme.example"), client_primary_domain(acme)),
        ]
        for role, account, host in roles:
            found = measure(account, host, args.runs)
            listed = ", ".join(f"{url} {size / 1024:.1f} KB" for url, size in found["assets"])
            print(f"{role}: page {found['page_kb']:.1f} KB + {listed}; {found['queries']} queries "
                  f"({found['statements']} statements with django-tenants' SET search_path); "
                  f"median {found['ms']:.1f} ms, p95 {found['p95']:.1f} ms")  # fmt: skip
            print(f"RESULT dashboard_{role}_kb={found['kb']:.1f} KB")
            print(f"RESULT dashboard_{role}_ms={found['ms']:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
