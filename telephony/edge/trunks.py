"""Carrier gateways kept in service by the edge: an OPTIONS ping to each one, and registration at
those that want the platform registered (digest as a client, telephony/sip/digest.py).

One edge process does it at a time: the holder of a Redis lease (`pstn:keeper`), renewed every round,
so a second edge takes over within a few rounds when the first one dies. Every `gateway_ping`
seconds (OCX_SIP_GATEWAY_PING; 0 turns it off) each enabled gateway gets an OPTIONS from the edge's
own address; any answer proves it alive, and after MISSES unanswered pings in a row it is out of
service until it answers again. A registration is renewed at half its granted expiry and tried
again every round while it fails. The state goes to Redis (`pstn:gw:<id>`, see pstn/directory.py)
for the routing and the carrier pages.

Pings and registrations go over the gateway's transport to the first address its host gives
(edge/carriers.py: DNS SRV or A); over TCP and TLS on the edge's connection to it (edge/connections.py).
A connection that cannot be opened (a certificate that does not verify, refused...) takes the gateway
out of service at the first ping, with the reason in its state's `error`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from typing import TYPE_CHECKING

from telephony.sip import Headers, Request, Response
from telephony.sip.digest import AuthenticatedRequest, Credentials
from telephony.sip.transaction import DEAD, ClientTransaction
from telephony.sip.transport import is_reliable

if TYPE_CHECKING:
    from telephony.edge.server import Edge

log = logging.getLogger(__name__)
MISSES = 2  # unanswered pings in a row before a gateway is out of service
PING_TIMEOUT = 4.0  # seconds an OPTIONS waits for its answer
REGISTER_EXPIRES = 300
STATE_TTL = 3600  # a state nobody writes any more (the gateway was removed) goes away


class GatewayKeeper:
    def __init__(self, edge: Edge, interval: float):
        self.edge, self.interval = edge, interval
        self.prefix = edge.config.redis_prefix
        self.table: dict[str, ClientTransaction] = {}  # our transactions by branch
        self.states: dict[int, dict] = {}  # gateway id -> its state as last written
        self.registrations: dict[int, float] = {}  # gateway id -> when to register again
        self.call_id = f"{uuid.uuid4().hex}@ocx-keeper"  # one Call-ID for all our REGISTERs (RFC 3261 10.2)
        self.cseq = 0

    # Responses ---------------------------------------------------------------------------------------

    def on_response(self, response: Response) -> bool:
        tx = self.table.get(response.branch or "")
        if tx is None:
            return False
        tx.receive(response)
        return True

    # The lease and the rounds ------------------------------------------------------------------------

    async def lead(self) -> bool:
        """Hold (or take) the keeper's lease; True while this edge is the keeper."""
        key, me = f"{self.prefix}:pstn:keeper", self.edge.token
        ttl = max(3, round(self.interval * 3))
        if await self.edge.redis.set(key, me, nx=True, ex=ttl):
            return True
        holder = await self.edge.redis.get(key)
        if holder is not None and holder.decode() == me:
            await self.edge.redis.expire(key, ttl)
            return True
        return False

    async def run(self) -> None:
        while True:
            try:
                if await self.lead():
                    await self.round()
            except Exception:  # Redis away for a moment: next round
                log.exception("gateway keeping failed")
            await asyncio.sleep(self.interval)

    async def round(self) -> None:
        now = time.time()
        for entry in self.edge.carriers.entries:  # the directory's gateways with the addresses DNS gave
            if not entry.get("targets"):
                await self.write(entry["gateway"], alive=False, missed=MISSES, checked_at=now, error="no address")
                continue
            self.ping(entry)
            if entry.get("register") and self.registrations.get(entry["gateway"], 0) <= now:
                self.register(entry)

    # Requests ----------------------------------------------------------------------------------------

    def request(self, method: str, entry: dict, uri: str, to: str, *, headers=()) -> Request:
        out = Headers()
        transport = entry.get("transport", "udp").upper()
        out.add("Via", f"SIP/2.0/{transport} {self.edge.advertised};branch={self.edge.proxy.new_branch()};rport")
        out.add("Max-Forwards", "70")
        out.add("From", f"{to};tag={os.urandom(4).hex()}")
        out.add("To", to)
        for name, value in headers:
            out.add(name, value)
        if method == "REGISTER":
            self.cseq += 1
            out.add("Call-ID", self.call_id)
            out.add("CSeq", f"{self.cseq} REGISTER")
        else:
            out.add("Call-ID", f"{uuid.uuid4().hex}@ocx-keeper")
            out.add("CSeq", f"1 {method}")
        return Request(method, uri, out, b"")

    def start(self, entry: dict, request: Request, on_response) -> ClientTransaction:
        """A client transaction to the gateway from the edge's socket (a retry with credentials gets a
        branch of ours again, so its answer finds its way back to this process)."""
        top = request.headers.get_all("Via")[0]
        request.headers.replace_first("Via", f"{top.split(';branch=')[0]};branch={self.edge.proxy.new_branch()};rport")
        hop = hop_of(entry)
        tx = ClientTransaction(request, lambda data: self.edge.send_to(hop, data), table=self.table,
                               reliable=is_reliable(hop[0]), timeout=PING_TIMEOUT, on_response=on_response)  # fmt: skip
        tx.hop = hop  # (a connection to it that cannot be opened fails the transaction: Edge.transport_failed)
        tx.start()
        return tx

    def ping(self, entry: dict) -> None:
        gateway, sent = entry["gateway"], time.monotonic()
        uri = gateway_uri(entry)
        request = self.request("OPTIONS", entry, uri, f"<{uri}>")
        sent_by: list[ClientTransaction] = []

        def answered(response: Response) -> None:
            if response.status < 200:
                return
            self.forget_later(request)
            previous = self.states.get(gateway, {})
            if not sent_by or sent_by[0].state == DEAD:  # our own 408 (or 503: not sent): no answer
                missed = previous.get("missed", 0) + 1
                alive = previous.get("alive", True) and missed < MISSES  # (one never heard from: two misses too)
                # A connection that could not be opened (a certificate that does not verify...) says why,
                # and takes the gateway out at once: waiting for a second miss would not change it.
                error = self.edge.connector.errors.get(hop_of(entry))
                lost = {"error": error or "no answer"}
                if error and alive:
                    alive = False
                if not alive:  # an open connection to it hears nothing: the next ping opens another
                    self.edge.connector.drop(hop_of(entry))
                if previous.get("alive") and not alive:
                    log.warning("carrier gateway %s (%s) stopped answering: out of service", gateway, uri)
                    if entry.get("register"):  # whatever it held of us may be gone when it comes back
                        lost.update(registered=False, registration="the gateway stopped answering")
                self.edge.background(self.write(gateway, alive=alive, missed=missed, checked_at=time.time(), **lost))
                return
            if previous and not previous.get("alive"):
                log.info("carrier gateway %s (%s) answers again: in service", gateway, uri)
                self.registrations[gateway] = 0  # register again at once
            rtt = round((time.monotonic() - sent) * 1000, 1)
            self.edge.background(self.write(gateway, alive=True, missed=0, rtt_ms=rtt, checked_at=time.time(),
                                            answer=f"{response.status} {response.reason}", error=None))  # fmt: skip

        sent_by.append(self.start(entry, request, answered))

    def register(self, entry: dict) -> None:
        gateway = entry["gateway"]
        realm = entry.get("realm") or entry["host"]
        address = f"<sip:{entry['username']}@{realm}>"
        request = self.request("REGISTER", entry, f"sip:{realm}", address, headers=[
            ("Contact", f"<sip:{entry['username']}@{self.contact_address(entry)}>"), ("Expires", str(REGISTER_EXPIRES)),
        ])  # fmt: skip
        credentials = Credentials(entry["username"], password=entry.get("password", ""))
        self.registrations[gateway] = time.time() + self.interval  # tried again next round unless it works

        def answered(response: Response) -> None:
            if response.status < 200:
                return
            self.forget_later(request)
            if 200 <= response.status < 300:
                granted = _expires(response, REGISTER_EXPIRES)
                self.registrations[gateway] = time.time() + granted / 2
                self.edge.background(self.write(gateway, registered=True, registration=f"{response.status} OK",
                                                expires_at=time.time() + granted))  # fmt: skip
            else:
                log.warning("registration at carrier gateway %s refused: %s %s", gateway, response.status,
                            response.reason)  # fmt: skip
                self.edge.background(self.write(gateway, registered=False,
                                                registration=f"{response.status} {response.reason}"))  # fmt: skip

        AuthenticatedRequest(lambda again, on_response: self.start(entry, again, on_response), request, credentials,
                             answered)  # fmt: skip

    def contact_address(self, entry: dict) -> str:
        """Where the gateway reaches us: the edge's address, over the gateway's transport (TLS: our TLS port)."""
        transport = entry.get("transport", "udp")
        if transport == "udp":
            return self.edge.advertised
        address = self.edge.advertised
        if transport == "tls":
            address = f"{address.rsplit(':', 1)[0]}:{self.edge.config.tls_port}"
        return f"{address};transport={transport}"

    def forget_later(self, request: Request) -> None:
        """Our transactions leave the table a little after their answer (retransmitted answers)."""
        branch = request.top_via.branch
        asyncio.get_running_loop().call_later(PING_TIMEOUT * 2, self.table.pop, branch, None)

    async def write(self, gateway: int, **fields) -> None:
        state = self.states.setdefault(gateway, {})
        state.update(fields)
        await self.edge.redis.set(f"{self.prefix}:pstn:gw:{gateway}", json.dumps(state), ex=STATE_TTL)


def hop_of(entry: dict) -> tuple[str, str, int]:
    """Where the keeper sends to a gateway: its transport and the first address DNS gave (or its own)."""
    ip, port = entry["targets"][0]
    return entry.get("transport", "udp"), ip, int(port)


def gateway_uri(entry: dict) -> str:
    """The gateway's own URI: its host (the port only when it has one: else DNS SRV found it)."""
    port = "" if entry.get("srv") else f":{entry['port']}"
    transport = entry.get("transport", "udp")
    return f"sip:{entry['host']}{port}" + ("" if transport == "udp" else f";transport={transport}")


def _expires(response: Response, default: int) -> int:
    """The expiry the registrar granted: the Contact's expires parameter, else Expires, else ours."""
    for contact in response.headers.get_all("Contact"):
        for part in contact.split(";")[1:]:
            name, _, value = part.strip().partition("=")
            if name.lower() == "expires" and value.strip().isdigit():
                return max(int(value), 30)
    value = (response.headers.get("Expires") or "").strip()
    return max(int(value), 30) if value.isdigit() else default
