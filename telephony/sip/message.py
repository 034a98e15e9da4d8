"""The SIP message layer in one import: messages, parsing, framing, validation and responses.

The pieces live in modules split by concern (parser, framer, model, headers, validate); this module is the
API the SIP edge and the call engines code against.
"""

from __future__ import annotations

from telephony.sip.errors import SipError
from telephony.sip.framer import StreamFramer
from telephony.sip.headers import Headers
from telephony.sip.model import Request, Response, make_response, parse_cseq
from telephony.sip.parser import (
    KNOWN_METHODS,
    MAX_BODY_BYTES,
    MAX_HEADERS,
    MAX_LINE_BYTES,
    MAX_MESSAGE_BYTES,
    is_keepalive,
    parse,
)
from telephony.sip.reasons import reason_phrase
from telephony.sip.validate import validate_request

__all__ = [
    "KNOWN_METHODS",
    "MAX_BODY_BYTES",
    "MAX_HEADERS",
    "MAX_LINE_BYTES",
    "MAX_MESSAGE_BYTES",
    "Headers",
    "Request",
    "Response",
    "SipError",
    "StreamFramer",
    "is_keepalive",
    "make_response",
    "parse",
    "parse_cseq",
    "reason_phrase",
    "validate_request",
]
