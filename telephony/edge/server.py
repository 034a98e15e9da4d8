"""The SIP edge: the platform's one public SIP address (the role Kamailio plays before FreeSWITCH).

A process holds no state that matters beyond its transactions: credentials, bindings and bans
live in Redis, so any number of edge processes serve the same phones. Every message is handled
in its own task; an exception in one answers 500 to that request and never stops the others.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import socket
import time
from collections import Counter
from dataclasses import dataclass

from channels.layers import get_channel_layer

from telephony.edge.config import EdgeConfig
from telephony.edge.digest import Digest
from telephony.edge.directory import EdgeDirectory
from telephony.edge.fastredis import FastRedis
from telephony.edge.guard import Guard
from telephony.edge.keepalive import NatKeepalive
from telephony.edge.location import Location
from telephony.edge.registrar import Registrar
from telephony.edge.transport import Source, listen
from telephony.sip import Request, Response, SipError, Via, make_response, parse, validate_request
from tenants.events import group_for_brand, group_for_client, group_for_user

log = logging.getLogger(__name__)
TRANSACTION_LINGER = 32.0  # seconds a final answer is kept to absorb retransmissions (RFC 3261 Timer J)
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, REFER, NOTIFY, MESSAGE"


@dataclass(slots=True)
class ServerTx:
    """One request being answered: where from, its transaction key and the To tag of our answers."""

    request: Request
    source: Source
    key: tuple
    tag: str  # the same for retransmissions of the request, so stateless answers agree

    def response(self, status: int, reason: str | None = None, headers=()) -> Response:
        return make_response(self.request, status, reason, to_tag=self.tag, headers=headers)


class Edge:
    def __init__(self, config: EdgeConfig, redis, secret: bytes, fast: FastRedis):
        self.config = config
        self.redis = redis  # redis-py asyncio: pub/sub, bans, heartbeats
        self.fast = fast  # pipelined connection for the per-REGISTER lookups and updates
        self.edge_id = f"{socket.gethostname()}:{os.getpid()}"
        self.directory = EdgeDirectory(fast, config.redis_prefix)
        self.digest = Digest(secret, nonce_ttl=config.nonce_ttl, algorithms=config.digest_algorithms)
        self.location = Location(fast, config.redis_prefix, max_contacts=config.max_contacts,
                                 nonce_ttl=config.nonce_ttl)  # fmt: skip
        self.guard = Guard(redis, config)
        self.registrar = Registrar(self)
        self.keepalive = NatKeepalive(self, config.keepalive_interval, config.keepalive_misses)
        self.udp = None  # the UDP transport, for requests the edge sends itself
        self.answered: dict[tuple, tuple[float, bytes]] = {}  # server transactions' final answers
        self.stats: Counter = Counter()
        self._tasks: set[asyncio.Task] = set()

    # Receiving ------------------------------------------------------------------------------------

    def on_datagram(self, data: bytes, source: Source) -> None:
        if not self.guard.packet_allowed(source.ip):
            return
        if data in (b"\r\n\r\n", b"\r\n"):  # RFC 5626 keep-alive ping: answer the pong
            source.send(b"\r\n")
            return
        try:
            message = parse(data)
        except SipError as exc:
            self.stats["malformed"] += 1
            answer = malformed_answer(data, exc)
            if answer:
                source.send(answer)
            return
        self.dispatch(message, source)

    def dispatch(self, message: Request | Response, source: Source) -> None:
        self.stats["received"] += 1
        if isinstance(message, Response):
            self.stats["responses"] += 1
            self.keepalive.on_response(message)  # proxying (client transactions) comes with the call engines
            return
        via = stamp_received(message, source)
        branch = via.branch or f"{message.call_id}/{message.cseq[0]}"
        key = (branch, message.method, source.address)
        cached = self.answered.get(key)
        if cached is not None:
            self.stats["retransmissions"] += 1
            source.send(cached[1])
            return
        if message.method == "ACK":
            return
        tag = hashlib.blake2s(f"{message.call_id}|{branch}|{self.edge_id}".encode(), digest_size=6).hexdigest()
        tx = ServerTx(message, source, key, tag)
        try:
            response = self.answer_now(tx)
        except SipError as exc:
            response = tx.response(exc.status, exc.reason)
        if response is not None:
            self.send_final(tx, response)
            return
        task = asyncio.get_running_loop().create_task(self._answer_later(tx))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def answer_now(self, tx: ServerTx) -> Response | None:
        """Answers that need no lookup (most of them); None when the request needs Redis."""
        request = tx.request
        validate_request(request)
        if request.max_forwards == 0:
            return tx.response(483)
        if request.method == "REGISTER":
            return self.registrar.answer_now(tx)
        if request.method == "OPTIONS":
            return tx.response(200, headers=[("Allow", ALLOW)])
        # Calls need the call engines (the next issue): say so plainly instead of failing oddly.
        return tx.response(503, "No Call Engine Available", headers=[("Retry-After", "60")])

    async def _answer_later(self, tx: ServerTx) -> None:
        try:
            response = await self.registrar.authenticate(tx)
        except SipError as exc:
            response = tx.response(exc.status, exc.reason)
        except Exception:  # a bug answers 500 to this request only
            log.exception("error handling %s from %s", tx.request.method, tx.source.address)
            response = tx.response(500)
        self.send_final(tx, response)

    def send_final(self, tx: ServerTx, response: Response) -> None:
        data = response.to_bytes()
        self.stats[f"sent_{response.status}"] += 1
        if response.status >= 200:
            self.answered[tx.key] = (time.monotonic() + TRANSACTION_LINGER, data)
        tx.source.send(data)

    def send_udp(self, data: bytes, address: tuple[str, int]) -> None:
        if self.udp is not None:
            self.udp.sendto(data, address)

    def announce(self, kind: str, domain: dict, account: int, **fields) -> None:
        """A live event for the portals of the client, its brand and the line's owner (fire and forget)."""
        event = {"type": kind, "client": domain["client"], **fields}
        groups = (group_for_client(domain["client"]), group_for_brand(domain["brand"]), group_for_user(account))
        layer = get_channel_layer()

        async def send() -> None:
            for group in groups:
                await layer.group_send(group, {"type": "platform.event", "event": event})

        task = asyncio.get_running_loop().create_task(send())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # Running --------------------------------------------------------------------------------------

    async def housekeeping(self) -> None:
        """Forget old transactions; publish this edge's liveness and counters every few seconds."""
        while True:
            now = time.monotonic()
            for key in [k for k, (until, _) in self.answered.items() if until < now]:
                del self.answered[key]
            status = {"id": self.edge_id, "at": time.time(), "host": self.config.host, "port": self.config.port,
                      "stats": dict(self.stats), "dropped": self.guard.dropped}  # fmt: skip
            await self.redis.set(f"{self.config.redis_prefix}:edge:{self.edge_id}", json.dumps(status), ex=15)
            await asyncio.sleep(5)

    async def run(self, ready: asyncio.Event | None = None) -> None:
        directory_sub, bans_sub = self.redis.pubsub(), self.redis.pubsub()
        background = [asyncio.create_task(self.directory.listen(directory_sub)),
                      asyncio.create_task(self.guard.listen(bans_sub))]  # fmt: skip
        await self.guard.load()
        servers = await listen(self)
        background.append(asyncio.create_task(self.housekeeping()))
        if self.config.keepalive_interval > 0:
            background.append(asyncio.create_task(self.keepalive.run()))
        log.info("SIP edge %s on %s:%s (udp, tcp%s)", self.edge_id, self.config.host, self.config.port,
                 ", tls" if self.config.tls_cert else "")  # fmt: skip
        if ready is not None:
            ready.set()
        try:
            await asyncio.Event().wait()
        finally:
            for server in servers:
                server.close()
            for task in background:
                task.cancel()


