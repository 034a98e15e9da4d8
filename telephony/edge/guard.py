"""Abuse protection: anti-flood per source address and brute-force bans per user and source.

Counting happens in each edge process (a flood hits one process's socket); bans are written to
Redis and published, so every edge refuses the banned source at once, and god or the brand can
list and release them (tenants' portals read the same keys). Checks on the packet path are local
dictionary lookups only.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time

from config.redis_store import follow
from telephony.edge.config import EdgeConfig

log = logging.getLogger(__name__)

# KEYS = the sender's and the client's message counters; ARGV[1] = the window: both counts, one round trip.
MESSAGE_COUNT_SCRIPT = """
local sender = redis.call('INCR', KEYS[1])
if sender == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local client = redis.call('INCR', KEYS[2])
if client == 1 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
return {sender, client}
"""


def permitted(ip: str, allow: list, deny: list) -> bool:
    """Deny wins; with allow rules, only their networks pass. Rules are networks or their text."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if any(address in ipaddress.ip_network(n) for n in deny):
        return False
    return not allow or any(address in ipaddress.ip_network(n) for n in allow)


def ip_ban_key(prefix: str, ip: str) -> str:
    return f"{prefix}:ban:ip:{ip}"


def auth_ban_key(prefix: str, domain: str, user: str, ip: str) -> str:
    """The address goes last: IPv6 addresses hold colons, SIP domains and user names do not."""
    return f"{prefix}:ban:auth:{domain}:{user}:{ip}"


def parse_ban_key(prefix: str, key: str) -> tuple[str, tuple[str, ...]] | None:
    """("ip", (ip,)) or ("auth", (domain, user, ip)) for a ban key, else None."""
    kind, _, rest = key[len(prefix) + len(":ban:") :].partition(":")
    if kind == "ip" and rest:
        return "ip", (rest,)
    parts = rest.split(":", 2)
    if kind == "auth" and len(parts) == 3:
        return "auth", tuple(parts)
    return None


