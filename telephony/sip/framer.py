"""Cutting a TCP/TLS byte stream into SIP messages (RFC 3261 18.3, keep-alives of RFC 5626)."""

from __future__ import annotations

import re

from telephony.sip.errors import SipError
from telephony.sip.model import Request, Response
from telephony.sip.parser import MAX_BODY_BYTES, MAX_MESSAGE_BYTES, parse

_CONTENT_LENGTH_RE = re.compile(rb"\r\n(?:content-length|l)[ \t]*:([^\r]*)", re.IGNORECASE)
_FOLD_RE = re.compile(rb"[ \t]*\r\n[ \t]+")
_PING = b"\r\n\r\n"


class StreamFramer:
    """Feed it what a connection receives; it returns the complete messages, framed by Content-Length.

    A SipError about framing (no or bad Content-Length, a head or message over the limits) leaves the stream
    unreadable: every later feed() raises it again and the connection should be closed. A message that frames
    correctly but does not parse raises its SipError once and the stream goes on after it. Messages completed
    before an error in the same feed() are returned first; the error is raised by the next call.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._scanned = 0  # how far the buffer has been searched for the end of the head
        self._failed: SipError | None = None
        self._pending: SipError | None = None
        self.pings = 0  # CRLFCRLF keep-alive pings received; each wants a CRLF pong (RFC 5626 3.5.1)

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Request | Response]:
        if self._failed is not None:
            raise self._failed
        self._buffer += data
        if self._pending is not None:
            error, self._pending = self._pending, None
            raise error
        messages: list[Request | Response] = []
        while True:
            try:
                message = self._next()
            except SipError as exc:
                if not messages:
                    raise
                if self._failed is None:
                    self._pending = exc
                return messages
            if message is None:
                return messages
            messages.append(message)

    def _fail(self, status: int, reason: str) -> SipError:
        self._failed = SipError(status, reason)
        self._buffer.clear()
        return self._failed

    def _next(self) -> Request | Response | None:
        buffer = self._buffer
        while buffer[:2] == b"\r\n":
            if buffer[:4] == _PING:
                del buffer[:4]
                self.pings += 1
            elif len(buffer) < 4 and _PING.startswith(buffer):
                return None  # maybe the first half of a ping
            else:
                del buffer[:2]  # a pong, or stray CRLF between messages (RFC 3261 7.5)
        end = buffer.find(b"\r\n\r\n", max(0, self._scanned - 3))
        if end < 0:
            self._scanned = len(buffer)
            if len(buffer) > MAX_MESSAGE_BYTES:
                raise self._fail(513, "Message Too Large")
            return None
        length = self._content_length(bytes(buffer[:end]))
        total = end + 4 + length
        if total > MAX_MESSAGE_BYTES:
            raise self._fail(513, "Message Too Large")
        if len(buffer) < total:
            self._scanned = end
            return None
        chunk = bytes(buffer[:total])
        del buffer[:total]
        self._scanned = 0
        return parse(chunk)

    def _content_length(self, head: bytes) -> int:
        if b"\r\n " in head or b"\r\n\t" in head:
            head = _FOLD_RE.sub(b" ", head)
        values = [value.strip(b" \t") for value in _CONTENT_LENGTH_RE.findall(b"\r\n" + head)]
        if not values:
            raise self._fail(400, "Content-Length is required on stream transports")
        if not all(value.isdigit() and len(value) <= 10 for value in values):
            raise self._fail(400, "Bad Content-Length")
        length = int(values[0])
        if any(int(value) != length for value in values):
            raise self._fail(400, "Conflicting Content-Length")
        if length > MAX_BODY_BYTES:
            raise self._fail(413, "Request Entity Too Large")
        return length
