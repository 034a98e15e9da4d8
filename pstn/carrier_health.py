"""What the carrier pages show of a carrier's health (pstn/health.py): its figures now, and their
history for the charts.

The history is a bounded Redis list per carrier (`pstn:health-history:<carrier>`, newest last, one
JSON sample a minute from the beat task pstn.tasks.carrier_health_sample, the last HISTORY_KEEP
kept): the figures it samples live in Redis already, a list trims itself on every append (no cleanup
job, no migration, no table growing with carriers x minutes), and losing it with Redis loses only
the charts' past, never anything the routing needs.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import asdict

import redis.asyncio as aioredis
from asgiref.sync import async_to_sync
from django.conf import settings
from django.utils.translation import gettext, gettext_noop

from billing.models import Carrier
from config.redis_store import get_redis, rkey
from pstn import health
from pstn.directory import gateway_states
from pstn.models import Gateway

HISTORY_KEEP = 24 * 60  # samples: the last 24 hours at one a minute
SAMPLE_FIELDS = ("state", "calls", "asr", "acd", "pdd", "server_errors")


def history_key(carrier_id: int) -> str:
    return rkey("pstn:health-history", carrier_id)


def thresholds_of(carrier: Carrier) -> health.Thresholds:
    """The thresholds a carrier is judged by here: its brand's (the platform's carriers: the defaults;
    each brand judges them by its own when routing)."""
    return health.Thresholds.for_brand(carrier.brand_id) if carrier.brand_id else health.Thresholds()


async def _snapshot(groups: dict[health.Thresholds, list[int]]) -> dict[int, health.Health]:
    redis = aioredis.Redis.from_url(settings.REDIS_URL)
    found: dict[int, health.Health] = {}
    try:
        for thresholds, ids in groups.items():
            found.update(await health.snapshot(redis, settings.OCX_REDIS_PREFIX, ids, thresholds=thresholds,
                                               trials=False))  # fmt: skip
    finally:
        await redis.aclose()
    return found


def carrier_health_now(carriers) -> dict[int, health.Health]:
    """Each carrier's health now, as the routing judges it (never claiming a trial call)."""
    groups: dict[health.Thresholds, list[int]] = {}
    by_brand: dict[int | None, health.Thresholds] = {}
    for carrier in carriers:
        if carrier.brand_id not in by_brand:
            by_brand[carrier.brand_id] = thresholds_of(carrier)
        groups.setdefault(by_brand[carrier.brand_id], []).append(carrier.pk)
    return async_to_sync(_snapshot)(groups) if groups else {}


def health_figures(found: health.Health) -> dict:
    return {name: getattr(found, name) for name in SAMPLE_FIELDS}


def carrier_health_sample(*, now: float | None = None) -> int:
    """Append each enabled carrier's health now to its history (trimmed to HISTORY_KEEP), and note
    which gateways went in or out of service."""
    gateway_since_update(gateway_states(Gateway.objects.filter(enabled=True).values_list("pk", flat=True)), now=now)
    found = carrier_health_now(Carrier.objects.filter(enabled=True))
    at = round(time.time() if now is None else now)
    with get_redis().pipeline(transaction=False) as pipe:
        for carrier_id, figures in found.items():
            pipe.rpush(history_key(carrier_id), json.dumps({"at": at, **health_figures(figures)}))
            pipe.ltrim(history_key(carrier_id), -HISTORY_KEEP, -1)
            pipe.expire(history_key(carrier_id), 2 * 24 * 3600)  # a carrier deleted: its history goes
        pipe.execute()
    return len(found)


def carrier_health_history(carrier_id: int) -> list[dict]:
    """The carrier's samples, oldest first."""
    return [json.loads(raw) for raw in get_redis().lrange(history_key(carrier_id), 0, -1)]


def health_dict(found: health.Health) -> dict:
    return {name: value for name, value in asdict(found).items() if name != "carrier_id"}


# Gateways' states (written by the edge that keeps them, telephony/edge/trunks.py) -----------------

SINCE_KEY = "pstn:gw-since"  # hash: gateway -> JSON {"alive", "since"}: when it last went in or out


def _when(value) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(float(value), tz=dt.UTC) if value else None


def gateway_since_update(states: dict[int, dict], *, now: float | None = None) -> None:
    """Note when each gateway went in or out of service (the edge writes only its state now): by the
    beat task each minute, so "since" is good to a minute (an out-of-service gateway's from its misses)."""
    if not states:
        return
    redis, now = get_redis(), time.time() if now is None else now
    ids = list(states)
    seen = dict(zip(ids, redis.hmget(rkey(SINCE_KEY), ids), strict=True))
    interval = float(settings.OCX_SIP.get("gateway_ping", 0) or 0)
    changed = {}
    for gateway_id, state in states.items():
        alive = bool(state.get("alive"))
        before = json.loads(seen[gateway_id]) if seen[gateway_id] else None
        if before is None or before["alive"] != alive:
            since = float(state.get("checked_at") or now)
            if not alive and interval:  # out since the ping that made it out (MISSES misses in a row)
                since -= max(0, int(state.get("missed", 0)) - 2) * interval
            changed[gateway_id] = json.dumps({"alive": alive, "since": round(since)})
    if changed:
        redis.hset(rkey(SINCE_KEY), mapping=changed)


