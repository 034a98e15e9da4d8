"""The edge's view of the carriers (pstn/directory.py): which source addresses are a carrier's
gateways, and which numbers the platform has at each carrier. Refreshed from Redis every few
seconds and at once when the directory announces a change ("pstn").

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

log = logging.getLogger(__name__)
REFRESH = 5.0


class CarrierTable:
    def __init__(self, fast, prefix: str):
        self.fast, self.prefix = fast, prefix
        self.networks: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, dict]] = []
        self.gateways: dict[tuple[str, int], dict] = {}  # (ip, port) -> gateway: where engines may send calls
        self._wake = asyncio.Event()

    async def refresh(self) -> None:
        raw = await self.fast.call("GET", f"{self.prefix}:pstn:gateways")
        networks, gateways = [], {}
        for entry in json.loads(raw) if raw else ():
            if entry.get("ip") and entry.get("transport", "udp") == "udp":
                gateways[(entry["ip"], int(entry["port"]))] = entry
            for network in entry.get("networks", ()):
                try:
                    networks.append((ipaddress.ip_network(network, strict=False), entry))
                except ValueError:
                    log.warning("carrier %s: bad network %r", entry.get("carrier"), network)
        self.networks, self.gateways = networks, gateways

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

    def gateway(self, host: str, port: int | None) -> dict | None:
        """The carrier gateway an engine's request is for (its Request-URI's host and port)."""
        return self.gateways.get((host, port or 5060))

    async def number(self, carrier: dict, dialled: str) -> dict | None:
        """The platform's number that `dialled` (as the carrier writes it) is at this carrier."""
        raw = await self.fast.call("HGET", f"{self.prefix}:pstn:did:{carrier['carrier']}", dialled)
        return json.loads(raw) if raw else None
