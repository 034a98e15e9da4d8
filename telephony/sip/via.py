"""One Via header value (RFC 3261 section 20.42, with RFC 3581 rport)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from telephony.sip._lex import TOKEN_CHARS, format_params, parse_params
from telephony.sip.errors import SipError

# sent-protocol allows LWS around its slashes and sent-by around its colon (RFC 4475 wsinv has both).
_VIA_RE = re.compile(
    f"[ \\t]*([{TOKEN_CHARS}]+)[ \\t]*/[ \\t]*([{TOKEN_CHARS}]+)[ \\t]*/[ \\t]*([{TOKEN_CHARS}]+)[ \\t]+"
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-_.]+)(?:[ \t]*:[ \t]*([0-9]{1,5}))?"
)


@dataclass(slots=True)
class Via:
    """Where a request went through and how its responses find their way back."""

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    protocol: str = "SIP/2.0"

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport(self) -> str | None:
        """None when absent, "" when present without a value (the client asks for it), else the port."""
        if "rport" not in self.params:
            return None
        value = self.params["rport"]
        return "" if value is None else value

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {self.sent_by}{format_params(self.params)}"


def parse_via(value: str) -> Via:
    """One element of Headers.get_all("Via")."""
    m = _VIA_RE.match(value)
    if m is None:
        raise SipError(400, "Malformed Via")
    name, version, transport, host, port = m.groups()
    if port is not None and int(port) > 65535:
        raise SipError(400, "Malformed Via port")
    return Via(
        transport=transport.upper(),
        host=host.lower(),
        port=None if port is None else int(port),
        params=parse_params(value, m.end()),
        protocol=f"{name.upper()}/{version}",
    )
