"""Queue statistics for chosen days, from the call records' "queue" legs (records.Cdr, public schema;
telephony/engine/applications/queues.py writes one leg per queue a caller waited in): per queue and
per agent, and per day for the charts. Days are whole days in the client's time zone, both included.

Per queue: offered (callers who came to the queue), answered, abandoned (hung up while waiting) split
into `abandoned` and `abandoned_short` (within SHORT_ABANDON seconds: misdials and impatient callers
that a call centre does not count against itself), timeouts (the maximum wait sent them on), full (the
queue was at its maximum length), callbacks (0 until a leg says "callback"), the average and longest
wait, the service level (the share of answered calls answered within the queue's
`service_level_seconds`, in %), and the average talk and wrap-up time of answered calls. Per agent:
offers (their phones rang for a caller), answered, missed (rang out or refused), talk and wrap-up.

One SQL statement per figure set, aggregated in PostgreSQL over the client's queue calls only (the
partial index `cdr_client_queue_started`), so a busy client's month stays a fast read.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection

from queues.models import Queue
from tenants.dates import zone_named
from tenants.models import Client

SHORT_ABANDON = 5  # seconds: a caller gone this soon is counted apart
MAX_DAYS = 366

QUEUE_COLUMNS = [
    "queue", "name", "offered", "answered", "abandoned", "abandoned_short", "timeouts", "full", "callbacks",
    "average_wait", "longest_wait", "service_level", "service_level_seconds", "average_talk", "average_wrapup",
]  # fmt: skip
AGENT_COLUMNS = ["agent", "offers", "answered", "missed", "talk", "average_talk", "wrapup"]

# The client's queue legs of the period: each leg with its call's end, its wait and its talk time.
LEGS = """
WITH legs AS (
  SELECT c.started_at, leg, (leg->>'queue')::int AS queue, leg->>'outcome' AS outcome,
         COALESCE((leg->>'wait')::float, 0) AS wait, COALESCE((leg->>'wrapup')::float, 0) AS wrapup,
         CASE WHEN leg->>'outcome' = 'answered' AND c.ended_at IS NOT NULL
              THEN GREATEST(0, EXTRACT(EPOCH FROM c.ended_at - (leg->>'joined')::timestamptz)
                               - COALESCE((leg->>'wait')::float, 0)) END AS talk
  FROM billing_cdr c CROSS JOIN LATERAL jsonb_array_elements(c.legs) AS leg
  WHERE c.client_id = %(client)s AND c.started_at >= %(since)s AND c.started_at < %(until)s
    AND c.legs @> '[{"leg": "queue"}]' AND leg->>'leg' = 'queue' AND (leg->>'queue')::int = ANY(%(queues)s)
)
"""

PER_QUEUE = (
    LEGS
    + """
SELECT legs.queue, count(*),
  count(*) FILTER (WHERE outcome = 'answered'),
  count(*) FILTER (WHERE outcome = 'abandoned' AND wait >= %(short)s),
  count(*) FILTER (WHERE outcome = 'abandoned' AND wait < %(short)s),
  count(*) FILTER (WHERE outcome = 'timeout'),
  count(*) FILTER (WHERE outcome = 'full'),
  count(*) FILTER (WHERE outcome = 'callback' OR leg ? 'callback'),
  avg(wait) FILTER (WHERE outcome <> 'full'),
  max(wait),
  count(*) FILTER (WHERE outcome = 'answered' AND wait <= sl.seconds),
  avg(talk), avg(wrapup) FILTER (WHERE outcome = 'answered')
FROM legs JOIN unnest(%(queues)s::int[], %(levels)s::int[]) AS sl(queue, seconds) ON sl.queue = legs.queue
GROUP BY legs.queue
"""
)

PER_DAY = (
    LEGS
    + """
SELECT (started_at AT TIME ZONE %(zone)s)::date, count(*), count(*) FILTER (WHERE outcome = 'answered'),
  count(*) FILTER (WHERE outcome = 'abandoned'), avg(wait) FILTER (WHERE outcome <> 'full')
