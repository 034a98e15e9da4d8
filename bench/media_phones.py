"""The phones of bench/engine_media.py: a subprocess that sets up N calls, holds them while RTP flows
both ways, measures what comes back, then hangs them up. Started by engine_media.py; it talks JSON
lines on stdout (setup, start, stop, rtp, teardown) and logs nothing else there. The conference
participants of bench/conference.py (bench/conference_phones.py) reuse its user agent, phones and runner.

Two ways to set the calls up, the same RTP afterwards:

- `--via sip`: through the edge and the call engine, with a small SIP user agent built on
  telephony/sip (parser, SDP, credentials). One UDP socket places every call, each as its own
  calling line (INVITE with SDP, 407, ACK, INVITE with digest credentials, 200, ACK along the
  edge's Record-Route); a second one, registered through the edge as the called line, answers
  the engine's INVITEs with 200 and SDP. The caller's leg's engine port comes from the 200, the
  callee's leg's from the engine's INVITE; the two legs of a call are matched by the calling
  line's number. At the end the caller sends BYE and the engine hangs up the callee's leg.
- `--via ng`: rtpengine's ng control protocol (bencode over UDP): `offer` with phone A's SDP
  (the rewritten SDP's port is where phone B sends), `answer` with phone B's (where phone A
  sends), `delete` at the end. Every command has a cookie of its own: rtpengine caches replies
  by cookie, so a reused one would get an old reply.

Why not SIPp for the phones: the RTP sender must know both engine ports of every call while the
calls are up. With SIPp that takes a UAC and a UAS writing the ports to log files, a third process
reading and matching them mid-call, calls held by a fixed `<pause>` that has to outlast setup,
warm-up and the window, and per-call RTP ports injected in an order the UAS cannot rely on (its
calls arrive in the engine's order). One process that holds both ends of each call knows all of
that at once and hangs up when the window is over.

RTP: one UDP socket per phone, connected to its engine port (symmetric RTP); a 172-byte PCMU
packet every 20 ms from each (bench/rtp_relay.py's packets and pacing), the send time (time_ns) in
the payload. Within the window every packet received gives its transit time: the kernel's receive
timestamp (SO_TIMESTAMPNS, so this process's own waits for a core are not counted) - the send time;
from consecutive transits of a stream the delay variation
|D| = |transit_j - transit_j-1| (IPDV, RFC 5481) and the RFC 3550 interarrival jitter
J += (|D| - J) / 16. Loss per direction is what phones sent during the window against what their
partners received of those packets (0.5 s allowed for the last ones).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import hashlib
import json
import os
import resource
import secrets
import signal
import socket
import struct
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from rtp_relay import HEADER, PACKET, PAD, pace, run_loop  # noqa: E402  (bench/rtp_relay.py)

from telephony.sip import Request, Response, SipError, is_keepalive, make_response, parse, parse_credentials  # noqa: E402
from telephony.sip.sdp import Codec, build_sdp, parse_sdp  # noqa: E402

HOST = "127.0.0.1"
PCMU = [Codec(0, "PCMU", 8000)]
T1 = 0.5  # SIP retransmission timer (RFC 3261)
CALL_TIMEOUT = 15.0  # one call's setup, all retransmissions included
FAR = 1 << 62  # "not yet" on the time_ns clock
SO_TIMESTAMPNS = 35  # Linux (asm-generic/socket.h); also the type of its control message; not in socket
_TIMESPEC = struct.Struct("qq")
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size)


def emit(**message) -> None:
    print(json.dumps(message), flush=True)


class SetupError(Exception):
    """A call that could not be set up; the text says why (a status, a missing leg)."""


# -- RTP


class Window:
    """The measuring window on the time_ns clock: packets sent within it are counted."""

    def __init__(self) -> None:
        self.start = FAR
        self.stop = FAR << 1


class Phone:
    """One phone of a call: sends 20 ms packets to its engine port, measures its partner's.

    Arrival times are the kernel's (SO_TIMESTAMPNS: when the datagram reached this socket), so a
    moment this process waits for a core does not count as delay through the relay; send times are
    read just before send(). Both are CLOCK_REALTIME, the clock of the kernel's stamps."""

    def __init__(self, index: int, sock: socket.socket, window: Window, delays: list[int],
                 variations: list[int]) -> None:  # fmt: skip
        self.index = index  # also its SSRC; the partner is index ^ 1 (A even, B odd)
        self.partner = index ^ 1
        self.sock = sock
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.window = window
        self.delays = delays  # transit times (ns) of this direction, shared by its receiving phones
        self.variations = variations  # |D| (ns) of this direction
        self.seq = 0
        self.sent = 0  # sent within the window
        self.received = 0  # received of what the partner sent within the window
        self.last_seq = -1
        self.last_transit: int | None = None
        self.jitter = 0.0  # RFC 3550 interarrival jitter, ns
        self.foreign = self.reordered = self.send_errors = 0

    def send(self) -> None:
        seq = self.seq
        self.seq = seq + 1
        now = time.time_ns()
        if now >= self.window.start:
            self.sent += 1
        try:
            self.sock.send(HEADER.pack(0x80, 0, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, self.index, now) + PAD)
        except OSError:  # a full buffer, or ICMP unreachable from a relay that went away: counted as loss
            self.send_errors += 1

    def readable(self) -> None:
        """One datagram per call: the loop calls again while more are waiting."""
        try:
            data, ancillary, _, _ = self.sock.recvmsg(2048, _ANCILLARY)
        except OSError:  # nothing after all, or an ICMP error
            return
        arrival = 0
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanoseconds = _TIMESPEC.unpack_from(value)
                arrival = seconds * 1_000_000_000 + nanoseconds
        self.packet(data, arrival or time.time_ns())

    def packet(self, data: bytes, arrival: int) -> None:
        if len(data) != PACKET:
            self.foreign += 1
            return
        _, _, seq, _, ssrc, sent_ns = HEADER.unpack_from(data)
        if ssrc != self.partner:
            self.foreign += 1
            return
        if seq <= self.last_seq:
            self.reordered += 1
        self.last_seq = seq
        transit = arrival - sent_ns
        last, self.last_transit = self.last_transit, transit
        window = self.window
        if not window.start <= sent_ns < window.stop:
            return
        self.received += 1
        self.delays.append(transit)
        if last is not None:
            variation = abs(transit - last)
            self.variations.append(variation)
            self.jitter += (variation - self.jitter) / 16


