"""OPTIONS keep-alives to phones registered from behind NAT, and removal of the dead ones.

A NATed UDP binding is only reachable while the NAT keeps its mapping open, so the edge that
accepted the REGISTER sends it an OPTIONS every `keepalive_interval` seconds (through the shared
port: with SO_REUSEPORT the kernel hashes the phone's address to that same process, so the answer
comes back here). Any answer proves the phone alive; after `keepalive_misses` unanswered pings in
a row the binding is removed, so calls are not forked to a phone that is gone.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from telephony.sip import Headers, Request, Response

if TYPE_CHECKING:
    from telephony.edge.location import Binding
    from telephony.edge.server import Edge

log = logging.getLogger(__name__)
BRANCH_PREFIX = "z9hG4bK-ka-"


@dataclass
class Watched:
    contact: str
    ip: str
    port: int
    domain: dict
    account: int
    line: tuple[int, str] = (0, "")
    missed: int = 0
    token: str = ""


class NatKeepalive:
    def __init__(self, edge: Edge, interval: float, misses: int):
        self.edge = edge
        self.interval = interval
        self.misses = misses
        # (client, user) -> contact -> what to ping: a REGISTER touches its own line only
        self.watched: dict[tuple[int, str], dict[str, Watched]] = {}
        self.tokens: dict[str, Watched] = {}  # the latest ping's branch token -> its binding

    def follow(self, domain: dict, account: int, user: str, bindings: list[Binding]) -> None:
        """After a REGISTER: watch this line's NATed UDP bindings that this edge accepted, only those."""
        line = (domain["client"], user)
        before = self.watched.get(line, {})
        after = {}
        for binding in bindings:
            if binding.edge == self.edge.edge_id and binding.received and binding.received.startswith("udp:"):
                ip, _, port = binding.received[len("udp:") :].rpartition(":")  # IPv6 holds colons too
                after[binding.contact] = before.get(binding.contact) or Watched(
                    binding.contact, ip, int(port), domain, account, line=line
                )
        for contact, gone in before.items():
            if contact not in after:
                self.tokens.pop(gone.token, None)
        if after:
            self.watched[line] = after
        else:
            self.watched.pop(line, None)

    def on_response(self, response: Response) -> bool:
        """True when the response answers one of our pings (the phone is alive)."""
        branch = response.branch or ""
        if not branch.startswith(BRANCH_PREFIX):
            return False
        watched = self.tokens.get(branch[len(BRANCH_PREFIX) :])
        if watched is not None:
            watched.missed = 0
        return True

    def ping(self, watched: Watched) -> None:
        self.tokens.pop(watched.token, None)
        watched.token = os.urandom(8).hex()
        self.tokens[watched.token] = watched
        host, port = self.edge.config.host, self.edge.config.port
        headers = Headers()
        headers.add("Via", f"SIP/2.0/UDP {host}:{port};branch={BRANCH_PREFIX}{watched.token};rport")
        headers.add("Max-Forwards", "70")
        headers.add("From", f"<sip:keepalive@{host}>;tag={watched.token[:8]}")
        headers.add("To", f"<{watched.contact}>")
        headers.add("Call-ID", f"ka-{watched.token}@{host}")
        headers.add("CSeq", "1 OPTIONS")
        self.edge.send_udp(Request("OPTIONS", watched.contact, headers).to_bytes(), (watched.ip, watched.port))

    async def expire(self, watched: Watched) -> None:
        (client, user), contact = watched.line, watched.contact
        self.tokens.pop(watched.token, None)
        line = self.watched.get(watched.line, {})
        line.pop(contact, None)
        if not line:
            self.watched.pop(watched.line, None)
        log.info("no answer from %s (%s@%s): binding removed", contact, user, client)
        update = await self.edge.location.update(
            client, user, nonce=None, nc=0, callid=f"keepalive-{watched.token}", cseq=0, changes=[(contact, None)]
        )
        if update.changed:
            self.edge.registration_changed(watched.domain, watched.account, user, len(update.bindings))

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            for watched in [w for line in self.watched.values() for w in line.values()]:
                if watched.missed >= self.misses:
                    try:
                        await self.expire(watched)
                    except Exception:  # Redis away: try again at the next round
                        log.exception("could not remove the dead binding %s", watched.contact)
                    continue
                watched.missed += 1
                self.ping(watched)
