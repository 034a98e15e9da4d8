"""Requests and responses, their serialisation, and building a response to a request."""

from __future__ import annotations

import re
from collections.abc import Iterable

from telephony.sip._lex import TOKEN_CHARS, is_digits
from telephony.sip.auth import parse_credentials
from telephony.sip.errors import SipError
from telephony.sip.headers import Headers
from telephony.sip.reasons import reason_phrase
from telephony.sip.uri import NameAddr, SipUri, parse_contacts, parse_name_addr
from telephony.sip.via import Via, parse_via

SIP_VERSION = "SIP/2.0"
_CSEQ_RE = re.compile(f"[ \\t]*([0-9]{{1,10}})[ \\t]+([{TOKEN_CHARS}]+)[ \\t]*")


def _header_lines(headers: Headers, body: bytes) -> list[str]:
    # Content-Length is always written and always computed, at the place of the first one received, so a
    # forwarded or re-serialised message can never announce a body it does not carry.
    lines = []
    length_written = False
    for key, spelling, value in headers._items:
        if key == "content-length":
            if length_written:
                continue
            value = str(len(body))
            length_written = True
        lines.append(f"{spelling}: {value}")
    if not length_written:
        lines.append(f"Content-Length: {len(body)}")
    return lines


class _Message:
    __slots__ = ("body", "headers", "version")

    headers: Headers
    body: bytes
    version: str

    def _start_line(self) -> str:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        lines = [self._start_line(), *_header_lines(self.headers, self.body), "", ""]
        return "\r\n".join(lines).encode("utf-8") + self.body

    @property
    def call_id(self) -> str | None:
        return self.headers.get("Call-ID")

    @property
    def cseq(self) -> tuple[int, str]:
        """(sequence number, method); SipError when the header is missing or malformed."""
        return parse_cseq(self.headers.get("CSeq"))

    def _parsed(self, key, parse):
        """A header value parsed once per message, kept until a header changes (Headers.memo);
        callers must treat what they get as read-only."""
        memo = self.headers.memo
        hit = memo.get(key)
        if hit is None:
            hit = memo[key] = parse()
        return hit

    def name_addr(self, name: str) -> NameAddr:
        """From, To or another single address header, parsed (read-only; SipError when malformed)."""
        return self._parsed(("addr", name), lambda: parse_name_addr(self.headers.get(name) or ""))

    def credentials(self, name: str = "Authorization") -> tuple[str, dict[str, str]]:
        """Authorization or Proxy-Authorization parsed: (scheme, params); read-only, SipError when malformed."""
        return self._parsed(("credentials", name), lambda: parse_credentials(self.headers.get(name) or ""))

    def contacts(self) -> list[NameAddr] | str:
        """The Contact values parsed ("*" for the wildcard, [] when there is none); read-only."""

        def parse() -> list[NameAddr] | str:
            values = self.headers.get_all("Contact")
            return parse_contacts(values) if values else []

        return self._parsed("contacts", parse)

    @property
    def from_tag(self) -> str | None:
        return None if self.headers.get("From") is None else self.name_addr("From").tag

    @property
    def to_tag(self) -> str | None:
        return None if self.headers.get("To") is None else self.name_addr("To").tag

    @property
    def top_via(self) -> Via:
        """The first Via, parsed once per message (read-only)."""

        def parse() -> Via:
            value = self.headers.get("Via")
            if value is None:
                raise SipError(400, "Missing Via")
            return parse_via(value)

        return self._parsed("top via", parse)

    @property
    def branch(self) -> str | None:
        return None if "Via" not in self.headers else self.top_via.branch

    @property
    def max_forwards(self) -> int | None:
        value = self.headers.get("Max-Forwards")
        if value is None:
            return None
        if not is_digits(value) or int(value) > 255:
            raise SipError(400, "Bad Max-Forwards")
        return int(value)

    @property
    def content_type(self) -> str | None:
        return self.headers.get("Content-Type")


class Request(_Message):
    """A SIP request; `uri` is the Request-URI as text (parse_uri() it when needed)."""

    __slots__ = ("method", "uri")

    def __init__(
        self,
        method: str,
        uri: str | SipUri,
        headers: Headers | None = None,
        body: bytes = b"",
        version: str = SIP_VERSION,
    ) -> None:
        self.method = method
        self.uri = str(uri)
        self.headers = Headers() if headers is None else headers
        self.body = body
        self.version = version

    def _start_line(self) -> str:
        return f"{self.method} {self.uri} {self.version}"

    def copy(self) -> Request:
        return Request(self.method, self.uri, self.headers.copy(), self.body, self.version)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Request):
            return NotImplemented
        return (self.method, self.uri, self.version, self.body, self.headers) == (
            other.method, other.uri, other.version, other.body, other.headers,
        )  # fmt: skip

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri} call-id={self.call_id!r}>"


class Response(_Message):
    """A SIP response."""

    __slots__ = ("reason", "status")

    def __init__(
        self,
        status: int,
        reason: str | None = None,
        headers: Headers | None = None,
        body: bytes = b"",
        version: str = SIP_VERSION,
    ) -> None:
        self.status = status
        self.reason = reason_phrase(status) if reason is None else reason
        self.headers = Headers() if headers is None else headers
        self.body = body
        self.version = version

    def _start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    def copy(self) -> Response:
        return Response(self.status, self.reason, self.headers.copy(), self.body, self.version)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Response):
            return NotImplemented
        return (self.status, self.reason, self.version, self.body, self.headers) == (
            other.status, other.reason, other.version, other.body, other.headers,
        )  # fmt: skip

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason} call-id={self.call_id!r}>"


def parse_cseq(value: str | None) -> tuple[int, str]:
    """`CSeq: 1 INVITE` -> (1, "INVITE"); the number must be below 2**31 (RFC 3261 8.1.1.5)."""
    m = None if value is None else _CSEQ_RE.fullmatch(value)
    if m is None or int(m.group(1)) >= 2**31:
        raise SipError(400, "Bad CSeq" if value is not None else "Missing CSeq")
    return int(m.group(1)), m.group(2)


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> Response:
    """A response as RFC 3261 8.2.6 builds it: every Via in order, From, To (+ tag), Call-ID and CSeq."""
    if not 100 <= status <= 699:
        raise ValueError(f"Not a response status: {status}")
    out = Headers()
    for value in request.headers.get_lines("Via"):
        out.add("Via", value)
    for name in ("From", "To", "Call-ID", "CSeq"):
        for value in request.headers.get_lines(name)[:1]:
            if name == "To" and to_tag is not None and not _has_tag(request, value):
                value = f"{value};tag={to_tag}"
            out.add(name, value)
    for name, value in headers:
        out.add(name, value)
    out.set("Content-Length", "0")
    return Response(status, reason, out)


def _has_tag(request: Request, to_value: str) -> bool:
    try:
        return request.name_addr("To").tag is not None if to_value == request.headers.get("To") else (
            parse_name_addr(to_value).tag is not None)  # fmt: skip
    except SipError:
        # A To we cannot parse (the reason for a 400, maybe) gets the tag appended all the same.
        return False
