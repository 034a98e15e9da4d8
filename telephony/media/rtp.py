"""One call leg's media sockets: RTP and RTCP on an allocated port pair, with symmetric RTP.

Symmetric RTP (latching): the remote address starts as the SDP said (or unknown) and follows the
source of the first packet received, so phones behind NAT work without STUN. Once latched, another
source is refused until the current one has been silent for `relatch_after` seconds, so a packet
spoofed mid-call cannot steal the stream. RTP and RTCP latch separately.

Consumers (the relay, a mixer, a player, a recorder, a DTMF detector) plug in through `sink`: a
callable given every valid RTP packet received (the bytes, unchanged), and `rtcp_sink` the same for
RTCP. An endpoint has one of each; whoever takes the leg over sets them. Sending goes through
`send_rtp()`/`send_rtcp()`, to the latched remote.

The receive path runs for every packet (50 a second per leg with 20 ms G.711), so it does one clock
read, one header unpack and no logging; only latching, which is rare, logs. What it costs beyond
that is the system calls, so the sockets are driven to make as few and as cheap ones as they can:

- One epoll set, not asyncio transports: every media socket of an event loop is in the set of its
  `MediaPoller`, which the loop watches as a single reader, and each turn reads one datagram from
  each ready socket. A datagram transport (uvloop's, through libuv) reads until the socket says
  EAGAIN, so with one packet per socket per turn, which is what 20 ms audio gives, every packet cost
  two receive calls and a Python callback of its own.
- A latched RTP socket is connected to its source: the kernel then delivers only that source's
  packets, `recv` and `send` take and give no address (no address string made per packet nor
  parsed per send), and the kernel keeps the route. Packets queued before the connect are read
  with their real sources first (`drain`), so a stranger's are refused as before; after it, the
  kernel drops them (answering ICMP port unreachable) instead of counting them as refused. The
  poller's sweep (every SWEEP seconds) disconnects a socket whose source has been silent for
  `relatch_after`, so another may latch (up to SWEEP later than before), and connects it again
  when its source is heard again. A socket bound to an unspecified address (0.0.0.0, ::) is never
  connected: connect() would tie it to the one local address routing picks, and packets sent to
  the host's other addresses would be lost; bind the engine's RTP to its address for the fast path.
- Sending is a plain non-blocking send: a packet the kernel will not take at once is dropped and
  counted in `unsent`, as late audio is no audio, rather than queued behind the next one.
"""

from __future__ import annotations

import asyncio
import ctypes
import ipaddress
import logging
import os
import select
import socket
import time
from collections.abc import Callable
from struct import Struct
from typing import Any

from telephony.media.ports import PortPair, PortPool
from telephony.media.rtcp import ReportBlock, report_blocks
from telephony.media.stats import RtpStats

log = logging.getLogger(__name__)

Address = tuple[Any, ...]  # what the socket module gives: (host, port) or (host, port, flow, scope)
Sink = Callable[[bytes], None]

RTP_MIN_LENGTH = 12  # the fixed header
RTCP_MIN_LENGTH = 8  # the shortest sender or receiver report
RELATCH_AFTER = 1.0  # seconds of silence from the latched source before another may take over
DATAGRAM_MAX = 2048  # larger than any RTP packet a path with a 1500-byte MTU carries
SWEEP = 0.25  # seconds between the poller's checks of which RTP sockets to connect or disconnect
_SEQ_TS_SSRC = Struct("!HII")  # at offset 2 of the RTP header

# connect() to an address of family AF_UNSPEC dissolves a UDP socket's association (connect(2)); the
# socket module only connects to addresses of the socket's own family, so this goes through libc.
_libc = ctypes.CDLL(None, use_errno=True)
_UNSPEC = (ctypes.c_ubyte * 16)()  # a sockaddr whose family is 0, AF_UNSPEC


