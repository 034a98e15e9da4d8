"""Reads on the hierarchy for the portals: dashboard counts and the platform's status."""

from __future__ import annotations

import asyncio
import json
import platform
import time
from datetime import UTC, datetime
from importlib import metadata

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count
from django.utils.translation import gettext

from telephony.engine_registry import EngineInfo, registry_key
from tenants.models import Brand, Client, Role, User
from tenants.tasks import HEARTBEAT_KEY

HEARTBEAT_FRESH_SECONDS = 60
PACKAGES = ["Django", "django-tenants", "djangorestframework", "channels", "channels-redis", "celery", "daphne"]


def client_counts(*, actor: User) -> list[tuple[str, str, int]]:
    """The actor's clients by status, as (status, label, count) for every status."""
    counts = dict(Client.objects.restrict(actor).order_by().values_list("status").annotate(n=Count("pk")))
    return [(status, label, counts.get(status, 0)) for status, label in Client.Status.choices]


def account_counts(*, actor: User) -> list[tuple[str, str, int]]:
    """Accounts the actor may see, by role, as (role, label, count)."""
    counts = dict(User.objects.restrict(actor).order_by().values_list("role").annotate(n=Count("pk")))
    return [(role, label, counts[role]) for role, label in Role.choices if role in counts]


def dashboard(*, actor: User) -> dict:
    """The numbers an operator's dashboard shows, all within the actor's scope."""
    accounts = account_counts(actor=actor)
    clients = client_counts(actor=actor)
    return {
        "brand_count": Brand.objects.restrict(actor).count(),
        "client_counts": clients,
        "client_total": sum(n for _, _, n in clients),
        "account_counts": accounts,
        "account_total": sum(n for _, _, n in accounts),
    }


def _check(probe) -> dict:
    """Run one probe; its facts, or down with the error."""
    try:
        return {"up": True, **probe()}
    except Exception as exc:  # a status page reports every failure instead of failing itself
        return {"up": False, "detail": f"{type(exc).__name__}: {exc}"[:300]}


def _postgresql() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        (version,) = cursor.fetchone()
    return {"detail": version}


def _redis() -> dict:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        info = client.info("server")
    finally:
        client.close()
    return {"detail": f"Redis {info['redis_version']} ({info.get('redis_mode', 'standalone')})"}


def _celery() -> dict:
    beat = cache.get(HEARTBEAT_KEY)
    if beat is None:
        return {"up": False, "detail": gettext("No heartbeat yet: are the Celery worker and beat running?")}
    age = time.time() - float(beat)
    return {
        "up": age < HEARTBEAT_FRESH_SECONDS,
        "detail": gettext("Last heartbeat %(age)s s ago") % {"age": f"{age:.0f}"},
        "at": datetime.fromtimestamp(float(beat), tz=UTC),
    }


async def _channel_round_trip() -> None:
    layer = get_channel_layer()
    name = await layer.new_channel("status.")
    await layer.send(name, {"type": "status.ping"})
    message = await asyncio.wait_for(layer.receive(name), timeout=3)
    if message.get("type") != "status.ping":
        raise RuntimeError("The channel layer returned another message.")


def _channel_layer() -> dict:
    async_to_sync(_channel_round_trip)()
    backend = settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1]
    return {"detail": gettext("%(backend)s: message round trip") % {"backend": backend}}


def versions() -> list[tuple[str, str]]:
    """Python and the platform's main libraries, as installed."""
    found = [("Python", platform.python_version())]
    for package in PACKAGES:
        try:
            found.append((package, metadata.version(package)))
        except metadata.PackageNotFoundError:
            found.append((package, gettext("not installed")))
    return found


def platform_status() -> dict:
    """Whether the platform's services answer, and what runs: for the god portal's status page."""
    services = [
        ("PostgreSQL", _check(_postgresql)),
        ("Redis", _check(_redis)),
        ("Celery", _check(_celery)),
        (gettext("Channel layer"), _check(_channel_layer)),
    ]
    try:
        telephony = telephony_status()
    except redis.RedisError:
        telephony = {"edges": [], "engines": []}
    from recordings.disk import disk_rows  # (the disk where recordings and voicemail live)

    return {"services": services, "versions": versions(), "disks": disk_rows(), **telephony}


def telephony_status() -> dict:
    """The SIP edges and call engines that announce themselves in Redis, with their load: calls,
    conference ports (participants mixed) in use and free, RTP port pairs free."""
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    prefix, now = settings.OCX_REDIS_PREFIX, time.time()
    try:
        edges = [json.loads(raw) for raw in client.mget(list(client.scan_iter(f"{prefix}:edge:*", count=1000))) if raw]
        engines = [EngineInfo.from_json(raw) for raw in client.hvals(registry_key(prefix))]
    finally:
        client.close()
    edge_rows = [
        {"id": e["id"], "address": f"{e['host']}:{e['port']}", "age": round(now - e["at"], 1), "up": now - e["at"] < 15}
        for e in edges
    ]
    engine_rows = [
        {
            "id": e.id,
            "address": f"{e.host}:{e.port}",
            "calls": e.calls,
            "capacity": e.capacity,
            "conferences": e.conferences,
            "participants": e.participants,
            "conference_free": max(e.conference_capacity - e.participants, 0),
            "rtp_free": e.free_ports,
            "draining": e.draining,
            "age": round(now - e.at, 1),
            "up": e.fresh(now),
        }
        for e in engines
    ]
    return {"edges": sorted(edge_rows, key=lambda e: e["id"]), "engines": sorted(engine_rows, key=lambda e: e["id"])}
