"""A client's outbound policy as the engine applies it: which classes of numbers its users may dial,
the prefixes never called, the caller ID shown to the carrier, and the spending guard on
international calls (calls and minutes per client per clock hour, counted in Redis).

`load_policy()` reads the database (the engine runs it in a thread); everything else is plain or
asynchronous Redis work. Emergency numbers are never refused, by class, prefix or guard.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from pstn.numbering import EMERGENCY, INTERNATIONAL, MOBILE, NATIONAL, OTHER, PREMIUM, TOLLFREE, Dialled

log = logging.getLogger(__name__)

FORBIDDEN = 403
HOUR = 3600
NOTICE_ACTION = "pstn.spending_guard"

# The guard of one client's hour: refuse at the calls limit, or once the minutes spent this hour are
# over the minutes limit; else count the call. Returns 1 (admitted), 0 (calls) or -1 (minutes).
ADMIT_SCRIPT = """
local key, calls_limit, seconds_limit, ttl = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local calls = tonumber(redis.call('HGET', key, 'calls') or '0')
if calls >= calls_limit then return 0 end
if tonumber(redis.call('HGET', key, 'seconds') or '0') >= seconds_limit then return -1 end
redis.call('HINCRBY', key, 'calls', 1)
redis.call('EXPIRE', key, ttl)
return 1
"""
SPENT_SCRIPT = """
redis.call('HINCRBY', KEYS[1], 'seconds', tonumber(ARGV[1]))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""


@dataclass(frozen=True, slots=True)
class Policy:
    """pstn.OutboundPolicy's fields as the engine needs them (the main number as E.164), with the
    client's brand and country; the model's defaults when the client has no policy."""

    client_id: int
    brand_id: int | None = None
    country: str = "US"
    allow_national: bool = True
    allow_mobile: bool = True
    allow_international: bool = False
    allow_premium: bool = False
    blocked_prefixes: tuple[str, ...] = ()
    caller_id: str = "main"
    main_number: str = ""
    international_calls_per_hour: int = 30
    international_minutes_per_hour: int = 120


def prefixes_from_text(text: str) -> tuple[str, ...]:
    """The blocked prefixes of the policy's text (one per line) as "+digits"."""
    found = []
    for line in (text or "").splitlines():
        digits = "".join(ch for ch in line if ch.isdigit())
        if line.strip().startswith("00"):
            digits = digits[2:]
        if digits:
            found.append("+" + digits)
    return tuple(found)


def load_policy(client_id: int) -> Policy:
    """The client's policy (database work: run it in a thread from the engine)."""
    from pstn.models import Number, OutboundPolicy
    from tenants.models import Client

    client = Client.objects.filter(pk=client_id).values("brand_id", "country").first() or {}
    base = {"client_id": client_id, "brand_id": client.get("brand_id"), "country": client.get("country") or "US"}
    row = OutboundPolicy.objects.select_related("main_number").filter(client_id=client_id).first()
    if row is not None and row.main_number is not None and row.main_number.client_id == client_id:
        main = row.main_number.e164
    else:  # no main number chosen (or it left the client): the client's first number
        main = Number.objects.filter(client_id=client_id).values_list("e164", flat=True).first() or ""
    if row is None:
        return Policy(**base, main_number=main)
    return Policy(
        **base,
        allow_national=row.allow_national,
        allow_mobile=row.allow_mobile,
        allow_international=row.allow_international,
        allow_premium=row.allow_premium,
        blocked_prefixes=prefixes_from_text(row.blocked_prefixes),
        caller_id=row.caller_id,
        main_number=main,
        international_calls_per_hour=row.international_calls_per_hour,
        international_minutes_per_hour=row.international_minutes_per_hour,
    )


_CLASS_RULES = {
    NATIONAL: ("allow_national", "national numbers"),
    OTHER: ("allow_national", "national numbers"),
    MOBILE: ("allow_mobile", "mobile numbers"),
    INTERNATIONAL: ("allow_international", "international numbers"),
    PREMIUM: ("allow_premium", "premium-rate numbers"),
}


def refusal(policy: Policy, dialled: Dialled) -> tuple[int, str] | None:
    """Why the policy refuses a call (SIP status, reason), or None when it may go. Emergency numbers
    always go; toll-free numbers of the client's country always go (they cost nothing)."""
    if dialled.kind == EMERGENCY:
        return None
    for prefix in policy.blocked_prefixes:
        if dialled.e164.startswith(prefix):
            return FORBIDDEN, f"Numbers starting {prefix} are blocked by the company's outbound policy"
    if dialled.kind == TOLLFREE:
        return None
    rule = _CLASS_RULES.get(dialled.kind)
    if rule is not None and not getattr(policy, rule[0]):
        return FORBIDDEN, f"Calls to {rule[1]} are not allowed by the company's outbound policy"
    return None


