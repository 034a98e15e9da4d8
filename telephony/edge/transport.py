"""SIP transports of the edge: UDP, TCP and (with a certificate) TLS, on asyncio.

`UdpTransport` and `StreamTransport` are what the SIP stack's transactions send through
(telephony/sip/transport.py's `Transport`); the protocols below receive.

Sockets are opened with SO_REUSEPORT so several edge processes can listen on one address and the
kernel spreads sources across them.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from telephony.sip import SipError, StreamFramer

if TYPE_CHECKING:
    from telephony.edge.server import Edge

log = logging.getLogger(__name__)
UDP_BUFFER = 8 * 1024 * 1024


@dataclass(frozen=True)
class Source:
    """Where a message came from, and how to answer it."""

    transport: str  # "udp" | "tcp" | "tls"
    ip: str
    port: int
    send: Callable[[bytes], None]

    @property
    def address(self) -> str:
        return f"{self.transport}:{self.ip}:{self.port}"


class UdpTransport:
    """Sending from the edge's shared UDP port."""

    name, reliable = "udp", False

    def __init__(self, edge: Edge):
        self.edge = edge

    def send(self, data: bytes, address: tuple[str, int]) -> bool:
        udp = self.edge.udp
        if udp is None:
            return False
        udp.sendto(data, address)
        return True


class StreamTransport:
    """Sending over an open TCP or TLS connection: a phone's (phones behind NAT cannot be connected to),
    or one the edge opens to a carrier's gateway (telephony/edge/connections.py)."""

    reliable = True

    def __init__(self, edge: Edge, name: str):
        self.edge, self.name = edge, name

    def send(self, data: bytes, address: tuple[str, int]) -> bool:
        return self.edge.connector.send((self.name, address[0], address[1]), data)


def _socket(host: str, port: int, kind: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if kind == socket.SOCK_DGRAM:
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            sock.setsockopt(socket.SOL_SOCKET, option, UDP_BUFFER)
    sock.bind((host, port))
    sock.setblocking(False)
    return sock


class UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, edge: Edge):
        self.edge = edge
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        ip, port = addr[0], addr[1]
        sendto = self.transport.sendto
        self.edge.on_datagram(data, Source("udp", ip, port, lambda payload: sendto(payload, addr)))

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable and the like
        log.debug("udp error: %s", exc)


class StreamProtocol(asyncio.Protocol):
    """One TCP or TLS connection: framed by Content-Length, bounded by the framer's limits."""

    def __init__(self, edge: Edge, kind: str):
        self.edge = edge
        self.kind = kind
        self.framer = StreamFramer()
        self.source: Source | None = None

    def connection_made(self, transport) -> None:
        ip, port = transport.get_extra_info("peername")[:2]
        self.transport = transport
        self.source = Source(self.kind, ip, port, transport.write)
        self.edge.streams[(self.kind, ip, port)] = transport  # requests to this phone go back over it

    def connection_lost(self, exc) -> None:
        if self.source is not None:
            key = (self.kind, self.source.ip, self.source.port)
            if self.edge.streams.get(key) is self.transport:
                del self.edge.streams[key]

    def data_received(self, data: bytes) -> None:
        if not self.edge.guard.packet_allowed(self.source.ip):
            self.transport.close()
            return
        pings = self.framer.pings
        try:
            messages = self.framer.feed(data)
        except SipError:
            self.edge.stats["malformed"] += 1
            self.transport.close()  # the stream cannot be resynchronised
            return
        if self.framer.pings > pings:  # RFC 5626 keep-alive: answer each CRLFCRLF ping with a CRLF pong
            self.transport.write(b"\r\n" * (self.framer.pings - pings))
        for message in messages:
            self.edge.dispatch(message, self.source)


class PeerProtocol(asyncio.DatagramProtocol):
    """This edge's private socket: responses other edge processes relay to it (Edge.relay)."""

    def __init__(self, edge: Edge):
        self.edge = edge

    def datagram_received(self, data: bytes, addr) -> None:
        self.edge.on_relayed(data)


async def open_peer_socket(edge: Edge):
    loop = asyncio.get_running_loop()
    wildcard = edge.config.host in ("0.0.0.0", "::")  # noqa: S104 - a comparison: the peer socket is local
    host = "127.0.0.1" if wildcard else edge.config.host
    transport, _ = await loop.create_datagram_endpoint(lambda: PeerProtocol(edge), local_addr=(host, 0))
    return transport


async def listen(edge: Edge) -> list:
    """Open every configured transport; returns what to close at shutdown."""
    loop = asyncio.get_running_loop()
    config = edge.config
    udp, _ = await loop.create_datagram_endpoint(
        lambda: UdpProtocol(edge), sock=_socket(config.host, config.port, socket.SOCK_DGRAM)
    )
    tcp = await loop.create_server(
        lambda: StreamProtocol(edge, "tcp"), sock=_socket(config.host, config.port, socket.SOCK_STREAM)
    )
    edge.udp = udp
    servers = [udp, tcp]
    if config.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(config.tls_cert, config.tls_key or None)
        tls = await loop.create_server(
            lambda: StreamProtocol(edge, "tls"),
            sock=_socket(config.host, config.tls_port, socket.SOCK_STREAM),
            ssl=context,
        )
        servers.append(tls)
    return servers