def quantiles(values: list, scale: float = 1e-6) -> dict[str, float]:
    values.sort()
    if not values:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0}

    def at(q: float) -> float:
        return round(values[min(len(values) - 1, int(q * len(values)))] * scale, 3)

    return {"p50": at(0.5), "p99": at(0.99), "max": at(1.0)}


async def talk(phones: list[Phone], window: Window, warmup: float, seconds: float, summary=None) -> dict:
    """Every phone sends for `warmup` + `seconds` (emitting start and stop around the window); then
    the window, this process's CPU over it and the figures: summary() (default: both directions of
    bridged calls)."""
    start = time.monotonic()
    await pace(phones, start, start + warmup)
    window.start = time.time_ns()
    emit(event="start")
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    await pace(phones, start + warmup, start + warmup + seconds)
    window.stop = time.time_ns()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    emit(event="stop")
    await asyncio.sleep(0.5)  # what is in flight arrives
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    window_s = (window.stop - window.start) / 1e9
    figures = summary() if summary is not None else bridged(phones)
    return {"window_s": round(window_s, 3), "phones_cpu_s": round(cpu, 3), **figures}


def bridged(phones: list[Phone]) -> dict:
    """Loss, delay and |D| of each direction of bridged calls (A even, B odd)."""
    directions = {}
    for name, receivers_parity in (("a_to_b", 1), ("b_to_a", 0)):
        receivers = [p for p in phones if p.index & 1 == receivers_parity]
        sent = sum(p.sent for p in phones if p.index & 1 != receivers_parity)
        received = sum(p.received for p in receivers)
        directions[name] = {
            "sent": sent,
            "received": received,
            "loss_pct": round(100.0 * (sent - received) / sent, 4) if sent else 100.0,
            "delay_ms": quantiles(receivers[0].delays) if receivers else {},
            "ipdv_ms": quantiles(receivers[0].variations) if receivers else {},
            "rfc3550_jitter_ms": quantiles([p.jitter for p in receivers]),
            "foreign": sum(p.foreign for p in receivers),
            "reordered": sum(p.reordered for p in receivers),
            "send_errors": sum(p.send_errors for p in phones if p.index & 1 != receivers_parity),
        }
    return directions


# -- SIP


def new_branch() -> str:
    return "z9hG4bK" + uuid.uuid4().hex[:16]


