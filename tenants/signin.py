"""Brute-force protection for password checks: failures counted per account and per address in Redis.

Like the SIP edge's guard (telephony/edge/guard.py) for phones: failures count while each follows
the last within the window; at the limit the account (or the address) is locked for a while, and
even the right password is refused until the lock ends or an operator lifts it (account_unlock).
Every web process shares the counters. Sign-ins on the portals and the password checks of a
password change go through here; so do, each with counters and limits of their own, the second
factor's codes (tenants/second_factor.py) and password reset requests (tenants/reset.py).
"""

from __future__ import annotations

import logging
import math

import redis
from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import ngettext

from config.redis_store import get_redis, rkey
from tenants.errors import PlatformError

log = logging.getLogger(__name__)


class SignInLocked(PlatformError):
    """Too many wrong passwords for this account or from this address: wait, or ask an operator."""

    code = "locked"
    status = 429

    def __init__(self, seconds: int):
        minutes = max(1, math.ceil(seconds / 60))
        super().__init__(
            ngettext(
                "Too many failed sign-ins: try again in %(minutes)d minute, or ask an operator to unlock the account.",
                "Too many failed sign-ins: try again in %(minutes)d minutes, or ask an operator to unlock the account.",
                minutes,
            )
            % {"minutes": minutes}
        )
        self.seconds = seconds


def _key(state: str, kind: str, who: str) -> str:
    return rkey("signin", state, kind, who)


def client_address(request: HttpRequest) -> str:
    """The caller's address (daphne puts the proxy's X-Forwarded-For here when run with --proxy-headers)."""
    return request.META.get("REMOTE_ADDR") or "unknown"


def _who(email: str) -> str:
    return email.strip().lower()[:254]  # what was typed, e-mail or not, bounded


# Checks the locks and counts the attempt in one step, so that parallel attempts cannot all pass the
# check before any of them is counted. KEYS: account lock, address lock, account count, address count;
# ARGV: window, account limit, address limit, lockout. Returns the seconds of a lock, or 0.
RESERVE = """
local ttl = math.max(redis.call('TTL', KEYS[1]), redis.call('TTL', KEYS[2]))
if ttl > 0 then return ttl end
local locked = 0
for i, limit in ipairs({tonumber(ARGV[2]), tonumber(ARGV[3])}) do
    local count = redis.call('INCR', KEYS[i + 2])
    redis.call('EXPIRE', KEYS[i + 2], ARGV[1])
    if count > limit then
        redis.call('SET', KEYS[i], '1', 'EX', ARGV[4])
        redis.call('DEL', KEYS[i + 2])
        locked = tonumber(ARGV[4])
    end
end
return locked
"""
# Gives an attempt back (it was no failure): each count down by one, never below nothing.
RELEASE = """
for _, key in ipairs(KEYS) do
    if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
return 0
"""


def _keys(kind_state: str, email: str, address: str) -> list[str]:
    return [_key(kind_state, "account", _who(email)), _key(kind_state, "address", address)]


def attempt_reserve(*, kind: str, config: dict, email: str, address: str) -> int:
    """Count one attempt of a kind ("" a password, "reset-" a reset request, "code-" a second factor's
    code) against its own limits: the seconds of the lock it is under, or 0 when it may go ahead."""
    try:
        return get_redis().eval(RESERVE, 4, *_keys(f"{kind}lock", email, address),
                                *_keys(f"{kind}fail", email, address), config["window"],
                                config["account_failures"], config["address_failures"], config["lockout"])  # fmt: skip
    except redis.RedisError:  # without Redis, sign-in keeps working unthrottled rather than not at all
        log.exception("sign-in throttle unavailable")
        return 0


def signin_check(*, email: str, address: str) -> None:
    """Take an attempt before the password is checked: raise SignInLocked while the account or the
    address is locked, or when this attempt is one past its limit. The attempt counts as a failure
    until signin_succeeded or signin_released gives it back."""
    seconds = attempt_reserve(kind="", config=settings.OCX_SIGNIN, email=email, address=address)
    if seconds > 0:
        raise SignInLocked(seconds)


def signin_failed(*, email: str, address: str) -> None:
    """A wrong password (already counted by signin_check): lock the account or the address that
    reached its limit, so that operators see the lock at once."""
    config = settings.OCX_SIGNIN
    try:
        r = get_redis()
        account_failures, address_failures = (int(n or 0) for n in r.mget(_keys("fail", email, address)))
        pipe = r.pipeline()
        for kind, who, failures, limit in (
            ("account", _who(email), account_failures, config["account_failures"]),
            ("address", address, address_failures, config["address_failures"]),
        ):
            if failures >= limit:
                log.warning("%s failed sign-ins for %s %s: locked for %s s", failures, kind, who, config["lockout"])
                pipe.set(_key("lock", kind, who), "1", ex=config["lockout"])
                pipe.delete(_key("fail", kind, who))
        pipe.execute()
    except redis.RedisError:
        log.exception("sign-in throttle unavailable")


def signin_succeeded(*, email: str, address: str, kind: str = "") -> None:
    """The right password (or code, kind "code-"): the account's count starts again, the address's
    gets this attempt back."""
    try:
        r = get_redis()
        r.eval(RELEASE, 1, _key(f"{kind}fail", "address", address))
        r.delete(_key(f"{kind}fail", "account", _who(email)))
    except redis.RedisError:
        log.exception("sign-in throttle unavailable")


def signin_released(*, email: str, address: str) -> None:
    """No password was checked after all (a field was missing): the attempt is given back."""
    try:
        get_redis().eval(RELEASE, 2, *_keys("fail", email, address))
    except redis.RedisError:
        log.exception("sign-in throttle unavailable")


def signin_locks(emails: list[str]) -> dict[str, int]:
    """Seconds left of each locked account's lock, by e-mail (accounts not locked are left out)."""
    if not emails:
        return {}
    try:
        pipe = get_redis().pipeline()
        for email in emails:
            pipe.ttl(_key("lock", "account", _who(email)))
        return {email: ttl for email, ttl in zip(emails, pipe.execute(), strict=True) if ttl > 0}
    except redis.RedisError:
        log.exception("sign-in throttle unavailable")
        return {}


def signin_unlock(*, email: str) -> bool:
    """Lift an account's lock and forget its failures; whether there was anything to lift."""
    return bool(get_redis().delete(_key("lock", "account", _who(email)), _key("fail", "account", _who(email))))
