"""SIP and SIPS URIs (RFC 3261 section 19.1) and the name-addr form of From, To, Contact and Route."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import unquote as _percent_decode

from telephony.sip._lex import WS, format_params, is_digits, is_token, parse_params, quote, scan_quoted, unquote
from telephony.sip.errors import SipError

_ESCAPED = "%[0-9A-Fa-f]{2}"
_UNRESERVED = "A-Za-z0-9\\-_.!~*'()"
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_USER_RE = re.compile(f"(?:[{_UNRESERVED}&=+$,;?/]|{_ESCAPED})+")
_PASSWORD_RE = re.compile(f"(?:[{_UNRESERVED}&=+$,]|{_ESCAPED})*")
_HOST_RE = re.compile(r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-_.]+")
_PARAM_TEXT_RE = re.compile(f"(?:[{_UNRESERVED}\\[\\]/:&+$]|{_ESCAPED})+")
_HEADER_TEXT_RE = re.compile(f"(?:[{_UNRESERVED}\\[\\]/?:+$]|{_ESCAPED})*")
# What an opaque (non-SIP) URI may not contain: it would end the URI or the header value around it.
_OPAQUE_BAD_RE = re.compile(r'[\x00-\x20\x7f<>"]')


@dataclass(slots=True)
class SipUri:
    """A URI as found in a Request-URI or header; non-SIP schemes (tel:, http:...) keep their text in `opaque`."""

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    opaque: str | None = None

    @property
    def is_sip(self) -> bool:
        return self.scheme in ("sip", "sips")

    @property
    def user_unescaped(self) -> str | None:
        """The user part with %HH escapes decoded (RFC 3261 19.1.4 compares users this way).

        Octets that are not UTF-8 become surrogate escapes, so that two different users never decode alike;
        such a string is for comparing, not for writing into a header.
        """
        return None if self.user is None else _percent_decode(self.user, errors="surrogateescape")

    @property
    def host_port(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def with_(self, **changes: Any) -> SipUri:
        """A modified copy whose dictionaries are not shared with this one."""
        changes.setdefault("params", self.params)
        changes.setdefault("headers", self.headers)
        changes["params"] = dict(changes["params"])
        changes["headers"] = dict(changes["headers"])
        return replace(self, **changes)

    def __str__(self) -> str:
        if self.opaque is not None:
            return f"{self.scheme}:{self.opaque}"
        text = f"{self.scheme}:"
        if self.user is not None:
            text += self.user if self.password is None else f"{self.user}:{self.password}"
            text += "@"
        text += self.host_port + format_params(self.params)
        if self.headers:
            text += "?" + "&".join(f"{name}={value}" for name, value in self.headers.items())
        return text


def parse_uri(text: str, *, sip_only: bool = True) -> SipUri:
    """Parse a URI; SipError(416) for another scheme when sip_only, SipError(400) when malformed."""
    colon = text.find(":")
    if colon <= 0 or _SCHEME_RE.fullmatch(text, 0, colon) is None:
        raise SipError(400, "Malformed URI")
    scheme = text[:colon].lower()
    rest = text[colon + 1 :]
    if scheme not in ("sip", "sips"):
        if sip_only:
            raise SipError(416, "Unsupported URI Scheme")
        if not rest or _OPAQUE_BAD_RE.search(rest):
            raise SipError(400, "Malformed URI")
        return SipUri(scheme=scheme, opaque=rest)
    user = password = None
    at = rest.find("@")
    if at >= 0:
        user, sep, password = rest[:at].partition(":")
        if not sep:
            password = None
        if _USER_RE.fullmatch(user) is None or (password is not None and _PASSWORD_RE.fullmatch(password) is None):
            raise SipError(400, "Malformed URI user part")
        rest = rest[at + 1 :]
    rest, question, header_text = rest.partition("?")
    hostport, semi, param_text = rest.partition(";")
    host, port = _hostport(hostport)
    params: dict[str, str | None] = {}
    if semi:
        for piece in param_text.split(";"):
            name, eq, value = piece.partition("=")
            name = name.lower()
            if _PARAM_TEXT_RE.fullmatch(name) is None or name in params:
                raise SipError(400, "Malformed URI parameter")
            if eq and _PARAM_TEXT_RE.fullmatch(value) is None:
                raise SipError(400, "Malformed URI parameter")
            params[name] = value if eq else None
    headers: dict[str, str] = {}
    if question:
        for piece in header_text.split("&"):
            name, eq, value = piece.partition("=")
            if not eq or not name or _HEADER_TEXT_RE.fullmatch(name + value) is None:
                raise SipError(400, "Malformed URI header")
            headers[name] = value
    return SipUri(scheme, user, password, host, port, params, headers)


def _hostport(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        end = text.find("]") + 1
        host, port_text = text[:end], text[end:]
        if port_text and port_text[0] != ":":
            raise SipError(400, "Malformed URI host")
        port_text = port_text[1:]
        has_port = end < len(text)
    else:
        host, colon, port_text = text.partition(":")
        has_port = bool(colon)
    if _HOST_RE.fullmatch(host) is None:
        raise SipError(400, "Malformed URI host")
    if not has_port:
        return host.lower(), None
    if not is_digits(port_text, 5) or int(port_text) > 65535:
        raise SipError(400, "Malformed URI port")
    return host.lower(), int(port_text)


@dataclass(slots=True)
class NameAddr:
    """`"Display" <uri>;params` in From, To, Contact, Route...: `params` are the header's, not the URI's."""

    display: str | None
    uri: SipUri
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def __str__(self) -> str:
        prefix = "" if self.display is None else quote(self.display) + " "
        return f"{prefix}<{self.uri}>{format_params(self.params)}"


def parse_name_addr(value: str, *, sip_only: bool = False) -> NameAddr:
    """Both `"Name" <uri>;params` and bare `uri;params`; in the bare form params belong to the header."""
    text = value.strip(WS)
    if not text:
        raise SipError(400, "Empty address")
    if text[0] == '"':
        end = scan_quoted(text, 0)
        display: str | None = unquote(text[:end])
        lt = end
        while lt < len(text) and text[lt] in WS:
            lt += 1
        if lt >= len(text) or text[lt] != "<":
            raise SipError(400, "Display name without <uri>")
    else:
        lt = text.find("<")
        display = None
        if lt > 0:
            tokens = text[:lt].replace("\t", " ").split(" ")
            tokens = [token for token in tokens if token]
            # RFC 4475 lwsdisp: `caller<sip:...>` is accepted; baddn: unquoted `Bell, Alexander` is not.
            if not all(is_token(token) for token in tokens):
                raise SipError(400, "Display name must be tokens or a quoted string")
            display = " ".join(tokens) or None
    if lt >= 0:
        gt = text.find(">", lt + 1)
        if gt < 0:
            raise SipError(400, "Missing >")
        uri = parse_uri(text[lt + 1 : gt], sip_only=sip_only)
        rest_at = gt + 1
    else:
        semi = text.find(";")
        uri_text = text if semi < 0 else text[:semi].rstrip(WS)
        # RFC 3261 20: a URI with a comma, question mark or semicolon must be inside <>.
        if any(c in uri_text for c in " \t,?"):
            raise SipError(400, "URI must be enclosed in <>")
        uri = parse_uri(uri_text, sip_only=sip_only)
        rest_at = len(text) if semi < 0 else semi
    return NameAddr(display, uri, parse_params(text, rest_at))


def parse_contacts(values: list[str]) -> list[NameAddr] | Literal["*"]:
    """The Contact values from Headers.get_all("Contact"): "*" alone, or their name-addrs."""
    if any(value.strip(WS) == "*" for value in values):
        if len(values) != 1:
            raise SipError(400, "Contact * mixed with other contacts")
        return "*"
    return [parse_name_addr(value) for value in values]
