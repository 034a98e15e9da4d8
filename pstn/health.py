"""Carrier health, measured from each carrier's own recent calls in Redis, and carriers' concurrent
call limits.

Each call a carrier took leaves one outcome: answered; refused by the far end (busy, not found,
declined, no answer: the carrier reached the far end, so never its fault); a server error (5xx) or
a timeout (no answer from the carrier at all). Over the last `window` calls (the brand's
pstn.RoutingPolicy) a carrier has an answer-seizure ratio (ASR: answered among the calls the
carrier could have completed, far-end refusals left out), a server-error rate (errors and timeouts
among the same calls), an average call duration (ACD), an average post-dial delay (PDD) and a state:

- "in": tried in its normal place;
- "down": ASR below the brand's minimum or errors above its maximum: tried last;
- "out": ASR below half the minimum, errors at least twice the maximum (or over 90%), or
  OUT_STREAK failures in a row: not tried (except for emergency calls);
- "trial": an "out" (or "down") carrier that has had no call for QUIET seconds gets one trial call
  in its normal place (claimed atomically: one at a time); a success (answered or a far-end
  refusal) clears its history and brings it back in, a failure keeps it where it was for another
  quiet period.

Fewer than MIN_CALLS judged calls say nothing (state "in"), except a failure streak.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from config.redis_store import CALL_LIMIT_SCRIPT
from pstn.policy import _call, run_script

ANSWERED, REFUSED, SERVER_ERROR, TIMEOUT = "answered", "refused", "error", "timeout"
OUTCOMES = {ANSWERED: "a", REFUSED: "r", SERVER_ERROR: "e", TIMEOUT: "t"}
SUCCESSES = {"a", "r"}
IN, DOWN, OUT, TRIAL = "in", "down", "out", "trial"
MIN_CALLS = 5
OUT_STREAK = 5
QUIET = 60.0  # seconds without a call before an "out" carrier gets a trial call
KEEP = 1000  # outcomes kept per carrier at most (RoutingPolicy.window's maximum)
CALLS_MAX_AGE = 4 * 3600  # a call slot not released after this long is dropped (a crashed engine)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """A brand's pstn.RoutingPolicy as the judgement needs it."""

    min_asr: int = 20
    max_server_errors: int = 30
    window: int = 20
    quiet: float = QUIET

    @classmethod
    def for_brand(cls, brand_id: int) -> Thresholds:
        """The brand's thresholds (database work), the model's defaults without a policy."""
        from pstn.models import RoutingPolicy

        row = RoutingPolicy.objects.filter(brand_id=brand_id).first()
        return cls() if row is None else cls(row.min_asr, row.max_server_errors, row.window)


@dataclass(frozen=True, slots=True)
class Health:
    """One carrier's recent calls judged: figures (None without calls to measure) and a state."""

    carrier_id: int
    state: str = IN
    calls: int = 0  # outcomes in the window, far-end refusals included
    asr: float | None = None  # percent
    acd: float | None = None  # seconds
    pdd: float | None = None  # seconds
    server_errors: float | None = None  # percent
    streak: int = 0  # failures in a row
    reason: str = "no recent calls"


def history_key(prefix: str, carrier_id: int) -> str:
    return f"{prefix}:pstn:health:{carrier_id}"


def marks_key(prefix: str, carrier_id: int) -> str:
    return f"{prefix}:pstn:health-marks:{carrier_id}"


def calls_key(prefix: str, carrier_id: int) -> str:
    return f"{prefix}:pstn:carrier-calls:{carrier_id}"


# One outcome: pushed on the history (trimmed), the failure streak counted, and the trial (if one was
# out) settled: a success clears the history before this outcome, so the carrier is back in.
RECORD_SCRIPT = """
local history, marks = KEYS[1], KEYS[2]
local entry, success, now, keep = ARGV[1], ARGV[2] == '1', ARGV[3], tonumber(ARGV[4])
if success then
  if redis.call('HGET', marks, 'trial') then redis.call('DEL', history) end
  redis.call('HSET', marks, 'streak', 0)
else
  redis.call('HINCRBY', marks, 'streak', 1)
end
redis.call('HDEL', marks, 'trial')
redis.call('HSET', marks, 'last', now)
redis.call('LPUSH', history, entry)
redis.call('LTRIM', history, 0, keep - 1)
return 1
"""

