"""Registration changes for the portals' live views, sent at most once per dashboard tick.

A device that registers, unregisters, is removed by the keep-alives or whose registration runs out
changes the figures of its client's, its brand's and the platform's dashboards, and the line's own
pages. Like the engines' call nudges (telephony/engine/server.py `tell_dashboards`), the edge gathers
the changes of a tick and sends each group at most one `registration.changed` per DASHBOARD_TICK, so
a flood of REGISTERs never floods the portals' sockets:
- the client's and the line owner's groups: the lines that changed, with their devices now
  (`{"lines": {"101": 2}}`);
- the brand's and the platform's groups: the clients whose phones changed (`{"clients": [7]}`).

Registrations that simply run out are told too: the edge remembers when the next binding of each
line it answered expires, and then removes what expired (the location script counts that as a
change) and tells the portals. An edge that restarts forgets these times: the dashboards' own
refresh (tenants/consumers.py REFRESH) shows those expiries.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from channels.layers import get_channel_layer

from telephony.edge.location import now_millis
from tenants.events import DASHBOARD_TICK, group_for_brand, group_for_client, group_for_platform, group_for_user

if TYPE_CHECKING:
    from telephony.edge.location import Binding
    from telephony.edge.server import Edge

log = logging.getLogger(__name__)
RETRY = 5000  # milliseconds before a line whose expiry could not be looked at is tried again


@dataclass
class _Line:
    expires_at: int  # the line's soonest binding expiry (milliseconds since the epoch)
    scheduled: int  # the time of its entry in the heap (at most one entry per line)
    domain: dict
    account: int


class RegistrationNews:
    def __init__(self, edge: Edge):
        self.edge = edge
        self.pending: dict[str, dict] = {}  # group -> the event it gets at the next tick
        self.lines: dict[tuple[int, str], _Line] = {}  # (client, user) -> when its next binding runs out
        self.due: list[tuple[int, int, str]] = []  # heap of (time, client, user)

    def changed(self, domain: dict, account: int, line: str, devices: int) -> None:
        """A device of a line came or went: told at the next tick."""
        client = domain["client"]
        for group in (group_for_client(client), group_for_user(account)):
            event = self.pending.setdefault(group, {"type": "registration.changed", "client": client, "lines": {}})
            event["lines"][line] = devices
        for group in (group_for_brand(domain["brand"]), group_for_platform()):
            event = self.pending.setdefault(group, {"type": "registration.changed", "clients": []})
            if client not in event["clients"]:
                event["clients"].append(client)

    def follow(self, domain: dict, account: int, user: str, bindings: list[Binding]) -> None:
        """After a REGISTER this edge answered: when the line's next binding runs out."""
        key = (domain["client"], user)
        if not bindings:
            self.lines.pop(key, None)
            return
        soonest = min(b.expires_at for b in bindings)
        known = self.lines.get(key)
        if known is not None and known.scheduled <= soonest:  # its entry comes first: looked at then
            known.expires_at, known.domain, known.account = soonest, domain, account
            return
        self.lines[key] = _Line(soonest, soonest, domain, account)
        heapq.heappush(self.due, (soonest, *key))

    async def expire_due(self) -> None:
        now = now_millis()
        while self.due and self.due[0][0] <= now:
            at, client, user = heapq.heappop(self.due)
            line = self.lines.get((client, user))
            if line is None or line.scheduled != at:
                continue
            if line.expires_at > now:  # refreshed since: looked at again when the refresh runs out
                line.scheduled = line.expires_at
                heapq.heappush(self.due, (line.expires_at, client, user))
                continue
            try:  # removes what expired; a refresh through another edge is kept
                update = await self.edge.location.update(
                    client, user, nonce=None, nc=0, callid="expiry", cseq=0, changes=[]
                )
            except Exception:
                line.scheduled = now + RETRY
                heapq.heappush(self.due, (line.scheduled, client, user))
                raise
            del self.lines[(client, user)]
            if update.changed:
                self.changed(line.domain, line.account, user, len(update.bindings))
            self.follow(line.domain, line.account, user, update.bindings)

    async def send(self) -> None:
        pending, self.pending = self.pending, {}
        layer = get_channel_layer()
        for group, event in pending.items():
            await layer.group_send(group, {"type": "platform.event", "event": event})

    async def run(self) -> None:
        while True:
            await asyncio.sleep(DASHBOARD_TICK)
            try:
                await self.expire_due()
            except Exception:  # Redis away for a moment: those lines are looked at by the dashboards' refresh
                log.exception("expired registrations not removed")
            try:
                await self.send()
            except Exception:  # Redis away: the portals miss these, the dashboards' refresh catches up
                log.exception("registration changes not sent to the portals")
