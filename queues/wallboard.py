"""A wallboard's snapshot: one queue's (or all the client's queues') state now, read from the live state
in Redis (queues/state.py: who waits, who is offered or busy, wrap-up, pauses), the call index's live
calls (telephony/callindex.py: the waiting callers' numbers, whom an agent talks with, an agent's
other calls) and PostgreSQL (the queues, their members, pauses' reasons, today's service level from
queues/stats.py). Both the page (rendered on the server, the no-script fallback) and the socket
(queues/consumers.py, sent again at each queue event) show this same dict.

A hook for supervisors: `wallboard_snapshot` takes the queues to show; who may see which queue is
decided by the caller (today a client's operators see all of them: `Queue.objects.restrict`).
"""

from __future__ import annotations

import json
import time

from django.conf import settings
from django_tenants.utils import tenant_context

from config.redis_store import get_redis
from queues import state
from queues.models import Agent, Member, Queue
from queues.stats import today_figures
from telephony.callindex import live_key, where_key
from tenants.models import Client

STATES = ("available", "ringing", "on_call", "wrapup", "paused", "logged_out")


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


def _epoch(iso: str | None) -> float | None:
    import datetime as dt

    try:
        return dt.datetime.fromisoformat(iso).timestamp() if iso else None
    except ValueError:
        return None


def wallboard_snapshot(*, client: Client, queues: list[Queue] | None = None) -> dict:
    """`queues` (None: all the client's) as a wallboard shows them: their waiting callers (number, name,
    since when, being offered), each member agent's state (available, ringing, on_call with whom and
    since when, wrapup until when, paused with its reason, logged_out) and today's service level."""
    redis, prefix, now = get_redis(), settings.OCX_REDIS_PREFIX, time.time()
    with tenant_context(client):
        chosen = list(queues) if queues is not None else list(Queue.objects.all())
        members = Member.objects.filter(queue__in=chosen).select_related("extension")
        members = list(members.order_by("extension__number"))
        paused = {a.extension_id: a for a in Agent.objects.filter(paused=True)}
        figures = today_figures(client=client, queues=chosen) if chosen else {}
    live = {_text(k): json.loads(v) for k, v in redis.hgetall(live_key(prefix, client.pk)).items()}
    where = {_text(k) for k in redis.hkeys(where_key(prefix, client.pk))}
    pipe = redis.pipeline(transaction=False)
    for queue in chosen:
        pipe.zrange(state.queue_key(prefix, client.pk, queue.pk, "waiting"), 0, -1, withscores=True)
        pipe.zrange(state.queue_key(prefix, client.pk, queue.pk, "offering"), 0, -1, withscores=True)
    numbers = sorted({m.extension.number for m in members})
    for number in numbers:
        pipe.hgetall(state.agent_key(prefix, client.pk, number))
    answers = pipe.execute()
    shown_queues = []
    for i, queue in enumerate(chosen):
        waiting, offering = answers[2 * i], answers[2 * i + 1]
        offered = {_text(u) for u, _ in offering}
        callers = []
        for uuid, since in sorted([*waiting, *offering], key=lambda c: c[1]):
            call = live.get(_text(uuid), {})
            callers.append({"call": _text(uuid), "number": call.get("caller", ""), "name": call.get("caller_name", ""),
                            "since": since, "offered": _text(uuid) in offered,
                            "chat": _text(uuid).startswith("chat:")})  # fmt: skip
        today = figures.get(queue.pk, {})
        shown_queues.append({
            "id": queue.pk, "name": queue.name, "waiting": callers,
            "service_level": today.get("service_level"), "service_level_seconds": queue.service_level_seconds,
            "offered_today": today.get("offered", 0), "answered_today": today.get("answered", 0),
            "abandoned_today": today.get("abandoned", 0) + today.get("abandoned_short", 0),
        })  # fmt: skip
    hashes = dict(zip(numbers, answers[2 * len(chosen) :], strict=True))
    agents, names = {}, {q.pk: q.name for q in chosen}
    for member in members:
        ext = member.extension
        agent = agents.setdefault(ext.number, {"extension": ext.number, "name": ext.display_name, "queues": [],
                                               "logged_in": False, "paused": paused.get(ext.pk)})  # fmt: skip
        agent["queues"].append(names[member.queue_id])
        agent["logged_in"] = agent["logged_in"] or member.logged_in
    shown_agents = [_agent_state(a, {_text(k): _text(v) for k, v in hashes[n].items()}, live, where, now)
                    for n, a in sorted(agents.items())]  # fmt: skip
    return {"now": now, "queues": shown_queues, "agents": shown_agents}


def _agent_state(agent: dict, redis_hash: dict, live: dict, where: set, now: float) -> dict:
    ext, pause = agent["extension"], agent.pop("paused")
    shown = {**agent, "state": "available", "since": None, "until": None, "with": "", "with_name": "", "reason": "",
             "chats": int(float(redis_hash.get("chats") or 0))}  # fmt: skip
    busy, offered = redis_hash.get("busy"), redis_hash.get("offered")
    other = next((c for c in live.values() if ext in (c.get("caller"), c.get("callee"))), None)
    call = live.get(busy) if busy else None
    if not agent["logged_in"]:
        shown["state"] = "logged_out"
    if busy or (other is not None and f"line:{ext}" in where):
        call = call or other
        mine = call.get("callee") == ext
        shown["state"] = "on_call"
        shown["with"] = call.get("caller" if mine else "callee", "")
        shown["with_name"] = call.get("caller_name" if mine else "callee_name", "")
        since = float(redis_hash["busy_since"]) if busy and redis_hash.get("busy_since") else None
        shown["since"] = since or _epoch(call.get("answered_at")) or _epoch(call.get("started_at"))
    elif offered or f"ring:{ext}" in where:
        shown["state"] = "ringing"
        ringing = live.get(offered) if offered else other
        if ringing:
            shown["with"], shown["with_name"] = ringing.get("caller", ""), ringing.get("caller_name", "")
    elif pause is not None:
        shown.update(state="paused", reason=pause.pause_reason, since=pause.paused_at and pause.paused_at.timestamp())
    elif agent["logged_in"] and float(redis_hash.get("wrap_until") or 0) > now:
        shown.update(state="wrapup", until=float(redis_hash["wrap_until"]))
    return shown