# One trial call for an "out" carrier: granted when it had no call for `quiet` seconds and no trial
# is pending (a trial whose call never reported back expires after the same quiet period).
TRIAL_SCRIPT = """
local marks, now, quiet = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local last = tonumber(redis.call('HGET', marks, 'last') or '0')
local trial = tonumber(redis.call('HGET', marks, 'trial') or '0')
if now - last < quiet or now - trial < quiet then return 0 end
redis.call('HSET', marks, 'trial', now)
return 1
"""


SNAPSHOT_SCRIPT = """
local out, window = {}, tonumber(ARGV[1])
for i = 1, #KEYS, 2 do
  out[#out + 1] = redis.call('LRANGE', KEYS[i], 0, window - 1)
  out[#out + 1] = redis.call('HMGET', KEYS[i + 1], 'streak', 'last', 'trial')
end
return out
"""

COUNT_SCRIPT = """
local out, now, age = {}, tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - age)
  out[i] = redis.call('ZCARD', KEYS[i])
end
return out
"""


async def record(redis, prefix: str, carrier_id: int, outcome: str, pdd: float, seconds: float, *,
                 now: float | None = None) -> None:  # fmt: skip
    """One call's outcome at a carrier (ANSWERED, REFUSED, SERVER_ERROR or TIMEOUT), its post-dial
    delay (seconds from the INVITE to the first ringing or answer; 0 when none) and its duration."""
    code = OUTCOMES[outcome]
    entry = f"{code}|{max(0.0, pdd):.3f}|{max(0, int(seconds))}"
    now = time.time() if now is None else now
    keys = [history_key(prefix, carrier_id), marks_key(prefix, carrier_id)]
    await run_script(redis, RECORD_SCRIPT, keys, [entry, "1" if code in SUCCESSES else "0", f"{now:.3f}", KEEP])


def outcome_for(status: int | None) -> str:
    """A carrier call's outcome from its final SIP status (None: no final answer, or a transport
    error): 2xx answered; 5xx a server error; 408 and none a timeout; any other 3xx-6xx the far
    end's refusal (busy, not found, declined, no answer), never the carrier's fault. The engine
    fails over to the next carrier on SERVER_ERROR and TIMEOUT only."""
    if status is None or status == 408:
        return TIMEOUT
    if 200 <= status < 300:
        return ANSWERED
    if 500 <= status < 600:
        return SERVER_ERROR
    return REFUSED


def fails_over(outcome: str) -> bool:
    """Whether a call goes on to the next carrier after this outcome at one."""
    return outcome in (SERVER_ERROR, TIMEOUT)


def judge(carrier_id: int, entries: list, streak: int, thresholds: Thresholds) -> Health:
    """A carrier's figures and state from its outcomes (newest first), before any trial."""
    answered = refused = failed = 0
    pdd_sum, pdd_count, seconds = 0.0, 0, 0
    for raw in entries:
        code, pdd, secs = (raw.decode() if isinstance(raw, bytes) else raw).split("|")
        if code == "a":
            answered += 1
            seconds += int(secs)
        elif code == "r":
            refused += 1
        else:
            failed += 1
        if code != "t" and float(pdd) > 0:
            pdd_sum += float(pdd)
            pdd_count += 1
    judged = answered + failed
    figures = {
        "calls": len(entries),
        "asr": 100.0 * answered / judged if judged else None,
        "acd": seconds / answered if answered else None,
        "pdd": pdd_sum / pdd_count if pdd_count else None,
        "server_errors": 100.0 * failed / judged if judged else None,
        "streak": streak,
    }
    asr, errors = figures["asr"], figures["server_errors"]
    if streak >= OUT_STREAK:
        return Health(carrier_id, OUT, reason=f"{streak} failures in a row", **figures)
    if not entries:
        return Health(carrier_id, IN, **figures)
    if judged < MIN_CALLS:
        return Health(carrier_id, IN, reason=f"{judged} calls measured, too few to judge", **figures)
    summary = f"ASR {asr:.0f}%, server errors {errors:.0f}% over {judged} calls"
    if asr < thresholds.min_asr / 2 or errors >= min(90, 2 * thresholds.max_server_errors):
        return Health(carrier_id, OUT, reason=f"{summary}: well below the thresholds", **figures)
    if asr < thresholds.min_asr or errors > thresholds.max_server_errors:
        return Health(carrier_id, DOWN, reason=f"{summary}: below the thresholds", **figures)
    return Health(carrier_id, IN, reason=summary, **figures)