def disconnect(sock: socket.socket) -> None:
    """Undo a UDP socket's connect(): it receives from anyone again and sends only with sendto."""
    if _libc.connect(sock.fileno(), _UNSPEC, len(_UNSPEC)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


class MediaPoller:
    """Every media socket of one event loop in one epoll set, which the loop watches as one reader.

    `MediaPoller.of(loop)` gives the loop's poller, made on first use; it leaves the loop (and closes
    its epoll set) when its last socket is removed. Each time the set is readable, `_ready` reads one
    datagram from every ready socket and hands it to that socket's `datagram_received`; a socket
    with more waiting stays ready for the next turn. An exception from one socket's handling is
    logged and the others go on. `sweep()` runs every SWEEP seconds (module docstring).
    """

    _by_loop: dict[asyncio.AbstractEventLoop, MediaPoller] = {}

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> MediaPoller:
        poller = cls._by_loop.get(loop)
        if poller is None:
            for stale in [p for p in cls._by_loop.values() if p.loop.is_closed()]:
                stale._close()  # a loop that closed with endpoints never closed (their sockets go with it)
            poller = cls._by_loop[loop] = cls(loop)
        return poller

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.epoll = select.epoll()
        self.sockets: dict[int, _MediaSocket] = {}
        loop.add_reader(self.epoll.fileno(), self._ready)
        self._sweeper = loop.call_later(SWEEP, self._sweep_again)

    def add(self, media: _MediaSocket) -> None:
        fd = media.sock.fileno()
        self.epoll.register(fd, select.EPOLLIN)
        self.sockets[fd] = media

    def remove(self, media: _MediaSocket) -> None:
        fd = media.sock.fileno()
        if self.sockets.pop(fd, None) is not None:
            self.epoll.unregister(fd)
        if not self.sockets:
            self._close()

    def _close(self) -> None:
        if self._by_loop.get(self.loop) is self:
            del self._by_loop[self.loop]
        self._sweeper.cancel()
        if not self.loop.is_closed():
            self.loop.remove_reader(self.epoll.fileno())
        self.epoll.close()

    def _ready(self) -> None:
        sockets = self.sockets
        for fd, _ in self.epoll.poll(0):  # at most 1023 ready sockets a turn; the rest are ready next turn
            media = sockets.get(fd)
            if media is None:  # removed by an earlier packet's handling this turn
                continue
            connected = media.connected
            try:
                if connected:
                    data, addr = media.sock.recv(DATAGRAM_MAX), media.source
                else:
                    data, addr = media.sock.recvfrom(DATAGRAM_MAX)
            except OSError as exc:  # nothing after all, or an ICMP error reported: the other side went away
                if not isinstance(exc, BlockingIOError):
                    log.debug("%s: %s", media.name, exc)
                continue
            try:
                media.datagram_received(data, addr)
                if media.connected and not connected:  # this packet latched it
                    media.drain()
            except Exception:
                log.exception("%s: a received packet could not be handled", media.name)

    def sweep(self) -> None:
        """Connect each latched RTP socket whose source is talking, disconnect each whose source has
        been silent for its `relatch_after` (so another source may take over)."""
        for media in list(self.sockets.values()):
            if media.connects and media.source is not None:
                talking = media.clock() - media.last_heard < media.relatch_after
                if talking != media.connected:
                    media.connect(talking)
                    if media.connected:
                        media.drain()

    def _sweep_again(self) -> None:
        try:
            self.sweep()
        finally:
            self._sweeper = self.loop.call_later(SWEEP, self._sweep_again)


class _MediaSocket:
    """One UDP socket of an endpoint: latching, counters, the sink and sending. RTCP as it is."""

    __slots__ = (
        "clock",
        "connected",
        "connects",
        "invalid",
        "last_heard",
        "latches",
        "name",
        "received",
        "received_bytes",
        "refused",
        "relatch_after",
        "remote",
        "sent",
        "sent_bytes",
        "sink",
        "sock",
        "source",
        "unsent",
    )

    def __init__(self, name: str, remote: Address | None, relatch_after: float, clock: Callable[[], float]) -> None:
        self.name = name
        self.sock: socket.socket | None = None  # while open
        # Connected to the latched source (the module docstring): RTP sockets not bound to an
        # unspecified address; RTCP is too rare to bother.
        self.connects = False
        self.connected = False
        self.remote = remote  # where we send: from SDP, then the latched source
        self.source: Address | None = None  # the latched source; None: the next valid packet latches
        self.last_heard = 0.0
        self.relatch_after = relatch_after
        self.clock = clock
        self.sink: Sink | None = None
        self.received = self.received_bytes = self.sent = self.sent_bytes = 0
        self.invalid = self.refused = self.unsent = self.latches = 0

    def datagram_received(self, data: bytes, addr: Address) -> None:
        if len(data) < RTCP_MIN_LENGTH or data[0] & 0xC0 != 0x80 or not 192 <= data[1] <= 223:
            self.invalid += 1
            return
        now = self.clock()
        if addr != self.source and not self._latch(addr, now):
            return
        self.last_heard = now
        self.received += 1
        self.received_bytes += len(data)
        sink = self.sink
        if sink is not None:
            sink(data)

    def _latch(self, addr: Address, now: float) -> bool:
        if self.source is not None and now - self.last_heard < self.relatch_after:
            self.refused += 1
            return False
        log.info("%s latched to %s:%s (was %s, SDP/last %s)", self.name, addr[0], addr[1], self.source, self.remote)
        if self.connected:  # a queued packet read by drain() after a long silence of the source
            self.connect(False)
        self.source = self.remote = addr
        self.latches += 1
        if self.connects:
            self.connect(True)
        return True

    def unlatch(self, remote: Address | None) -> None:
        """Send to `remote` from now on, and let the next packet from anywhere latch."""
        if self.connected:
            self.connect(False)
        self.remote = remote
        self.source = None

    def connect(self, to_source: bool) -> None:
        """Connect the socket to the latched source, or undo that. A failure to connect leaves it
        unconnected for good (packets still flow, through recvfrom and sendto)."""
        try:
            if to_source:
                self.sock.connect(self.source)
            else:
                disconnect(self.sock)
        except OSError as exc:
            log.warning("%s: could not %s: %s", self.name, "connect" if to_source else "disconnect", exc)
            if to_source:
                self.connects = False
                return
        self.connected = to_source

    def drain(self) -> None:
        """Just connected: read what was queued before, with its real sources (a stranger's packets
        are refused, not taken for the source's), until the queue is empty. Only the source's
        packets can join the queue meanwhile, so this ends."""
        while self.sock is not None:
            try:
                data, addr = self.sock.recvfrom(DATAGRAM_MAX)
            except OSError:  # BlockingIOError: empty
                return
            self.datagram_received(data, addr)

    def send(self, data: bytes) -> None:
        try:
            if self.connected:
                self.sock.send(data)
            else:
                remote = self.remote
                if remote is None:
                    self.unsent += 1
                    return
                self.sock.sendto(data, remote)
        except OSError:  # the send buffer is full (dropped, not queued), or an ICMP error was reported
            self.unsent += 1
            return
        self.sent += 1
        self.sent_bytes += len(data)


class _RtpSocket(_MediaSocket):
    """The RTP socket: validity checked as RTP, reception statistics per RFC 3550."""

    __slots__ = ("on_latch", "stats", "tap")

    def __init__(self, name: str, remote: Address | None, relatch_after: float, clock: Callable[[], float],
                 clock_rate: int, connects: bool = True) -> None:  # fmt: skip
        super().__init__(name, remote, relatch_after, clock)
        self.connects = connects
        self.stats = RtpStats(clock_rate)
        self.on_latch: Callable[[Address], None] | None = None
        self.tap: Sink | None = None

    def datagram_received(self, data: bytes, addr: Address) -> None:
        # Version 2 and the fixed header; RTCP multiplexed here (RFC 5761, types 192-223) is not RTP.
        if len(data) < RTP_MIN_LENGTH or data[0] & 0xC0 != 0x80 or 64 <= data[1] & 0x7F <= 95:
            self.invalid += 1
            return
        now = self.clock()
        if addr != self.source and not self._latch(addr, now):
            return
        self.last_heard = now
        self.received += 1
        self.received_bytes += len(data)
        seq, ts, ssrc = _SEQ_TS_SSRC.unpack_from(data, 2)
        self.stats.update(seq, ts, ssrc, now)
        sink = self.sink
        if sink is not None:
            sink(data)
            tap = self.tap
            if tap is not None:
                tap(data)

    def _latch(self, addr: Address, now: float) -> bool:
        if not super()._latch(addr, now):
            return False
        if self.on_latch is not None:
            self.on_latch(addr)
        return True


class _RtcpSocket(_MediaSocket):
    """The RTCP socket: packets pass as they are; the last report block the phone sent is kept (what
    it says of the audio it receives), parsed at the reports' own pace (one every few seconds)."""

    __slots__ = ("report",)

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.report: ReportBlock | None = None

    def datagram_received(self, data: bytes, addr: Address) -> None:
        received = self.received
        super().datagram_received(data, addr)
        if self.received != received:  # accepted
            blocks = report_blocks(data)
            if blocks:
                self.report = blocks[-1]


class RtpEndpoint:
    """One leg's RTP and RTCP sockets on a pair from a PortPool. Create with `await RtpEndpoint.open(...)`.

    `send_rtp(data)` / `send_rtcp(data)` send from this endpoint's sockets to the latched remote
    (dropped and counted in `unsent` while the remote is unknown). `sink` / `rtcp_sink` receive.
    """

    def __init__(self, pool: PortPool, pair: PortPair, *, remote: Address | None, remote_rtcp: Address | None,
                 clock_rate: int, relatch_after: float, clock: Callable[[], float]) -> None:  # fmt: skip
        self.pool = pool
        self.pair = pair
        self.host = pair.host
        self.port = pair.rtp_port
        self.rtcp_port = pair.rtcp_port
        label = f"rtp {pair.host}:{pair.rtp_port}"
        self.rtp = _RtpSocket(label, None, relatch_after, clock, clock_rate, connects=not _unspecified(pair.host))
        self.rtcp = _RtcpSocket(f"rtcp {pair.host}:{pair.rtcp_port}", None, relatch_after, clock)
        self.rtp.on_latch = self._rtp_latched
        self._rtcp_implicit = True
        self.poller: MediaPoller | None = None
        self.closed = False
        self.set_remote(remote, remote_rtcp)
        # Bound methods of the sockets themselves: a consumer's call goes straight to the sending code.
        self.send_rtp: Sink = self.rtp.send
        self.send_rtcp: Sink = self.rtcp.send

    @classmethod
    async def open(cls, pool: PortPool, *, remote: Address | None = None, remote_rtcp: Address | None = None,
                   clock_rate: int = 8000, relatch_after: float = RELATCH_AFTER,
                   clock: Callable[[], float] = time.monotonic) -> RtpEndpoint:  # fmt: skip
        """Take a port pair from `pool` and listen on it. `remote` is the SDP's connection address and
        media port (None if not known yet); `remote_rtcp` its a=rtcp, by default the RTP port + 1."""
        pair = pool.acquire()
        endpoint = cls(pool, pair, remote=remote, remote_rtcp=remote_rtcp, clock_rate=clock_rate,
                       relatch_after=relatch_after, clock=clock)  # fmt: skip
        try:
            endpoint.poller = poller = MediaPoller.of(asyncio.get_running_loop())
            for side, sock in ((endpoint.rtp, pair.rtp_socket), (endpoint.rtcp, pair.rtcp_socket)):
                side.sock = sock
                poller.add(side)
        except BaseException:
            endpoint.close()
            raise
        return endpoint

    # -- where to send

    def set_remote(self, remote: Address | None, remote_rtcp: Address | None = None) -> None:
        """The address an offer or answer gave (a re-INVITE too): send there, and let the next
        packet from anywhere latch, as the other side may have moved."""
        if self.closed:
            return
        self.rtp.unlatch(remote)
        self._rtcp_implicit = remote_rtcp is None
        if remote_rtcp is None and remote is not None:
            remote_rtcp = (remote[0], remote[1] + 1)
        self.rtcp.unlatch(remote_rtcp)

    def _rtp_latched(self, addr: Address) -> None:
        # A NAT maps the RTCP port on its own; until RTCP arrives, the RTP source's port + 1 is the best guess.
        if self._rtcp_implicit and self.rtcp.source is None:
            self.rtcp.remote = (addr[0], addr[1] + 1)

    @property
    def remote(self) -> Address | None:
        return self.rtp.remote

    @property
    def remote_rtcp(self) -> Address | None:
        return self.rtcp.remote

    @property
    def latched(self) -> bool:
        return self.rtp.source is not None

    @property
    def last_heard(self) -> float:
        """When the other side was last heard (RTP or RTCP) on the endpoint's clock; 0 before it was."""
        return max(self.rtp.last_heard, self.rtcp.last_heard)

    # -- consumers

    @property
    def sink(self) -> Sink | None:
        return self.rtp.sink

    @sink.setter
    def sink(self, sink: Sink | None) -> None:
        self.rtp.sink = sink

    @property
    def tap(self) -> Sink | None:
        """Also given every RTP packet the sink is given, after it (a recording's list.append: the
        relay's hot path gains no Python call while a call is recorded)."""
        return self.rtp.tap

    @tap.setter
    def tap(self, tap: Sink | None) -> None:
        self.rtp.tap = tap

    @property
    def rtcp_sink(self) -> Sink | None:
        return self.rtcp.sink

    @rtcp_sink.setter
    def rtcp_sink(self, sink: Sink | None) -> None:
        self.rtcp.sink = sink

    @property
    def clock_rate(self) -> int:
        return self.rtp.stats.clock_rate

    @clock_rate.setter
    def clock_rate(self, rate: int) -> None:
        """When the negotiated codec's RTP clock is not 8000 Hz (G.722 keeps 8000; Opus 48000)."""
        self.rtp.stats.clock_rate = rate

    # -- figures and the end

    def stats(self) -> dict[str, Any]:
        rtp, rtcp, rx = self.rtp, self.rtcp, self.rtp.stats
        return {
            "local": f"{self.host}:{self.port}",
            "remote": _format(rtp.remote),
            "remote_rtcp": _format(rtcp.remote),
            "packets_received": rtp.received,
            "bytes_received": rtp.received_bytes,
            "packets_sent": rtp.sent,
            "bytes_sent": rtp.sent_bytes,
            "packets_expected": rx.expected,
            "packets_lost": rx.lost,
            "loss_fraction": rx.fraction_lost,
            "jitter_ms": rx.jitter_ms,
            "packets_invalid": rtp.invalid,
            "packets_refused": rtp.refused,
            "packets_unsent": rtp.unsent,
            "latches": rtp.latches,
            "rtcp_packets_received": rtcp.received,
            "rtcp_packets_sent": rtcp.sent,
            "rtcp_packets_invalid": rtcp.invalid,
            "rtcp_packets_refused": rtcp.refused,
            "rtcp_packets_unsent": rtcp.unsent,
            "rtcp_latches": rtcp.latches,
            "phone_report": rtcp.report.summary(rx.clock_rate) if rtcp.report is not None else None,
        }

    def close(self) -> None:
        """Stop sending and receiving, close both sockets and give the pair back to the pool; safe to
        call twice."""
        if self.closed:
            return
        self.closed = True
        self.rtp.tap = None
        for side, sock in ((self.rtp, self.pair.rtp_socket), (self.rtcp, self.pair.rtcp_socket)):
            side.sink = None
            side.remote = None
            side.connected = False
            if side.sock is not None:
                self.poller.remove(side)
            sock.close()
        self.pool.release(self.port)

    def __repr__(self) -> str:
        return f"<RtpEndpoint {self.host}:{self.port} remote={_format(self.rtp.remote)}>"


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:  # a name: bound to what it resolved to
        return False


def _format(address: Address | None) -> str | None:
    return None if address is None else f"{address[0]}:{address[1]}"
