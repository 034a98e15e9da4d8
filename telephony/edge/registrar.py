"""REGISTER handling: digest authentication, then bindings in the shared location service.

Unknown domains and unknown users are challenged like known ones and then refused exactly like a
wrong secret, so the answers never tell which domains or users exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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

    def challenge(self, tx: ServerTx, realm: str, *, stale: bool = False, header: str = "WWW-Authenticate") -> Response:
        """401 with WWW-Authenticate (registrar), or 407 with Proxy-Authenticate (proxy)."""
        headers = [(header, value) for value in self.edge.digest.challenges(realm, stale=stale)]
        return tx.response(407 if header == "Proxy-Authenticate" else 401, headers=headers)

    @staticmethod
    def aor(tx: ServerTx) -> NameAddr:
        aor = tx.request.name_addr("To")
        if not aor.uri.is_sip:
            raise SipError(416, "Unsupported URI Scheme")
        return aor

    def answer_now(self, tx: ServerTx) -> Response | None:
        """The challenge needs no lookup; a request with credentials goes on to authenticate()."""
        header = tx.request.headers.get("Authorization")
        realm = self.aor(tx).uri.host
        if not header:
            return self.challenge(tx, realm)
        scheme, params = tx.request.credentials()
        if scheme.lower() != "digest" or params.get("realm") != realm:
            return self.challenge(tx, realm)
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
        _, params = request.credentials()
        username = params.get("username", "")
        domain = await self.edge.directory.domain(realm)
        credential = await self.edge.directory.credential(domain["client"], username) if domain else None
        if not (domain and credential and username == user):
            return await self.refuse(tx, realm, username)
        if not self.edge.guard.client_allows(domain, tx.source.ip):
            return tx.response(403)  # the client's address rules: not a failed login, so not counted
        verdict = self.edge.digest.verify(params, request.method, realm, credential)
        if verdict.stale or verdict.reason == "unknown nonce":
            return self.challenge(tx, realm, stale=verdict.stale)
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
                client_id, user, nonce=nonce, nc=nc, callid=callid, cseq=cseq, changes=changes, remove_all=remove_all
            )
        except Replay:
            return self.challenge(tx, realm)
        except OutOfOrder:
            return tx.response(500, "Out of order REGISTER")
        self.edge.keepalive.follow(domain, credential["account"], user, update.bindings)
        if update.changed:  # a device came or went: the portals' live views follow
            self.edge.announce(
                "registration.changed", domain, credential["account"], line=user, devices=len(update.bindings)
            )
        contacts = [("Contact", f"<{b.contact}>;expires={b.expires_in(now)}") for b in update.bindings]
        return tx.response(200, headers=contacts)