FROM legs GROUP BY 1 ORDER BY 1
"""
)

PER_AGENT_OFFERS = (
    LEGS
    + """
SELECT o->>'agent', count(*), count(*) FILTER (WHERE o->>'result' = 'answered'),
  count(*) FILTER (WHERE o->>'result' = 'missed')
FROM legs CROSS JOIN LATERAL jsonb_array_elements(COALESCE(leg->'offers', '[]'::jsonb)) AS o
GROUP BY 1
"""
)

PER_AGENT_TALK = (
    LEGS
    + """
SELECT leg->>'agent', COALESCE(sum(talk), 0), avg(talk), COALESCE(sum(wrapup), 0)
FROM legs WHERE outcome = 'answered' AND leg->>'agent' <> '' GROUP BY 1
"""
)


def period(client: Client, since: dt.date, until: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The first day's midnight and the midnight after the last day, in the client's time zone."""
    zone = zone_named(client.timezone)
    start = dt.datetime(since.year, since.month, since.day, tzinfo=zone)
    after = until + dt.timedelta(days=1)
    return start, dt.datetime(after.year, after.month, after.day, tzinfo=zone)


def _rows(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _seconds(value) -> float | None:
    return None if value is None else round(float(value), 1)


def queue_stats(*, client: Client, queues: list[Queue], since: dt.date, until: dt.date) -> dict:
    """The figures of `queues` (the client's, read in its schema by the caller) over the days since..until:
    {"queues": [a row per queue], "agents": [a row per agent], "days": [a row per day with calls]}."""
    start, end = period(client, since, until)
    params = {"client": client.pk, "since": start, "until": end, "queues": [q.pk for q in queues],
              "levels": [q.service_level_seconds for q in queues], "short": SHORT_ABANDON,
              "zone": client.timezone if zone_named(client.timezone) is not dt.UTC else "UTC"}  # fmt: skip
    found = {row[0]: row for row in _rows(PER_QUEUE, params)}
    rows = []
    for queue in queues:
        q = found.get(queue.pk) or (queue.pk, 0, 0, 0, 0, 0, 0, 0, None, None, 0, None, None)
        answered, in_time = q[2], q[10]
        rows.append({
            "queue": queue.pk, "name": queue.name, "offered": q[1], "answered": answered, "abandoned": q[3],
            "abandoned_short": q[4], "timeouts": q[5], "full": q[6], "callbacks": q[7],
            "average_wait": _seconds(q[8]), "longest_wait": _seconds(q[9]),
            "service_level": round(100.0 * in_time / answered, 1) if answered else None,
            "service_level_seconds": queue.service_level_seconds,
            "average_talk": _seconds(q[11]), "average_wrapup": _seconds(q[12]),
        })  # fmt: skip
    talk = {row[0]: row for row in _rows(PER_AGENT_TALK, params)}
    agents = []
    for agent, offers, answered, missed in sorted(_rows(PER_AGENT_OFFERS, params), key=lambda r: r[0] or ""):
        t = talk.get(agent) or (agent, 0, None, 0)
        agents.append({"agent": agent, "offers": offers, "answered": answered, "missed": missed,
                       "talk": _seconds(t[1]), "average_talk": _seconds(t[2]), "wrapup": _seconds(t[3])})  # fmt: skip
    days = [
        {"day": day, "offered": offered, "answered": answered, "abandoned": abandoned, "average_wait": _seconds(wait)}
        for day, offered, answered, abandoned, wait in _rows(PER_DAY, params)
    ]
    return {"since": since, "until": until, "time_zone": params["zone"], "queues": rows, "agents": agents, "days": days}


def today_figures(*, client: Client, queues: list[Queue]) -> dict[int, dict]:
    """Each queue's figures so far today (the client's day), for the wallboard: its service level now."""
    zone = zone_named(client.timezone)
    today = dt.datetime.now(zone).date()
    found = queue_stats(client=client, queues=queues, since=today, until=today)
    return {row["queue"]: row for row in found["queues"]}
