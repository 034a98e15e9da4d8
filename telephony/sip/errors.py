"""The one exception of the SIP message layer."""

from __future__ import annotations

from typing import Any


class SipError(Exception):
    """A message or header value that RFC 3261 says to reject.

    `status` is the response a server would answer with (400 by default; 413, 416, 505, 513 where they fit)
    and `reason` a short text for its reason phrase. When parse() had already built the message before
    finding the fault (a CSeq that does not match the method, say), `parsed` holds it, so a server can still
    answer with make_response(error.parsed, error.status, error.reason).
    """

    def __init__(self, status: int = 400, reason: str = "Bad Request", *, parsed: Any = None) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason
        self.parsed = parsed

    def __str__(self) -> str:
        return f"{self.status} {self.reason}"
