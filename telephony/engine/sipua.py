"""The call engine's SIP user agent: transactions and dialogs over one UDP socket, all via the edge.

Every request the engine sends goes to the edge (which forks, routes and retransmits towards the
phones), so the engine's transport has one next hop. Transactions (RFC 3261 section 17):
- client: retransmitted over UDP (timer A/E) until answered, a synthetic 408 after 64*T1; non-2xx
  answers to INVITE are ACKed on the transaction's branch; 2xx answers are the dialog's business.
- server: a retransmitted request gets the last answer again; a 2xx to INVITE is retransmitted
  until its ACK arrives (RFC 3261 13.3.1.4), and the dialog ends if none comes.
A `Leg` is one dialog of a call, with the engine as UAS (the caller's leg) or UAC (the callee's).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from telephony.engine.sessiontimer import SessionTimer
from telephony.sip import Headers, Request, Response, SipError, make_response, parse, validate_request

log = logging.getLogger(__name__)
T1, T2 = 0.5, 4.0


def new_tag() -> str:
    return os.urandom(5).hex()


def new_branch() -> str:
    return "z9hG4bK" + os.urandom(8).hex()


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
    session: SessionTimer | None = None  # RFC 4028, when this dialog has a session timer

    def request(self, method: str, ua: EngineUA, *, headers=(), body: bytes = b"", cseq: int | None = None) -> Request:
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
        return Request(method, self.remote_target or _uri_of(self.remote_uri), out, body)

    def learn(self, message: Request | Response, *, uac: bool) -> None:
        """Take the remote target and route set from the request (UAS) or 2xx (UAC) that forms the dialog."""
        contacts = message.contacts()
        if contacts and contacts != "*":
            self.remote_target = str(contacts[0].uri)
        records = message.headers.get_all("Record-Route")
        self.route = list(reversed(records)) if uac else records
        self.allow = ",".join(message.headers.get_all("Allow")).upper()


def _uri_of(name_addr: str) -> str:
    return name_addr.strip().lstrip("<").split(">", 1)[0] if "<" in name_addr else name_addr.split(";", 1)[0]


class ClientTx:
    def __init__(self, ua: EngineUA, request: Request, on_response: Callable[[Response], None]):
        self.ua, self.request, self.on_response = ua, request, on_response
        self.branch = request.top_via.branch
        self.invite = request.method == "INVITE"
        self.data = request.to_bytes()
        self.done = False
        self.proceeding = False
        self.cancel_pending = self.cancelled = False
        loop = asyncio.get_running_loop()
        self._retx = loop.call_later(T1, self._retransmit, T1)
        self._timeout = loop.call_later(64 * T1, self._time_out)

    def _retransmit(self, interval: float) -> None:
        if self.done or (self.invite and self.proceeding):
            return
        self.ua.send(self.data)
        interval = min(interval * 2, T2) if not self.invite or not self.proceeding else interval * 2
        self._retx = asyncio.get_running_loop().call_later(interval, self._retransmit, interval)

    def _time_out(self) -> None:
        if not self.done and not (self.invite and self.proceeding):
            self.finish()
            self.on_response(make_response(self.request, 408, "Request Timeout"))

    def finish(self) -> None:
        self.done = True
        self._retx.cancel()
        self._timeout.cancel()
        asyncio.get_running_loop().call_later(64 * T1, self.ua.client_txs.pop, self.branch, None)

    def receive(self, response: Response) -> None:
        if response.status < 200:
            if self.invite and not self.proceeding:
                self.proceeding = True
                self._timeout.cancel()  # the ring timeout of the call takes over
                if self.cancel_pending:
                    self.cancel()
            if not self.done:
                self.on_response(response)
            return
        first = not self.done
        if self.invite and response.status >= 300:
            self.ua.send(self.ack_for(response))  # also for retransmissions of the answer
        if first:
            self.finish()
            self.on_response(response)
        elif self.invite and response.status < 300:
            self.on_response(response)  # a retransmitted 2xx: the dialog ACKs it again

    def ack_for(self, response: Response) -> bytes:
        ack = Headers()
        ack.add("Via", self.request.headers.get_all("Via")[0])
        for route in self.request.headers.get_lines("Route"):
            ack.add("Route", route)
        ack.add("Max-Forwards", "70")
        ack.add("From", self.request.headers.get("From") or "")
        ack.add("To", response.headers.get("To") or "")
        ack.add("Call-ID", self.request.call_id or "")
        ack.add("CSeq", f"{self.request.cseq[0]} ACK")
        return Request("ACK", self.request.uri, ack).to_bytes()

    def cancel(self) -> None:
        """CANCEL the INVITE: now if it was answered provisionally, else at its first provisional
        (RFC 3261 9.1); nothing once it has a final answer."""
        if self.done or self.cancelled:
            return
        if not self.proceeding:
            self.cancel_pending = True
            return
        self.cancelled = True
        cancel = Headers()
        cancel.add("Via", self.request.headers.get_all("Via")[0])
        for route in self.request.headers.get_lines("Route"):
            cancel.add("Route", route)
        cancel.add("Max-Forwards", "70")
        for name in ("From", "To", "Call-ID"):
            cancel.add(name, self.request.headers.get(name) or "")
        cancel.add("CSeq", f"{self.request.cseq[0]} CANCEL")
        request = Request("CANCEL", self.request.uri, cancel)
        self.ua.client_txs[self.branch + "/CANCEL"] = _CancelTx(self.ua, request)


class _CancelTx(ClientTx):
    """A CANCEL's own transaction (same branch as its INVITE; told apart by the CSeq method)."""

    def __init__(self, ua: EngineUA, request: Request):
        super().__init__(ua, request, lambda response: None)
        ua.send(self.data)

    def finish(self) -> None:
        self.done = True
        self._retx.cancel()
        self._timeout.cancel()
        asyncio.get_running_loop().call_later(64 * T1, self.ua.client_txs.pop, self.branch + "/CANCEL", None)


