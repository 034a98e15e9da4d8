"""REGISTER handling: digest authentication, then bindings in the shared location service.

Unknown domains and unknown users are challenged like known ones and then refused exactly like a
wrong secret, so the answers never tell which users exist, nor which domains do unless a client
chose digest algorithms of its own (the challenge offers a client's choice; unknown domains get the
platform's default).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telephony.edge.digest import check_uri
from telephony.edge.location import Binding, OutOfOrder, Replay, now_millis
from telephony.sip import NameAddr, Response, SipError

if TYPE_CHECKING:
    from telephony.edge.server import Edge, ServerTx


def _default_port(scheme: str) -> int:
    return 5061 if scheme == "sips" else 5060


def _seconds(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        raise SipError(400, f"Bad {what}")
    return int(text)


class Registrar:
    def __init__(self, edge: Edge):
        self.edge = edge
        self.config = edge.config

    def challenge(self, tx: ServerTx, realm: str, domain: dict | None, *, stale: bool = False,
                  header: str = "WWW-Authenticate") -> Response:  # fmt: skip
        """401 with WWW-Authenticate (registrar), or 407 with Proxy-Authenticate (proxy), offering the
        digest algorithms of the realm's client (`domain`: its directory record, None when unknown)."""
        algorithms = self.edge.digest.algorithms_for(domain)
        values = self.edge.digest.challenges(realm, stale=stale, algorithms=algorithms)
        return tx.response(407 if header == "Proxy-Authenticate" else 401, headers=[(header, v) for v in values])

    def challenge_now(self, tx: ServerTx, realm: str, *, header: str = "WWW-Authenticate") -> Response | None:
        """The challenge, when the realm's directory entry is cached (as it is after its first request);
        None when it must be looked up first: authenticate() (or the proxy's route()) then challenges."""
        cached, domain = self.edge.directory.peek(realm)
        return self.challenge(tx, realm, domain, header=header) if cached else None

    @staticmethod
    def credentials(tx: ServerTx, realm: str, header: str = "Authorization") -> dict[str, str] | None:
        """The request's Digest credentials for this realm; None when it has none (its answer is a challenge)."""
        if header not in tx.request.headers:
            return None
        scheme, params = tx.request.credentials(header)
        return params if scheme.lower() == "digest" and params.get("realm") == realm else None

    @staticmethod
    def aor(tx: ServerTx) -> NameAddr:
        aor = tx.request.name_addr("To")
        if not aor.uri.is_sip:
            raise SipError(416, "Unsupported URI Scheme")
        return aor

    def answer_now(self, tx: ServerTx) -> Response | None:
        """The challenge needs no lookup; a request with credentials goes on to authenticate()."""
        realm = self.aor(tx).uri.host
        params = self.credentials(tx, realm)
        if params is None:
            return self.challenge_now(tx, realm)
        if self.edge.guard.auth_banned(realm, params.get("username", ""), tx.source.ip):
            return tx.response(403)
        return None

    async def refuse(self, tx: ServerTx, realm: str, user: str) -> Response:
        """A failed authentication: counted towards a brute-force ban of this user and source."""
        await self.edge.guard.auth_failed(realm, user, tx.source.ip)
        return tx.response(403)

    async def authenticate(self, tx: ServerTx) -> Response:
        request = tx.request
        aor = self.aor(tx)
        realm, user = aor.uri.host, aor.uri.user_unescaped or ""
        params = self.credentials(tx, realm)
        domain = await self.edge.directory.domain(realm)
        if params is None:  # no credentials, and the realm was not cached for answer_now()
            return self.challenge(tx, realm, domain)
        check_uri(params, request.uri)
        username = params.get("username", "")
        credential = await self.edge.directory.credential(domain["client"], username) if domain else None
        if not (domain and credential and username == user):
            return await self.refuse(tx, realm, username)
        if not self.edge.guard.client_allows(domain, tx.source.ip):
            return tx.response(403)  # the client's address rules: not a failed login, so not counted
        algorithms = self.edge.digest.algorithms_for(domain)
        verdict = self.edge.digest.verify(params, request.method, realm, credential, algorithms=algorithms)
        if verdict.stale or verdict.again:
            return self.challenge(tx, realm, domain, stale=verdict.stale)
        if not verdict.ok:
            return await self.refuse(tx, realm, username)
        if not (domain["active"] and credential["active"]):
            return tx.response(403)  # a suspended client or account, right secret: not a guess, not counted
        return await self.bind(tx, domain, credential, params["nonce"], verdict.nc, realm)

    async def bind(self, tx: ServerTx, domain: dict, credential: dict, nonce: str, nc: int, realm: str) -> Response:
        request, source, client_id, user = tx.request, tx.source, domain["client"], self.aor(tx).uri.user_unescaped
        contacts = request.contacts()
        expires_header = request.headers.get("Expires")
        default_expires = (
            _seconds(expires_header, "Expires") if expires_header is not None else self.config.default_expires
        )
        callid, (cseq, _) = request.call_id, request.cseq
        remove_all = contacts == "*"
        now, changes = now_millis(), []
        for contact in [] if remove_all else contacts:
            if not contact.uri.is_sip:
                raise SipError(400, "Contacts must be SIP URIs")
            raw = contact.params.get("expires")
            expires = _seconds(raw, "expires") if raw is not None else default_expires
            if 0 < expires < self.config.min_expires:
                return tx.response(423, headers=[("Min-Expires", str(self.config.min_expires))])
            key = str(contact.uri)
            if expires == 0:
                changes.append((key, None))
                continue
            uri = contact.uri
            nated = uri.host != source.ip or (uri.port or _default_port(uri.scheme)) != source.port
            changes.append((key, Binding(
                contact=key, expires_at=now + min(expires, self.config.max_expires) * 1000,
                received=source.address if nated else None, source=source.address,
                user_agent=(request.headers.get("User-Agent") or "")[:200], callid=callid, cseq=cseq,
                edge=self.edge.edge_id,
            )))  # fmt: skip
        try:
            update = await self.edge.location.update(
                client_id,
                user,
                nonce=nonce,
                nc=nc,
                callid=callid,
                cseq=cseq,
                changes=changes,
                remove_all=remove_all,
                announce=self.edge.registered_anew(client_id, credential["number"]),
            )
        except Replay:
            return self.challenge(tx, realm, domain)
        except OutOfOrder:
            return tx.response(500, "Out of order REGISTER")
        self.edge.keepalive.follow(domain, credential["account"], user, update.bindings)
        self.edge.news.follow(domain, credential["account"], user, update.bindings)
        if update.changed:  # a device came or went (or ran out): the portals' live views follow
            self.edge.registration_changed(domain, credential["account"], user, len(update.bindings))
        contacts = [("Contact", f"<{b.contact}>;expires={b.expires_in(now)}") for b in update.bindings]
        return tx.response(200, headers=contacts)