def digest(challenges: list[str], user: str, secret: str, method: str, uri: str) -> str:
    """Digest MD5 credentials for the first MD5 challenge (qop=auth when offered)."""
    for challenge in challenges:
        _, params = parse_credentials(challenge)
        if params.get("algorithm", "MD5").upper() == "MD5":
            break
    else:
        raise SetupError("no MD5 challenge")
    realm, nonce = params["realm"], params["nonce"]

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()  # SIP digest is MD5 by definition

    ha1, ha2 = md5(f"{user}:{realm}:{secret}"), md5(f"{method}:{uri}")
    value = f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", algorithm=MD5'
    if "auth" in [q.strip() for q in params.get("qop", "").split(",")]:
        cnonce, nc = secrets.token_hex(6), "00000001"
        value += f', response="{md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")}", qop=auth, nc={nc}, cnonce="{cnonce}"'
    else:
        value += f', response="{md5(f"{ha1}:{nonce}:{ha2}")}"'
    if "opaque" in params:
        value += f', opaque="{params["opaque"]}"'
    return value


@dataclass
class _Tx:
    future: asyncio.Future
    provisional: bool = False


class SipUa(asyncio.DatagramProtocol):
    """One SIP socket of the phones: client transactions with retransmissions, responses to the
    edge's requests (handed to `on_request`). Everything goes to and comes from the edge."""

    def __init__(self, user: str, domain: str, edge: tuple[str, int], on_request) -> None:
        self.user, self.domain, self.edge = user, domain, edge
        self.on_request = on_request
        self.transport = None
        self.port = 0
        self.pending: dict[tuple, _Tx] = {}
        self.acks: dict[str, bytes] = {}  # Call-ID -> the ACK of its 2xx, sent again if the 2xx comes again
        self.unparsable = 0

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr) -> None:
        if is_keepalive(data):
            return
        try:
            message = parse(data)
            if isinstance(message, Response):
                self._response(message)
            else:
                self.on_request(self, message, addr)
        except SipError:
            self.unparsable += 1

    def _response(self, response: Response) -> None:
        number, method = response.cseq
        tx = self.pending.get((response.call_id, number, method))
        if tx is None:
            ack = self.acks.get(response.call_id)
            if ack is not None and method == "INVITE" and 200 <= response.status < 300:
                self.send(ack)
            return
        if response.status < 200:
            tx.provisional = True
        elif not tx.future.done():
            tx.future.set_result(response)

    def send(self, data: bytes, addr: tuple[str, int] | None = None) -> None:
        if self.transport is not None:
            self.transport.sendto(data, addr or self.edge)

    def request(self, method: str, uri: str, *, call_id: str, from_tag: str, to: str, cseq: int,
                branch: str | None = None, route: tuple[str, ...] = (), headers: tuple[tuple[str, str], ...] = (),
                body: bytes = b"", user: str | None = None) -> bytes:  # fmt: skip
        """A request from `user` (default this socket's) to the edge; the caller's socket serves many lines."""
        user = user or self.user
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {HOST}:{self.port};branch={branch or new_branch()};rport",
            "Max-Forwards: 70",
            f"From: <sip:{user}@{self.domain}>;tag={from_tag}",
            f"To: {to}",
            f"Call-ID: {call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:{user}@{HOST}:{self.port}>",
            *[f"Route: {r}" for r in route],
            *[f"{name}: {value}" for name, value in headers],
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        return ("\r\n".join(lines) + f"\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body

    def respond(self, request: Request, status: int, addr, *, to_tag: str | None = None,
                headers: tuple[tuple[str, str], ...] = (), body: bytes = b"") -> bytes:  # fmt: skip
        response = make_response(request, status, to_tag=to_tag, headers=headers)
        response.body = body
        data = response.to_bytes()
        self.send(data, addr)
        return data

    async def transact(self, data: bytes, key: tuple, timeout: float = CALL_TIMEOUT) -> Response:
        """Send a request and return its final response; retransmitted every T1, doubling, until a
        provisional answer (INVITE) or the final one; TimeoutError after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        tx = self.pending[key] = _Tx(loop.create_future())
        deadline, interval = loop.time() + timeout, T1
        try:
            self.send(data)
            while not tx.future.done():
                left = deadline - loop.time()
                if left <= 0:
                    raise TimeoutError(f"no final answer to {key[2]}")
                await asyncio.wait({tx.future}, timeout=min(interval, left))
                if not tx.future.done() and not tx.provisional:
                    self.send(data)
                interval = min(2 * interval, 4.0)
            return tx.future.result()
        finally:
            self.pending.pop(key, None)


async def register(ua: SipUa, secret: str, expires: int, call_id: str, tag: str, cseq: int) -> tuple[int, int]:
    """REGISTER `ua`'s line (its user, its socket as the contact), answering the digest challenge;
    (final status, the last CSeq used: the next registration of this binding goes on from it)."""
    uri, to = f"sip:{ua.domain}", f"<sip:{ua.user}@{ua.domain}>"
    headers: tuple[tuple[str, str], ...] = (("Expires", str(expires)),)
    for _ in range(2):
        cseq += 1
        data = ua.request("REGISTER", uri, call_id=call_id, from_tag=tag, to=to, cseq=cseq, headers=headers)
        answer = await ua.transact(data, (call_id, cseq, "REGISTER"), 10)
        if answer.status != 401:
            return answer.status, cseq
        credentials = digest(answer.headers.get_lines("WWW-Authenticate"), ua.user, secret, "REGISTER", uri)
        headers = (("Expires", str(expires)), ("Authorization", credentials))
    return answer.status, cseq


@dataclass
class Dialog:
    call_id: str
    from_tag: str
    to: str
    target: str
    route: tuple[str, ...]
    cseq: int


class SipCalls:
    """Calls through the edge and the engine: phone A calls the called line, phone B answers it."""

    def __init__(self, spec: dict, edge_port: int, callee_port: int) -> None:
        self.domain = spec["domain"]
        self.callee_user, self.callee_secret, self.callee_number = spec.get("callee", ("", "", ""))
        self.callers = spec["callers"]  # (user, secret, number) a call
        self.edge = (HOST, edge_port)
        self.callee_port = callee_port
        self.caller: SipUa | None = None
        self.callee: SipUa | None = None
        self.expected: dict[str, tuple[int, int]] = {}  # calling number -> (call, phone B's port)
        self.b_legs: dict[int, asyncio.Future] = {}
        self.answered: dict[str, list] = {}  # callee Call-ID -> [200 bytes, address, acked]
        self.dialogs: dict[int, Dialog] = {}
        self.counts: Counter = Counter()  # requests from the far end: BYEs before our hang-up and so on
        self.hanging_up = False
        self._tasks: set[asyncio.Task] = set()
        self.register_call_id, self.register_tag, self.register_cseq = uuid.uuid4().hex, uuid.uuid4().hex[:10], 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        _, self.caller = await loop.create_datagram_endpoint(
            lambda: SipUa("caller", self.domain, self.edge, self.on_caller_request), local_addr=(HOST, 0)
        )
        _, self.callee = await loop.create_datagram_endpoint(
            lambda: SipUa(self.callee_user, self.domain, self.edge, self.on_callee_request),
            local_addr=(HOST, self.callee_port))  # fmt: skip
        status = await self.register(3600)
        if status != 200:
            raise SetupError(f"the called line did not register: {status}")

    async def register(self, expires: int) -> int:
        status, self.register_cseq = await register(self.callee, self.callee_secret, expires, self.register_call_id,
                                                    self.register_tag, self.register_cseq)  # fmt: skip
        return status

    async def open(self, index: int, a_port: int, b_port: int) -> tuple[int, int]:
        """Place call `index` from phone A's port to phone B's; (engine port of A's leg, of B's leg)."""
        number = self.callers[index][2]
        self.expected[number] = (index, b_port)
        leg_b = self.b_legs[index] = asyncio.get_running_loop().create_future()
        answer = await self.invite(index, self.callee_number, build_sdp(HOST, a_port, PCMU, session_id=index + 1))
        engine_a = parse_sdp(answer.body).audio_address()
        done, _ = await asyncio.wait({leg_b}, timeout=5.0)
        if not done or engine_a is None:
            raise SetupError("the callee's leg did not arrive")
        return engine_a[1], leg_b.result()

    async def invite(self, index: int, dialled: str, body: bytes) -> Response:
        """INVITE `dialled` as calling line `index` (407 answered with credentials), ACK its 200 along
        the Record-Route and keep the dialog for close(); the 200, or SetupError."""
        user, secret, _ = self.callers[index]
        ua = self.caller
        call_id, from_tag = f"{uuid.uuid4().hex}@bench", uuid.uuid4().hex[:12]
        target = f"sip:{dialled}@{self.domain}"
        common = {"call_id": call_id, "from_tag": from_tag, "user": user}
        branch = new_branch()
        invite = ua.request("INVITE", target, **common, to=f"<{target}>", cseq=1, branch=branch, body=body)
        answer = await ua.transact(invite, (call_id, 1, "INVITE"))
        cseq = 1
        if answer.status == 407:
            ua.send(ua.request("ACK", target, **common, to=answer.headers.get("To"), cseq=1, branch=branch))
            cseq = 2
            credentials = digest(answer.headers.get_lines("Proxy-Authenticate"), user, secret, "INVITE", target)
            invite = ua.request("INVITE", target, **common, to=f"<{target}>", cseq=cseq,
                                headers=(("Proxy-Authorization", credentials),), body=body)  # fmt: skip
            answer = await ua.transact(invite, (call_id, cseq, "INVITE"))
        if answer.status != 200:
            raise SetupError(f"{answer.status} {answer.reason}")
        contacts = answer.contacts()
        dialog = Dialog(call_id, from_tag, answer.headers.get("To"), str(contacts[0].uri) if contacts else target,
                        tuple(reversed(answer.headers.get_all("Record-Route"))), cseq)  # fmt: skip
        self.dialogs[index] = dialog
        ack = ua.request("ACK", dialog.target, **common, to=dialog.to, cseq=cseq, route=dialog.route)
        ua.acks[call_id] = ack
        ua.send(ack)
        return answer

    async def close(self, index: int) -> bool:
        dialog = self.dialogs.get(index)
        if dialog is None:
            return False
        ua = self.caller
        cseq = dialog.cseq + 1
        bye = ua.request("BYE", dialog.target, call_id=dialog.call_id, from_tag=dialog.from_tag, to=dialog.to,
                         cseq=cseq, route=dialog.route, user=self.callers[index][0])  # fmt: skip
        answer = await ua.transact(bye, (dialog.call_id, cseq, "BYE"), 8.0)
        return answer.status == 200

    async def stop(self) -> None:
        self.hanging_up = True
        if self.callee is not None and self.callee.transport is not None:
            with contextlib.suppress(Exception):
                await self.register(0)
        for task in self._tasks:
            task.cancel()
        for ua in (self.caller, self.callee):
            if ua is not None and ua.transport is not None:
                ua.transport.close()

    def on_caller_request(self, ua: SipUa, request: Request, addr) -> None:
        if request.method == "BYE":  # the far end hung up one of our calls
            self.counts["bye_from_engine_to_caller"] += 1
            ua.respond(request, 200, addr)
        elif request.method != "ACK":
            ua.respond(request, 200 if request.method == "OPTIONS" else 481, addr)

    def on_callee_request(self, ua: SipUa, request: Request, addr) -> None:
        method, call_id = request.method, request.call_id
        if method == "INVITE" and request.to_tag is None:
            kept = self.answered.get(call_id)
            if kept is not None:  # a retransmission
                ua.send(kept[0], addr)
                return
            self._answer(ua, request, addr)
        elif method == "ACK":
            if call_id in self.answered:
                self.answered[call_id][2] = True
        elif method == "BYE":
            self.counts["bye_to_callee" if self.hanging_up else "bye_to_callee_early"] += 1
            ua.respond(request, 200, addr)
        elif method == "CANCEL":
            self.counts["cancel_to_callee"] += 1
            ua.respond(request, 200, addr)
        else:
            ua.respond(request, 200 if method == "OPTIONS" else 481, addr)

    def _answer(self, ua: SipUa, request: Request, addr) -> None:
        number = request.name_addr("From").uri.user or ""
        offer = parse_sdp(request.body) if request.body else None
        engine_b = offer.audio_address() if offer else None
        if number not in self.expected or engine_b is None:
            self.counts["unexpected_invite"] += 1
            ua.respond(request, 488 if engine_b is None else 480, addr, to_tag=uuid.uuid4().hex[:10])
            return
        index, b_port = self.expected.pop(number)
        contact = f"<sip:{self.callee_user}@{HOST}:{ua.port}>"
        headers = (*[("Record-Route", v) for v in request.headers.get_lines("Record-Route")],
                   ("Contact", contact), ("Content-Type", "application/sdp"))  # fmt: skip
        body = build_sdp(HOST, b_port, PCMU, session_id=index + 1)
        data = ua.respond(request, 200, addr, to_tag=uuid.uuid4().hex[:10], headers=headers, body=body)
        kept = self.answered[request.call_id] = [data, addr, False]
        task = asyncio.get_running_loop().create_task(self._until_acked(ua, kept))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        leg_b = self.b_legs.get(index)
        if leg_b is not None and not leg_b.done():
            leg_b.set_result(engine_b[1])

    async def _until_acked(self, ua: SipUa, kept: list) -> None:
        """A UAS repeats its 2xx until the ACK (RFC 3261 13.3.1.4), here at most 7 times."""
        interval = T1
        for _ in range(7):
            await asyncio.sleep(interval)
            if kept[2]:
                return
            ua.send(kept[0], kept[1])
            interval = min(2 * interval, 4.0)
        self.counts["no_ack_from_engine"] += 1


# -- rtpengine's ng protocol


def bencode(value) -> bytes:
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list):
        return b"l" + b"".join(map(bencode, value)) + b"e"
    if isinstance(value, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in value.items())
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"
    raise TypeError(f"cannot bencode {type(value).__name__}")


def bdecode(data: bytes, at: int = 0):
    """(value, next offset); byte strings come back as str."""
    kind = data[at : at + 1]
    if kind == b"i":
        end = data.index(b"e", at)
        return int(data[at + 1 : end]), end + 1
    if kind in (b"l", b"d"):
        items, at = [], at + 1
        while data[at : at + 1] != b"e":
            item, at = bdecode(data, at)
            items.append(item)
        if kind == b"l":
            return items, at + 1
        return dict(zip(items[::2], items[1::2], strict=True)), at + 1
    colon = data.index(b":", at)
    length = int(data[at:colon])
    return data[colon + 1 : colon + 1 + length].decode(errors="replace"), colon + 1 + length


class NgCalls(asyncio.DatagramProtocol):
    """Calls through rtpengine: offer/answer per call over its ng control port, delete at the end."""

    def __init__(self, ng_port: int) -> None:
        self.address = (HOST, ng_port)
        self.transport = None
        self.run = f"{os.getpid()}-{secrets.token_hex(4)}"  # cookies and call-ids are never reused
        self.sequence = 0
        self.pending: dict[str, asyncio.Future] = {}

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        cookie, _, body = data.partition(b" ")
        future = self.pending.get(cookie.decode(errors="replace"))
        if future is not None and not future.done():
            try:
                future.set_result(bdecode(body)[0])
            except (ValueError, IndexError) as exc:
                future.set_exception(SetupError(f"bad ng reply: {exc}"))

    async def command(self, params: dict, timeout: float = 5.0, expect: str = "ok") -> dict:
        self.sequence += 1
        cookie = f"{self.run}-{self.sequence}"
        future = self.pending[cookie] = asyncio.get_running_loop().create_future()
        data = cookie.encode() + b" " + bencode(params)
        try:
            for attempt in range(max(1, int(timeout / T1))):  # the same cookie again is a retransmission
                self.transport.sendto(data, self.address)
                done, _ = await asyncio.wait({future}, timeout=T1 * (1 + attempt % 2))
                if done:
                    break
            else:
                raise SetupError(f"rtpengine did not answer {params['command']}")
            reply = future.result()
        finally:
            self.pending.pop(cookie, None)
        if reply.get("result") != expect:
            raise SetupError(f"rtpengine {params['command']}: {reply.get('error-reason', reply.get('result'))}")
        return reply

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(HOST, 0))
        await self.command({"command": "ping"}, expect="pong")

    async def open(self, index: int, a_port: int, b_port: int) -> tuple[int, int]:
        call_id = f"bench-{self.run}-{index}"
        offer = await self.command({"command": "offer", "call-id": call_id, "from-tag": "a",
                                    "sdp": build_sdp(HOST, a_port, PCMU, session_id=index + 1).decode()})  # fmt: skip
        answer = await self.command({"command": "answer", "call-id": call_id, "from-tag": "a", "to-tag": "b",
                                     "sdp": build_sdp(HOST, b_port, PCMU, session_id=index + 1).decode()})  # fmt: skip
        for_b, for_a = parse_sdp(offer["sdp"]).audio_address(), parse_sdp(answer["sdp"]).audio_address()
        if for_a is None or for_b is None:
            raise SetupError("rtpengine's SDP has no audio address")
        return for_a[1], for_b[1]

    async def close(self, index: int) -> bool:
        await self.command({"command": "delete", "call-id": f"bench-{self.run}-{index}", "from-tag": "a"})
        return True

    async def stop(self) -> None:
        if self.transport is not None:
            self.transport.close()


# -- the run


async def for_each(count: int, rate: float, in_flight: int, action) -> tuple[list, Counter]:
    """action(i) for i in range(count), started at `rate` a second, at most `in_flight` at once;
    (results, errors by text) with None for the ones that failed."""
    loop = asyncio.get_running_loop()
    results: list = [None] * count
    errors: Counter = Counter()
    gate = asyncio.Semaphore(in_flight)

    async def one(i: int) -> None:
        try:
            results[i] = await asyncio.wait_for(action(i), CALL_TIMEOUT + 5)
        except Exception as exc:  # a failed call is counted, never fatal to the others
            errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
        finally:
            gate.release()

    started, tasks = loop.time(), []
    for i in range(count):
        await gate.acquire()
        delay = started + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(loop.create_task(one(i)))
    await asyncio.gather(*tasks)
    return results, errors


async def hang_up(calls, indexes: list[int], in_flight: int) -> None:
    """BYE (or delete) every call that was set up, 200 a second; the teardown message."""
    started = time.monotonic()
    closed, errors = await for_each(len(indexes), 200, in_flight, lambda k: calls.close(indexes[k]))
    await asyncio.sleep(0.3)  # the engine's BYEs to the callee's leg
    emit(teardown={"ended": sum(1 for c in closed if c), "failed": sum(1 for c in closed if not c),
                   "errors": dict(errors.most_common(5)), "seconds": round(time.monotonic() - started, 2),
                   "far_end": dict(getattr(calls, "counts", {}))})  # fmt: skip


async def run(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    n = args.calls
    socks = []
    for _ in range(2 * n):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((HOST, 0))
        socks.append(sock)
    ports = [sock.getsockname()[1] for sock in socks]
    if args.via == "sip":
        calls = SipCalls(json.loads(Path(args.spec).read_text()), args.edge_port, args.callee_port)
    else:
        calls = NgCalls(args.ng_port)
    try:
        await calls.start()
        started = time.monotonic()
        remotes, errors = await for_each(n, args.setup_rate, args.in_flight,
                                         lambda i: calls.open(i, ports[2 * i], ports[2 * i + 1]))  # fmt: skip
        up = [i for i in range(n) if remotes[i] is not None]
        emit(setup={"asked": n, "established": len(up), "failed": n - len(up), "errors": dict(errors.most_common(5)),
                    "seconds": round(time.monotonic() - started, 2)})  # fmt: skip
        window, phones = Window(), []
        directions: dict[int, tuple[list, list]] = {1: ([], []), 0: ([], [])}
        for i in up:
            for side in (0, 1):
                sock = socks[2 * i + side]
                sock.connect((HOST, remotes[i][side]))
                sock.setblocking(False)
                phone = Phone(2 * i + side, sock, window, *directions[side])
                loop.add_reader(sock.fileno(), phone.readable)
                phones.append(phone)
        if phones:
            emit(rtp=await talk(phones, window, args.warmup, args.seconds))
        for phone in phones:
            loop.remove_reader(phone.sock.fileno())
        if args.via == "sip":
            calls.hanging_up = True
        await hang_up(calls, up, args.in_flight)
    finally:
        await calls.stop()
        for sock in socks:
            sock.close()
    return 0 if up else 1


def _die_with_parent() -> None:
    """SIGTERM when the bench process goes, however it goes (Linux prctl PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the phones of bench/engine_media.py")
    parser.add_argument("--via", choices=["sip", "ng"], required=True)
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--spec", help="JSON: domain, callee [user, secret, number], callers [[...], ...] (sip)")
    parser.add_argument("--edge-port", type=int, default=0)
    parser.add_argument("--callee-port", type=int, default=0)
    parser.add_argument("--ng-port", type=int, default=0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--setup-rate", type=float, default=100.0)
    parser.add_argument("--in-flight", type=int, default=30)
    args = parser.parse_args(argv)
    if not 1 <= args.calls <= 5000 or not 0 < args.seconds <= 120 or not 0 < args.setup_rate <= 1000:
        parser.error("--calls 1-5000, --seconds up to 120, --setup-rate up to 1000")
    _die_with_parent()
    return run_loop("uvloop", run(args))


if __name__ == "__main__":
    sys.exit(main())
