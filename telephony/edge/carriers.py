"""The edge's view of the carriers (pstn/directory.py): which source addresses are a carrier's
gateways, and which numbers the platform has at each carrier. Refreshed from Redis every few
seconds and at once when the directory announces a change ("pstn").

A gateway given by DNS name is looked up here (telephony/sip/locate.py: SRV without a port, else A/AAAA;
cached with the records' TTL); the last addresses found are kept while DNS does not answer. Each
address it has (any transport) is where engines may send calls to it, and, when the gateway names
no networks of its own, where its calls may come from.

A request from a carrier's network is trusted without digest (the carrier authenticated its caller)
but only for a number the platform has at that carrier; anything else from outside is challenged or
refused as a phone's would be (no open relay).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging

from telephony.sip.locate import Resolver

log = logging.getLogger(__name__)
REFRESH = 5.0


class CarrierTable:
    def __init__(self, fast, prefix: str, resolver: Resolver | None = None):
        self.fast, self.prefix = fast, prefix
        self.resolver = resolver or Resolver()
        self.entries: list[dict] = []  # the directory's gateways, each with its "targets": [(ip, port)...]
        self.networks: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, dict]] = []
        # (transport, ip, port) -> gateway: where engines may send calls, and the edge may connect to
        self.gateways: dict[tuple[str, str, int], dict] = {}
        self.located: dict[int, list[tuple[str, int]]] = {}  # gateway id -> the addresses last found
        self._wake = asyncio.Event()

    async def locate(self, entry: dict) -> list[tuple[str, int]]:
        """Where the gateway is now: its host looked up (SRV when it has no port of its own)."""
        port = None if entry.get("srv") else int(entry["port"])
        try:
            found = await self.resolver.targets(entry["host"], port, entry.get("transport", "udp"))
        except Exception:  # a resolver failure of any kind: the addresses found last time
            log.exception("gateway %s: %s not looked up", entry.get("gateway"), entry.get("host"))
            found = []
        if found:
            self.located[entry["gateway"]] = found
            return found
        return self.located.get(entry["gateway"], [])

    async def refresh(self) -> None:
        raw = await self.fast.call("GET", f"{self.prefix}:pstn:gateways")
        entries = json.loads(raw) if raw else []
        located = await asyncio.gather(*(self.locate(entry) for entry in entries))
        networks, gateways = [], {}
        for entry, targets in zip(entries, located, strict=True):
            entry["targets"] = targets
            transport = entry.get("transport", "udp")
            for ip, port in targets:
                gateways[(transport, ip, port)] = entry
            own = entry.get("networks") or [ip for ip, _ in targets]
            for network in own:
                try:
                    networks.append((ipaddress.ip_network(network, strict=False), entry))
                except ValueError:
                    log.warning("carrier %s: bad network %r", entry.get("carrier"), network)
        self.entries, self.networks, self.gateways = entries, networks, gateways
        current = {entry["gateway"] for entry in entries}
        self.located = {gateway: found for gateway, found in self.located.items() if gateway in current}

    def changed(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # Redis away for a moment: keep the last view
                log.exception("carrier table refresh failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), REFRESH)
            self._wake.clear()

    def match(self, ip: str) -> dict | None:
        """The gateway entry whose networks hold `ip` (None: not a carrier's address)."""
        if not self.networks:
            return None
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        return next((entry for network, entry in self.networks if address in network), None)

    def gateway(self, host: str, port: int | None, transport: str = "udp") -> dict | None:
        """The carrier gateway an engine's request is for (its Request-URI's host, port and transport)."""
        return self.gateways.get((transport, host.strip("[]"), port or (5061 if transport == "tls" else 5060)))

    async def number(self, carrier: dict, dialled: str) -> dict | None:
        """The platform's number that `dialled` (as the carrier writes it) is at this carrier."""
        raw = await self.fast.call("HGET", f"{self.prefix}:pstn:did:{carrier['carrier']}", dialled)
        return json.loads(raw) if raw else None
