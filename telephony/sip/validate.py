"""Semantic checks of a parsed request, before a server acts on it (RFC 3261 8.2, 16.3; RFC 4475 3.1.2, 3.3).

parse() only checks what is needed to frame a message and identify its transaction; this reads every
header value a server will rely on, so the caller can answer the SipError with make_response().
"""

from __future__ import annotations

import re

from telephony.sip._lex import is_digits
from telephony.sip.errors import SipError
from telephony.sip.model import Request
from telephony.sip.parser import KNOWN_METHODS
from telephony.sip.uri import parse_name_addr, parse_uri
from telephony.sip.via import parse_via

# Headers a request carries at most once (RFC 3261 7.3.1: only list headers may repeat); RFC 4475 multi01.
SINGLE_VALUED = ("Call-ID", "CSeq", "From", "To", "Max-Forwards", "Content-Length", "Content-Type", "Expires",
                 "Min-Expires")  # fmt: skip
_ADDRESS_LISTS = ("Route", "Record-Route", "Path")
# rfc1123-date, whose only time zone is GMT (RFC 3261 20.17; RFC 4475 baddate).
_DATE_RE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
    r"[0-9]{2}:[0-9]{2}:[0-9]{2} GMT"
)


def validate_request(request: Request) -> None:
    """SipError (with the status to answer) for a request a server must not process."""
    headers = request.headers
    keys = [item[0] for item in headers._items]
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        if name.lower() not in keys:
            raise SipError(400, f"Missing {name}")
    for name in SINGLE_VALUED:
        if keys.count(name.lower()) > 1:
            raise SipError(400, f"More than one {name}")
    _, method = request.cseq
    if method != request.method:
        raise SipError(400 if request.method in KNOWN_METHODS else 501, "CSeq method does not match")
    _check_request_uri(request.uri)
    max_forwards = headers.get("Max-Forwards")
    if max_forwards is not None and (not is_digits(max_forwards) or int(max_forwards) > 255):
        raise SipError(400, "Bad Max-Forwards")
    length = headers.get("Content-Length")
    if length is not None and (not is_digits(length) or int(length) != len(request.body)):
        raise SipError(400, "Content-Length does not match the body")
    for name in ("From", "To"):
        request.name_addr(name)  # parsed once: the edge reads the same objects afterwards
    vias = headers.get_all("Via")
    if request.top_via.protocol != "SIP/2.0" or any(parse_via(v).protocol != "SIP/2.0" for v in vias[1:]):
        raise SipError(400, "Bad Via protocol")
    if request.contacts() == "*":
        # RFC 3261 10.2.2: the wildcard only removes every binding: REGISTER with Expires: 0.
        expires = headers.get("Expires")
        if request.method != "REGISTER" or expires is None or not is_digits(expires) or int(expires) != 0:
            raise SipError(400, "Contact * needs REGISTER with Expires: 0")
    for name in _ADDRESS_LISTS:
        for value in headers.get_all(name):
            parse_name_addr(value)
    expires = headers.get("Expires")
    if expires is not None and not is_digits(expires, 1000):
        raise SipError(400, "Bad Expires")
    date = headers.get("Date")
    if date is not None and _DATE_RE.fullmatch(date) is None:
        raise SipError(400, "Bad Date")


def _check_request_uri(text: str) -> None:
    uri = parse_uri(text)  # 416 for tel:, http:... (RFC 4475 unkscm, novelsc); 400 when malformed (ltgtruri)
    if uri.headers:
        # RFC 3261 19.1.1 table: no headers in a Request-URI (RFC 4475 escruri).
        raise SipError(400, "Headers in Request-URI")
