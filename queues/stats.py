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

Chats are counted with calls (chat/agents.py writes their records' "queue" legs with `channel`
"chat"): every figure above is of both; the channel split gives calls and chats apart (offered,
answered, abandoned, timeouts, average wait, average duration) and, for chats, the average first
response (seconds from the agent's accept to their first line); per agent, the chats answered.

One SQL statement, aggregated in PostgreSQL over the client's queue calls only (the partial index
`cdr_client_queue_started`), each leg read once, so a busy client's month stays a fast read
(bench/queue_stats.py).
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
    "calls_offered", "calls_answered", "calls_abandoned", "calls_average_wait", "chats_offered", "chats_answered",
    "chats_abandoned", "chats_timeouts", "chats_average_wait", "chats_average_duration", "chats_first_response",
]  # fmt: skip
AGENT_COLUMNS = ["agent", "offers", "answered", "missed", "talk", "average_talk", "wrapup", "chats_answered"]
CHANNELS = ("call", "chat")

# One statement, one pass over the client's queue legs of the period (materialized once, with the few
# values the figures need), then four groupings of it in one result: per queue, per day, each agent's
# offers, each agent's answered calls' talk and wrap-up. Every row is (kind, key, twelve numbers).
STATS = """
WITH legs AS MATERIALIZED (
  SELECT (c.started_at AT TIME ZONE %(zone)s)::date AS day, (leg->>'queue')::int AS queue,
         leg->>'outcome' AS outcome, COALESCE((leg->>'wait')::float8, 0) AS wait,
         COALESCE((leg->>'wrapup')::float8, 0) AS wrapup, COALESCE(leg->>'agent', '') AS agent,
         leg ? 'callback' AS callback, leg->'offers' AS offers, COALESCE(leg->>'channel', 'call') AS channel,
         (leg->>'first_response')::float8 AS first_response,
         CASE WHEN leg->>'outcome' = 'answered' AND c.ended_at IS NOT NULL
              THEN GREATEST(0, EXTRACT(EPOCH FROM c.ended_at - (leg->>'joined')::timestamptz)
                               - COALESCE((leg->>'wait')::float8, 0)) END::float8 AS talk
  FROM billing_cdr c CROSS JOIN LATERAL jsonb_array_elements(c.legs) AS leg
  WHERE c.client_id = %(client)s AND c.started_at >= %(since)s AND c.started_at < %(until)s
    AND c.legs @> '[{"leg": "queue"}]' AND leg->>'leg' = 'queue' AND (leg->>'queue')::int = ANY(%(queues)s)
)
SELECT 'queue', legs.queue::text, count(*)::float8,
  count(*) FILTER (WHERE outcome = 'answered')::float8,
  count(*) FILTER (WHERE outcome = 'abandoned' AND wait >= %(short)s)::float8,
  count(*) FILTER (WHERE outcome = 'abandoned' AND wait < %(short)s)::float8,
  count(*) FILTER (WHERE outcome = 'timeout')::float8,
  count(*) FILTER (WHERE outcome = 'full')::float8,
  count(*) FILTER (WHERE outcome = 'callback' OR callback)::float8,
  avg(wait) FILTER (WHERE outcome <> 'full'), max(wait),
  count(*) FILTER (WHERE outcome = 'answered' AND wait <= sl.seconds)::float8,
  avg(talk), avg(wrapup) FILTER (WHERE outcome = 'answered')
FROM legs JOIN unnest(%(queues)s::int[], %(levels)s::int[]) AS sl(queue, seconds) ON sl.queue = legs.queue
GROUP BY legs.queue
UNION ALL
SELECT 'day', day::text, count(*)::float8, count(*) FILTER (WHERE outcome = 'answered')::float8,
  count(*) FILTER (WHERE outcome = 'abandoned')::float8, avg(wait) FILTER (WHERE outcome <> 'full'),
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM legs GROUP BY day
UNION ALL
SELECT 'offers', o->>'agent', count(*)::float8, count(*) FILTER (WHERE o->>'result' = 'answered')::float8,
  count(*) FILTER (WHERE o->>'result' = 'missed')::float8, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM legs CROSS JOIN LATERAL jsonb_array_elements(COALESCE(offers, '[]'::jsonb)) AS o
GROUP BY 2
UNION ALL
SELECT 'talk', agent, COALESCE(sum(talk), 0), avg(talk), COALESCE(sum(wrapup), 0),
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM legs WHERE outcome = 'answered' AND agent <> '' GROUP BY agent
UNION ALL
SELECT 'channel', queue::text || ' ' || channel, count(*)::float8,
  count(*) FILTER (WHERE outcome = 'answered')::float8, count(*) FILTER (WHERE outcome = 'abandoned')::float8,
  count(*) FILTER (WHERE outcome = 'timeout')::float8, avg(wait) FILTER (WHERE outcome <> 'full'), avg(talk),
  avg(first_response), NULL, NULL, NULL, NULL, NULL
FROM legs GROUP BY queue, channel
UNION ALL
SELECT 'agent_chats', agent, count(*)::float8, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM legs WHERE outcome = 'answered' AND agent <> '' AND channel = 'chat' GROUP BY agent
"""


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
    found: dict[str, dict] = {"queue": {}, "day": {}, "offers": {}, "talk": {}, "channel": {}, "agent_chats": {}}
    for kind, key, *values in _rows(STATS, params):
        found[kind][key] = values
    count = lambda value: int(value or 0)  # noqa: E731
    rows = []
    for queue in queues:
        q = found["queue"].get(str(queue.pk)) or [0] * 7 + [None, None, 0, None, None]
        answered, in_time = count(q[1]), count(q[9])
        rows.append({
            "queue": queue.pk, "name": queue.name, "offered": count(q[0]), "answered": answered,
            "abandoned": count(q[2]), "abandoned_short": count(q[3]), "timeouts": count(q[4]), "full": count(q[5]),
            "callbacks": count(q[6]), "average_wait": _seconds(q[7]), "longest_wait": _seconds(q[8]),
            "service_level": round(100.0 * in_time / answered, 1) if answered else None,
            "service_level_seconds": queue.service_level_seconds,
            "average_talk": _seconds(q[10]), "average_wrapup": _seconds(q[11]),
        })  # fmt: skip
        call = found["channel"].get(f"{queue.pk} call") or [0, 0, 0, 0, None]
        chat = found["channel"].get(f"{queue.pk} chat") or [0, 0, 0, 0, None, None, None]
        rows[-1].update({
            "calls_offered": count(call[0]), "calls_answered": count(call[1]), "calls_abandoned": count(call[2]),
            "calls_average_wait": _seconds(call[4]), "chats_offered": count(chat[0]), "chats_answered": count(chat[1]),
            "chats_abandoned": count(chat[2]), "chats_timeouts": count(chat[3]),
            "chats_average_wait": _seconds(chat[4]), "chats_average_duration": _seconds(chat[5]),
            "chats_first_response": _seconds(chat[6]),
        })  # fmt: skip
    agents = []
    for agent in sorted(found["offers"], key=lambda a: a or ""):
        offers, answered, missed = found["offers"][agent][:3]
        t = found["talk"].get(agent) or [0, None, 0]
        agents.append({"agent": agent, "offers": count(offers), "answered": count(answered), "missed": count(missed),
                       "talk": _seconds(t[0]), "average_talk": _seconds(t[1]), "wrapup": _seconds(t[2]),
                       "chats_answered": count((found["agent_chats"].get(agent) or [0])[0])})  # fmt: skip
    days = [
        {"day": dt.date.fromisoformat(day), "offered": count(v[0]), "answered": count(v[1]),
         "abandoned": count(v[2]), "average_wait": _seconds(v[3])}
        for day, v in sorted(found["day"].items())
    ]  # fmt: skip
    return {"since": since, "until": until, "time_zone": params["zone"], "queues": rows, "agents": agents, "days": days}


def today_figures(*, client: Client, queues: list[Queue]) -> dict[int, dict]:
    """Each queue's figures so far today (the client's day), for the wallboard: its service level now."""
    zone = zone_named(client.timezone)
    today = dt.datetime.now(zone).date()
    found = queue_stats(client=client, queues=queues, since=today, until=today)
    return {row["queue"]: row for row in found["queues"]}
