"""Locating a SIP server by DNS (RFC 3263, without NAPTR): where a carrier's gateway given by name is.

- A name without a port: SRV `_sip._udp.<name>`, `_sip._tcp.<name>` or `_sips._tcp.<name>` for the
  transport, lowest priority first and, within a priority, a weighted random order (RFC 2782); each
  target's A then AAAA records. No SRV records: the name's own A/AAAA at the transport's default port.
- A name with a port: its A/AAAA only. An address: itself.

Lookups are asynchronous (dnspython's asyncio resolver: they never block the event loop) and cached
for their records' TTL (dnspython's cache, negative answers too). The servers asked are the system's
(/etc/resolv.conf) unless OCX_SIP_DNS_SERVERS names others (`ip` or `ip:port`, comma separated). An
A/AAAA lookup that finds nothing in DNS falls back to the system's resolver (getaddrinfo: /etc/hosts
names such as localhost), kept for FALLBACK_TTL seconds; a query no server answered is not asked
again for FAILED_TTL seconds.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import socket
import time
from collections.abc import Sequence

import dns.asyncresolver
import dns.exception
import dns.resolver

log = logging.getLogger(__name__)
DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061}
SRV_PREFIX = {"udp": "_sip._udp", "tcp": "_sip._tcp", "tls": "_sips._tcp"}
FALLBACK_TTL = 60.0  # seconds a name the system resolver found (no TTL known) is kept
FAILED_TTL = 30.0  # seconds a query that failed (no server answered) is not asked again
FAILURES = (dns.exception.DNSException, OSError)


def is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def parse_servers(servers: Sequence[str]) -> list[tuple[str, int]]:
    """`ip` or `ip:port` (`[v6]:port`) entries as (ip, port); a bad one raises ValueError naming it."""
    parsed = []
    for entry in servers:
        entry = entry.strip()
        if not entry:
            continue
        host, port = entry, 53
        if entry.startswith("["):
            host, _, rest = entry[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else 53
        elif entry.count(":") == 1:
            host, _, text = entry.partition(":")
            if not text.isdigit():
                raise ValueError(f"OCX_SIP_DNS_SERVERS: {entry!r} is not ip[:port]")
            port = int(text)
        if not is_address(host) or not 0 < port < 65536:
            raise ValueError(f"OCX_SIP_DNS_SERVERS: {entry!r} is not ip[:port]")
        parsed.append((host, port))
    return parsed


class Resolver:
    """Where to send to a SIP host: a list of (ip, port) in the order to try them."""

    def __init__(self, servers: Sequence[str] = (), *, timeout: float = 2.0):
        nameservers = parse_servers(servers)
        try:
            self.dns = dns.asyncresolver.Resolver(configure=not nameservers)
        except dns.resolver.NoResolverConfiguration:
            log.warning("no DNS servers configured (/etc/resolv.conf): gateways by name use the system resolver")
            self.dns = None
        if self.dns is not None:
            if nameservers:
                self.dns.nameservers = [ip for ip, _ in nameservers]
                self.dns.nameserver_ports = dict(nameservers)
            self.dns.lifetime = timeout
            self.dns.timeout = min(timeout, 2.0)
            self.dns.cache = dns.resolver.Cache()
        self.system: dict[str, tuple[float, list[str]]] = {}  # name -> (until, addresses) from getaddrinfo
        self.failed: dict[tuple[str, str], float] = {}  # (name, type) -> until when it is not asked again

    async def targets(self, host: str, port: int | None, transport: str = "udp") -> list[tuple[str, int]]:
        """The (ip, port) pairs for `host` (RFC 3263 4.2), best first; empty when the name is unknown."""
        host = host.strip().rstrip(".").strip("[]")
        default = DEFAULT_PORTS.get(transport, 5060)
        if is_address(host):
            return [(host, port or default)]
        if port is None:
            found = []
            for target, srv_port in await self.srv(f"{SRV_PREFIX.get(transport, '_sip._udp')}.{host}"):
                found += [(ip, srv_port) for ip in await self.addresses(target)]
            if found:
                return found
        return [(ip, port or default) for ip in await self.addresses(host)]

    async def srv(self, name: str) -> list[tuple[str, int]]:
        """SRV targets as (name, port): by priority, then weighted random within one (RFC 2782)."""
        records = await self._query(name, "SRV")
        chosen = []
        for priority in sorted({r.priority for r in records}):
            group = [r for r in records if r.priority == priority]
            while group:
                total = sum(r.weight for r in group)
                pick = random.uniform(0, total) if total else 0  # load sharing, not security
                for record in group:
                    pick -= record.weight
                    if pick <= 0 or total == 0:
                        break
                group.remove(record)
                target = record.target.to_text(omit_final_dot=True)
                if target:  # "." says: no service here
                    chosen.append((target, record.port))
        return chosen

    async def addresses(self, name: str) -> list[str]:
        """The name's IPv4 then IPv6 addresses; from the system resolver when DNS has none."""
        v4, v6 = await asyncio.gather(self._query(name, "A"), self._query(name, "AAAA"))
        found = [r.address for r in (*v4, *v6)]
        if found:
            return found
        cached = self.system.get(name)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(name, None, type=socket.SOCK_DGRAM)
        except OSError:
            infos = []
        addresses = sorted({info[4][0] for info in infos}, key=lambda ip: ":" in ip)
        self.system[name] = (time.monotonic() + FALLBACK_TTL, addresses)
        return addresses

    async def _query(self, name: str, kind: str) -> list:
        if self.dns is None or self.failed.get((name, kind), 0) > time.monotonic():
            return []
        try:
            answer = await self.dns.resolve(name, kind, raise_on_no_answer=False, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except FAILURES as exc:  # no server answered: not asked again for a while (every call would wait)
            log.warning("DNS %s %s: %s", kind, name, exc)
            self.failed[(name, kind)] = time.monotonic() + FAILED_TTL
            return []
        return list(answer.rrset) if answer.rrset is not None else []


_default: Resolver | None = None


def default_resolver() -> Resolver:
    """The process's resolver, asking the servers of OCX_SIP_DNS_SERVERS (else the system's)."""
    global _default
    if _default is None:
        from django.conf import settings

        _default = Resolver(settings.OCX_SIP.get("dns_servers", ()))
    return _default
