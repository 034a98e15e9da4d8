"""RTP/RTCP port pairs for the call engine's media sockets.

A pair is an even RTP port and the odd port above it for RTCP (RFC 3550 section 11). The pool
binds both sockets itself when it hands a pair out, so a port taken by another program is found
at once and skipped (it stays in the pool: it may be free on the next turn), and nothing can take
the port between the check and its use. Returned pairs go to the back of the line, so a port is
not reused at once and stray packets of a finished call do not land in the next one.
"""

from __future__ import annotations

import socket
from collections import deque
from dataclasses import dataclass


class MediaError(Exception):
    """A media-layer failure the engine can report; `code` is stable for APIs and logs."""

    code = "media-error"


class PortsExhausted(MediaError):
    """No RTP/RTCP pair in the configured range could be bound."""

    code = "rtp-ports-exhausted"


@dataclass(frozen=True)
class PortPair:
    """One leg's RTP and RTCP sockets, bound on `host`, non-blocking; the endpoint owns them."""

    host: str
    rtp_port: int
    rtp_socket: socket.socket
    rtcp_socket: socket.socket

    @property
    def rtcp_port(self) -> int:
        return self.rtp_port + 1


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        # No SO_REUSEADDR/SO_REUSEPORT: a port somebody else holds must fail to bind here.
        sock.bind((host, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class PortPool:
    """The even RTP ports of `first..last` (inclusive, RTCP = RTP + 1) on `host`."""

    def __init__(self, first: int, last: int, host: str) -> None:
        if not 0 < first < last <= 65535:
            raise ValueError(f"RTP port range {first}-{last} is not within 1-65535")
        start = first + (first & 1)
        ports = range(start, last, 2)  # the RTCP port start + 1 must be <= last too
        if not ports:
            raise ValueError(f"RTP port range {first}-{last} holds no even/odd pair")
        self.host = host
        self.first = first
        self.last = last
        self.size = len(ports)
        self._free: deque[int] = deque(ports)
        self._used: set[int] = set()

    @property
    def free(self) -> int:
        """Pairs not handed out (some may be held by other programs; acquire() skips those)."""
        return len(self._free)

    @property
    def used(self) -> int:
        return len(self._used)

    def acquire(self) -> PortPair:
        """The next pair that binds; raises PortsExhausted when none does."""
        for _ in range(len(self._free)):
            port = self._free.popleft()
            try:
                rtp = _bind(self.host, port)
            except OSError:
                self._free.append(port)
                continue
            try:
                rtcp = _bind(self.host, port + 1)
            except OSError:
                rtp.close()
                self._free.append(port)
                continue
            self._used.add(port)
            return PortPair(self.host, port, rtp, rtcp)
        raise PortsExhausted(
            f"no free RTP port pair on {self.host} in {self.first}-{self.last} "
            f"({len(self._used)} in use, {len(self._free)} held by other programs)"
        )

    def release(self, rtp_port: int) -> None:
        """Take a pair back once its sockets are closed."""
        try:
            self._used.remove(rtp_port)
        except KeyError:
            raise ValueError(f"RTP port {rtp_port} was not handed out by this pool") from None
        self._free.append(rtp_port)
