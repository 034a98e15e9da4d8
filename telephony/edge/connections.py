"""The edge's own TCP and TLS connections to carriers' gateways (RFC 3261 18.1.1: a request goes over a
connection to the next hop, opened when there is none).

A message for a gateway whose transport is TCP or TLS goes over the open connection to it; when there
is none, one is opened and the message waits for it (with any others sent meanwhile, in order). The
connection is kept and reused for everything to that gateway (pings, REGISTER, calls and in-dialog
requests) and what the gateway sends on it, answers or requests, is read like any other stream
(telephony/edge/transport.py's StreamProtocol). When it drops, the next message opens another.

Only the addresses of the carriers' gateways (the CarrierTable) are connected to: a phone's
connection is the phone's to open. TLS verifies the gateway's certificate against the system's store,
plus the private CAs of OCX_SIP_CARRIER_CA, for the gateway's host as configured (a name, or an
address: RFC 5922). A connection that cannot be opened (refused, timed out, a certificate that does
not verify) fails the transactions waiting for it at once with a local 503 (RFC 3261 8.1.3.1: a
transport error), and the reason is kept for the gateway's state (telephony/edge/trunks.py); for
RETRY_AFTER seconds after that, messages to that address fail at once instead of connecting again.
A gateway that stops answering on an open connection (its pings unanswered: out of service, or an
INVITE that heard not a word within the carrier timeout) has that connection closed, so the next
message opens a new one.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from telephony.edge.server import Edge

log = logging.getLogger(__name__)
CONNECT_TIMEOUT = 5.0  # seconds for the TCP connect and the TLS handshake together
RETRY_AFTER = 2.0  # seconds a failed address is not tried again
PENDING_MAX = 256  # messages waiting for a connection being opened; more are refused

Key = tuple[str, str, int]  # (transport, ip, port)


def carrier_context(ca_file: str = "") -> ssl.SSLContext:
    """A client TLS context that verifies servers' certificates and names (system store + `ca_file`)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"OCX_SIP_CARRIER_CA: cannot load {ca_file!r}: {exc}") from exc
    return context


def describe(exc: BaseException) -> str:
    """Why a connection could not be opened, for an operator reading the gateway's state."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not verified: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    if isinstance(exc, TimeoutError):
        return "connection timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"connection failed: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)


class Connector:
    def __init__(self, edge: Edge):
        self.edge = edge
        self.context = carrier_context(edge.config.carrier_ca)
        self.opening: dict[Key, list[bytes]] = {}  # connections being opened, with what waits for them
        self.errors: dict[Key, str] = {}  # why the last attempt failed (cleared when one succeeds)
        self.failed_at: dict[Key, float] = {}

    def send(self, key: Key, data: bytes) -> bool:
        """Send over the open connection, else open one (to a carrier's gateway only); False: cannot."""
        waiting = self.opening.get(key)
        if waiting is not None:
            if len(waiting) >= PENDING_MAX:
                return False
            waiting.append(data)
            return True
        stream = self.edge.streams.get(key)
        if stream is not None and not stream.is_closing():
            stream.write(data)
            return True
        gateway = self.edge.carriers.gateway(key[1], key[2], key[0])
        if gateway is None:
            return False
        if time.monotonic() - self.failed_at.get(key, -RETRY_AFTER) < RETRY_AFTER:
            return False
        self.opening[key] = [data]
        self.edge.background(self.open(key, gateway))
        return True

    def drop(self, key: Key) -> None:
        """Close the connection to a gateway that stopped answering on it: the next message opens another.
        (A flow a firewall or NAT forgot stays open on our side until TCP gives up, a quarter of an hour
        or more, and everything sent meanwhile is lost.)"""
        stream = self.edge.streams.get(key) if key[0] != "udp" else None
        if stream is not None and not stream.is_closing():
            log.warning("carrier gateway %s %s:%s: nothing heard on the connection: closed", *key)
            stream.close()

    async def open(self, key: Key, gateway: dict) -> None:
        from telephony.edge.transport import StreamProtocol

        kind, ip, port = key
        tls = {"ssl": self.context, "server_hostname": gateway["host"].strip("[]")} if kind == "tls" else {}
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                transport, _ = await loop.create_connection(lambda: StreamProtocol(self.edge, kind), ip, port, **tls)
        except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
            reason = describe(exc)
            self.opening.pop(key, None)
            self.errors[key], self.failed_at[key] = reason, time.monotonic()
            self.edge.stats[f"{kind}_connect_failed"] += 1
            log.warning("carrier gateway %s (%s %s:%s): %s", gateway.get("gateway"), kind, ip, port, reason)
            self.edge.transport_failed(key)
            return
        except BaseException:
            self.opening.pop(key, None)
            raise
        self.errors.pop(key, None)
        self.failed_at.pop(key, None)
        self.edge.stats[f"{kind}_connected"] += 1
        for data in self.opening.pop(key, ()):
            transport.write(data)
