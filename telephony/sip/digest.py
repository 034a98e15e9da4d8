"""Digest authentication (RFC 7616, RFC 2617; in SIP, RFC 3261 section 22): the hashing both sides
share, and the client side (carriers challenge the platform as the edge challenges phones).

- `response_value()` is the one computation of the `response` parameter; the edge's verifier
  (telephony/edge/digest.py, with its nonce and verdict policy) and the client both use it.
- `challenges()` reads the WWW-Authenticate / Proxy-Authenticate values of a 401 / 407,
  `authorization()` answers one (MD5 or SHA-256; qop=auth with cnonce and nc, or no qop), and
  `authorize()` gives the request again with the credentials, a new branch and the next CSeq.
- `AuthenticatedRequest` runs a request through a client transaction and sends it once more with
  credentials when it is challenged.
Header grammar (parsing and formatting the parameters) is telephony/sip/auth.py's.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from telephony.sip.auth import format_challenge, parse_credentials
from telephony.sip.dialog import new_branch
from telephony.sip.errors import SipError
from telephony.sip.message import Request, Response
from telephony.sip.via import Via

HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}
HA1_FIELD = {"MD5": "md5", "SHA-256": "sha256"}  # how the platform stores a line's HA1 per algorithm
CHALLENGE_HEADER = {401: "WWW-Authenticate", 407: "Proxy-Authenticate"}
ANSWER_HEADER = {401: "Authorization", 407: "Proxy-Authorization"}


def ha1(algorithm: str, username: str, realm: str, password: str) -> str:
    """H(username:realm:password) (RFC 7616 3.4.2)."""
    return HASHES[algorithm](f"{username}:{realm}:{password}".encode()).hexdigest()


def response_value(algorithm: str, ha1: str, *, method: str, uri: str, nonce: str, qop: str | None = None,
                   nc: str = "", cnonce: str = "") -> str:  # fmt: skip
    """The `response` parameter: KD(HA1, nonce:nc:cnonce:qop:HA2) with qop=auth, KD(HA1, nonce:HA2)
    without qop (RFC 2617 3.2.2.1, RFC 7616 3.4.1); HA2 = H(method:uri)."""
    h = HASHES[algorithm]
    ha2 = h(f"{method}:{uri}".encode()).hexdigest()
    if qop:
        return h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}".encode()).hexdigest()
    return h(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()


@dataclass(frozen=True)
class Credentials:
    """What a client answers challenges with: a password, or HA1 hashes as the platform stores them
    ({"md5": ..., "sha256": ...}); `realm` limits them to one realm (None: any realm)."""

    username: str
    password: str | None = None
    ha1s: dict[str, str] | None = None
    realm: str | None = None

    def ha1_for(self, algorithm: str, realm: str) -> str | None:
        if self.realm is not None and realm != self.realm:
            return None
        if self.ha1s and self.ha1s.get(HA1_FIELD[algorithm]):
            return self.ha1s[HA1_FIELD[algorithm]]
        if self.password is not None:
            return ha1(algorithm, self.username, realm, self.password)
        return None


@dataclass(frozen=True)
class Challenge:
    """One WWW-Authenticate or Proxy-Authenticate value."""

    header: str
    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()  # the qop options offered (empty: RFC 2069 compatibility, no qop)
    opaque: str | None = None
    stale: bool = False


def parse_challenge(value: str, header: str = "WWW-Authenticate") -> Challenge | None:
    """A Digest challenge; None for another scheme. SipError (400) when malformed."""
    scheme, params = parse_credentials(value)  # the same auth-param grammar
    if scheme != "Digest":
        return None
    if "realm" not in params or "nonce" not in params:
        raise SipError(400, "Digest challenge without realm or nonce")
    qop = tuple(option.strip().lower() for option in params.get("qop", "").split(",") if option.strip())
    return Challenge(header, params["realm"], params["nonce"], params.get("algorithm", "MD5").upper(), qop,
                     params.get("opaque"), params.get("stale", "").lower() == "true")  # fmt: skip


def challenges(response: Response) -> list[Challenge]:
    """The Digest challenges of a 401 or 407, in the order given (RFC 8760: the preferred first);
    malformed values and other schemes are skipped."""
    header = CHALLENGE_HEADER.get(response.status)
    found = []
    for value in response.headers.get_all(header) if header else ():
        try:
            challenge = parse_challenge(value, header)
        except SipError:
            continue
        if challenge is not None:
            found.append(challenge)
    return found


def authorization(challenge: Challenge, credentials: Credentials, method: str, uri: str, *, nc: int = 1,
                  cnonce: str | None = None) -> str | None:  # fmt: skip
    """The Authorization / Proxy-Authorization value answering `challenge`; None when it cannot be
    answered (an algorithm we lack, qop without auth, no credentials for its realm)."""
    if challenge.algorithm not in HASHES or (challenge.qop and "auth" not in challenge.qop):
        return None
    secret = credentials.ha1_for(challenge.algorithm, challenge.realm)
    if secret is None:
        return None
    params = {"username": credentials.username, "realm": challenge.realm, "nonce": challenge.nonce, "uri": uri}
    quoted = {"username", "realm", "nonce", "uri", "response", "cnonce", "opaque"}
    if challenge.qop:
        cnonce = cnonce or os.urandom(8).hex()
        nc_text = f"{nc:08x}"
        value = response_value(challenge.algorithm, secret, method=method, uri=uri, nonce=challenge.nonce,
                               qop="auth", nc=nc_text, cnonce=cnonce)  # fmt: skip
        params.update(response=value, algorithm=challenge.algorithm, cnonce=cnonce, qop="auth", nc=nc_text)
    else:
        value = response_value(challenge.algorithm, secret, method=method, uri=uri, nonce=challenge.nonce)
        params.update(response=value, algorithm=challenge.algorithm)
    if challenge.opaque is not None:
        params["opaque"] = challenge.opaque
    return format_challenge(params, quoted)


def authorize(request: Request, response: Response, credentials: Credentials, *,
              cnonce: str | None = None) -> Request | None:  # fmt: skip
    """`request` again, answering the challenge of `response` (401 or 407): a new branch, the next CSeq
    (RFC 3261 22.2) and the credentials for the first challenge we can answer. None when none can be."""
    for challenge in challenges(response):
        value = authorization(challenge, credentials, request.method, request.uri, cnonce=cnonce)
        if value is not None:
            break
    else:
        return None
    again = request.copy()
    headers = again.headers
    top = request.top_via
    headers.replace_first("Via", str(Via(top.transport, top.host, top.port, {**top.params, "branch": new_branch()},
                                         top.protocol)))  # fmt: skip
    headers.set("CSeq", f"{request.cseq[0] + 1} {request.method}")
    answer = ANSWER_HEADER[response.status]
    headers.remove(answer)  # an earlier answer (to a stale nonce) is replaced
    headers.add(answer, value)
    return again


class AuthenticatedRequest:
    """A request sent through `start(request, on_response)` (a client transaction: EngineUA.request, or
    a ClientTransaction started by its owner); a 401 or 407 gets it sent once more with credentials.
    Any other answer, and the answer to the second try, goes to `on_response`. `request` and `tx` are
    the latest try's (an in-dialog request's CSeq moves on by one)."""

    def __init__(self, start: Callable[[Request, Callable[[Response], None]], Any], request: Request,
                 credentials: Credentials, on_response: Callable[[Response], None]):  # fmt: skip
        self.start, self.credentials, self.on_response = start, credentials, on_response
        self.request = request
        self.retried = False
        self.tx = start(request, self._answered)

    def _answered(self, response: Response) -> None:
        if response.status in (401, 407) and not self.retried and response.cseq[0] == self.request.cseq[0]:
            again = authorize(self.request, response, self.credentials)
            if again is not None:
                self.retried = True
                self.request = again
                self.tx = self.start(again, self._answered)
                return
        self.on_response(response)

    def cancel(self) -> None:
        self.tx.cancel()