@dataclass
class ServerTx:
    request: Request
    source: tuple[str, int]
    last: bytes | None = None
    acked: asyncio.Event | None = None
    given_up: bool = False
    session: SessionTimer | None = None  # an INVITE's or UPDATE's: its 2xx says so and (re)starts it


class EngineUA(asyncio.DatagramProtocol):
    """The socket, the transaction tables and the dispatch to the engine's call logic."""

    def __init__(self, host: str, port: int, edge: tuple[str, int], handler):
        self.host, self.port, self.edge = host, port, edge
        self.address = f"{host}:{port}"
        self.handler = handler  # has on_request(request, stx) and the calls' client callbacks
        self.transport: asyncio.DatagramTransport | None = None
        self.client_txs: dict[str, ClientTx] = {}
        self.server_txs: dict[tuple[str, str], ServerTx] = {}
        self.stats = {"received": 0, "malformed": 0, "refused": 0}

    # Transport -------------------------------------------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport

    def send(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.sendto(data, self.edge)

    def datagram_received(self, data: bytes, addr) -> None:
        self.stats["received"] += 1
        if addr[0] != self.edge[0]:  # only the edge speaks to an engine
            self.stats["refused"] += 1
            return
        try:
            message = parse(data)
            if isinstance(message, Response):
                self._response(message)
            else:
                validate_request(message)
                self._request(message, addr)
        except SipError as exc:
            self.stats["malformed"] += 1
            log.debug("engine: bad SIP from %s: %s", addr, exc.reason)
        except Exception:  # one bad call never takes the others down
            log.exception("engine: error handling a message from %s", addr)

    # Dispatch --------------------------------------------------------------------------------------

    def _response(self, response: Response) -> None:
        branch = response.branch or ""
        method = response.cseq[1]
        tx = self.client_txs.get(branch + "/CANCEL" if method == "CANCEL" else branch)
        if tx is not None:
            tx.receive(response)
        elif method == "INVITE" and 200 <= response.status < 300:
            self.handler.on_stray_2xx(response)  # a 2xx retransmitted after its transaction ended

    def _request(self, request: Request, source) -> None:
        key = (request.top_via.branch or "", request.method)
        known = self.server_txs.get(key)
        if known is not None:
            if known.last is not None:
                self.send(known.last)
            return
        if request.method == "ACK":
            invite = self.server_txs.get((key[0], "INVITE"))  # an ACK for a non-2xx: the INVITE's branch
            if invite is not None and invite.acked is not None:
                invite.acked.set()
            self.handler.on_ack(request)
            return
        stx = ServerTx(request, source)
        self.server_txs[key] = stx
        asyncio.get_running_loop().call_later(64 * T1, self._forget, key, stx)
        self.handler.on_request(request, stx)

    def _forget(self, key, stx: ServerTx) -> None:
        """Drop a finished server transaction; one whose 2xx is still being repeated stays until that
        ends (ACKed, or given up after 64*T1: _repeat_2xx)."""
        if self.server_txs.get(key) is not stx:
            return
        if stx.acked is not None and not stx.acked.is_set() and not stx.given_up:
            asyncio.get_running_loop().call_later(64 * T1, self._forget, key, stx)
            return
        del self.server_txs[key]

    # Sending ---------------------------------------------------------------------------------------

    def respond(self, stx: ServerTx, status: int, reason: str | None = None, *, to_tag: str | None = None,
                headers=(), body: bytes = b"") -> Response:  # fmt: skip
        response = make_response(stx.request, status, reason, to_tag=to_tag, headers=headers)
        if 100 < status < 300 and stx.request.method == "INVITE":
            for value in stx.request.headers.get_lines("Record-Route"):  # dialog-forming answers copy it
                response.headers.add("Record-Route", value)
            response.headers.add("Contact", f"<sip:engine@{self.address}>")
        if 200 <= status < 300 and stx.session is not None and stx.request.method in ("INVITE", "UPDATE"):
            for name, value in stx.session.answer_headers():
                response.headers.add(name, value)
            stx.session.restart()
        if body:
            response.headers.add("Content-Type", "application/sdp")
            response.body = body
        data = response.to_bytes()
        stx.last = data
        self.send(data)
        if stx.request.method == "INVITE" and status >= 200:
            if stx.acked is not None:
                stx.acked.set()  # an earlier final answer's repetition stops
            stx.acked = asyncio.Event()
            asyncio.get_running_loop().create_task(self._repeat_final(stx, data, success=status < 300))
        return response

    async def _repeat_final(self, stx: ServerTx, data: bytes, *, success: bool) -> None:
        """A final answer to an INVITE is repeated until its ACK: a 2xx by the dialog (RFC 3261
        13.3.1.4), a non-2xx by timer G, as the INVITE is no longer repeated after our 100 Trying."""
        acked, interval, waited = stx.acked, T1, 0.0
        while waited < 64 * T1:
            try:
                await asyncio.wait_for(acked.wait(), interval)
                return
            except TimeoutError:
                waited += interval
                self.send(data)
                interval = min(interval * 2, T2)
        stx.given_up = True
        if success:
            self.handler.on_no_ack(stx)

    def request(self, request: Request, on_response: Callable[[Response], None]) -> ClientTx:
        tx = ClientTx(self, request, on_response)
        self.client_txs[tx.branch] = tx
        self.send(tx.data)
        return tx

    def ack_2xx(self, leg: Leg, response: Response) -> None:
        """ACK a 2xx to our INVITE: a request of its own, along the dialog's route (RFC 3261 13.2.2.4)."""
        cseq = response.cseq[0]
        self.send(leg.request("ACK", self, cseq=cseq).to_bytes())


def acked(stx: ServerTx | None) -> None:
    if stx is not None and stx.acked is not None:
        stx.acked.set()


def now() -> float:
    return time.time()
