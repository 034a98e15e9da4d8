"""SIP transactions (RFC 3261 section 17), one implementation for the edge's proxy and the engine's UA.

- `ClientTransaction`: a request sent to one next hop. Over an unreliable transport it is sent again
  (timer A for INVITE, doubling; timer E for the others, doubling up to T2) until answered; no
  answer in time (timers B/F, or a shorter timeout the owner chooses) gives a local 408. A non-2xx
  final answer to an INVITE is ACKed on the transaction's branch, again for each retransmission of
  that answer. `cancel()` sends a CANCEL as a transaction of its own (same branch, told apart by the
  CSeq method), at once when the INVITE was answered provisionally, else at its first provisional
  (RFC 3261 9.1); without a final answer 64*T1 after the CANCEL the INVITE ends with a local 408.
  What happens with the answers is the owner's: pass `on_response`, or subclass and override the
  hooks (`provisional`, `answered`, `failed`, `final_again`), as the edge's proxy branch does.
- `AnswerRepeat`: the server side's repetition of a final answer to an INVITE until its ACK
  (timer G, and RFC 3261 13.3.1.4 for a 2xx), given up after 64*T1 (timer H).
- `ServerTransaction`: a request being answered, its last answer (what a retransmission of the
  request gets) and that repetition.

Nothing here knows sockets: a transaction gets a `send(bytes)` callable (False when the message could
not be sent) and whether its transport is reliable (telephony/sip/transport.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from telephony.sip.message import Request, Response, make_response

T1, T2, T4 = 0.5, 4.0, 5.0  # RFC 3261 section 17 defaults (seconds)

# Client transaction states. RFC 3261's "terminated" is split: `completed` ended with an answer from
# the far side, `dead` with a local one (timeout, unreachable hop).
CALLING, PROCEEDING, COMPLETED, DEAD = "calling", "proceeding", "completed", "dead"


@dataclass(frozen=True, slots=True)
class Timers:
    """T1, T2 and T4; everything else derives from them (timers B, F, H and J are 64*T1)."""

    t1: float = T1
    t2: float = T2
    t4: float = T4

    @property
    def linger(self) -> float:
        """Timers B, F and H: how long a request goes unanswered, and how long a finished transaction
        is kept to absorb retransmissions."""
        return 64 * self.t1


DEFAULT_TIMERS = Timers()


def ack_for(request: Request, response: Response) -> Request:
    """The ACK for a non-2xx answer to `request` (RFC 3261 17.1.1.3): the INVITE's top Via (so its
    branch), Route, From, Call-ID and CSeq number, the answer's To."""
    ack = Request("ACK", request.uri)
    headers = ack.headers
    headers.add("Via", request.headers.get_all("Via")[0])
    for route in request.headers.get_lines("Route"):
        headers.add("Route", route)
    headers.add("Max-Forwards", "70")
    headers.add("From", request.headers.get("From") or "")
    headers.add("To", response.headers.get("To") or "")
    headers.add("Call-ID", request.call_id or "")
    headers.add("CSeq", f"{request.cseq[0]} ACK")
    return ack


def cancel_for(request: Request) -> Request:
    """The CANCEL of `request` (RFC 3261 9.1): its top Via, Route, From, To, Call-ID and CSeq number."""
    cancel = Request("CANCEL", request.uri)
    headers = cancel.headers
    headers.add("Via", request.headers.get_all("Via")[0])
    for route in request.headers.get_lines("Route"):
        headers.add("Route", route)
    headers.add("Max-Forwards", "70")
    for name in ("From", "To", "Call-ID"):
        headers.add(name, request.headers.get(name) or "")
    headers.add("CSeq", f"{request.cseq[0]} CANCEL")
    return cancel


