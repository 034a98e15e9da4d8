"""SIP messages (RFC 3261): parsing, framing, header values and responses; stdlib only, no Django.

Shared by the SIP edge (telephony/edge) and the call engines.
"""

from __future__ import annotations

from telephony.sip.auth import format_challenge, parse_credentials
from telephony.sip.message import (
    KNOWN_METHODS,
    MAX_BODY_BYTES,
    MAX_HEADERS,
    MAX_LINE_BYTES,
    MAX_MESSAGE_BYTES,
    Headers,
    Request,
    Response,
    SipError,
    StreamFramer,
    is_keepalive,
    make_response,
    parse,
    parse_cseq,
    reason_phrase,
    validate_request,
)
from telephony.sip.uri import NameAddr, SipUri, parse_contacts, parse_name_addr, parse_uri
from telephony.sip.via import Via, parse_via

__all__ = [
    "KNOWN_METHODS",
    "MAX_BODY_BYTES",
    "MAX_HEADERS",
    "MAX_LINE_BYTES",
    "MAX_MESSAGE_BYTES",
    "Headers",
    "NameAddr",
    "Request",
    "Response",
    "SipError",
    "SipUri",
    "StreamFramer",
    "Via",
    "format_challenge",
    "is_keepalive",
    "make_response",
    "parse",
    "parse_contacts",
    "parse_credentials",
    "parse_cseq",
    "parse_name_addr",
    "parse_uri",
    "parse_via",
    "reason_phrase",
    "validate_request",
]
