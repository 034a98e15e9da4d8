"""Proxying: phones' calls to the least-busy call engine, engines' calls to every device of a user,
and in-dialog requests along the route the edge recorded.

The rules, in the order a request meets them:
- From a phone, a dialog-creating request (INVITE, and MESSAGE, SUBSCRIBE... outside a dialog) must
  carry digest credentials (407 challenge, as Kamailio's proxy_authorize); its client's address
  rules and, for INVITE, concurrent call limit apply (for MESSAGE, the checks of
  telephony/edge/messages.py: text only, size, rate); then it goes to an engine. If the engine does
  not answer within `engine_timeout` or answers 503 (or 500: an engine in trouble), the next engine gets it.
- From an engine (known by its address in the engine registry), a request to `user@client-domain`
  forks to every registered contact of that user; the first 2xx wins and the other branches are
  cancelled. No contact: 480. So does an engine's NOTIFY outside any dialog (an unsolicited
  message-waiting NOTIFY, telephony/engine/applications/mwi.py) and its MESSAGE (a colleague's text,
  telephony/engine/applications/messages.py): every device gets it, the first 2xx answers.
- In-dialog requests (To tag) must name the edge in their top Route. A phone's go to an engine
  and nowhere else (a SUBSCRIBE refresh whose engine is gone to a live one: subscriptions live in
  Redis); an engine's go where the route says, a phone's NAT address being carried in
  the edge's Record-Route (`ocxf=`, a flow token), so no Contact needs rewriting.

Transaction-stateful (RFC 3261 section 16): retransmissions of a request are answered from the
server transaction, the edge retransmits over UDP itself (timers A/E), answers 100 Trying at once,
ACKs non-2xx answers hop by hop, propagates CANCEL, answers 408 (or 480 for a user none of whose
devices answered) on timeouts, and passes 2xx answers and ACKs for 2xx end to end.

What moved to the one SIP stack in telephony/sip/ (shared with the engine's user agent): the client
transaction (retransmissions, timers A/B/E/F, the ACK of a non-2xx answer, CANCEL and its own
transaction, the late CANCEL of a branch given up on) is telephony/sip/transaction.py's
`ClientTransaction`, of which `Branch` is the proxy's kind (engine timeout, timer C, answers to its
ProxyTx); the repetition of a final answer until its ACK (timer G), used by edge/server.py, is its
`AnswerRepeat`; whether a hop's transport is reliable is telephony/sip/transport.py's.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import os
import re
import time
from typing import TYPE_CHECKING

from config.redis_store import CALL_LIMIT_SCRIPT
from telephony import features
from telephony.callindex import ringing_key, where_key
from telephony.edge import messages
from telephony.edge.digest import check_uri
from telephony.edge.location import Binding
from telephony.edge.slots import calls_key
from telephony.sip import Request, Response, SipError, make_response, parse_uri, parse_via
from telephony.sip.transaction import PROCEEDING, ClientTransaction, Timers
from telephony.sip.transport import is_reliable

if TYPE_CHECKING:
    from telephony.edge.server import Edge, ServerTx
    from telephony.engine_registry import EngineInfo

log = logging.getLogger(__name__)

FLOW = "ocxf"  # Record-Route parameter: where the phone side of the dialog is reached
CALL = "ocxc"  # Record-Route parameter: the client whose call limit counts this dialog
IDENTITY = "X-Ocx-Auth"  # what the edge vouches for, on requests to engines (stripped from phones)
DIALOG_FREE = {"ACK", "CANCEL", "BYE", "PRACK", "UPDATE", "INFO", "REFER", "NOTIFY"}
NUMBER_LIKE = re.compile(r"\+?[0-9]{1,20}")  # how a carrier may write one of the platform's numbers
CALLER_UNSAFE = re.compile(r"[^0-9A-Za-z+*#._-]")
DEFAULT_PORT = {"udp": 5060, "tcp": 5060, "tls": 5061}


def flow_token(transport: str, ip: str, port: int) -> str:
    return f"{transport}-{ip}-{port}"


def parse_flow(token: str) -> tuple[str, str, int] | None:
    transport, _, rest = token.partition("-")
    ip, _, port = rest.rpartition("-")
    if transport not in ("udp", "tcp", "tls") or not ip or not port.isdigit():
        return None
    return transport, ip, int(port)


def uri_address(uri_text: str) -> tuple[str, str, int] | None:
    """(transport, ip, port) a URI points at, when its host is an address (the edge resolves no names)."""
    try:
        uri = parse_uri(uri_text)
    except SipError:
        return None
    host = uri.host.strip("[]")
    if not host or not (host.replace(".", "").isdigit() or ":" in host):
        return None
    transport = (uri.params.get("transport") or ("tls" if uri.scheme == "sips" else "udp")).lower()
    return transport, host, uri.port or (5061 if transport == "tls" else 5060)


class Branch(ClientTransaction):
    """One client transaction of the proxy (telephony/sip/transaction.py): a request sent to one target,
    with what the proxy adds: the engine timeout, timer C, and answers that go to its ProxyTx."""

    def __init__(self, proxy: Proxy, owner: ProxyTx, request: Request, hop: tuple[str, str, int],
                 engine: EngineInfo | None = None, *, carrier: bool = False):  # fmt: skip
        self.proxy, self.owner, self.hop, self.engine = proxy, owner, hop, engine
        self.carrier, self.heard = carrier, False
        self.id = proxy.new_branch()
        self._ringing: asyncio.TimerHandle | None = None  # timer C
        request.headers.prepend("Via", f"SIP/2.0/{hop[0].upper()} {proxy.edge.advertised};branch={self.id};rport")
        # An engine that says nothing within engine_timeout is skipped for the next; a carrier's gateway
        # silent for carrier_timeout gets a 408 (the engine tries the next); others get Timer B/F.
        timeout = proxy.config.engine_timeout if engine else proxy.config.carrier_timeout if carrier else None
        super().__init__(request, functools.partial(proxy.edge.send_to, hop), reliable=is_reliable(hop[0]),
                         timers=proxy.timers, timeout=timeout, table=proxy.branches, branch=self.id)  # fmt: skip

    def _stop_timers(self) -> None:
        super()._stop_timers()
        if self._ringing is not None:
            self._ringing.cancel()
            self._ringing = None

    def _timer_c(self) -> None:
        """A device (or engine) that rings and rings: cancel it after timer_c (RFC 3261 16.8); should even
        the CANCEL go unanswered, the transaction gives up 64*T1 later."""
        if self.state == PROCEEDING:
            self.cancel()

    def retransmitted(self) -> None:
        self.proxy.edge.stats["retransmitted"] += 1

    def local_response(self, status: int, reason: str) -> Response:
        return make_response(self.owner.tx.request, status, reason, to_tag=self.owner.tx.tag)

    def provisional(self, response: Response) -> None:
        self.heard = True
        if self.invite:  # each provisional restarts timer C
            if self._ringing is not None:
                self._ringing.cancel()
            self._ringing = asyncio.get_running_loop().call_later(self.proxy.config.timer_c, self._timer_c)
        self.owner.provisional(self, response)

    def answered(self, response: Response) -> None:
        self.owner.branch_final(self, response)

    def failed(self, response: Response, *, timed_out: bool) -> None:
        if timed_out and self.carrier and not self.heard:  # not a word: our connection may be a dead flow
            self.proxy.edge.connector.drop(self.hop)  # (the next message to the gateway opens another)
        self.owner.branch_failed(self, timed_out=timed_out)

    def final_again(self, response: Response) -> None:
        self.owner.relay(response)  # every 2xx goes end to end, late ones too (RFC 3261 16.7 step 5)


class ProxyTx:
    """The server side of a proxied request: the branches it went out on and the answer it gives."""

    def __init__(self, proxy: Proxy, tx: ServerTx, *, fork: bool, engines: list[EngineInfo] | None = None,
                 counted: tuple[int, str] | None = None):  # fmt: skip
        self.proxy, self.tx = proxy, tx
        self.invite = tx.request.method == "INVITE"
        self.fork = fork  # a fork to a user's devices: all timed out means 480
        self.spare_engines = list(engines or [])
        self.counted = counted  # (client, Call-ID) held against the call limit until the call fails or ends
        self.branches: list[Branch] = []
        self.last_sent: bytes | None = None  # what a retransmission of the request gets
        self.final_sent = False
        self.cancelled = False
        self.release_on_end: tuple[int, str] | None = None  # a BYE's call slot, freed whatever its answer

    def begin(self) -> None:
        waiting = self.proxy.server_txs.get(self.tx.key)
        self.proxy.server_txs[self.tx.key] = self
        if isinstance(waiting, Pending) and waiting.last_sent is not None:
            self.last_sent = waiting.last_sent  # the 100 Trying went out already
        elif self.invite:
            self.send(make_response(self.tx.request, 100).to_bytes())

    def add(self, *branches: Branch) -> None:
        """Send on new branches; all are listed before any starts, so one failing at once is not the last."""
        self.branches.extend(branches)
        for branch in branches:
            branch.start()

    def send(self, data: bytes) -> None:
        self.last_sent = data
        self.tx.source.send(data)

    def relay(self, response: Response) -> None:
        self.send(response.to_bytes())

    def provisional(self, branch: Branch, response: Response) -> None:
        if response.status > 100 and not self.final_sent:
            self.relay(response)

    def release(self) -> None:
        """A BYE's transaction ended: its dialog is over whatever the answer (RFC 3261 15.1.1; a 481 or
        a timeout means the far side has no such dialog any more), so its call slot is free."""
        if self.release_on_end is not None:
            self.proxy.release_call(*self.release_on_end)
            self.release_on_end = None

    def branch_final(self, branch: Branch, response: Response) -> None:
        self.release()
        if 200 <= response.status < 300:
            first = not self.final_sent
            self.final_sent = True
            self.relay(response)
            if first:
                for other in self.branches:
                    if other is not branch:
                        other.cancel()
                self.proxy.finish(self, linger=True)
            return
        if branch.engine is not None and response.status in (500, 503) and self.try_next_engine():
            return
        if response.status >= 600 and not self.final_sent:
            for other in self.branches:
                if other is not branch:
                    other.cancel()
        self.maybe_done()

    def branch_failed(self, branch: Branch, *, timed_out: bool) -> None:
        self.release()
        if branch.engine is not None and timed_out and self.try_next_engine():
            return
        self.maybe_done()

    def try_next_engine(self) -> bool:
        if self.cancelled or self.final_sent or not self.spare_engines:
            return False
        engine = self.spare_engines.pop(0)
        log.info("engine %s did not take %s: trying %s", self.branches[-1].engine.id, self.tx.request.call_id,
                 engine.id)  # fmt: skip
        self.add(self.proxy.engine_branch(self, engine))
        return True

    def maybe_done(self) -> None:
        if self.final_sent or any(b.state in ("calling", "proceeding") for b in self.branches):
            return
        self.final_sent = True
        self.proxy.edge.send_final(self.tx, self.best())
        self.proxy.finish(self, linger=False)

    def best(self) -> Response:
        """RFC 3261 16.7 step 6: a 6xx if any, else the lowest class; answers from the far side beat our own."""
        answers = [b.final for b in self.branches if b.final is not None]
        real = [b.final for b in self.branches if b.state == "completed" and b.final is not None]
        if not real:
            if self.cancelled:
                return self.tx.response(487)
            if self.fork and any(b.final.status == 408 for b in self.branches if b.final is not None):
                return self.tx.response(480, "Temporarily Unavailable")
            if any(b.engine is not None for b in self.branches):
                return self.tx.response(503, "No Call Engine Available", headers=[("Retry-After", "5")])
            return answers[0] if answers else self.tx.response(408)
        six = [r for r in real if r.status >= 600]
        if six:
            return six[0]
        return min(real, key=lambda r: r.status // 100)

    def cancel(self) -> None:
        self.cancelled = True
        for branch in self.branches:
            branch.cancel()


class Pending:
    """A request whose credentials are being checked (Redis): its retransmissions get a 100 Trying and
    a CANCEL meanwhile is kept, so that the call is not sent on once checked."""

    def __init__(self, last_sent: bytes | None):
        self.last_sent = last_sent
        self.final_sent = False
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Proxy:
    def __init__(self, edge: Edge):
        self.edge = edge
        self.config = edge.config
        self.timers = Timers(t1=self.config.t1, t2=self.config.t2)
        self.branches: dict[str, Branch] = {}
        self.server_txs: dict[tuple, ProxyTx] = {}
        self.branch_prefix = f"z9hG4bK{edge.token}"

    def pending(self, tx: ServerTx) -> None:
        trying = None
        if tx.request.method == "INVITE":
            trying = make_response(tx.request, 100).to_bytes()
            tx.source.send(trying)
        self.server_txs[tx.key] = Pending(trying)

    def unpend(self, tx: ServerTx) -> None:
        if isinstance(self.server_txs.get(tx.key), Pending):
            del self.server_txs[tx.key]

    def was_cancelled(self, tx: ServerTx) -> bool:
        waiting = self.server_txs.get(tx.key)
        return isinstance(waiting, Pending) and waiting.cancelled

    def new_branch(self) -> str:
        return self.branch_prefix + os.urandom(6).hex()

    def finish(self, ptx: ProxyTx, *, linger: bool) -> None:
        if ptx.counted and not linger:
            self.release_call(*ptx.counted)
        loop = asyncio.get_running_loop()
        loop.call_later(self.timers.linger if linger else 0, self.server_txs.pop, ptx.tx.key, None)

    # Entry points ----------------------------------------------------------------------------------

    def needs_auth(self, tx: ServerTx) -> Response | None:
        """The 407 challenge for a phone's dialog-creating request without credentials (no lookup needed)."""
        request, source = tx.request, tx.source
        if request.to_tag is not None or self.edge.engines.is_engine(source.ip, source.port):
            return None
        if self.carrier_call(tx) is not None:
            return None  # a carrier's call: its number is checked in route()
        realm = request.name_addr("From").uri.host
        params = self.edge.registrar.credentials(tx, realm, "Proxy-Authorization")
        if params is not None:
            if self.edge.guard.auth_banned(realm, params.get("username", ""), source.ip):
                return tx.response(403)
            return None
        return self.edge.registrar.challenge_now(tx, realm, header="Proxy-Authenticate")  # None: see route()

    async def route(self, tx: ServerTx) -> Response | None:
        """Send a request on its way; a Response when the edge answers it itself, None when proxied."""
        request, source = tx.request, tx.source
        from_engine = self.edge.engines.is_engine(source.ip, source.port)
        if not from_engine:
            request.headers.remove_prefix("X-Ocx-")
        if not from_engine and (carrier := self.carrier_call(tx)) is not None:
            return await self.from_carrier(tx, carrier)
        if not from_engine and request.to_tag is None:
            realm = request.name_addr("From").uri.host
            if self.edge.registrar.credentials(tx, realm, "Proxy-Authorization") is None:  # realm was not cached
                domain = await self.edge.directory.domain(realm)
                return self.edge.registrar.challenge(tx, realm, domain, header="Proxy-Authenticate")
        unsolicited = from_engine and request.method == "NOTIFY" and request.to_tag is None  # message waiting
        if request.to_tag is not None or (request.method in DIALOG_FREE and not unsolicited):
            return self.in_dialog(tx, from_engine)
        if from_engine:
            return await self.to_user(tx)
        return await self.from_phone(tx)

    # Phones to engines -----------------------------------------------------------------------------

    async def from_phone(self, tx: ServerTx) -> Response | None:
        request, source = tx.request, tx.source
        caller = request.name_addr("From").uri
        realm, user = caller.host, caller.user_unescaped or ""
        _, params = request.credentials("Proxy-Authorization")
        check_uri(params, request.uri)
        username = params.get("username", "")
        directory = self.edge.directory
        domain = await directory.domain(realm)
        credential = await directory.credential(domain["client"], username) if domain else None
        if not (domain and credential and username == user):
            return await self.edge.registrar.refuse(tx, realm, username)
        if not self.edge.guard.client_allows(domain, source.ip):
            return tx.response(403)
        algorithms = self.edge.digest.algorithms_for(domain)
        verdict = self.edge.digest.verify(params, request.method, realm, credential, algorithms=algorithms)
        if verdict.stale or verdict.again:
            return self.edge.registrar.challenge(tx, realm, domain, stale=verdict.stale, header="Proxy-Authenticate")
        if not verdict.ok:
            return await self.edge.registrar.refuse(tx, realm, username)
        if not (domain["active"] and credential["active"]):
            return tx.response(403)  # a suspended client or account: the platform's state, not counted
        if not await self.edge.location.nonce_count_grew(params["nonce"], verdict.nc):
            return self.edge.registrar.challenge(tx, realm, domain, header="Proxy-Authenticate")
        if request.method == "MESSAGE" and (refused := await messages.admit(self.edge, tx, domain["client"], username)):
            return refused  # (not text, too large, too many: telephony/edge/messages.py)
        counted = None
        if request.method == "INVITE":
            if not await self.take_call(domain["client"], request.call_id, domain["max_calls"]):
                return tx.response(403, "Concurrent Call Limit Reached", headers=[
                    ("Reason", f'SIP;cause=403;text="the client\'s limit of {domain["max_calls"]} calls is reached"'),
                ])  # fmt: skip
            counted = (domain["client"], request.call_id)
        engines = await self.engines_for(domain["client"], request, credential.get("number", ""))
        if not engines:
            if counted:
                self.release_call(*counted)
            return tx.response(503, "No Call Engine Available", headers=[("Retry-After", "5")])
        if self.was_cancelled(tx):
            if counted:
                self.release_call(*counted)
            return tx.response(487)
        request.headers.remove("Proxy-Authorization")
        request.headers.remove("Route")  # a phone's preloaded route names the edge; it goes nowhere else
        identity = f"client={domain['client']};brand={domain['brand']};account={credential['account']}"
        request.headers.add(IDENTITY, f"{identity};ext={credential['ext']};user={username}")
        record_route = self.record_route(source.transport, source.ip, source.port, client=counted and counted[0])
        request.headers.prepend("Record-Route", record_route)
        ptx = ProxyTx(self, tx, fork=False, engines=engines[1:], counted=counted)
        ptx.begin()
        ptx.add(self.engine_branch(ptx, engines[0]))
        return None

    # Carriers to engines ---------------------------------------------------------------------------

    def carrier_call(self, tx: ServerTx) -> dict | None:
        """The carrier gateway a new INVITE comes from, when it is a carrier's call: from one of its
        networks and without credentials (a phone that shares a carrier's address authenticates)."""
        request = tx.request
        if request.method != "INVITE" or request.to_tag is not None or "Proxy-Authorization" in request.headers:
            return None
        return self.edge.carriers.match(tx.source.ip)

    async def from_carrier(self, tx: ServerTx, carrier: dict) -> Response | None:
        """A carrier's INVITE: for a number the platform has at that carrier (else 404: no relay), of a
        client that is active and under its call limit; it goes to an engine with the number and the
        carrier in the edge's identity header, no digest asked."""
        request = tx.request
        try:
            dialled = parse_uri(request.uri).user_unescaped or ""
        except SipError:
            return tx.response(416)
        number = await self.carrier_number(carrier, dialled)
        if number is None:  # a trunk that calls the contact we registered there names the number in To
            try:
                to = request.name_addr("To").uri.user_unescaped or ""
            except SipError:
                to = ""
            number = await self.carrier_number(carrier, to) if to != dialled else None
        if number is None:
            return tx.response(404, "No Such Number")
        domain = await self.edge.directory.domain(number["domain"])
        if domain is None or not domain["active"]:
            return tx.response(480, "Temporarily Unavailable")
        if not await self.take_call(domain["client"], request.call_id, domain["max_calls"]):
            return tx.response(486, "Busy Here")  # the client's limit of concurrent calls
        counted = (domain["client"], request.call_id)
        try:
            return await self._carrier_to_engine(tx, carrier, number, domain, counted)
        except BaseException:
            self.release_call(*counted)  # whatever went wrong, the client's slot is not held by it
            raise

    async def carrier_number(self, carrier: dict, dialled: str) -> dict | None:
        """The platform's number `dialled` (as the carrier writes it) at that carrier, else None."""
        if not NUMBER_LIKE.fullmatch(dialled):  # (never sent to Redis: a number the carrier could write)
            return None
        return await self.edge.carriers.number(carrier, dialled)

    async def _carrier_to_engine(self, tx: ServerTx, carrier: dict, number: dict, domain: dict,
                                 counted: tuple) -> Response | None:  # fmt: skip
        request, source = tx.request, tx.source
        engines = await self.engines_for(domain["client"], request, "")
        if not engines or self.was_cancelled(tx):
            self.release_call(*counted)
            return tx.response(487) if engines else tx.response(503, headers=[("Retry-After", "5")])
        # What the carrier says the caller is goes into our own header: only the characters a number has.
        caller = CALLER_UNSAFE.sub("", request.name_addr("From").uri.user_unescaped or "")[:32] or "anonymous"
        request.headers.add(IDENTITY, f"client={domain['client']};brand={domain['brand']};carrier={carrier['carrier']};"
                                      f"did={number['e164']};from={caller};format={carrier['format']};"
                                      f"country={carrier['country']}")  # fmt: skip
        request.headers.prepend("Record-Route", self.record_route(source.transport, source.ip, source.port,
                                                                  client=domain["client"]))  # fmt: skip
        ptx = ProxyTx(self, tx, fork=False, engines=engines[1:], counted=counted)
        ptx.begin()
        ptx.add(self.engine_branch(ptx, engines[0]))
        return None

    async def engines_for(self, client: int, request: Request, caller_number: str) -> list[EngineInfo]:
        """The engines to try for a phone's new call, least busy first, except that the engine holding
        the call a dial code asks for (telephony/callindex.py) comes first, and so does the engine of
        the caller's other call, so that a consultation call can be joined to it by a transfer."""
        registry = self.edge.engines
        engines = registry.candidates()
        try:
            dialled = parse_uri(request.uri).user_unescaped or ""
        except SipError:
            return engines
        code = features.match(dialled)
        try:
            owner = await self.call_owner(client, code, dialled, caller_number)
        except Exception:  # Redis away for a moment: route as usual
            log.exception("call index lookup failed")
            return engines
        chosen = registry.by_id(owner) if owner else None
        if chosen is None or (code is None and chosen not in engines):
            return engines  # (a call that a code names may be on a draining engine: it still goes there)
        return [chosen, *[e for e in engines if e.id != chosen.id]]

    async def call_owner(self, client: int, code: tuple[features.FeatureCode, str] | None, dialled: str,
                         caller_number: str) -> str | None:  # fmt: skip
        fast, prefix, key = self.edge.fast, self.config.redis_prefix, where_key(self.config.redis_prefix, client)
        field = features.index_field(*code) if code is not None else None
        if field == features.OLDEST_RINGING:  # *8: the oldest ringing call
            first = await fast.call("ZRANGE", ringing_key(prefix, client), 0, 0)
            owner = first[0].split(b" ", 1)[1] if first else None
        elif code is not None:
            owner = await fast.call("HGET", key, field) if field else None
        else:  # a running conference's access number, else the engine of the caller's other call
            room, line = await fast.call("HMGET", key, f"num:{dialled}", f"line:{caller_number}")
            owner = room or line
        return owner.split(b" ", 1)[0].decode() if owner else None

    def engine_branch(self, ptx: ProxyTx, engine: EngineInfo) -> Branch:
        self.edge.engines.handed_to(engine)
        return Branch(self, ptx, self.forwarded(ptx.tx.request), ("udp", engine.host, engine.port), engine)

    # Engines to phones -----------------------------------------------------------------------------

    async def to_user(self, tx: ServerTx) -> Response | None:
        request = tx.request
        try:
            target = parse_uri(request.uri)
        except SipError:
            return tx.response(416)
        transport = (target.params.get("transport") or ("tls" if target.scheme == "sips" else "udp")).lower()
        gateway = self.edge.carriers.gateway(target.host, target.port, transport)
        if gateway is not None:
            return self.to_carrier(tx, (transport, target.host.strip("[]"), target.port or DEFAULT_PORT[transport]))
        domain = await self.edge.directory.domain(target.host)
        if domain is None:
            return tx.response(404, "Unknown Domain")
        if not domain["active"]:
            return tx.response(480, "Client Not Active")
        user = target.user_unescaped or ""
        bindings = await self.edge.location.bindings(domain["client"], user)
        hops = []
        for binding in bindings:
            hop = binding_hop(binding)
            if hop is not None:
                hops.append((binding, hop))
        if not hops:
            return tx.response(480, "Temporarily Unavailable")
        if self.was_cancelled(tx):
            return tx.response(487)
        ptx = ProxyTx(self, tx, fork=True)
        ptx.begin()
        branches = []
        for binding, hop in hops:
            forwarded = self.forwarded(request, uri=binding.contact)
            forwarded.headers.prepend("Record-Route", self.record_route(*hop))
            branches.append(Branch(self, ptx, forwarded, hop))
        ptx.add(*branches)
        return None

    def to_carrier(self, tx: ServerTx, hop: tuple[str, str, int]) -> None:
        """An engine's call to the phone network, through one of a carrier's gateways, over its transport
        (UDP, or TCP/TLS over the edge's connection to it): the edge is on its route, so the carrier's
        in-dialog requests come back through the edge."""
        forwarded = self.forwarded(tx.request)
        forwarded.headers.remove_prefix("X-Ocx-")
        forwarded.headers.prepend("Record-Route", self.record_route(*hop))
        ptx = ProxyTx(self, tx, fork=False)
        ptx.begin()
        ptx.add(Branch(self, ptx, forwarded, hop, carrier=True))

    # In-dialog requests ----------------------------------------------------------------------------

    def in_dialog(self, tx: ServerTx, from_engine: bool) -> Response | None:
        request = tx.request
        flow, client = None, None
        popped = False
        while (route := request.headers.get("Route")) is not None and self.is_self(route):
            request.headers.remove_first("Route")
            params = parse_uri(route.strip().lstrip("<").split(">", 1)[0]).params
            flow = flow or self.verified(params.get(FLOW))
            client = client or self.verified(params.get(CALL))
            popped = True
        if not popped:
            return tx.response(403, "Not Routed Through This Proxy")
        next_uri = request.headers.get("Route")
        next_uri = next_uri.strip().lstrip("<").split(">", 1)[0] if next_uri else request.uri
        if from_engine and flow and (hop := parse_flow(flow)) is not None:
            pass
        else:
            hop = uri_address(next_uri)
            if hop is None:
                return tx.response(404, "Not Routable")
            if not from_engine and request.method == "SUBSCRIBE":
                hop = self.subscription_hop(hop)
            if not from_engine and not self.edge.engines.is_engine(hop[1], hop[2]):
                return tx.response(403, "Not Routable")  # a phone reaches engines only
        release = (int(client), request.call_id) if request.method == "BYE" and client and client.isdigit() else None
        forwarded = self.forwarded(request)
        if request.method == "ACK":  # an ACK for a 2xx: its own transaction, end to end, stateless
            via = f"SIP/2.0/{hop[0].upper()} {self.edge.advertised};branch={self.new_branch()};rport"
            forwarded.headers.prepend("Via", via)
            self.edge.send_to(hop, forwarded.to_bytes())
            return None
        ptx = ProxyTx(self, tx, fork=False)
        ptx.release_on_end = release  # a BYE frees its call's slot once answered, or not answered in time
        ptx.begin()
        ptx.add(Branch(self, ptx, forwarded, hop))
        return None

    def subscription_hop(self, hop: tuple[str, str, int]) -> tuple[str, str, int]:
        """A phone's SUBSCRIBE in its dialog (a message-waiting or busy-lamp refresh): the subscription lives
        in Redis, not in the engine that answered it (telephony/engine/applications/mwi.py, blf.py), so
        when that engine is gone (no fresh heartbeat) a live one takes the refresh instead of the phone
        losing its lamp."""
        known = self.edge.engines.addresses.get((hop[1], hop[2]))
        if known is not None and known.fresh():
            return hop
        live = self.edge.engines.candidates()
        return ("udp", live[0].host, live[0].port) if live else hop

    def forward_ack(self, tx: ServerTx) -> None:
        """An ACK that matches no transaction here (it acknowledges a 2xx): along its route, if it has ours."""
        request, source = tx.request, tx.source
        from_engine = self.edge.engines.is_engine(source.ip, source.port)
        if not from_engine:
            request.headers.remove_prefix("X-Ocx-")
        self.in_dialog(tx, from_engine)

    # Responses -------------------------------------------------------------------------------------

    def on_response(self, response: Response, source) -> bool:
        """Match a response to the branch it answers; False when it is not ours."""
        branch_id = response.branch or ""
        branch = self.branches.get(branch_id)
        if branch is None:
            if branch_id.startswith(self.branch_prefix):
                self.edge.stats["stray_responses"] += 1
                self.forward_stateless(response, source)
                return True
            return False
        if not self.edge.engines.is_engine(source.ip, source.port):
            response.headers.remove_prefix("X-Ocx-")
        response.headers.remove_first("Via")
        branch.receive(response)
        return True

    def forward_stateless(self, response: Response, source, *, orphan: bool = False) -> None:
        """A 2xx retransmitted after its transaction ended, or (orphan) any answer to a transaction of an
        edge process that died on our port: pop our Via and follow the next one, but only where calls
        go (a phone's answer to an engine, an engine's to a phone): never a relay for others."""
        if not (orphan or 200 <= response.status < 300):
            return
        top = response.headers.get("Via")
        if orphan and (top is None or parse_via(top).sent_by != self.edge.advertised):
            return  # not a Via this port's edges put there
        response.headers.remove_first("Via")
        value = response.headers.get("Via")
        if value is None:
            return
        via = parse_via(value)
        port = int(via.rport) if via.rport else (via.port or 5060)
        hop = (via.transport.lower(), via.received or via.host.strip("[]"), port)
        from_engine = self.edge.engines.is_engine(source.ip, source.port)
        if from_engine == self.edge.engines.is_engine(hop[1], hop[2]):
            self.edge.stats["stray_refused"] += 1
            return
        self.edge.send_to(hop, response.to_bytes())

    # Helpers ---------------------------------------------------------------------------------------

    def forwarded(self, request: Request, *, uri: str | None = None) -> Request:
        copy = request.copy()
        if uri is not None:
            copy.uri = uri
        forwards = request.max_forwards
        copy.headers.set("Max-Forwards", str((70 if forwards is None else forwards) - 1))
        return copy

    def record_route(self, transport: str, ip: str, port: int, client: int | None = None) -> str:
        params = f";lr;{FLOW}={self.sign(flow_token(transport, ip, port))}"
        if client:
            params += f";{CALL}={self.sign(str(client))}"
        address = self.edge.advertised
        if transport != "udp":
            params += f";transport={transport}"
        if transport == "tls":  # a TLS phone must come back to the TLS port
            address = f"{address.rsplit(':', 1)[0]}:{self.config.tls_port}"
        return f"<sip:{address}{params}>"

    def sign(self, value: str) -> str:
        """A Record-Route parameter value the edge can trust when it comes back: value + "-" + MAC."""
        mac = hmac.new(self.edge.secret, value.encode(), hashlib.sha256).hexdigest()[:12]
        return f"{value}-{mac}"

    def verified(self, signed: str | None) -> str | None:
        """The value of a parameter the edge signed, or None when it is missing or forged."""
        value = (signed or "").rpartition("-")[0]
        if not value or not hmac.compare_digest(self.sign(value), signed):
            return None
        return value

    def route_client(self, routes) -> int | None:
        """The client whose call limit counts a dialog with this route set (the edge's signed parameter)."""
        for route in routes:
            try:
                uri = parse_uri(route.strip().lstrip("<").split(">", 1)[0])
            except SipError:
                continue
            client = self.verified(uri.params.get(CALL))
            if client and client.isdigit():
                return int(client)
        return None

    def is_self(self, route: str) -> bool:
        try:
            uri = parse_uri(route.strip().lstrip("<").split(">", 1)[0])
        except SipError:
            return False
        port = uri.port or (5061 if uri.scheme == "sips" else 5060)
        return uri.host.strip("[]") in self.edge.own_hosts and port in (self.config.port, self.config.tls_port)

    async def take_call(self, client: int, call_id: str, limit: int) -> bool:
        key = calls_key(self.config.redis_prefix, client)
        args = (int(time.time()), self.config.call_max_age, limit, call_id)
        return bool(await self.edge.fast.script(CALL_LIMIT_SCRIPT, 1, key, *args))

    def release_call(self, client: int, call_id: str) -> None:
        self.edge.background(self.edge.fast.call("ZREM", calls_key(self.config.redis_prefix, client), call_id))


def binding_hop(binding: Binding) -> tuple[str, str, int] | None:
    """Where to send a request for a binding: its NAT address when it had one, else its contact."""
    if binding.received:
        transport, _, rest = binding.received.partition(":")
        ip, _, port = rest.rpartition(":")
        return (transport, ip, int(port)) if port.isdigit() else None
    return uri_address(binding.contact)
