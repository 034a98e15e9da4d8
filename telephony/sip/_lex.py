"""Lexical pieces of the RFC 3261 grammar shared by the header value parsers.

Whitespace here is only SP and HTAB: Python's str.split()/strip() and regex \\s also match Unicode spaces,
which would make the parser accept (and re-serialise) bytes that no SIP element sends.
"""

from __future__ import annotations

import re

from telephony.sip.errors import SipError

WS = " \t"
TOKEN_CHARS = "A-Za-z0-9\\-.!%*_+`'~"
TOKEN_RE = re.compile(f"[{TOKEN_CHARS}]+")
# gen-value = token / host / quoted-string; host adds ':' and '[]' for IPv6 references.
_PARAM_RE = re.compile(
    f'[ \\t]*;[ \\t]*([{TOKEN_CHARS}]+)(?:[ \\t]*=[ \\t]*("(?:[^"\\\\]|\\\\.)*"|[{TOKEN_CHARS}:\\[\\]]+))?',
    re.DOTALL,
)
_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.DOTALL)
# quoted-pair may carry any octet but CR and LF; these ones must be escaped to be qdtext-safe.
_NEEDS_ESCAPE_RE = re.compile(r'["\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')


def is_token(text: str) -> bool:
    return TOKEN_RE.fullmatch(text) is not None


def is_digits(text: str, max_len: int = 10) -> bool:
    """ASCII digits only: str.isdigit() also accepts '²' and other scripts' digits, which int() then rejects."""
    return 0 < len(text) <= max_len and text.isascii() and text.isdigit()


def scan_quoted(text: str, start: int) -> int:
    """Index just after the quoted-string that opens at text[start] (a '"'); SipError if it never closes."""
    i = start + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        i += 1
    raise SipError(400, "Unterminated quoted string")


def unquote(text: str) -> str:
    """The content of a quoted-string (with or without its quotes), backslash escapes resolved."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    return _QUOTED_PAIR_RE.sub(r"\1", text) if "\\" in text else text


def quote(text: str) -> str:
    """A quoted-string that unquote() turns back into `text`; CR and LF cannot be carried at all."""
    if "\r" in text or "\n" in text:
        raise ValueError("CR and LF cannot appear in a quoted string")
    return '"' + _NEEDS_ESCAPE_RE.sub(lambda m: "\\" + m.group(0), text) + '"'


def skip_ws(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in WS:
        i += 1
    return i


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, leaving commas inside quoted strings and <...> alone.

    Empty elements are dropped, as RFC 2616's #rule allows. Never raises: an unterminated quote or
    bracket just keeps the rest of the value as one element, for the value parser to reject.
    """
    if '"' not in value and "<" not in value:
        if "," not in value:
            stripped = value.strip(WS)
            return [stripped] if stripped else []
        return [part for part in (p.strip(WS) for p in value.split(",")) if part]
    out = []
    start = 0
    i = 0
    n = len(value)
    in_quote = in_angle = False
    while i < n:
        c = value[i]
        if in_quote:
            if c == "\\":
                i += 1
            elif c == '"':
                in_quote = False
        elif in_angle:
            if c == ">":
                in_angle = False
        elif c == '"':
            in_quote = True
        elif c == "<":
            in_angle = True
        elif c == ",":
            part = value[start:i].strip(WS)
            if part:
                out.append(part)
            start = i + 1
        i += 1
    part = value[start:].strip(WS)
    if part:
        out.append(part)
    return out


def parse_params(text: str, pos: int = 0) -> dict[str, str | None]:
    """`*( SEMI generic-param )` from text[pos:] to the end: names lower-cased, values as written.

    Quoted values keep their quotes so that serialising gives back the same text; a flag parameter maps
    to None. Empty parameters, junk between them and repeated names are errors.
    """
    params: dict[str, str | None] = {}
    n = len(text)
    match = _PARAM_RE.match
    while True:
        m = match(text, pos)
        if m is None:
            if skip_ws(text, pos) != n:
                raise SipError(400, "Malformed parameters")
            return params
        name = m.group(1).lower()
        if name in params:
            raise SipError(400, f"Repeated parameter {name}")
        params[name] = m.group(2)
        pos = m.end()


def format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{name}" if value is None else f";{name}={value}" for name, value in params.items())
