"""The SIP edge: the platform's one public SIP address (the role Kamailio plays before FreeSWITCH).

A process holds no state that matters beyond its transactions: credentials, bindings and bans
live in Redis, so any number of edge processes serve the same phones. Every message is handled
in its own task; an exception in one answers 500 to that request and never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import json
import logging
import os
import socket
import time
from collections import Counter
from dataclasses import dataclass

import redis

from telephony.edge.carriers import CarrierTable
from telephony.edge.config import EdgeConfig
from telephony.edge.connections import Connector
from telephony.edge.digest import Digest
from telephony.edge.directory import DirectoryUnavailable, EdgeDirectory
from telephony.edge.engine_choice import EngineRegistry
from telephony.edge.fastredis import FastRedis
from telephony.edge.guard import Guard
from telephony.edge.keepalive import NatKeepalive
from telephony.edge.location import Location
from telephony.edge.news import RegistrationNews
from telephony.edge.proxy import Proxy
from telephony.edge.registrar import Registrar
from telephony.edge.slots import check_slots
from telephony.edge.transport import Source, StreamTransport, UdpTransport, listen, open_peer_socket
from telephony.edge.trunks import GatewayKeeper
from telephony.engine import application
from telephony.sip import Request, Response, SipError, Via, make_response, parse, validate_request
from telephony.sip.locate import Resolver
from telephony.sip.transaction import AnswerRepeat
from voicemail.events import CHANGED_CHANNEL, line_registered

log = logging.getLogger(__name__)
STARTUP_REBUILD_WAIT = 10.0  # seconds the edge waits at start for a missing SIP directory to be rebuilt
TRANSACTION_LINGER = 32.0  # seconds a final answer is kept to absorb retransmissions (RFC 3261 Timer J)
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, REFER, NOTIFY, MESSAGE, SUBSCRIBE"
# Redis restarting or out of reach, or the SIP directory being rebuilt: 503 and a retry, never a 500
# (and never a refusal counted towards a ban).
UNAVAILABLE = (DirectoryUnavailable, OSError, redis.ConnectionError, redis.TimeoutError)
RETRY_AFTER = "5"  # seconds


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
        application.load()  # the feature codes and which call each names (telephony/features.py)
        self.config = config
        self.redis = redis  # redis-py asyncio: pub/sub, bans, heartbeats
        self.fast = fast  # pipelined connection for the per-REGISTER lookups and updates
        self.edge_id = f"{socket.gethostname()}:{os.getpid()}"
        self.token = hashlib.blake2s(self.edge_id.encode(), digest_size=3).hexdigest()  # in our Via branches
        self.secret = secret
        host = f"[{config.host}]" if ":" in config.host else config.host
        self.advertised = config.advertise or f"{host}:{config.port}"
        self.own_hosts = {config.host, self.advertised.rsplit(":", 1)[0].strip("[]")}
        self.directory = EdgeDirectory(fast, config.redis_prefix)
        self.digest = Digest(secret, nonce_ttl=config.nonce_ttl, algorithms=config.digest_algorithms)
        self.location = Location(fast, config.redis_prefix, max_contacts=config.max_contacts,
                                 nonce_ttl=config.nonce_ttl)  # fmt: skip
        self.guard = Guard(redis, config)
        self.registrar = Registrar(self)
        self.keepalive = NatKeepalive(self, config.keepalive_interval, config.keepalive_misses)
        self.news = RegistrationNews(self)  # registration changes for the portals, once per dashboard tick
        self.engines = EngineRegistry(fast, config.redis_prefix)
        # carriers' networks and the numbers they bring; gateways by name looked up in DNS
        self.carriers = CarrierTable(fast, config.redis_prefix, Resolver(config.dns_servers))
        self.directory.on_pstn = self.carriers.changed
        self.guard.carrier = lambda ip: self.carriers.match(ip) is not None  # a carrier's traffic is no flood
        self.trunks = GatewayKeeper(self, config.gateway_ping)  # pings carrier gateways, registers where asked
        self.engines.on_change = lambda: self.background(self.publish_status())  # who we send calls to, at once
        self.proxy = Proxy(self)
        self.udp = None  # the UDP transport, for requests the edge sends itself
        self.transports = {"udp": UdpTransport(self), "tcp": StreamTransport(self, "tcp"),
                           "tls": StreamTransport(self, "tls")}  # fmt: skip
        self.streams: dict[tuple[str, str, int], object] = {}  # open TCP/TLS connections by (transport, ip, port)
        self.connector = Connector(self)  # the edge's own connections to carriers' TCP/TLS gateways
        self.peer = None  # this edge's private UDP socket, where other edge processes relay our responses
        self.peers: dict[str, tuple[str, int]] = {}  # other edges' tokens -> their private sockets
        self._peers_loaded = 0.0
        self.answered: dict[tuple, tuple[float, bytes]] = {}  # server transactions' final answers
        self.unacked: dict[tuple, AnswerRepeat] = {}  # non-2xx INVITE answers repeated until ACKed
        self.stats: Counter = Counter()
        self._tasks: set[asyncio.Task] = set()
        self._unavailable_logged = 0.0

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
        try:
            self._dispatch(message, source)
        except SipError:  # a header parsed only now turned out malformed (a Via, a Max-Forwards...)
            self.stats["malformed"] += 1

    def _dispatch(self, message: Request | Response, source: Source) -> None:
        self.stats["received"] += 1
        if isinstance(message, Response):
            self.stats["responses"] += 1
            self.on_response(message, source)
            return
        via = stamp_received(message, source)
        branch = via.branch or f"{message.call_id}/{message.cseq[0]}"
        key = (branch, message.method, source.address)
        cached = self.answered.get(key)
        if cached is not None:
            self.stats["retransmissions"] += 1
            source.send(cached[1])
            return
        if message.method in ("ACK", "CANCEL"):
            self.ack_or_cancel(message, source, branch)
            return
        proxied = self.proxy.server_txs.get(key)
        if proxied is not None:  # a retransmission of a request being proxied: our last answer again
            self.stats["retransmissions"] += 1
            if proxied.last_sent is not None:
                source.send(proxied.last_sent)
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
        if message.method != "REGISTER":
            # While the credentials are checked in Redis, retransmissions get a 100 Trying and a CANCEL
            # is remembered (the proxy answers 487 instead of sending the call on).
            self.proxy.pending(tx)
        self.background(self._answer_later(tx))

    def on_response(self, response: Response, source: Source) -> None:
        try:
            if self.trunks.on_response(response) or self.proxy.on_response(response, source) \
                    or self.keepalive.on_response(response):  # fmt: skip
                return
        except SipError:
            self.stats["malformed"] += 1
            return
        branch = response.branch or ""
        if branch.startswith("z9hG4bK") and source.transport == "udp":
            self.relay(branch[7:13], response, source)  # another edge process's transaction

    def ack_or_cancel(self, request: Request, source: Source, branch: str) -> None:
        """ACK: absorbed when it acknowledges our non-2xx answer, else forwarded along its route.
        CANCEL: answered here and passed on to the branches of the INVITE it cancels."""
        invite_key = (branch, "INVITE", source.address)
        if request.method == "ACK":
            if invite_key in self.answered:
                repeating = self.unacked.pop(invite_key, None)
                if repeating is not None:
                    repeating.stop()
            else:
                self.proxy.forward_ack(ServerTx(request, source, (branch, "ACK", source.address), ""))
            return
        tx = ServerTx(request, source, (branch, "CANCEL", source.address), "")
        proxied = self.proxy.server_txs.get(invite_key)
        if proxied is None or proxied.final_sent:
            self.send_final(tx, tx.response(481 if proxied is None else 200))
            return
        self.send_final(tx, tx.response(200))
        proxied.cancel()

    def answer_now(self, tx: ServerTx) -> Response | None:
        """Answers that need no lookup (most of them); None when the request needs Redis."""
        request = tx.request
        if request.max_forwards == 0:
            return tx.response(483)
        if request.method == "REGISTER" and "Authorization" not in request.headers:
            # The challenge only echoes the transaction's headers (checked by parse()) and creates no
            # state, so it goes out before the full check, which the request with credentials gets
            # (then a malformed REGISTER is answered 400). Measured: validation was a third of the cost
            # of a challenge, and challenges are half of a registration's requests.
            return self.registrar.challenge_now(tx, self.registrar.aor(tx).uri.host)  # None: realm not cached
        validate_request(request)
        if request.method == "REGISTER":
            return self.registrar.answer_now(tx)
        if request.method == "OPTIONS" and request.to_tag is None:
            return tx.response(200, headers=[("Allow", ALLOW)])  # out of dialog: the edge answers for itself
        return self.proxy.needs_auth(tx)

    async def _answer_later(self, tx: ServerTx) -> None:
        try:
            if tx.request.method == "REGISTER":
                response = await self.registrar.authenticate(tx)
            else:
                response = await self.proxy.route(tx)
                if response is None:  # proxied: the transaction answers by itself
                    return
        except SipError as exc:
            response = tx.response(exc.status, exc.reason)
        except UNAVAILABLE as exc:
            self.stats["unavailable"] += 1
            if time.monotonic() - self._unavailable_logged > 1.0:  # one line a second, not one per request
                self._unavailable_logged = time.monotonic()
                log.warning("answering 503 while Redis is away (%s; %d so far)", exc, self.stats["unavailable"])
            response = tx.response(503, headers=[("Retry-After", RETRY_AFTER)])
        except Exception:  # a bug answers 500 to this request only
            log.exception("error handling %s from %s", tx.request.method, tx.source.address)
            response = tx.response(500)
        self.proxy.unpend(tx)
        self.send_final(tx, response)

    def send_final(self, tx: ServerTx, response: Response) -> None:
        data = response.to_bytes()
        self.stats[f"sent_{response.status}"] += 1
        if response.status >= 200:
            self.answered[tx.key] = (time.monotonic() + TRANSACTION_LINGER, data)
        tx.source.send(data)
        if tx.request.method == "INVITE" and response.status >= 300 and tx.source.transport == "udp":
            # Timer G: a non-2xx answer to an INVITE is sent again until its ACK arrives (timer H: 64*T1);
            # after a 100 Trying the phone no longer repeats its INVITE, so a lost answer would be final.
            forget = functools.partial(self.unacked.pop, tx.key, None)
            self.unacked[tx.key] = AnswerRepeat(tx.source.send, data, timers=self.proxy.timers, on_give_up=forget)

    def send_udp(self, data: bytes, address: tuple[str, int]) -> None:
        if self.udp is not None:
            self.udp.sendto(data, address)

    def send_to(self, hop: tuple[str, str, int], data: bytes) -> bool:
        """Send to (transport, ip, port): UDP from the shared port, TCP/TLS over the phone's open
        connection (phones behind NAT cannot be connected to) or over ours to a carrier's gateway
        (opened when there is none). False when that is impossible."""
        transport = self.transports.get(hop[0])
        return transport is not None and transport.send(data, (hop[1], hop[2]))

    def transport_failed(self, hop: tuple[str, str, int]) -> None:
        """A connection to `hop` could not be opened: the transactions waiting for it end now with a local
        503 (RFC 3261 8.1.3.1), so a call fails over at once and a ping says why (trunks.py)."""
        for table in (self.proxy.branches, self.trunks.table):
            for tx in list(table.values()):
                if getattr(tx, "hop", None) == hop and not tx.done:
                    tx.give_up(503, "Service Unavailable")

    def background(self, coroutine) -> None:
        """Run a coroutine on its own; keep a reference so it is not collected before it ends."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # Several edge processes on one address ------------------------------------------------------------
    # The kernel spreads datagrams over the processes by source address, so the answer to a request
    # one edge sent may reach another. Our branches carry the sending edge's token; an edge that gets
    # a response for another's token relays it to that edge's private socket, signed with the shared
    # secret so nobody else can inject through it.

    def _seal(self, payload: bytes) -> bytes:
        return hmac.new(self.secret, payload, hashlib.sha256).digest()[:16]

    def relay(self, token: str, response: Response, source: Source) -> None:
        payload = f"{source.ip} {source.port}\n".encode() + response.to_bytes()
        if token in self.peers:
            self._relay(token, payload, response, source)
        elif time.monotonic() - self._peers_loaded > 0.5:  # an edge started since we last looked?
            self._peers_loaded = time.monotonic()

            async def reload_then_relay() -> None:
                await self.load_peers()
                self._relay(token, payload, response, source)

            self.background(reload_then_relay())
        else:
            self.orphaned(response, source)

    def orphaned(self, response: Response, source: Source) -> None:
        """An answer to a transaction of an edge process that is gone (it died, and we took its port):
        passed on along its Vias as a stateless proxy would, so that a phone answering a call that was
        ringing when that process died still reaches the engine."""
        self.stats["unmatched_responses"] += 1
        self.proxy.forward_stateless(response, source, orphan=True)

    def _relay(self, token: str, payload: bytes, response: Response, source: Source) -> None:
        address = self.peers.get(token)
        if self.peer is None:
            self.stats["unmatched_responses"] += 1
            return
        if address is None:
            self.orphaned(response, source)
            return
        self.peer.sendto(self._seal(payload) + payload, address)
        self.stats["relayed"] += 1

    def on_relayed(self, data: bytes) -> None:
        seal, payload = data[:16], data[16:]
        if not hmac.compare_digest(seal, self._seal(payload)):
            return
        head, _, message = payload.partition(b"\n")
        ip, _, port = head.decode().rpartition(" ")
        udp = self.udp

        def send(payload: bytes, address=(ip, int(port))) -> None:
            udp.sendto(payload, address)

        try:
            response = parse(message)
        except SipError:
            return
        if isinstance(response, Response):
            self.on_response(response, Source("udp", ip, int(port), send))

    def registration_changed(self, domain: dict, account: int, line: str, devices: int) -> None:
        """A device of a line came or went: the portals' live views are told at the next dashboard tick
        (telephony/edge/news.py), never once per REGISTER."""
        self.news.changed(domain, account, line, devices)

    def registered_anew(self, client: int, number: str) -> tuple[str, str]:
        """What the location publishes when a phone of line `number` registers anew: the engines hear it on
        voicemail's channel, and one tells the phone its box's counts when the client tells phones that
        do not subscribe (telephony/engine/applications/mwi.py)."""
        return f"{self.config.redis_prefix}:{CHANGED_CHANNEL}", line_registered(client, number)

    # Running --------------------------------------------------------------------------------------

    async def housekeeping(self) -> None:
        """Forget old transactions; publish this edge's liveness and counters every few seconds; see
        that the SIP directory is in Redis (rebuilt if not)."""
        while True:
            now = time.monotonic()
            for key in [k for k, (until, _) in self.answered.items() if until < now]:
                del self.answered[key]
            self.directory.check_soon()
            await self.publish_status()
            await asyncio.sleep(5)

    async def publish_status(self) -> None:
        """This edge's status for the status page (and which engines it sends calls to) in Redis."""
        try:
            await self._publish_status()
        except Exception:  # Redis away for a moment: published again next round
            log.exception("edge status not published")

    async def _publish_status(self) -> None:
        status = {"id": self.edge_id, "at": time.time(), "host": self.config.host, "port": self.config.port,
                  "stats": dict(self.stats), "dropped": self.guard.dropped,
                  "engines": sorted(self.engines.live)}  # fmt: skip
        prefix = self.config.redis_prefix
        await self.redis.set(f"{prefix}:edge:{self.edge_id}", json.dumps(status), ex=15)
        if self.peer is not None:
            host, port = self.peer.get_extra_info("sockname")[:2]
            await self.redis.hset(f"{prefix}:edges", self.token, json.dumps([host, port, time.time(), os.getpid()]))
        await self.load_peers()

    async def load_peers(self) -> None:
        """The private sockets of the other live edge processes (see relay()). They share our port, so
        they run on this host: one whose process is gone (killed: its entry is still fresh) is no
        peer, and the answers to its transactions are passed on statelessly (orphaned())."""
        peers = {}
        for token, raw in (await self.redis.hgetall(f"{self.config.redis_prefix}:edges")).items():
            host, port, at, *pid = json.loads(raw)
            if token.decode() != self.token and time.time() - at < 30 and (not pid or process_alive(pid[0])):
                peers[token.decode()] = (host, port)
        self.peers = peers

    async def run(self, ready: asyncio.Event | None = None) -> None:
        directory_sub, bans_sub = self.redis.pubsub(), self.redis.pubsub()
        background = [asyncio.create_task(self.directory.listen(directory_sub)),
                      asyncio.create_task(self.guard.listen(bans_sub))]  # fmt: skip
        try:
            await self.guard.load()
            await self.engines.refresh()
            await self.carriers.refresh()
            if not await self.directory.ensure(wait=STARTUP_REBUILD_WAIT):  # a rebuild of its own, or another's
                log.error("the SIP directory is missing and was not rebuilt: REGISTERs get 503 until it is")
        except (OSError, redis.RedisError) as exc:
            # Start all the same: phones get 503 with Retry-After rather than no answer, and the
            # subscriptions load the bans and the directory watch rebuilds once Redis is back.
            log.error("Redis is away at start (%s): requests get 503 until it is back", exc)
            self.directory.check_soon()
        servers = await listen(self)
        self.peer = await open_peer_socket(self)
        servers.append(self.peer)
        background += [asyncio.create_task(self.housekeeping()), asyncio.create_task(self.engines.run()),
                       asyncio.create_task(check_slots(self)), asyncio.create_task(self.carriers.run()),
                       asyncio.create_task(self.news.run())]  # fmt: skip
        if self.config.gateway_ping > 0:
            background.append(asyncio.create_task(self.trunks.run()))
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
            with contextlib.suppress(Exception):  # Redis gone too: the entry ages out
                await self.redis.hdel(f"{self.config.redis_prefix}:edges", self.token)
            for task in background:
                task.cancel()


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: alive
        return True
    return True


def stamp_received(request: Request, source: Source) -> Via:
    """RFC 3261 18.2.1 and RFC 3581: note on the top Via where the request really came from."""
    via = request.top_via
    if "rport" in via.params or via.host != source.ip:
        via = Via(via.transport, via.host, via.port, dict(via.params), via.protocol)  # the parsed one is shared
    if "rport" in via.params:
        via.params["rport"] = str(source.port)
    elif via.host == source.ip:
        return via
    via.params["received"] = source.ip
    request.headers.replace_first("Via", str(via))
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