class Guard:
    def __init__(self, redis, config: EdgeConfig):
        self.redis = redis
        self.config = config
        self.prefix = config.redis_prefix
        self.banned_ips: dict[str, float] = {}  # ip -> until (epoch seconds)
        self.banned_auth: dict[tuple[str, str, str], float] = {}  # (domain, user, ip) -> until
        self._window_start = time.monotonic()
        self._counts: dict[str, int] = {}
        self.dropped = 0
        self.carrier = lambda ip: False  # whether an address is a carrier gateway's (trusted like OCX_SIP_TRUSTED)
        self.global_allow: list = []  # networks; when any, the edge answers only these
        self.global_deny: list = []
        self._acl_verdicts: dict[str, bool] = {}  # ip -> allowed by the global rules
        self._tasks: set[asyncio.Task] = set()

    # Packet path ----------------------------------------------------------------------------------

    def packet_allowed(self, ip: str) -> bool:
        if self.global_allow or self.global_deny:
            allowed = self._acl_verdicts.get(ip)
            if allowed is None:
                allowed = self._acl_verdicts[ip] = permitted(ip, self.global_allow, self.global_deny)
            if not allowed:
                self.dropped += 1
                return False
        until = self.banned_ips.get(ip)
        if until is not None:
            if until > time.time():
                self.dropped += 1
                return False
            del self.banned_ips[ip]
        now = time.monotonic()
        if now - self._window_start >= self.config.flood_window:
            self._window_start, self._counts = now, {}
        count = self._counts.get(ip, 0) + 1
        self._counts[ip] = count
        if count > self.config.flood_limit and not self.config.is_trusted(ip) and not self.carrier(ip):
            self.ban_ip(ip, self.config.flood_ban)
            self.dropped += 1
            return False
        return True

    @staticmethod
    def client_allows(domain_record: dict, ip: str) -> bool:
        """A client's own address rules (carried in its SIP directory record)."""
        allow, deny = domain_record.get("allow") or [], domain_record.get("deny") or []
        return (not allow and not deny) or permitted(ip, allow, deny)

    async def load_acl(self) -> None:
        raw = await self.redis.get(f"{self.prefix}:sip:acl")
        rules = json.loads(raw) if raw else {}
        self.global_allow = [ipaddress.ip_network(n) for n in rules.get("allow", [])]
        self.global_deny = [ipaddress.ip_network(n) for n in rules.get("deny", [])]
        self._acl_verdicts = {}

    def auth_banned(self, domain: str, user: str, ip: str) -> bool:
        until = self.banned_auth.get((domain, user, ip))
        return until is not None and until > time.time()

    async def message_allowed(self, client: int, sender: str) -> bool:
        """Whether a line (its SIP user name) may send one more SIP MESSAGE: at most message_rate per
        line and message_client_rate per client each message_window seconds. Counted in Redis (fixed
        windows), so every edge process counts the same messages; a refused one still counts."""
        config = self.config
        keys = (f"{self.prefix}:msgrate:{client}:{sender}", f"{self.prefix}:msgrate:{client}")
        mine, theirs = await self.redis.eval(MESSAGE_COUNT_SCRIPT, 2, *keys, config.message_window)
        return mine <= config.message_rate and theirs <= config.message_client_rate

    # Bans -----------------------------------------------------------------------------------------

    def ban_ip(self, ip: str, seconds: int) -> None:
        until = time.time() + seconds
        self.banned_ips[ip] = until
        log.warning("flood from %s: banned for %s s", ip, seconds)
        ban = self._publish_ban(ip_ban_key(self.prefix, ip), seconds, f"ip {ip} {until}")
        task = asyncio.get_running_loop().create_task(ban)
        self._tasks.add(task)
        task.add_done_callback(self._published)

    def _published(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:  # Redis away: this edge's ban holds
            log.warning("ban not shared with the other edges: %s", task.exception())

    async def auth_failed(self, domain: str, user: str, ip: str) -> None:
        key = f"{self.prefix}:authfail:{domain}:{user}:{ip}"
        pipe = self.redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, self.config.auth_window)  # failures count while each follows the last within the window
        failures, _ = await pipe.execute()
        if failures >= self.config.auth_failures:
            until = time.time() + self.config.auth_ban
            self.banned_auth[(domain, user, ip)] = until
            log.warning("%s failed authentications for %s@%s from %s: banned", failures, user, domain, ip)
            await self._publish_ban(
                auth_ban_key(self.prefix, domain, user, ip), self.config.auth_ban, f"auth {domain} {user} {ip} {until}"
            )

    async def _publish_ban(self, key: str, seconds: int, message: str) -> None:
        pipe = self.redis.pipeline()
        pipe.set(key, "1", ex=seconds)
        pipe.publish(f"{self.prefix}:sip:bans", message)
        await pipe.execute()

    def apply(self, message: str) -> None:
        """A ban or release published by any edge or by the portals."""
        parts = message.split()
        if parts == ["acl"]:
            task = asyncio.get_running_loop().create_task(self.load_acl())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif parts[:1] == ["ip"] and len(parts) == 3:
            self.banned_ips[parts[1]] = float(parts[2])
        elif parts[:1] == ["auth"] and len(parts) == 5:
            self.banned_auth[(parts[1], parts[2], parts[3])] = float(parts[4])
        elif parts[:2] == ["release", "ip"] and len(parts) == 3:
            self.banned_ips.pop(parts[2], None)
        elif parts[:2] == ["release", "auth"] and len(parts) == 5:
            self.banned_auth.pop((parts[2], parts[3], parts[4]), None)

    async def load(self) -> None:
        """The bans and global address rules in force: when this edge starts, and again whenever its
        subscription is renewed (Redis restarted: bans and releases published meanwhile were missed,
        and the bans Redis no longer holds are over)."""
        await self.load_acl()
        now = time.time()
        banned_ips, banned_auth = {}, {}
        async for key in self.redis.scan_iter(match=f"{self.prefix}:ban:*", count=500):
            ttl = await self.redis.ttl(key)
            if ttl <= 0:
                continue
            parsed = parse_ban_key(self.prefix, key.decode())
            if parsed and parsed[0] == "ip":
                banned_ips[parsed[1][0]] = now + ttl
            elif parsed:
                banned_auth[parsed[1]] = now + ttl
        self.banned_ips, self.banned_auth = banned_ips, banned_auth

    async def listen(self, pubsub) -> None:
        await follow(pubsub, f"{self.prefix}:sip:bans", self.apply, resync=self.load)