def caller_id(policy: Policy, own_numbers: list[str]) -> str:
    """The E.164 number the carrier is shown: the user's own number when the policy says so and they
    have one, else the client's main number, else any number of the user ("" when none)."""
    if policy.caller_id == "user" and own_numbers:
        return own_numbers[0]
    return policy.main_number or (own_numbers[0] if own_numbers else "")


# The spending guard -----------------------------------------------------------------------------


def guard_key(prefix: str, client_id: int, hour: int) -> str:
    return f"{prefix}:pstn:intl:{client_id}:{hour}"


def notice_key(prefix: str, client_id: int, hour: int) -> str:
    return f"{prefix}:pstn:intl-notice:{client_id}:{hour}"


async def run_script(redis, text: str, keys: list[str], args: list) -> object:
    """A Lua script on either Redis client the platform uses: the edge's pipelined one
    (telephony/edge/fastredis.py: EVALSHA, loading on first use) or redis-py's asyncio client."""
    if hasattr(redis, "script") and hasattr(redis, "call"):
        return await redis.script(text, len(keys), *keys, *args)
    return await redis.eval(text, len(keys), *keys, *args)


async def _call(redis, *args) -> object:
    if hasattr(redis, "call") and hasattr(redis, "script"):
        return await redis.call(*args)
    return await redis.execute_command(*args)


async def admit_international(redis, prefix: str, client_id: int, policy: Policy, *, now: float | None = None,
                              notify=None) -> bool:  # fmt: skip
    """Count one international call of the client in this hour, or refuse it (False) at the calls
    limit or when the minutes already spent this hour are over the minutes limit. The first refusal
    of an hour tells the operators (`notify(client_id, brand_id, why)`, by default an audit row and
    a live event to the brand's and the platform's portals, in a thread)."""
    hour = int((time.time() if now is None else now) // HOUR)
    limits = [policy.international_calls_per_hour, policy.international_minutes_per_hour * 60, 2 * HOUR]
    admitted = int(await run_script(redis, ADMIT_SCRIPT, [guard_key(prefix, client_id, hour)], limits))
    if admitted == 1:
        return True
    if await _call(redis, "SET", notice_key(prefix, client_id, hour), "1", "NX", "EX", 2 * HOUR):
        why = (
            f"{policy.international_calls_per_hour} international calls this hour"
            if admitted == 0
            else f"{policy.international_minutes_per_hour} international minutes this hour"
        )
        try:
            await asyncio.to_thread(notify or notify_operators, client_id, policy.brand_id, why)
        except Exception:  # the notice must never stop the engine's call handling
            log.exception("could not tell the operators about client %s's spending guard", client_id)
    return False


async def spent(redis, prefix: str, client_id: int, seconds: int, *, now: float | None = None) -> None:
    """Add an international call's seconds to the client's hour (when the call ends)."""
    if seconds <= 0:
        return
    hour = int((time.time() if now is None else now) // HOUR)
    await run_script(redis, SPENT_SCRIPT, [guard_key(prefix, client_id, hour)], [int(seconds), 2 * HOUR])


def notify_operators(client_id: int, brand_id: int | None, why: str) -> None:
    """An audit row for the operators, and a live event to the brand's and the platform's portals."""
    from django.db import close_old_connections, connection

    from tenants.audit import audit
    from tenants.events import group_for_brand, group_for_platform, publish
    from tenants.models import Client

    close_old_connections()  # a long-lived engine thread: PostgreSQL may have restarted (PITFALLS.md)
    try:
        client = Client.objects.select_related("brand").filter(pk=client_id).first()
        message = f"International calls refused: the spending guard's limit of {why} was reached."
        audit(None, NOTICE_ACTION, client or client_id, client=client, message=message)
    finally:
        connection.close()  # at most once an hour per client: no connection left in a pool thread
    event = {"type": "pstn.spending_guard", "client": client_id, "message": message}
    for group in [group_for_platform(), *([group_for_brand(brand_id)] if brand_id else [])]:
        try:
            publish(group, event)
        except Exception:  # no channel layer reachable: the audit row stays
            log.warning("could not publish the spending guard notice to %s", group)