class ClientTransaction:
    """One request to one next hop, its retransmissions, timers and answer (RFC 3261 17.1)."""

    def __init__(self, request: Request, send: Callable[[bytes], Any], *, reliable: bool = False,
                 timers: Timers = DEFAULT_TIMERS, timeout: float | None = None, table: dict | None = None,
                 branch: str | None = None, on_response: Callable[[Response], None] | None = None):  # fmt: skip
        self.request = request
        self.send = send  # bytes -> False when they could not be sent (anything else: sent)
        self.reliable = reliable  # TCP, TLS: no retransmissions of ours
        self.timers = timers
        self.timeout = timers.linger if timeout is None else timeout  # timer B / F, or the owner's shorter one
        self.table = table  # where answers find this transaction by its branch (kept there 64*T1 past its end)
        self.branch = request.top_via.branch if branch is None else branch
        self.on_response = on_response
        self.invite = request.method == "INVITE"
        self.state = CALLING
        self.final: Response | None = None  # the far side's final answer, or our local one
        self.cancel_pending = False  # cancel() before any provisional: CANCEL at the first one
        self.cancelling: ClientTransaction | None = None  # the CANCEL's own transaction
        self.late_cancel_sent = False
        self.data = request.to_bytes()
        self._retx: asyncio.TimerHandle | None = None
        self._timeout: asyncio.TimerHandle | None = None

    @property
    def done(self) -> bool:
        return self.state in (COMPLETED, DEAD)

    def start(self) -> bool:
        """Send the request and start the timers; False when it could not be sent (then it has failed)."""
        if self.table is not None:
            self.table[self.branch] = self
        if self.send(self.data) is False:
            self.give_up(503, "Unreachable")
            return False
        loop = asyncio.get_running_loop()
        if not self.reliable:
            self._retx = loop.call_later(self.timers.t1, self._retransmit, self.timers.t1)
        self._timeout = loop.call_later(self.timeout, self._no_answer)
        return True

    # Hooks: what the owner does with the answers. By default each goes to on_response. -----------

    def provisional(self, response: Response) -> None:
        """A 1xx while the transaction is live."""
        self.on_response(response)

    def answered(self, response: Response) -> None:
        """The first final answer from the far side."""
        self.on_response(response)

    def failed(self, response: Response, *, timed_out: bool) -> None:
        """No answer from the far side: `response` is the local one (408 on a timeout, 503 unreachable)."""
        self.on_response(response)

    def final_again(self, response: Response) -> None:
        """A 2xx after the transaction ended (retransmitted, or another fork's): an INVITE's goes to the
        dialog, which ACKs it again."""
        if self.invite:
            self.on_response(response)

    def retransmitted(self) -> None:
        """Called after each retransmission of the request (for counters)."""

    def local_response(self, status: int, reason: str) -> Response:
        return make_response(self.request, status, reason)

    # Timers ----------------------------------------------------------------------------------------

    def _stop_timers(self) -> None:
        if self._retx is not None:
            self._retx.cancel()
        if self._timeout is not None:
            self._timeout.cancel()
        self._retx = self._timeout = None

    def _retransmit(self, interval: float) -> None:
        """Timer A (INVITE, until a provisional; doubling) and E (others, until the final; capped at T2)."""
        if self.state == CALLING or (self.state == PROCEEDING and not self.invite):
            self.send(self.data)
            self.retransmitted()
            interval = interval * 2 if self.invite else min(interval * 2, self.timers.t2)
            self._retx = asyncio.get_running_loop().call_later(interval, self._retransmit, interval)

    def _no_answer(self) -> None:
        """Timer B / F (or the owner's timeout): nothing came back in time. Should the far side wake up
        and ring after all, the dead transaction cancels it (receive)."""
        if self.state == CALLING or (self.state == PROCEEDING and not self.invite):
            self.give_up(408, "Request Timeout", timed_out=True)

    def _cancel_unanswered(self) -> None:
        """RFC 3261 9.1: no final answer 64*T1 after the CANCEL (the far side is gone): it ends here."""
        if self.state == PROCEEDING:
            self.give_up(408, "Request Timeout", timed_out=True)

    def _forget_later(self) -> None:
        if self.table is not None:
            asyncio.get_running_loop().call_later(self.timers.linger, self.table.pop, self.branch, None)

    def give_up(self, status: int, reason: str, *, timed_out: bool = False) -> None:
        """The transaction ends without an answer from the far side: a local final answer stands in."""
        self._stop_timers()
        self.state = DEAD
        self.final = self.local_response(status, reason)
        self._forget_later()
        self.failed(self.final, timed_out=timed_out)

    # Answers ---------------------------------------------------------------------------------------

    def receive(self, response: Response) -> None:
        """An answer with this transaction's branch (its CANCEL's too: same branch, method CANCEL)."""
        if self.invite and response.cseq[1] == "CANCEL":
            if self.cancelling is not None:
                self.cancelling.receive(response)
            return
        status = response.status
        if self.state in (COMPLETED, DEAD):
            if status >= 300:
                if self.invite:
                    self.send(ack_for(self.request, response).to_bytes())  # our ACK was lost, or a late answer
            elif status >= 200:
                self.final_again(response)
            elif self.state == DEAD and self.invite and not self.late_cancel_sent:
                self.late_cancel_sent = True  # given up on, it rings after all: stop it
                self.send(cancel_for(self.request).to_bytes())
            return
        if status < 200:
            if self.state == CALLING:
                self.state = PROCEEDING
                if self.invite:  # retransmissions stop, and timer B: the owner times the ringing
                    self._stop_timers()
                if self.cancel_pending:
                    self.cancel()
            self.provisional(response)
            return
        self._stop_timers()
        self.state = COMPLETED
        self.final = response
        if self.invite and status >= 300:
            self.send(ack_for(self.request, response).to_bytes())
        self._forget_later()
        self.answered(response)

    def cancel(self) -> None:
        """CANCEL an INVITE: at once when it was answered provisionally, at its first provisional when it
        was not (RFC 3261 9.1); nothing once it has a final answer, or for another method."""
        if not self.invite or self.state not in (CALLING, PROCEEDING):
            return
        if self.state == CALLING:
            self.cancel_pending = True
            return
        if self.cancelling is not None:
            return
        self.cancelling = ClientTransaction(cancel_for(self.request), self.send, reliable=self.reliable,
                                            timers=self.timers, branch=self.branch, on_response=_ignore)  # fmt: skip
        self.cancelling.start()
        if self._timeout is not None:
            self._timeout.cancel()
        self._timeout = asyncio.get_running_loop().call_later(self.timers.linger, self._cancel_unanswered)


