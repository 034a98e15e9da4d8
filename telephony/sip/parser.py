"""Parsing one whole SIP message (a UDP datagram, or a message the stream framer has cut out).

Hot path of the edge: the head is split once and header values are only located, not parsed; the value
parsers (uri, via, auth) run when someone asks. What must be right before anyone can answer (start line,
version, framing, the five headers that identify a transaction) is checked here.
"""

from __future__ import annotations

import re

from telephony.sip._lex import TOKEN_RE, is_digits
from telephony.sip.errors import SipError
from telephony.sip.headers import CANONICAL, Headers
from telephony.sip.model import Request, Response, parse_cseq

MAX_MESSAGE_BYTES = 65535
MAX_HEADERS = 128
MAX_LINE_BYTES = 8192
MAX_BODY_BYTES = 60000

KNOWN_METHODS = frozenset(("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY",
                           "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE"))  # fmt: skip
_REQUIRED = ("via", "from", "to", "call-id", "cseq")
_FOLD_RE = re.compile(r"[ \t]*\r\n[ \t]+")
_VERSION_RE = re.compile(r"SIP/[0-9]+\.[0-9]+")


def is_keepalive(data: bytes) -> bool:
    """A datagram of only CRLFs: an RFC 5626 ping ("\\r\\n\\r\\n", answer "\\r\\n") or pong, not a message."""
    return not data.strip(b"\r\n")


def parse(data: bytes) -> Request | Response:
    """One complete message; SipError for anything RFC 3261 / RFC 4475 says to reject, and nothing else."""
    if not isinstance(data, bytes):
        data = bytes(data)
    if data[:1] in (b"\r", b"\n"):
        data = data.lstrip(b"\r\n")  # RFC 3261 7.5: CRLFs before the start line are ignored
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipError(513, "Message Too Large")
    end = data.find(b"\r\n\r\n")
    if end < 0:
        raise SipError(400, "No end of header" if data else "Empty message")
    try:
        head = data[:end].decode()
    except UnicodeDecodeError:
        raise SipError(400, "Header is not UTF-8") from None
    if "\r\n " in head or "\r\n\t" in head:
        head = _FOLD_RE.sub(" ", head)  # RFC 3261 7.3.1: a folded line is one line, the fold one SP
    lines = head.split("\r\n")
    breaks = len(lines) - 1
    if head.count("\n") != breaks or head.count("\r") != breaks:
        raise SipError(400, "Bare CR or LF in header")
    if breaks > MAX_HEADERS:
        raise SipError(513, "Too many header fields")
    if len(head) > MAX_LINE_BYTES and max(map(len, lines)) > MAX_LINE_BYTES:
        raise SipError(513, "Header line too long")
    headers = Headers._trusted(_header_items(lines))
    message = _start(lines[0], headers)
    message.body = _body(headers, data[end + 4 :], message)
    _check_transaction_headers(message)
    return message


def _header_items(lines: list[str]) -> list[tuple[str, str, str]]:
    items = []
    append = items.append  # local aliases: this loop is the parser's hot path
    known = CANONICAL.get
    for index in range(1, len(lines)):
        name, colon, value = lines[index].partition(":")
        if not colon:
            raise SipError(400, "Header line without colon")
        name = name.rstrip(" \t")
        spelling_key = known(name.lower())
        if spelling_key is None:
            if TOKEN_RE.fullmatch(name) is None:
                raise SipError(400, "Bad header name")
            append((name.lower(), name, value.strip(" \t")))
        else:
            append((spelling_key[1], spelling_key[0], value.strip(" \t")))
    return items


def _version(text: str) -> str:
    upper = text.upper()
    if upper == "SIP/2.0":
        return "SIP/2.0"
    if _VERSION_RE.fullmatch(upper):
        raise SipError(505, "Version Not Supported")
    raise SipError(400, "Malformed SIP version")


def _start(line: str, headers: Headers) -> Request | Response:
    if line[:4].upper() == "SIP/":
        version, _, rest = line.partition(" ")
        code, _, reason = rest.partition(" ")
        version = _version(version)
        # RFC 4475 bigcode: a status is exactly three digits, 100-699.
        if len(code) != 3 or not code.isascii() or not code.isdigit() or not "100" <= code <= "699":
            raise SipError(400, "Bad status code")
        return Response(int(code), reason, headers, b"", version)
    parts = line.split(" ")
    # RFC 4475 lwsstart, trws, lwsruri: exactly one SP between the three parts of a Request-Line.
    if len(parts) != 3 or not parts[1]:
        raise SipError(400, "Malformed Request-Line")
    method, uri, version = parts
    if TOKEN_RE.fullmatch(method) is None:
        raise SipError(400, "Bad method")
    return Request(method, uri, headers, b"", _version(version))


def _body(headers: Headers, rest: bytes, message: Request | Response) -> bytes:
    lengths = [value for key, _, value in headers._items if key == "content-length"]
    if not lengths:
        if len(rest) > MAX_BODY_BYTES:
            raise SipError(413, "Request Entity Too Large", parsed=message)
        return rest  # a datagram without Content-Length: the body is the rest (RFC 3261 18.3)
    if not all(is_digits(value) for value in lengths):
        raise SipError(400, "Bad Content-Length", parsed=message)
    length = int(lengths[0])
    if any(int(value) != length for value in lengths[1:]):
        raise SipError(400, "Conflicting Content-Length", parsed=message)  # RFC 4475 mcl01
    if length > MAX_BODY_BYTES:
        raise SipError(413, "Request Entity Too Large", parsed=message)
    if length > len(rest):
        raise SipError(400, "Content-Length larger than body", parsed=message)  # RFC 4475 clerr
    return rest[:length]  # octets past Content-Length are noise (RFC 3261 18.3, RFC 4475 dblreq)


def _check_transaction_headers(message: Request | Response) -> None:
    keys = {item[0] for item in message.headers._items}
    for key in _REQUIRED:
        if key not in keys:
            raise SipError(400, f"Missing {CANONICAL[key][0]}", parsed=message)
    try:
        _, method = parse_cseq(message.headers.get("CSeq"))
    except SipError as exc:
        exc.parsed = message
        raise
    if isinstance(message, Request) and method != message.method:
        # RFC 4475 mismatch02: an unknown method is better answered 501 than 400.
        status = 400 if message.method in KNOWN_METHODS else 501
        raise SipError(status, "CSeq method does not match", parsed=message)
