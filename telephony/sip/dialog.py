"""SIP dialogs (RFC 3261 section 12): the `Leg`, and the tags and branches that name dialogs and
transactions.

A `Leg` is one dialog as the engine holds it, with the engine as UAS (a caller's leg) or UAC (a
callee's): its identity (Call-ID, tags, URIs), the remote target and route set learned from the
dialog-forming message, the local CSeq, and `request()` building the in-dialog requests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Protocol

from telephony.sip.message import Headers, Request, Response


def new_tag() -> str:
    return os.urandom(5).hex()


def new_branch() -> str:
    return "z9hG4bK" + os.urandom(8).hex()


class LocalAddress(Protocol):
    """What a dialog needs of the user agent sending its requests: the host:port written in Via and Contact."""

    address: str


@dataclass
class Leg:
    """One dialog of a call. The engine's own identity in it is local_uri + local_tag."""

    call_id: str
    local_uri: str  # name-addr written in From of our requests
    remote_uri: str  # name-addr written in To of our requests
    local_tag: str
    remote_tag: str | None = None
    remote_target: str = ""  # the other side's Contact
    route: list[str] = field(default_factory=list)
    cseq: int = 0
    remote_cseq: int = 0
    invite: Request | None = None  # the request that created the dialog (to CANCEL or answer it)
    name: str = ""
    sdp_version: int = 1  # of the SDP the engine gives this leg (o= line), raised with each change
    direction: str = "sendrecv"  # of the other side's last re-offer: sendonly or inactive while it holds
    allow: str = ""  # the methods the other side said it allows (Allow), to refresh by UPDATE when it may
    session: Any = None  # the engine's SessionTimer (RFC 4028, telephony/engine/sessiontimer.py), if any

    def request(self, method: str, ua: LocalAddress, *, headers=(), body: bytes = b"",
                cseq: int | None = None) -> Request:  # fmt: skip
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        out = Headers()
        out.add("Via", f"SIP/2.0/UDP {ua.address};branch={new_branch()};rport")
        for route in self.route:
            out.add("Route", route)
        out.add("Max-Forwards", "70")
        out.add("From", f"{self.local_uri};tag={self.local_tag}")
        out.add("To", self.remote_uri + (f";tag={self.remote_tag}" if self.remote_tag else ""))
        out.add("Call-ID", self.call_id)
        out.add("CSeq", f"{cseq} {method}")
        out.add("Contact", f"<sip:engine@{ua.address}>")
        for name, value in headers:
            out.add(name, value)
        return Request(method, self.remote_target or uri_of(self.remote_uri), out, body)

    def learn(self, message: Request | Response, *, uac: bool) -> None:
        """Take the remote target and route set from the request (UAS) or 2xx (UAC) that forms the dialog."""
        contacts = message.contacts()
        if contacts and contacts != "*":
            self.remote_target = str(contacts[0].uri)
        records = message.headers.get_all("Record-Route")
        self.route = list(reversed(records)) if uac else records
        self.allow = ",".join(message.headers.get_all("Allow")).upper()


def uri_of(name_addr: str) -> str:
    """The URI in a name-addr or addr-spec written by us (no parsing of quoted display names)."""
    return name_addr.strip().lstrip("<").split(">", 1)[0] if "<" in name_addr else name_addr.split(";", 1)[0]