def _ignore(response: Response) -> None:
    """A CANCEL's answer (or its local 408) changes nothing: the INVITE's answer says how it ended."""


class AnswerRepeat:
    """A final answer to an INVITE sent again until its ACK arrives (`stop()`): timer G, T1 doubling
    up to T2 (RFC 3261 17.2.1; for a 2xx, 13.3.1.4), given up after 64*T1 (timer H), when `on_give_up`
    is called."""

    __slots__ = ("data", "given_up", "handle", "interval", "on_give_up", "send", "timers", "waited")

    def __init__(self, send: Callable[[bytes], Any], data: bytes, *, timers: Timers = DEFAULT_TIMERS,
                 on_give_up: Callable[[], Any] | None = None):  # fmt: skip
        self.send, self.data, self.timers, self.on_give_up = send, data, timers, on_give_up
        self.waited, self.given_up = 0.0, False
        self.interval = timers.t1
        self.handle: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(self.interval, self._again)

    @property
    def active(self) -> bool:
        """Still waiting for the ACK."""
        return self.handle is not None

    def stop(self) -> None:
        """The ACK arrived (or another answer replaces this one)."""
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None

    def _again(self) -> None:
        self.waited += self.interval
        if self.waited >= self.timers.linger:
            self.handle, self.given_up = None, True
            if self.on_give_up is not None:
                self.on_give_up()
            return
        self.send(self.data)
        self.interval = min(self.interval * 2, self.timers.t2)
        self.handle = asyncio.get_running_loop().call_later(self.interval, self._again)


@dataclass(eq=False)
class ServerTransaction:
    """A request being answered: where it came from, our last answer (what a retransmission of the
    request gets again) and, for an INVITE's final answer, its repetition until the ACK."""

    request: Request
    source: Any
    last: bytes | None = None
    repeat: AnswerRepeat | None = None

    @property
    def given_up(self) -> bool:
        """A final answer to an INVITE that was never ACKed."""
        return self.repeat is not None and self.repeat.given_up

    @property
    def awaiting_ack(self) -> bool:
        return self.repeat is not None and self.repeat.active

    def ack_arrived(self) -> None:
        if self.repeat is not None:
            self.repeat.stop()

    def repeat_final(self, send: Callable[[bytes], Any], data: bytes, *, timers: Timers = DEFAULT_TIMERS,
                     on_give_up: Callable[[], Any] | None = None) -> None:  # fmt: skip
        """Repeat `data`, a final answer to this INVITE, until its ACK (an earlier one's repetition stops)."""
        self.ack_arrived()
        self.repeat = AnswerRepeat(send, data, timers=timers, on_give_up=on_give_up)
