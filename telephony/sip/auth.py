"""Digest credentials and challenges (RFC 3261 section 25.1 auth grammar, RFC 7616)."""

from __future__ import annotations

import re

from telephony.sip._lex import TOKEN_CHARS, WS, quote, unquote
from telephony.sip.errors import SipError

_SCHEME_RE = re.compile(f"([{TOKEN_CHARS}]+)[ \\t]+")
# auth-param = name EQUAL ( token / quoted-string ); an unquoted value is taken up to the next comma, as
# several phones send uri= and response= unquoted.
_PARAM_RE = re.compile(
    # the quoted-string as an unrolled loop: one alternation per escape instead of one per character
    f'[ \\t]*([{TOKEN_CHARS}]+)[ \\t]*=[ \\t]*("[^"\\\\]*(?:\\\\.[^"\\\\]*)*"|[^ \\t,"]+)[ \\t]*(,|\\Z)',
    re.DOTALL,
)


def parse_credentials(value: str) -> tuple[str, dict[str, str]]:
    """Authorization / Proxy-Authorization: (scheme, params) with names lower-cased and values unquoted."""
    text = value.strip(WS)
    m = _SCHEME_RE.match(text)
    if m is None:
        raise SipError(400, "Malformed credentials")
    scheme = m.group(1)
    if scheme.lower() == "digest":
        scheme = "Digest"
    params: dict[str, str] = {}
    pos = m.end()
    while True:
        m = _PARAM_RE.match(text, pos)
        if m is None:
            raise SipError(400, "Malformed credentials")
        name = m.group(1).lower()
        if name in params:
            # Two values for one directive (two responses, two usernames) would let a check see one and use
            # the other.
            raise SipError(400, f"Repeated credential parameter {name}")
        params[name] = unquote(m.group(2)) if m.group(2)[0] == '"' else m.group(2)
        pos = m.end()
        if not m.group(3):
            return scheme, params


def format_challenge(params: dict[str, str], quoted: set[str], *, scheme: str = "Digest") -> str:
    """`Digest realm="...", nonce="...", algorithm=MD5, qop="auth", stale=true`: names in `quoted` get quotes."""
    parts = []
    for name, value in params.items():
        if name in quoted:
            parts.append(f"{name}={quote(value)}")
        else:
            if not value or any(c in value for c in ' \t\r\n,"'):
                raise ValueError(f"{name} must be quoted: {value!r}")
            parts.append(f"{name}={value}")
    return f"{scheme} " + ", ".join(parts)
