"""The call engine's SIP user agent: the engine's socket and its dispatch to the call logic.

Every request the engine sends goes to the edge (which forks, routes and retransmits towards the
phones), so the engine's transport has one next hop, over UDP.

What moved to the one SIP stack in telephony/sip/ (shared with the edge's proxy):
- transactions (RFC 3261 section 17) are telephony/sip/transaction.py: the engine uses its
  `ClientTransaction` (retransmissions, the synthetic 408, the ACK of a non-2xx answer on the
  transaction's branch, CANCEL as its own transaction, also when cancelled before a provisional);
  `ServerTx` is its `ServerTransaction` plus the session timer an answer (re)starts, and a final
  answer to an INVITE is repeated until its ACK by its `AnswerRepeat` (the dialog ends if none comes);
- the dialog, `Leg`, with `new_tag`/`new_branch`, is telephony/sip/dialog.py;
- the timer values (T1, T2) are telephony/sip/transaction.py's.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from telephony.engine.sessiontimer import SessionTimer
from telephony.sip import Request, Response, SipError, make_response, parse, validate_request
from telephony.sip.dialog import Leg
from telephony.sip.transaction import DEFAULT_TIMERS, ClientTransaction, ServerTransaction

log = logging.getLogger(__name__)


@dataclass(eq=False)
class ServerTx(ServerTransaction):
    session: SessionTimer | None = None  # an INVITE's or UPDATE's: its 2xx says so and (re)starts it


class EngineUA(asyncio.DatagramProtocol):
    """The socket, the transaction tables and the dispatch to the engine's call logic."""

    def __init__(self, host: str, port: int, edge: tuple[str, int], handler):
        self.host, self.port, self.edge = host, port, edge
        self.address = f"{host}:{port}"
        self.handler = handler  # has on_request(request, stx) and the calls' client callbacks
        self.transport: asyncio.DatagramTransport | None = None
        self.client_txs: dict[str, ClientTransaction] = {}  # by branch (a CANCEL's answer finds its INVITE's)
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
        tx = self.client_txs.get(branch)
        if tx is not None:
            tx.receive(response)
        elif response.cseq[1] == "INVITE" and 200 <= response.status < 300:
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
            if invite is not None:
                invite.ack_arrived()
            self.handler.on_ack(request)
            return
        stx = ServerTx(request, source)
        self.server_txs[key] = stx
        asyncio.get_running_loop().call_later(DEFAULT_TIMERS.linger, self._forget, key, stx)
        self.handler.on_request(request, stx)

    def _forget(self, key, stx: ServerTx) -> None:
        """Drop a finished server transaction; one whose 2xx is still being repeated stays until that
        ends (ACKed, or given up after 64*T1: AnswerRepeat)."""
        if self.server_txs.get(key) is not stx:
            return
        if stx.awaiting_ack:
            asyncio.get_running_loop().call_later(DEFAULT_TIMERS.linger, self._forget, key, stx)
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
            # Repeated until its ACK: a 2xx by the dialog (RFC 3261 13.3.1.4), a non-2xx by timer G, as
            # the INVITE is no longer repeated after our 100 Trying. An unACKed 2xx ends the dialog.
            give_up = functools.partial(self.handler.on_no_ack, stx) if status < 300 else None
            stx.repeat_final(self.send, data, on_give_up=give_up)
        return response

    def request(self, request: Request, on_response: Callable[[Response], None]) -> ClientTransaction:
        tx = ClientTransaction(request, self.send, table=self.client_txs, on_response=on_response)
        tx.start()
        return tx

    def ack_2xx(self, leg: Leg, response: Response) -> None:
        """ACK a 2xx to our INVITE: a request of its own, along the dialog's route (RFC 3261 13.2.2.4)."""
        cseq = response.cseq[0]
        self.send(leg.request("ACK", self, cseq=cseq).to_bytes())


def acked(stx: ServerTx | None) -> None:
    if stx is not None:
        stx.ack_arrived()


def now() -> float:
    return time.time()