def gateway_status(gateways) -> list[dict]:
    """Each gateway with its state as a person reads it: in or out of service and since when, its
    registration, the last OPTIONS answer and its round trip."""
    gateways = list(gateways)
    states = gateway_states(g.pk for g in gateways)
    raw = get_redis().hmget(rkey(SINCE_KEY), [g.pk for g in gateways]) if gateways else []
    sinces = {g.pk: json.loads(v) for g, v in zip(gateways, raw, strict=True) if v}
    rows = []
    for gateway in gateways:
        state = states.get(gateway.pk, {})
        since = sinces.get(gateway.pk)
        row = {
            "gateway": gateway, "state": state, "checked_at": _when(state.get("checked_at")),
            "missed": int(state.get("missed", 0) or 0), "rtt_ms": state.get("rtt_ms"),
            "answer": state.get("answer", ""),
            "since": _when(since["since"]) if since and since["alive"] == bool(state.get("alive")) else None,
            "expires_at": _when(state.get("expires_at")), "error": state.get("error", ""),
        }  # fmt: skip
        # The API gives these words as they are; a page shows `service_shown` and `registration_shown`.
        if not gateway.enabled:
            row["service"] = gettext_noop("disabled")
        elif not state:
            row["service"] = gettext_noop("not checked yet")
        else:
            row["service"] = gettext_noop("in service") if state.get("alive") else gettext_noop("out of service")
        if not gateway.register:
            row["registration"] = gettext_noop("not registering")
        elif state.get("registered"):
            row["registration"] = gettext_noop("registered")
        elif state.get("registration"):
            row["registration"] = gettext_noop("failing")
        else:
            row["registration"] = gettext_noop("not registered yet")
        row["service_shown"], row["registration_shown"] = gettext(row["service"]), gettext(row["registration"])
        row["registration_answer"] = state.get("registration", "")
        rows.append(row)
    return rows


def gateway_status_json(row: dict) -> dict:
    """A gateway's row for the API."""
    iso = lambda value: value.isoformat() if value else None  # noqa: E731
    return {
        "id": row["gateway"].pk, "name": row["gateway"].name, "service": row["service"], "since": iso(row["since"]),
        "checked_at": iso(row["checked_at"]), "missed": row["missed"], "last_answer": row["answer"] or None,
        "rtt_ms": row["rtt_ms"], "registration": row["registration"],
        "registration_answer": row["registration_answer"] or None, "registered_until": iso(row["expires_at"]),
        "error": row["error"] or None,
    }  # fmt: skip


# The carrier page ----------------------------------------------------------------------------------

EMPTY = gettext_noop("No figures yet: a sample comes each minute, with figures once the carrier has calls to measure.")
CHART_POINTS = 144  # the charts' points at most: 24 hours of samples averaged by 10 minutes
CHARTS = (  # (field, title, unit, top)
    ("asr", gettext_noop("Answer-seizure ratio"), "%", 100),
    ("server_errors", gettext_noop("Server errors and timeouts"), "%", 100),
    ("pdd", gettext_noop("Post-dial delay"), "s", None),
    ("acd", gettext_noop("Average call duration"), "s", None),
)


def history_points(samples: list[dict], *, most: int = CHART_POINTS) -> list[dict]:
    """The samples averaged in runs of equal length so that at most `most` remain (each labelled by
    its run's last sample; a figure no sample of the run had stays None)."""
    size = max(1, -(-len(samples) // most))
    points = []
    for start in range(0, len(samples), size):
        run = samples[start : start + size]
        point = {"at": _when(run[-1]["at"]), "state": run[-1].get("state"), "calls": run[-1].get("calls")}
        for field, *_ in CHARTS:
            values = [s[field] for s in run if s.get(field) is not None]
            point[field] = round(sum(values) / len(values), 1) if values else None
        points.append(point)
    return points


def carrier_health_charts(points: list[dict]) -> list:
    """The four line charts; without a figure in any of them, one line saying so."""
    from billing.charts import chart_empty, line_chart

    if not any(p[field] is not None for p in points for field, *_ in CHARTS):
        return [chart_empty(chart_id="health-charts", empty=gettext(EMPTY))]
    charts = []
    for field, title, unit, top in CHARTS:
        series = [(f"{p['at']:%Y-%m-%d %H:%M} UTC", f"{p['at']:%H:%M}", p[field]) for p in points]
        chart_id = f"health-{field.replace('_', '-')}"
        charts.append(line_chart(chart_id=chart_id, title=gettext(title), points=series, unit=unit, top=top,
                                 empty=gettext(EMPTY), axis=gettext("Time (UTC)")))  # fmt: skip
    return charts


def carrier_page_health(carrier: Carrier) -> dict:
    """What the carrier page shows of its gateways and its health (figures now, charts, a table)."""
    found = carrier_health_now([carrier]).get(carrier.pk, health.Health(carrier.pk))
    points = history_points(carrier_health_history(carrier.pk))
    return {
        "gateway_rows": gateway_status(carrier.gateways.all()),
        "health": found,
        "thresholds": thresholds_of(carrier),
        "health_charts": carrier_health_charts(points),
        "health_points": points,
    }