def stamp_received(request: Request, source: Source) -> Via:
    """RFC 3261 18.2.1 and RFC 3581: note on the top Via where the request really came from."""
    via = request.top_via
    if "rport" in via.params:
        via.params["rport"] = str(source.port)
    elif via.host == source.ip:
        return via
    via.params["received"] = source.ip
    values = request.headers.get_all("Via")
    request.headers.remove("Via")
    for value in reversed([str(via), *values[1:]]):
        request.headers.prepend("Via", value)
    return via


def malformed_answer(data: bytes, error: SipError) -> bytes | None:
    """A 400 for a request we could not parse, when its head still names the transaction."""
    try:
        head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace").split("\r\n")
    except Exception:  # any failure here means: no answer possible
        return None
    if not head or head[0].startswith("SIP/") or len(head[0].split(" ")) != 3:
        return None
    wanted = {"via": "Via", "v": "Via", "from": "From", "f": "From", "to": "To", "t": "To", "call-id": "Call-ID",
              "i": "Call-ID", "cseq": "CSeq"}  # fmt: skip
    lines = []
    for line in head[1:64]:
        name, sep, value = line.partition(":")
        canonical = wanted.get(name.strip().lower())
        if sep and canonical:
            lines.append(f"{canonical}: {value.strip()}")
    if not any(line.startswith("Via:") for line in lines) or len(lines) < 5:
        return None
    reason = "".join(ch for ch in error.reason if 32 <= ord(ch) < 127)[:80] or "Bad Request"
    text = f"SIP/2.0 400 {reason}\r\n" + "\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n"
    return text.encode()
