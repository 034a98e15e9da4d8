"""The SIP stack (RFC 3261), shared by the SIP edge (telephony/edge) and the call engines; stdlib only,
no Django.

Messages: parsing, framing, header values and responses (this package's namespace). The layers above
them are modules of their own: transaction.py (client and server transactions, timers), dialog.py
(the dialog, `Leg`; tags and branches), transport.py (what a transaction needs of a transport) and
digest.py (digest hashing; the client side), auth.py (the auth header grammar), subscription.py (a
SUBSCRIBE's terms: the prologue every event package the engine serves shares).
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
