"""Digest authentication (RFC 7616 / RFC 2617, qop=auth) against stored HA1 hashes: the edge's policy
(nonces, offers, verdicts). The hashing and the header grammar are the SIP stack's, shared with the
client side (telephony/sip/digest.py, telephony/sip/auth.py).

Nonces are stateless: time, randomness and an HMAC over both and the realm, keyed by a secret all
edge processes share, so any edge can check a nonce another one issued. A nonce older than its
lifetime is `stale` (the phone retries with a fresh one, without asking its user again). Replays
are caught by the nonce-count, which must grow with each use of a nonce (checked in Redis by the
caller, see location.py).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from dataclasses import dataclass

from telephony.sip import SipError, format_challenge, parse_uri
from telephony.sip.digest import HA1_FIELD, HASHES, response_value

__all__ = ["HA1_FIELD", "HASHES", "Digest", "Verdict", "check_uri", "same_uri"]


@dataclass(frozen=True)
class Verdict:
    ok: bool
    stale: bool = False
    again: bool = False  # no verdict on the secret: challenge again (an unknown nonce, an algorithm not offered)
    reason: str = ""
    nc: int = 0


class Digest:
    def __init__(self, secret: bytes, nonce_ttl: int = 300, algorithms: tuple = ("MD5",)):
        self.secret = secret
        self.nonce_ttl = nonce_ttl
        self.algorithms = algorithms  # the platform's default offer

    def algorithms_for(self, domain: dict | None) -> tuple:
        """What a client's phones are offered: its own choice (SIP directory, "digest") or the default.
        Unknown domains get the default, as a known client that kept it."""
        chosen = tuple(a for a in (domain or {}).get("digest") or () if a in HASHES)
        return chosen or self.algorithms

    def _mac(self, stamp: str, realm: str) -> str:
        return hmac.new(self.secret, f"{stamp}:{realm}".encode(), hashlib.sha256).hexdigest()[:24]

    def nonce(self, realm: str, now: float | None = None) -> str:
        stamp = f"{int(now or time.time()):08x}{os.urandom(6).hex()}"
        return stamp + self._mac(stamp, realm)

    def challenges(self, realm: str, *, stale: bool = False, algorithms: tuple | None = None) -> list[str]:
        """WWW-Authenticate values, preferred algorithm first (RFC 8760); a phone takes the first it knows."""
        nonce = self.nonce(realm)
        values = []
        for algorithm in algorithms or self.algorithms:
            params = {"realm": realm, "nonce": nonce, "algorithm": algorithm, "qop": "auth"}
            if stale:
                params["stale"] = "true"
            values.append(format_challenge(params, quoted={"realm", "nonce", "qop"}))
        return values

    def check_nonce(self, nonce: str, realm: str, now: float | None = None) -> str | None:
        """None when the nonce is ours and fresh, else "stale" or "invalid"."""
        if len(nonce) != 44 or not hmac.compare_digest(nonce[20:], self._mac(nonce[:20], realm)):
            return "invalid"
        try:
            issued = int(nonce[:8], 16)
        except ValueError:
            return "invalid"
        age = (now or time.time()) - issued
        if age > self.nonce_ttl or age < -30:
            return "stale"
        return None

    def verify(self, params: dict[str, str], method: str, realm: str, ha1s: dict, *,
               algorithms: tuple | None = None) -> Verdict:  # fmt: skip
        """Check a phone's Authorization parameters against the user's stored HA1 hashes. An algorithm
        not offered gets a fresh challenge (the offer may have changed since the phone's nonce)."""
        algorithm = params.get("algorithm", "MD5").upper()
        if algorithm not in (algorithms or self.algorithms):
            return Verdict(False, again=True, reason="algorithm not offered")
        if params.get("realm") != realm or params.get("qop") != "auth":
            return Verdict(False, reason="wrong realm or qop")
        nonce, uri, cnonce, nc_text, response = (params.get(k) for k in ("nonce", "uri", "cnonce", "nc", "response"))
        if not (nonce and uri and cnonce and nc_text and response):
            return Verdict(False, reason="incomplete credentials")
        try:
            nc = int(nc_text, 16)
        except ValueError:
            return Verdict(False, reason="bad nonce count")
        problem = self.check_nonce(nonce, realm)
        if problem == "invalid":
            return Verdict(False, again=True, reason="unknown nonce")
        expected = response_value(algorithm, ha1s[HA1_FIELD[algorithm]], method=method, uri=uri, nonce=nonce,
                                  qop="auth", nc=nc_text, cnonce=cnonce)  # fmt: skip
        if not hmac.compare_digest(expected, response.lower()):
            return Verdict(False, reason="wrong response")
        if problem == "stale":  # right secret, old nonce: ask again with stale=true
            return Verdict(False, stale=True, reason="stale nonce")
        return Verdict(True, nc=nc)


def check_uri(params: dict[str, str], request_uri: str) -> None:
    """RFC 2617 3.2.2.5 / RFC 7616 3.4.6: credentials computed for another URI than the Request-URI
    are not for this request (400). Checked before any lookup, so the answer says nothing of the user."""
    uri = params.get("uri")
    if uri is not None and not same_uri(uri, request_uri):
        raise SipError(400, "Digest uri differs from the Request-URI")


def same_uri(a: str, b: str) -> bool:
    """The digest `uri` and the Request-URI name the same resource: equal text, or equal SIP URIs as
    RFC 3261 19.1.4 compares them (scheme, host and parameter names without case, user with escapes
    decoded)."""
    if a == b:
        return True
    try:
        x, y = parse_uri(a), parse_uri(b)
    except SipError:
        return False

    def key(uri) -> tuple:
        params = {name.lower(): (value or "").lower() for name, value in uri.params.items()}
        return uri.scheme.lower(), uri.user_unescaped, uri.password, uri.host.lower(), uri.port, params, uri.headers

    return key(x) == key(y)
