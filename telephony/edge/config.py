"""The edge's settings (from Django settings, which read the environment; see .env.example)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from django.conf import settings

from telephony.sip.transaction import T1, T2


@dataclass(frozen=True)
class EdgeConfig:
    host: str = "127.0.0.1"
    port: int = 5060
    tls_port: int = 5061
    tls_cert: str = ""
    tls_key: str = ""
    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600
    max_contacts: int = 10
    nonce_ttl: int = 300
    digest_algorithms: tuple = ("MD5",)  # offered in this order (RFC 8760: preferred first); clients may choose
    flood_limit: int = 200  # requests per source address per flood_window seconds
    flood_window: float = 2.0
    flood_ban: int = 300
    auth_failures: int = 10  # failed authentications per user and source before a ban
    auth_window: int = 600
    auth_ban: int = 900
    message_max_bytes: int = 1024  # a SIP MESSAGE's largest body (RFC 3428 6: keep a MESSAGE under 1300 bytes on UDP)
    message_rate: int = 30  # MESSAGEs per sending line per message_window seconds
    message_client_rate: int = 300  # MESSAGEs per client per message_window seconds
    message_window: int = 60
    trusted: tuple = field(default_factory=tuple)  # networks never flood-banned (engines, SBCs)
    keepalive_interval: float = 30.0  # seconds between OPTIONS to NATed phones; 0 turns them off
    keepalive_misses: int = 3  # unanswered in a row before the binding is removed
    advertise: str = ""  # the address written in Via and Record-Route when host is a wildcard or private
    t1: float = T1  # RFC 3261 timer T1 (round-trip estimate); timers B, F and transaction lingering are 64*T1
    t2: float = T2
    engine_timeout: float = 2.0  # an engine silent this long after an INVITE: the next engine gets it
    carrier_timeout: float = 5.0  # a carrier gateway silent this long after an INVITE: 408, the next is tried
    timer_c: float = 180.0  # a device ringing this long is cancelled (RFC 3261 16.8)
    call_max_age: int = 12 * 3600  # a call whose end the edge never saw stops counting against the limit
    gateway_ping: float = 15.0  # seconds between OPTIONS to each carrier gateway (and registration checks); 0: off
    carrier_ca: str = ""  # a PEM file of private CAs trusted for carriers' TLS gateways (besides the system's)
    dns_servers: tuple = ()  # DNS servers for gateways by name (ip[:port]); empty: the system's
    call_check: float = 15.0  # seconds between checks that the calls counted against limits are held by an engine
    redis_prefix: str = "ocx"

    @classmethod
    def from_settings(cls, **overrides) -> EdgeConfig:
        s = settings.OCX_SIP
        values = {**s, **overrides}
        values["trusted"] = tuple(ipaddress.ip_network(n, strict=False) for n in values.get("trusted", ()))
        values["redis_prefix"] = settings.OCX_REDIS_PREFIX
        unknown = set(values["digest_algorithms"]) - {"SHA-256", "MD5"}
        if unknown or not values["digest_algorithms"]:
            raise ValueError(f"OCX_SIP_DIGEST_ALGORITHMS: use SHA-256 and/or MD5, not {sorted(unknown)}")
        return cls(**values)

    def is_trusted(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)
