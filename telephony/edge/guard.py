"""Abuse protection: anti-flood per source address and brute-force bans per user and source.

Counting happens in each edge process (a flood hits one process's socket); bans are written to
Redis and published, so every edge refuses the banned source at once, and god or the brand can
list and release them (tenants' portals read the same keys). Checks on the packet path are local
dictionary lookups only.
"""

from __future__ import annotations

import asyncio
import logging
import time

from telephony.edge.config import EdgeConfig
from telephony.edge.directory import follow

log = logging.getLogger(__name__)


class Guard:
    def __init__(self, redis, config: EdgeConfig):
        self.redis = redis
        self.config = config
        self.prefix = config.redis_prefix
        self.banned_ips: dict[str, float] = {}  # ip -> until (epoch seconds)
        self.banned_auth: dict[tuple[str, str], float] = {}  # (ip, user) -> until
        self._window_start = time.monotonic()
        self._counts: dict[str, int] = {}
        self.dropped = 0

    # Packet path ----------------------------------------------------------------------------------

    def packet_allowed(self, ip: str) -> bool:
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
        if count > self.config.flood_limit and not self.config.is_trusted(ip):
            self.ban_ip(ip, self.config.flood_ban)
            self.dropped += 1
            return False
        return True

    def auth_banned(self, ip: str, user: str) -> bool:
        until = self.banned_auth.get((ip, user))
        return until is not None and until > time.time()

    # Bans -----------------------------------------------------------------------------------------

    def ban_ip(self, ip: str, seconds: int) -> None:
        until = time.time() + seconds
        self.banned_ips[ip] = until
        log.warning("flood from %s: banned for %s s", ip, seconds)
        asyncio.get_running_loop().create_task(self._publish_ban(f"ban:ip:{ip}", seconds, f"ip {ip} {until}"))

    async def auth_failed(self, ip: str, user: str) -> None:
        key = f"{self.prefix}:authfail:{ip}:{user}"
        pipe = self.redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, self.config.auth_window)  # failures count while each follows the last within the window
        failures, _ = await pipe.execute()
        if failures >= self.config.auth_failures:
            until = time.time() + self.config.auth_ban
            self.banned_auth[(ip, user)] = until
            log.warning("%s failed authentications for %s from %s: banned", failures, user, ip)
            await self._publish_ban(f"ban:auth:{ip}:{user}", self.config.auth_ban, f"auth {ip} {user} {until}")

    async def _publish_ban(self, key: str, seconds: int, message: str) -> None:
        pipe = self.redis.pipeline()
        pipe.set(f"{self.prefix}:{key}", "1", ex=seconds)
        pipe.publish(f"{self.prefix}:sip:bans", message)
        await pipe.execute()

    def apply(self, message: str) -> None:
        """A ban or release published by any edge or by the portals."""
        parts = message.split()
        if parts[:1] == ["ip"] and len(parts) == 3:
            self.banned_ips[parts[1]] = float(parts[2])
        elif parts[:1] == ["auth"] and len(parts) == 4:
            self.banned_auth[(parts[1], parts[2])] = float(parts[3])
        elif parts[:2] == ["release", "ip"] and len(parts) == 3:
            self.banned_ips.pop(parts[2], None)
        elif parts[:2] == ["release", "auth"] and len(parts) == 4:
            self.banned_auth.pop((parts[2], parts[3]), None)

    async def load(self) -> None:
        """Bans already in force when this edge starts."""
        now = time.time()
        async for key in self.redis.scan_iter(match=f"{self.prefix}:ban:*", count=500):
            ttl = await self.redis.ttl(key)
            if ttl <= 0:
                continue
            kind, _, rest = key.decode()[len(self.prefix) + len(":ban:") :].partition(":")
            if kind == "ip":
                self.banned_ips[rest] = now + ttl
            elif kind == "auth":  # <ip>:<user>; user names hold no colon, IPv6 addresses do
                ip, _, user = rest.rpartition(":")
                self.banned_auth[(ip, user)] = now + ttl

    async def listen(self, pubsub) -> None:
        await follow(pubsub, f"{self.prefix}:sip:bans", self.apply)