async def snapshot(redis, prefix: str, carrier_ids, *, thresholds: Thresholds | None = None,
                   now: float | None = None, trials: bool = True) -> dict[int, Health]:  # fmt: skip
    """Every given carrier's health now (one round trip; one more per "out" carrier whose quiet
    period is over, to claim its trial call unless `trials` is False, as the route tester does)."""
    thresholds = thresholds or Thresholds()
    ids = list(dict.fromkeys(carrier_ids))
    if not ids:
        return {}
    keys = [key for cid in ids for key in (history_key(prefix, cid), marks_key(prefix, cid))]
    reply = await run_script(redis, SNAPSHOT_SCRIPT, keys, [thresholds.window])
    now = time.time() if now is None else now
    found = {}
    for index, cid in enumerate(ids):
        entries, (streak, last, _trial) = reply[2 * index], reply[2 * index + 1]
        health = judge(cid, entries, int(streak or 0), thresholds)
        if health.state in (OUT, DOWN):
            quiet_for = now - float(last or 0)
            if trials and quiet_for >= thresholds.quiet:
                if await run_script(redis, TRIAL_SCRIPT, [marks_key(prefix, cid)], [f"{now:.3f}", thresholds.quiet]):
                    health = _with(health, TRIAL, f"{health.reason}; one trial call after {thresholds.quiet:.0f} s")
            elif health.state == OUT and quiet_for < thresholds.quiet:
                health = _with(health, OUT, f"{health.reason}; a trial call in {thresholds.quiet - quiet_for:.0f} s")
        found[cid] = health
    return found


def _with(health: Health, state: str, reason: str) -> Health:
    fields = {name: getattr(health, name) for name in Health.__slots__}
    return Health(**{**fields, "state": state, "reason": reason})


async def forget(redis, prefix: str, carrier_id: int) -> None:
    """Drop a carrier's history (an operator put it back by hand, or it was deleted)."""
    await _call(redis, "DEL", history_key(prefix, carrier_id), marks_key(prefix, carrier_id))


# Concurrent calls per carrier -------------------------------------------------------------------


async def claim(redis, prefix: str, carrier_id: int, call_id: str, limit: int, *,
                max_age: int = CALLS_MAX_AGE) -> bool:  # fmt: skip
    """Take one of the carrier's `limit` call slots for a call (True), or False when all are in use.
    A limit of 0 means no limit. Claiming again for the same call is still one slot."""
    if limit <= 0:
        return True
    args = [int(time.time()), max_age, limit, call_id]
    return bool(await run_script(redis, CALL_LIMIT_SCRIPT, [calls_key(prefix, carrier_id)], args))


async def release(redis, prefix: str, carrier_id: int, call_id: str) -> None:
    """Give the call's slot back (when the call at that carrier ends or fails)."""
    await _call(redis, "ZREM", calls_key(prefix, carrier_id), call_id)


async def in_use(redis, prefix: str, carrier_ids, *, max_age: int = CALLS_MAX_AGE) -> dict[int, int]:
    """How many calls each carrier holds now (one round trip)."""
    ids = list(dict.fromkeys(carrier_ids))
    if not ids:
        return {}
    counts = await run_script(redis, COUNT_SCRIPT, [calls_key(prefix, cid) for cid in ids], [int(time.time()), max_age])
    return {cid: int(count) for cid, count in zip(ids, counts, strict=True)}


async def busy(redis, prefix: str, limits: dict[int, int]) -> set[int]:
    """The carriers at their concurrent-call limit (`limits`: carrier id -> max calls, 0: none)."""
    limited = {cid: limit for cid, limit in limits.items() if limit > 0}
    counts = await in_use(redis, prefix, limited)
    return {cid for cid, count in counts.items() if count >= limited[cid]}
